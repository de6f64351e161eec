"""The SGW-AMN recurrent layer: runs an `SGWAMNCell` over a sequence."""

import inspect

from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_native.sgw_amn_cell import SGWAMNCell
from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.precision import full_precision

CELL_ARGS = tuple(
    name for name in inspect.signature(SGWAMNCell.__init__).parameters
    if name not in ("self", "kwargs")
)


@register
class SGWAMN(MemoryRNN):
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
        cell = SGWAMNCell(
            units=units, output_units=output_units, dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True), name="sgw_amn_cell", **cell_kwargs,
        )
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            save_memory=save_memory, **kwargs,
        )

    def get_config(self):
        return {**super().get_config(), **self.cell.cell_config()}
