"""The NDM recurrent layer: runs an `NDMCell` over a sequence."""

import inspect

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.ndm_cell import NDMCell
from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.precision import full_precision

CELL_ARGS = tuple(
    name for name in inspect.signature(NDMCell.__init__).parameters if name not in ("self", "kwargs")
)


@register
class NDM(MemoryRNN):
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

    def __init__(
        self,
        units,
        output_units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        save_memory=False,
        **kwargs,
    ):
        cell_kwargs = {name: kwargs.pop(name) for name in CELL_ARGS if name in kwargs}
        kwargs = full_precision(kwargs)
        cell = NDMCell(
            units=units, output_units=output_units, dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True), name="ndm_cell", **cell_kwargs,
        )
        cell._sizes_deferred = True
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            save_memory=save_memory, **kwargs,
        )

    def build(self, sequences_shape, initial_state_shape=None):
        if not self.cell.built:
            if len(sequences_shape) != 3:
                super().build(sequences_shape, initial_state_shape)  # the rank error
            self.cell.build((sequences_shape[0], *sequences_shape[2:]))
        # The fast weights' sizes are known once the cell knows its input width.
        self.state_size = list(self.cell.state_size)
        super().build(sequences_shape, initial_state_shape)

    def get_config(self):
        return {**super().get_config(), **self.cell.cell_config()}
