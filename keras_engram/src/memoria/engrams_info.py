"""EngramsInfo: the status summary of one memory row."""

import dataclasses

import numpy as np

from keras_engram.src.memoria.engram_connection import EngramConnection
from keras_engram.src.memoria.engram_info import EngramInfo
from keras_engram.src.ops.memoria import LONGTERM, SHORTTERM, TYPE_NAMES, WORKING


@dataclasses.dataclass(frozen=True)
class EngramsInfo:
    """The alive engrams of one row and their links (`Memoria.status_summary`).

    Attributes:
        engrams: dict, id -> `EngramInfo`, in slot (creation) order.
        edges: dict, `(source_id, target_id)` -> `EngramConnection`.
        working: tuple of the ids of working memories.
        shortterm: tuple of the ids of short-term memories.
        longterm: tuple of the ids of long-term memories.

    Example:

    >>> from keras_engram.memoria import EngramsInfo
    >>> EngramsInfo({}, {}, (), (), ()).longterm
    ()
    """

    __slots__ = ("engrams", "edges", "working", "shortterm", "longterm")
    engrams: dict
    edges: dict
    working: tuple
    shortterm: tuple
    longterm: tuple


def summarize(state, row, track_age=True):
    """The `EngramsInfo` of `row` from a `Memoria.get_memory_state()` dict.

    A link `i -> j` exists for every other alive `j` with
    `counts[i, j] / counts[i, i] > 0`, which is its weight.
    """
    n = int(state["n"][row])
    counts = np.asarray(state["counts"][row, :n, :n], np.int64)
    ids = [int(v) for v in state["ids"][row, :n]]
    types = [int(v) for v in state["type"][row, :n]]
    fire = np.diag(counts)

    def weight(i, j):  # how often j fired when i fired
        return float(counts[i, j] / fire[i]) if fire[i] > 0 else 0.0

    outgoing = [
        [EngramConnection(ids[i], ids[j], weight(i, j), int(counts[i, j]))
         for j in range(n) if j != i and weight(i, j) > 0]
        for i in range(n)
    ]
    # An incoming link j -> i carries the count of i's own row (equal when counts are symmetric).
    incoming = [
        [EngramConnection(ids[j], ids[i], weight(j, i), int(counts[i, j]))
         for j in range(n) if j != i and weight(j, i) > 0]
        for i in range(n)
    ]
    engrams = {}
    for i in range(n):
        engrams[ids[i]] = EngramInfo(
            ids[i], TYPE_NAMES[types[i]], float(state["life"][row, i]),
            int(state["age"][row, i]) if track_age else None, int(fire[i]),
            tuple(outgoing[i]), tuple(incoming[i]),
        )
    edges = {(e.source_id, e.target_id): e for edges_of in outgoing for e in edges_of}
    by_type = {t: tuple(ids[i] for i in range(n) if types[i] == t) for t in (WORKING, SHORTTERM, LONGTERM)}
    return EngramsInfo(engrams, edges, by_type[WORKING], by_type[SHORTTERM], by_type[LONGTERM])
