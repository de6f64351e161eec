"""The SGW-AMN recurrent layer: runs an `SGWAMNCell` over a sequence."""

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.memory_native_layer import MemoryNativeLayer
from keras_engram.src.layers.memory_native.sgw_amn_cell import SGWAMNCell


@register
class SGWAMN(MemoryNativeLayer):
    """Sparse Global Workspace layer: runs an `SGWAMNCell` over the time axis.

    The expansion, the competition and the top-k routing depend on the
    input only and are computed for all steps before the loop; the loop
    runs the workspace, its Hebbian matrix and the manifold. The workspace
    sparsity penalty (`sparsity_penalty * sum |s|`, averaged over the batch
    and the steps) is added to the layer's losses at every call, so
    `model.fit` minimises it with the task loss. The layer is a
    `MemoryRNN`: masks, `go_backwards`, `return_sequences`, `return_state`,
    and with `stateful=True` the memory contract (`reset_memory()`,
    `get_memory_state()` / `set_memory_state()`, `save_memory=True`).

    Args:
        units: positive int, the width after the bottleneck (`POST`).
        output_units: positive int, width of the output at each step.
        return_sequences: bool, return the whole output sequence.
        return_state: bool, also return the final states (see `SGWAMNCell`).
        go_backwards: bool, process the sequence backwards.
        stateful: bool, carry the states across calls (a fixed batch size).
        unroll: bool or positive int (see `MemoryRNN`).
        save_memory: bool, with `stateful=True` keep the states as weights.
        **kwargs: the other `SGWAMNCell` arguments (`pre_units`,
            `workspace_units`, `memory_size`, `temperature`,
            `sparsity_penalty`, `dt`, `memory_decay`, `workspace_decay`,
            `routing`, `readout_only`, `legacy`, `seed`) and base layer
            arguments.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import SGWAMN
    >>> layer = SGWAMN(units=6, output_units=2, pre_units=8, workspace_units=3,
    ...                memory_size=2, return_sequences=True)
    >>> tuple(layer(np.ones((3, 5, 4), "float32")).shape)
    (3, 5, 2)
    """

    cell_class = SGWAMNCell
    cell_name = "sgw_amn_cell"
