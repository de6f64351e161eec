"""The DTPN recurrent layer: runs a `DTPNCell` over a sequence."""

import inspect

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.dtpn_cell import DTPNCell
from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.precision import full_precision

CELL_ARGS = tuple(
    name for name in inspect.signature(DTPNCell.__init__).parameters if name not in ("self", "kwargs")
)


@register
class DTPN(MemoryRNN):
    """Dual-Track Persistence Network layer: runs a `DTPNCell` over the time axis.

    The input projection `x W_in` does not depend on the previous step and
    is computed for all steps before the loop. The layer is a `MemoryRNN`:
    masks, `go_backwards`, `return_sequences`, `return_state`, and with
    `stateful=True` the memory contract (`reset_memory()`,
    `get_memory_state()` / `set_memory_state()`, `save_memory=True`).

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output at each step.
        return_sequences: bool, return the whole output sequence.
        return_state: bool, also return the final states (see `DTPNCell`).
        go_backwards: bool, process the sequence backwards.
        stateful: bool, carry the states across calls (a fixed batch size).
        unroll: bool or positive int (see `MemoryRNN`).
        save_memory: bool, with `stateful=True` keep the states as weights.
        **kwargs: the other `DTPNCell` arguments (`memory_size`, `beta`,
            `alpha`, `memory_decay`, `query_read`, `readout_only`, `legacy`,
            `seed`) and base layer arguments.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import DTPN
    >>> layer = DTPN(units=8, output_units=2, memory_size=4, return_sequences=True)
    >>> tuple(layer(np.ones((3, 5, 4), "float32")).shape)
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
        cell = DTPNCell(
            units=units, output_units=output_units, dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True), name="dtpn_cell", **cell_kwargs,
        )
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            save_memory=save_memory, **kwargs,
        )

    def get_config(self):
        return {**super().get_config(), **self.cell.cell_config()}
