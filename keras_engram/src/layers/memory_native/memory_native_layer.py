"""MemoryNativeLayer: the shared constructor of the memory-native recurrent layers."""

import inspect

from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.precision import full_precision


class MemoryNativeLayer(MemoryRNN):
    """Base of the memory-native layers: a `MemoryRNN` that builds its cell from its keyword arguments.

    A subclass names its cell class (`cell_class`) and the cell's layer name
    (`cell_name`); the constructor passes every keyword argument that the
    cell's constructor takes to the cell and the rest to `MemoryRNN`, and
    `get_config` is the layer's config plus the cell's arguments (declared
    once, in the cell).
    """

    cell_class = None
    cell_name = None

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
        names = [
            name for name in inspect.signature(self.cell_class.__init__).parameters
            if name not in ("self", "kwargs")
        ]
        cell_kwargs = {name: kwargs.pop(name) for name in names if name in kwargs}
        kwargs = full_precision(kwargs)
        cell = self.cell_class(
            units=units, output_units=output_units, dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True), name=self.cell_name, **cell_kwargs,
        )
        self._configure_cell(cell)
        super().__init__(
            cell, return_sequences=return_sequences, return_state=return_state,
            go_backwards=go_backwards, stateful=stateful, unroll=unroll,
            save_memory=save_memory, **kwargs,
        )

    def _configure_cell(self, cell):
        """Settings of the cell that only the layer makes (before `MemoryRNN` reads its sizes)."""

    def get_config(self):
        return {**super().get_config(), **self.cell.cell_config()}
