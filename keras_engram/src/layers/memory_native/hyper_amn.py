"""The Hyper-AMN recurrent layer: runs a `HyperAMNCell` over a sequence."""

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.hyper_amn_cell import HyperAMNCell
from keras_engram.src.layers.memory_native.memory_native_layer import MemoryNativeLayer


@register
class HyperAMN(MemoryNativeLayer):
    """Multi-head Adaptive Memory Network layer: runs a `HyperAMNCell` over the time axis.

    The input terms (`x B_in`, the skip term `x D` and the gate's input
    term `x G_x`) do not depend on the previous step and are computed for
    all steps before the loop. The layer is a `MemoryRNN`:
    masks, `go_backwards`, `return_sequences`, `return_state`, and with
    `stateful=True` the memory contract (`reset_memory()`,
    `get_memory_state()` / `set_memory_state()`, `save_memory=True`).

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output at each step.
        return_sequences: bool, return the whole output sequence.
        return_state: bool, also return the final states (see `HyperAMNCell`).
        go_backwards: bool, process the sequence backwards.
        stateful: bool, carry the states across calls (a fixed batch size).
        unroll: bool or positive int (see `MemoryRNN`).
        save_memory: bool, with `stateful=True` keep the states as weights.
        **kwargs: the other `HyperAMNCell` arguments (`memory_size`, `dt`,
            `readout_only`, `legacy`, `seed`) and base layer arguments.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import HyperAMN
    >>> layer = HyperAMN(units=8, output_units=2, memory_size=4, return_sequences=True)
    >>> tuple(layer(np.ones((3, 5, 4), "float32")).shape)
    (3, 5, 2)
    """

    cell_class = HyperAMNCell
    cell_name = "hyper_amn_cell"
