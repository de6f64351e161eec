"""AMRC: the Adaptive Memory Recurrent Cell as an estimator (fit / predict / score)."""

from keras_engram.src.layers.memory_native.amrc import AMRC as AMRCLayer
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel
from keras_engram.src.memory_native.partial_training import PartialTraining


class AMRC(PartialTraining, MemoryNativeModel):
    """Adaptive Memory Recurrent Cell with the memory-native API: `fit`, `predict`, `score`, memory.

    A Keras model (`.model`: a stateful `keras_engram.layers.AMRC` layer for
    one series, batch 1, its memory saved with it) trained by
    backpropagation through time with Adam on the mean squared error. The
    memory persists across `fit` and `predict` calls until
    `reset_memory()`. `random_state` seeds the weights; training never
    shuffles, so two models with the same `random_state` train
    identically on one backend.

    Args:
        input_size: positive int, features per sample.
        hidden_size: positive int, hidden units.
        output_size: positive int, outputs per sample.
        beta: float in [0, 1], echo strength (initial value; learned unless legacy).
        alpha: float in [0, 1], memory rate (initial value; learned unless legacy).
        learning_rate: positive float, Adam's learning rate (the originals' per-sample
            SGD used 0.01 for AMRC and PMRC and 0.001 for AMN).
        random_state: int or None, seeds the weights.
        window: positive int, the truncated-BPTT window of `fit` on a series.
        output_activation: `"tanh"` (outputs in (-1, 1), the original's) or `"linear"`.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.
        legacy: bool, the original C implementation's forward step
            (see `keras_engram.layers.AMRCCell`).

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import AMRC
    >>> t = np.arange(200, dtype="float32")
    >>> X = np.stack([np.sin(t / 5), np.cos(t / 7)], axis=1)
    >>> y = 0.5 * np.sin((t + 1) / 5)
    >>> model = AMRC(input_size=2, hidden_size=8, output_size=1, random_state=0)
    >>> history = model.fit(X[:150], y[:150], epochs=2)
    >>> model.predict(X[150:]).shape
    (50, 1)
    >>> model.reset_memory()
    """

    _layer_class = AMRCLayer
    _kind = "amrc"

    def __init__(self, input_size, hidden_size, output_size, beta=0.3, alpha=0.1,
                 learning_rate=0.01, random_state=None, window=16, output_activation="tanh",
                 legacy=False, weight_decay=None):
        super().__init__(
            input_size, hidden_size, output_size, learning_rate, random_state, window, legacy,
            weight_decay=weight_decay,
            beta=beta, alpha=alpha, output_activation=output_activation,
        )
