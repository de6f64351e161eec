"""EngramInfo: one engram of a status summary."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class EngramInfo:
    """One alive engram in a `Memoria.status_summary`.

    Attributes:
        id: int, the engram's id (ids are shared by the rows: row b's id 7
            and row c's id 7 were created by the same call).
        type: str, `"WORKING"`, `"SHORTTERM"` or `"LONGTERM"`.
        lifespan: float, remaining lifespan.
        age: int or None, adjustments survived (None unless ages are tracked).
        fire_count: int, the number of steps it fired.
        outgoings: tuple of `EngramConnection` from this engram.
        incoming: tuple of `EngramConnection` into this engram.

    Example:

    >>> from keras_engram.memoria import EngramInfo
    >>> EngramInfo(3, "LONGTERM", 2.0, 5, 4, (), ()).cofire_counts
    {}
    """

    __slots__ = ("id", "type", "lifespan", "age", "fire_count", "outgoings", "incoming")
    id: int
    type: str
    lifespan: float
    age: object
    fire_count: int
    outgoings: tuple
    incoming: tuple

    @property
    def cofire_counts(self):
        """dict: target id -> co-firing count, over the outgoing links."""
        return {edge.target_id: edge.cofire_count for edge in self.outgoings}
