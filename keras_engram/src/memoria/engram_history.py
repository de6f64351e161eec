"""EngramHistory: the life of one engram, from a `HistoryManager`."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EngramHistory:
    """What `HistoryManager.inspect` reports about one engram.

    Attributes:
        id: int.
        creation_timestep: int, the first summary that holds it.
        deletion_timestep: int or None, the first summary without it.
        duration: int, the number of summaries that hold it.
        firing_times: list of int, the summaries that show a firing.
        firings: list of `Firing`.
        summaries: list of `EngramsInfo`, from its creation to its deletion.

    Example:

    >>> from keras_engram.memoria import EngramHistory
    >>> EngramHistory(1, 0, None, 3, [], [], []).duration
    3
    """

    __slots__ = ("id", "creation_timestep", "deletion_timestep", "duration", "firing_times",
                 "firings", "summaries")
    id: int
    creation_timestep: int
    deletion_timestep: object
    duration: object
    firing_times: list
    firings: list
    summaries: list
