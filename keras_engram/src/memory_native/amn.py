"""AMN: the Adaptive Memory Network as an estimator (fit / predict / score)."""

import numpy as np

from keras_engram.src.layers.memory_native.amn import AMN as AMNLayer
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel


class AMN(MemoryNativeModel):
    """Adaptive Memory Network with the memory-native API: `fit`, `predict`, `score`, memory, statistics.

    A Keras model (`.model`: a stateful `keras_engram.layers.AMN` layer for
    one series) trained by backpropagation through time with Adam on the
    mean squared error; the rigidities, fluidities and eigenvalues are
    trained too (constrained). See `keras_engram.memory_native.AMRC` for
    `fit`, `predict`, `score`, the memory and `save` / `load`. The
    statistics are read from the current memory (and the last input).

    Args:
        input_size: positive int, features per sample.
        hidden_size: positive int, hidden units.
        output_size: positive int, outputs per sample.
        memory_size: positive int, manifold rows.
        learning_rate: positive float, Adam's learning rate (the originals' per-sample
            SGD used 0.01 for AMRC and PMRC and 0.001 for AMN).
        dt: positive float, the liquid integration step.
        memory_decay: float in [0, 1], the manifold's decay per step.
        random_state: int or None, seeds the weights.
        window: positive int, the truncated-BPTT window of `fit` on a series.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.
        legacy: bool, the original C implementation's forward step.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import AMN
    >>> X = np.random.default_rng(0).normal(size=(100, 2)).astype("float32")
    >>> model = AMN(2, 8, 1, memory_size=4, random_state=0)
    >>> history = model.fit(X, X[:, :1], epochs=1)
    >>> model.get_manifold_state().shape
    (4, 8)
    """

    _layer_class = AMNLayer
    _kind = "amn"

    def __init__(self, input_size, hidden_size, output_size, memory_size=64, learning_rate=0.01,
                 dt=0.1, memory_decay=0.995, random_state=None, window=16, legacy=False,
                 weight_decay=None):
        super().__init__(
            input_size, hidden_size, output_size, learning_rate, random_state, window, legacy,
            weight_decay=weight_decay,
            memory_size=memory_size, dt=dt, memory_decay=memory_decay,
        )

    def get_manifold_state(self):
        """The manifold `(memory_size, hidden_size)` of the memory."""
        return self.get_memory_state()[3].reshape(self.cell.memory_size, self.hidden_size)

    @property
    def avg_manifold_energy(self):
        """`mean |M|` over the manifold's entries."""
        return float(np.mean(np.abs(self.get_memory_state()[3])))

    @property
    def avg_lru_magnitude(self):
        """`mean |r|` over the LRU state."""
        return float(np.mean(np.abs(self.get_memory_state()[2])))

    @property
    def avg_lc_timescale(self):
        """`mean 1 / (d + 1e-6)`, `d = A + B_f |tanh(x B_in)|` at the last input (`x = 0` before any)."""
        x = np.zeros(self.input_size) if self._last_input is None else self._last_input
        f = np.tanh(np.asarray(x, np.float64) @ self._weight("input_kernel"))
        d = self._weight("rigidity") + self._weight("fluidity") * np.abs(f)
        return float(np.mean(1.0 / (d + 1e-6)))
