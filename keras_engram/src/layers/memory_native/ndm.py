"""The NDM recurrent layer: runs an `NDMCell` over a sequence."""

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.memory_native_layer import MemoryNativeLayer
from keras_engram.src.layers.memory_native.ndm_cell import NDMCell


@register
class NDM(MemoryNativeLayer):
    """Neural Differential Manifold layer: runs an `NDMCell` over the time axis.

    The Hebbian fast weights live in the states, so a call (training or
    inference) never changes a weight of the layer; with `stateful=True`
    they carry from one call to the next with the rest of the memory, and
    `reset_memory()` clears them. The layer is a `MemoryRNN`: masks,
    `go_backwards`, `return_sequences`, `return_state`, and with
    `stateful=True` the memory contract (`reset_memory()`,
    `get_memory_state()` / `set_memory_state()`, `save_memory=True`).
    The state sizes depend on the input width, which the layer takes from
    its input when it is built (or from `input_units`).

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output at each step.
        return_sequences: bool, return the whole output sequence.
        return_state: bool, also return the final states (see `NDMCell`).
        go_backwards: bool, process the sequence backwards.
        stateful: bool, carry the states across calls (a fixed batch size).
        unroll: bool or positive int (see `MemoryRNN`).
        save_memory: bool, with `stateful=True` keep the states as weights.
        **kwargs: the other `NDMCell` arguments (`memory_size`, `variant`,
            `dt`, `hebbian_strength`, `weight_decay`, `trace_decay`,
            `memory_decay`, `plasticity_decay`, `momentum`,
            `base_plasticity`, `differentiable_plasticity`, `readout_only`,
            `legacy`, `seed`, `input_units`) and base layer arguments.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import NDM
    >>> layer = NDM(units=4, output_units=2, memory_size=3, variant="momentum",
    ...             return_sequences=True)
    >>> tuple(layer(np.ones((3, 5, 2), "float32")).shape)
    (3, 5, 2)
    """

    cell_class = NDMCell
    cell_name = "ndm_cell"

    def _configure_cell(self, cell):
        cell._sizes_deferred = True  # the layer sizes the fast weights' states when built

    def build(self, sequences_shape, initial_state_shape=None):
        if not self.cell.built:
            if len(sequences_shape) != 3:
                super().build(sequences_shape, initial_state_shape)  # the rank error
            self.cell.build((sequences_shape[0], *sequences_shape[2:]))
        # The fast weights' sizes are known once the cell knows its input width.
        self.state_size = list(self.cell.state_size)
        super().build(sequences_shape, initial_state_shape)
