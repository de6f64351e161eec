"""PartialTraining: freezing parts of a memory-native model (AMRC, PMRC) during `fit`."""

import keras
import numpy as np

from keras_engram.src import validation


class PartialTraining:
    """Freezing methods shared by `AMRC` and `PMRC` (a mixin of `MemoryNativeModel`).

    A frozen weight entry stays bit-identical during `fit` (Adam's moments
    and weight decay included). The masks are non-trainable weights of
    `.model`, saved and loaded with it. The hidden layer is the input
    kernel, its bias and (PMRC) the recurrent kernel; the output layer the
    output kernel and bias; (PMRC) the memory gates every weight of the gate
    and of the candidate memory. The percentage and magnitude methods act on
    the hidden (or output) kernel's entries: they first make every entry of
    it trainable, then freeze exactly `round(percentage * entries)` of them.
    """

    _HIDDEN = ("kernel", "bias", "recurrent_kernel")
    _OUTPUT = ("output_kernel", "output_bias")

    def _set_masks(self, names, value):
        for name in names:
            if name in self._masks.masks:
                mask = self._masks.masks[name]
                mask.assign(np.full(tuple(mask.shape), value, np.float32))

    def _freeze_entries(self, name, chosen):
        mask = np.ones(tuple(self._masks.masks[name].shape), np.float32)
        mask.reshape(-1)[chosen] = 0.0
        self._masks.masks[name].assign(mask)

    def _count(self, name, percentage):
        percentage = validation.float_in_range("percentage", percentage, 0.0, 1.0)
        size = int(np.prod(self._masks.masks[name].shape))
        return size, int(round(percentage * size))

    def _random_entries(self, name, percentage):
        size, count = self._count(name, percentage)
        if self._freeze_rng is None:
            self._freeze_rng = np.random.default_rng(self.random_state)
        self._freeze_entries(name, self._freeze_rng.choice(size, count, replace=False))

    def freeze_hidden_layer(self):
        """Freezes the hidden layer (input kernel, bias, recurrent kernel)."""
        self._set_masks(self._HIDDEN, 0.0)

    def unfreeze_hidden_layer(self):
        """Makes the hidden layer trainable again."""
        self._set_masks(self._HIDDEN, 1.0)

    def freeze_output_layer(self):
        """Freezes the output layer (output kernel and bias)."""
        self._set_masks(self._OUTPUT, 0.0)

    def unfreeze_output_layer(self):
        """Makes the output layer trainable again."""
        self._set_masks(self._OUTPUT, 1.0)

    def freeze_hidden_percentage(self, percentage):
        """Freezes `round(percentage * entries)` entries of the input kernel, drawn without replacement.

        The draw comes from a generator seeded with `random_state`.

        Args:
            percentage: float in [0, 1].
        """
        self._random_entries("kernel", percentage)

    def freeze_output_percentage(self, percentage):
        """Freezes `round(percentage * entries)` entries of the output kernel, drawn without replacement.

        Args:
            percentage: float in [0, 1].
        """
        self._random_entries("output_kernel", percentage)

    def freeze_by_magnitude(self, threshold, freeze_large=True):
        """Freezes the `threshold` fraction of the input kernel's entries with the largest |w|.

        Args:
            threshold: float in [0, 1], the fraction of entries to freeze.
            freeze_large: bool, freeze the largest-magnitude entries (True)
                or the smallest (False).
        """
        try:
            size, count = self._count("kernel", threshold)
        except ValueError:
            raise ValueError(
                f"Expected `threshold` (a fraction) to be in [0, 1]. Received: threshold={threshold}"
            ) from None
        order = np.argsort(np.abs(self._weight("kernel")).reshape(-1), kind="stable")
        chosen = order[size - count :] if validation.boolean("freeze_large", freeze_large) else order[:count]
        self._freeze_entries("kernel", chosen)

    def frozen_counts(self):
        """The number of frozen entries of each weight, as a dict (weights with none omitted)."""
        counts = {}
        for name, mask in self._masks.masks.items():
            frozen = int(np.sum(keras.ops.convert_to_numpy(mask) == 0))
            if frozen:
                counts[name] = frozen
        return counts


class GatedPartialTraining(PartialTraining):
    """`PartialTraining` plus the memory gates (PMRC)."""

    _GATES = ("gate_kernel", "gate_recurrent_kernel", "gate_bias", "candidate_kernel", "candidate_bias")

    def freeze_memory_gates(self):
        """Freezes the memory gates (every weight of the gate and of the candidate memory)."""
        self._set_masks(self._GATES, 0.0)

    def unfreeze_memory_gates(self):
        """Makes the memory gates trainable again."""
        self._set_masks(self._GATES, 1.0)
