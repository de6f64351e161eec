"""Between: a weight constraint that keeps every entry in a closed interval."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register


@register
class Between(keras.constraints.Constraint):
    """Clips every entry of a weight to `[min_value, max_value]` after each update.

    The memory-native cells keep their retention rates, time constants and
    eigenvalues as trainable weights in their natural units (a rate in
    [0, 1], a positive rigidity); this constraint keeps them in range.

    Args:
        min_value: float or None (no lower bound).
        max_value: float or None (no upper bound).

    Example:

    >>> import numpy as np
    >>> from keras_engram.src.layers.memory_native.between import Between
    >>> np.asarray(Between(0.0, 1.0)(np.array([-0.5, 0.3, 2.0], "float32"))).tolist()
    [0.0, 0.30000001192092896, 1.0]
    """

    def __init__(self, min_value=None, max_value=None):
        self.min_value = None if min_value is None else validation.finite_float("min_value", min_value)
        self.max_value = None if max_value is None else validation.finite_float("max_value", max_value)
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError(
                "Expected `min_value <= max_value`. "
                f"Received: min_value={self.min_value}, max_value={self.max_value}"
            )

    def __call__(self, w):
        w = ops.convert_to_tensor(w)
        if self.min_value is not None:
            w = ops.maximum(w, ops.cast(self.min_value, w.dtype))
        if self.max_value is not None:
            w = ops.minimum(w, ops.cast(self.max_value, w.dtype))
        return w

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}
