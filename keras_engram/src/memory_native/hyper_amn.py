"""HyperAMN: the multi-head Adaptive Memory Network as an estimator (fit / predict / score)."""

import keras
import numpy as np

from keras_engram.src import validation
from keras_engram.src.layers.memory_native.hyper_amn import HyperAMN as HyperAMNLayer
from keras_engram.src.layers.memory_native.hyper_amn_cell import NUM_HEADS
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel

# The cell's states, in its state_size order.
OUTPUT, HEADS, MERGED, MANIFOLDS, GATE = range(5)


class HyperAMN(MemoryNativeModel):
    """Multi-head Adaptive Memory Network with the memory-native API: `fit`, `predict`, `score`, memory.

    A Keras model (`.model`: a stateful `keras_engram.layers.HyperAMN`
    layer for one series) trained by backpropagation through time with
    Adam on the mean squared error. Every weight is trained (the input
    projection, eigenvalues, liquid constants, manifold kernels, gate,
    cross-head mixing and both readouts) unless `readout_only=True`, which
    trains only the readout `C` as the original does. The gate sees the
    current input and the previous merged state (`legacy=True`: only the
    previous merged state, the original's timing). See
    `keras_engram.memory_native.AMRC` for `fit`, `score`, the memory and
    `save` / `load`; `predict` resets the memory first by default, as the
    original's does. The statistics read the current memory (the head
    activations are the gate of the last step, carried as a state) and are
    reset with it.

    Args:
        input_size: positive int, features per sample.
        hidden_size: positive int, hidden units per head.
        output_size: positive int, outputs per sample.
        manifold_size: positive int, manifold rows per head.
        learning_rate: positive float, Adam's learning rate (the original's
            per-sample SGD used 0.001).
        dt: positive float, the liquid integration step.
        random_state: int or None, seeds the weights.
        readout_only: bool, train only the readout `C`.
        window: positive int, the truncated-BPTT window of `fit` on a series.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.
        legacy: bool, the original's gate timing.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import HyperAMN
    >>> X = np.random.default_rng(0).normal(size=(100, 2)).astype("float32")
    >>> model = HyperAMN(2, 8, 1, manifold_size=4, random_state=0)
    >>> history = model.fit(X, X[:, :1], epochs=1)
    >>> model.predict(X[:10]).shape, model.get_head_activations().shape
    ((10, 1), (3,))
    """

    MANIFOLD_SPATIAL = 0
    MANIFOLD_EMOTIONAL = 1
    MANIFOLD_LOGICAL = 2
    NUM_HEADS = NUM_HEADS

    _layer_class = HyperAMNLayer
    _kind = "hyper_amn"

    def __init__(self, input_size, hidden_size, output_size, manifold_size=64, learning_rate=0.01,
                 dt=0.1, random_state=None, readout_only=False, window=16, weight_decay=None,
                 legacy=False):
        super().__init__(
            input_size, hidden_size, output_size, learning_rate, random_state, window, legacy,
            weight_decay=weight_decay,
            memory_size=manifold_size, dt=dt, readout_only=readout_only,
        )

    @property
    def readout_only(self):
        """Whether only the readout is trained."""
        return self.cell.readout_only

    def predict(self, X, reset_memory=True):
        """Outputs for `X`; by default from zero memory (`reset_memory=True`), as the original's.

        With `reset_memory=False` a 2-D `X` continues the series from the
        current memory. See `MemoryNativeModel.predict`.
        """
        return super().predict(X, reset_memory=reset_memory)

    # --- statistics (of the current memory) ---

    def get_head_activations(self):
        """The gate `a` of the last step, `(3,)` (zeros after a reset, before any step)."""
        return self.get_memory_state()[GATE]

    def get_manifold_state(self):
        """The manifolds `(3, manifold_size, hidden_size)`."""
        return self.get_memory_state()[MANIFOLDS].reshape(
            self.NUM_HEADS, self.cell.memory_size, self.hidden_size
        )

    def get_manifold_energy(self, head):
        """`mean(M_j^2)` over the manifold of head `head` (0 spatial, 1 emotional, 2 logical)."""
        head = validation.one_of("head", validation.optional_int("head", head), range(self.NUM_HEADS))
        return float(np.mean(self.get_manifold_state()[head].astype(np.float64) ** 2))

    @property
    def avg_manifold_energy(self):
        """`[mean(M_j^2) for each head j]`, `(3,)`."""
        return np.array([self.get_manifold_energy(j) for j in range(self.NUM_HEADS)])

    def get_cross_head_flow(self):
        """`mean |X[j, j']|` over the off-diagonal entries of the cross-head mixing."""
        mixing = keras.ops.convert_to_numpy(self.cell.cross_head_kernel).astype(np.float64)
        off = ~np.eye(self.NUM_HEADS, dtype=bool)
        return float(np.mean(np.abs(mixing[off])))
