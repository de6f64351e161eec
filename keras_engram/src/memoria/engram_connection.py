"""EngramConnection: one directed link of a status summary."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EngramConnection:
    """The link from engram `source_id` to `target_id` in a `Memoria.status_summary`.

    Attributes:
        source_id: int, id of the source engram.
        target_id: int, id of the target engram.
        weight: float, `counts[source, target] / counts[source, source]`:
            how often the target fired when the source fired.
        cofire_count: int, the number of steps both fired.

    Example:

    >>> from keras_engram.memoria import EngramConnection
    >>> EngramConnection(0, 1, weight=0.5, cofire_count=2).weight
    0.5
    """

    __slots__ = ("source_id", "target_id", "weight", "cofire_count")
    source_id: int
    target_id: int
    weight: float
    cofire_count: int
