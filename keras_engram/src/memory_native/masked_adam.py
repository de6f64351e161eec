"""MaskedAdam: Adam that leaves frozen weight entries bit-identical."""

import keras
from keras import ops


class MaskedAdam(keras.optimizers.Adam):
    """Adam (with optional weight decay) whose update leaves frozen entries exactly as they were.

    `frozen` maps `id(variable)` to a boolean NumPy array of the variable's
    shape (True = frozen). After each update (moments, weight decay and
    constraints included) the frozen entries are set back to their values
    from before it, so momentum and decay cannot move them. The masks are
    read when a training function is traced: set them before `fit` builds
    one.
    """

    def __init__(self, learning_rate, weight_decay=None, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
        self.frozen = {}

    def apply(self, grads, trainable_variables=None):
        variables = self._trainable_variables if trainable_variables is None else trainable_variables
        kept = []
        for variable in variables:
            mask = self.frozen.get(id(variable))
            if mask is not None and mask.any():
                kept.append((variable, ops.convert_to_tensor(mask), ops.copy(variable.value)))
        result = super().apply(grads, trainable_variables)
        for variable, mask, old in kept:
            variable.assign(ops.where(mask, old, variable.value))
        return result
