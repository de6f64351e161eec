"""DualTrackPersistenceNetwork: the DTPN as an estimator (fit / predict / score)."""

import keras
import numpy as np

from keras_engram.src import validation
from keras_engram.src.layers.memory_native.dtpn import DTPN as DTPNLayer
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel

# The cell's states, in its state_size order.
OUTPUT, HIDDEN, ECHO, NEURON, MATRIX = range(5)


class DualTrackPersistenceNetwork(MemoryNativeModel):
    """Dual-Track Persistence Network with the memory-native API: `fit`, `predict`, `score`, memory.

    A Keras model (`.model`: a stateful `keras_engram.layers.DTPN` layer
    for one series) trained by backpropagation through time with Adam on
    the mean squared error. Every weight is trained, the echo strength
    `beta`, the memory rate `alpha` (per unit) and the matrix decay (per
    memory row) included, unless `legacy=True` (those three fixed, as in the
    original) or `readout_only=True` (only the linear readout, a reservoir).
    See `keras_engram.memory_native.AMRC` for `fit`, `score`, the memory and
    `save` / `load`; `predict` resets the memory first by default, as the
    original's does. The statistics read the current memory and are reset
    with it.

    Args:
        input_size: positive int, features per sample.
        hidden_size: positive int, hidden units.
        output_size: positive int, outputs per sample.
        memory_matrix_size: positive int, rows of the memory matrix.
        learning_rate: positive float, Adam's learning rate (the original's
            per-sample SGD used 0.001).
        beta: float in [0, 1], echo strength (initial value unless legacy).
        alpha: float in [0, 1], memory rate (initial value unless legacy).
        memory_decay: float in [0, 1], the memory matrix's decay per step
            (initial value unless legacy).
        random_state: int or None, seeds the weights.
        readout_only: bool, train only the readout (`W_out`, `b_out`).
        query_read: bool, read the memory matrix with a learned query (see
            `keras_engram.layers.DTPNCell`).
        window: positive int, the truncated-BPTT window of `fit` on a series.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.
        legacy: bool, the original's fixed `beta`, `alpha`, `memory_decay`.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import DualTrackPersistenceNetwork
    >>> X = np.random.default_rng(0).normal(size=(100, 2)).astype("float32")
    >>> model = DualTrackPersistenceNetwork(2, 8, 1, memory_matrix_size=4, random_state=0)
    >>> history = model.fit(X, X[:, :1], epochs=1)
    >>> model.predict(X[:10]).shape, model.get_memory_matrix().shape
    ((10, 1), (4, 8))
    """

    _layer_class = DTPNLayer
    _kind = "dtpn"

    def __init__(self, input_size, hidden_size, output_size, memory_matrix_size=32,
                 learning_rate=0.01, beta=0.3, alpha=0.1, memory_decay=0.99, random_state=None,
                 readout_only=False, query_read=False, window=16, weight_decay=None,
                 legacy=False):
        super().__init__(
            input_size, hidden_size, output_size, learning_rate, random_state, window, legacy,
            weight_decay=weight_decay,
            memory_size=memory_matrix_size, beta=beta, alpha=alpha, memory_decay=memory_decay,
            readout_only=readout_only, query_read=query_read,
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

    # --- memory ---

    def reset_global_memory(self):
        """Sets the memory matrix to zeros (the other states are kept)."""
        states = self.get_memory_state()
        states[MATRIX] = np.zeros_like(states[MATRIX])
        self.set_memory_state(states)

    def get_hidden_state(self):
        """The hidden state `h`, `(hidden_size,)`."""
        return self.get_memory_state()[HIDDEN]

    def set_hidden_state(self, state):
        """Assigns the hidden state `h` (`(hidden_size,)`); the other states are kept."""
        state = np.asarray(state, np.float32)
        if state.shape != (self.hidden_size,):
            raise ValueError(
                f"Expected `state` of shape ({self.hidden_size},). Received: state.shape={state.shape}"
            )
        states = self.get_memory_state()
        states[HIDDEN] = state
        self.set_memory_state(states)

    def get_memory_matrix(self):
        """The memory matrix `(memory_matrix_size, hidden_size)`."""
        return self.get_memory_state()[MATRIX].reshape(self.cell.memory_size, self.hidden_size)

    # --- statistics (of the current memory) ---

    @property
    def avg_echo_magnitude(self):
        """`mean |e|` over the echo (the last step's `y`)."""
        return float(np.mean(np.abs(self.get_memory_state()[ECHO])))

    @property
    def avg_memory_magnitude(self):
        """`mean |n|` over the per-unit leaky memory."""
        return float(np.mean(np.abs(self.get_memory_state()[NEURON])))

    @property
    def avg_matrix_energy(self):
        """`mean |Mem|` over the memory matrix's entries."""
        return float(np.mean(np.abs(self.get_memory_state()[MATRIX])))

    # --- the time constants (per unit / per memory row) ---

    def _rate(self, name, value=None):
        weight = {"beta": self.cell.beta_weight, "alpha": self.cell.alpha_weight,
                  "memory_decay": self.cell.decay_weight}[name]
        if value is None:
            return keras.ops.convert_to_numpy(weight).copy()
        if np.ndim(value) == 0:
            value = np.full(weight.shape, validation.float_in_range(name, value, 0.0, 1.0))
        value = np.asarray(value, np.float32)
        if value.shape != tuple(weight.shape) or value.min() < 0 or value.max() > 1:
            raise ValueError(
                f"Expected `{name}` to be a float in [0, 1] or {tuple(weight.shape)} such values. "
                f"Received: {name}={value!r}"
            )
        weight.assign(value)
        return None

    @property
    def beta(self):
        """The echo strength per unit, `(hidden_size,)`; set with a float or an array in [0, 1]."""
        return self._rate("beta")

    @beta.setter
    def beta(self, value):
        self._rate("beta", value)

    @property
    def alpha(self):
        """The leaky memory's rate per unit, `(hidden_size,)`; set like `beta`."""
        return self._rate("alpha")

    @alpha.setter
    def alpha(self, value):
        self._rate("alpha", value)

    @property
    def memory_decay(self):
        """The memory matrix's decay per row, `(memory_matrix_size,)`; set like `beta`."""
        return self._rate("memory_decay")

    @memory_decay.setter
    def memory_decay(self, value):
        self._rate("memory_decay", value)

    @property
    def learning_rate(self):
        """Adam's learning rate; setting it changes the rate of the next updates."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = validation.positive_float("learning_rate", value)
        optimizer = getattr(self, "_optimizer", None)
        if optimizer is not None:
            optimizer.learning_rate = self._learning_rate

    @property
    def training_steps(self):
        """The number of optimizer updates so far."""
        return int(keras.ops.convert_to_numpy(self._optimizer.iterations))

    @property
    def last_loss(self):
        """The training loss of the last epoch of the last `fit` (None before any)."""
        losses = self.history.get("loss")
        return losses[-1] if losses else None
