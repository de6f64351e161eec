"""The PMRC recurrent layer: runs a `PMRCCell` over a sequence."""

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.memory_native_layer import MemoryNativeLayer
from keras_engram.src.layers.memory_native.pmrc_cell import PMRCCell


@register
class PMRC(MemoryNativeLayer):
    """Persistent Memory Recurrent Cell layer: runs a `PMRCCell` over the time axis.

    The input projections (`x W + b`, and with gates the gate's input term
    and the candidate memory) do not depend on the previous step and are
    computed for all steps before the loop. The layer is a `MemoryRNN`:
    masks, `go_backwards`, `return_sequences`, `return_state`, and with
    `stateful=True` the memory contract (`reset_memory()`,
    `get_memory_state()` / `set_memory_state()`, `save_memory=True`).

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output at each step.
        return_sequences: bool, return the whole output sequence.
        return_state: bool, also return the final states (see `PMRCCell`).
        go_backwards: bool, process the sequence backwards.
        stateful: bool, carry the states across calls (a fixed batch size).
        unroll: bool or positive int (see `MemoryRNN`).
        save_memory: bool, with `stateful=True` keep the states as weights.
        **kwargs: the other `PMRCCell` arguments (`beta`, `alpha`,
            `output_beta`, `use_recurrent`, `use_learnable_gates`,
            `use_output_memory`, `output_activation`, `legacy`, `seed`) and
            base layer arguments.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import PMRC
    >>> layer = PMRC(units=8, output_units=2, use_learnable_gates=True,
    ...              return_sequences=True)
    >>> tuple(layer(np.ones((3, 5, 4), "float32")).shape)
    (3, 5, 2)
    """

    cell_class = PMRCCell
    cell_name = "pmrc_cell"
