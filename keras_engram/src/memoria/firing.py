"""Firing: one recorded firing of an engram in a `HistoryManager`."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Firing:
    """An engram fired between two summaries of a `HistoryManager`.

    Attributes:
        timestep: int, index of the summary that shows the firing.
        engram_id: int.
        lifespan_gain: float, the lifespan it gained in that step (the
            change between the summaries plus the 1 every engram loses).

    Example:

    >>> from keras_engram.memoria import Firing
    >>> Firing(timestep=1, engram_id=3, lifespan_gain=3.0).lifespan_gain
    3.0
    """

    __slots__ = ("timestep", "engram_id", "lifespan_gain")
    timestep: int
    engram_id: int
    lifespan_gain: float
