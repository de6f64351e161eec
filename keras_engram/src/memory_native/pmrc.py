"""PMRC: the Persistent Memory Recurrent Cell as an estimator (fit / predict / score)."""

import numpy as np

from keras_engram.src.layers.memory_native.pmrc import PMRC as PMRCLayer
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel
from keras_engram.src.memory_native.partial_training import GatedPartialTraining


class PMRC(GatedPartialTraining, MemoryNativeModel):
    """Persistent Memory Recurrent Cell with the memory-native API: `fit`, `predict`, `score`, memory.

    A Keras model (`.model`: a stateful `keras_engram.layers.PMRC` layer for
    one series) trained by backpropagation through time with Adam on the
    mean squared error; every weight is trained, the gates included. See
    `keras_engram.memory_native.AMRC` for `fit`, `predict`, `score`, the
    memory and `save` / `load`.

    Args:
        input_size: positive int, features per sample.
        hidden_size: positive int, hidden units.
        output_size: positive int, outputs per sample.
        beta: float in [0, 1], hidden echo strength (initial value).
        alpha: float in [0, 1], memory rate without gates (initial value).
        output_beta: float in [0, 1], output echo strength (initial value).
        learning_rate: positive float, Adam's learning rate (the originals' per-sample
            SGD used 0.01 for AMRC and PMRC and 0.001 for AMN).
        use_recurrent: bool, the recurrent kernel.
        use_learnable_gates: bool, the gated memory.
        use_output_memory: bool, the output echo.
        random_state: int or None, seeds the weights.
        window: positive int, the truncated-BPTT window of `fit` on a series.
        output_activation: `"tanh"` or `"linear"`.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.
        legacy: bool, the original C implementation's forward step.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import PMRC
    >>> X = np.random.default_rng(0).normal(size=(100, 3)).astype("float32")
    >>> model = PMRC(3, 8, 1, use_learnable_gates=True, random_state=0)
    >>> history = model.fit(X, 0.5 * np.tanh(X[:, 0]), epochs=1)
    >>> model.get_gate_state().shape
    (8,)
    """

    _layer_class = PMRCLayer
    _kind = "pmrc"

    def __init__(self, input_size, hidden_size, output_size, beta=0.3, alpha=0.1, output_beta=0.2,
                 learning_rate=0.01, use_recurrent=True, use_learnable_gates=False,
                 use_output_memory=False, random_state=None, window=16,
                 output_activation="tanh", legacy=False, weight_decay=None):
        super().__init__(
            input_size, hidden_size, output_size, learning_rate, random_state, window, legacy,
            weight_decay=weight_decay,
            beta=beta, alpha=alpha, output_beta=output_beta, use_recurrent=use_recurrent,
            use_learnable_gates=use_learnable_gates, use_output_memory=use_output_memory,
            output_activation=output_activation,
        )

    def get_gate_state(self):
        """The memory gate of the last step, `(hidden_size,)` (zeros without learnable gates)."""
        if not self.cell.use_learnable_gates:
            return np.zeros(self.hidden_size, np.float32)
        return self.get_memory_state()[-1]
