"""NeuralDifferentialManifold: the NDM (three variants) as an estimator (fit / predict / score)."""

import keras
import numpy as np

from keras_engram.src import validation
from keras_engram.src.layers.memory_native.ndm import NDM as NDMLayer
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel

# The original's loss-driven plasticity boost, P <- min(1, P + boost(L)).
BOOST = {"ndm": 0.01, "clamped": 0.005, "momentum": 0.01}
CLAMPED_BOOST_BOUND = 5.0  # "clamped" uses 0.005 clip(sqrt(L), 0, 5)


class NeuralDifferentialManifold(MemoryNativeModel):
    """Neural Differential Manifold with the memory-native API: `fit`, `predict`, `score`, memory, statistics.

    A Keras model (`.model`: a stateful `keras_engram.layers.NDM` layer for
    one series, its memory saved with it) trained by backpropagation
    through time with Adam on the mean squared error. Every weight is
    trained (the base input and recurrent kernels, the manifold's keys,
    values and queries, the readout); with `readout_only=True` only the
    readout, as in the originals. The Hebbian fast weights are part of the
    memory: `predict` never changes a weight (only the memory, which it
    resets first by default, as the original's `predict`).

    Plasticity: the plasticity masks decay inside the memory (`delta^n`
    after `n` steps). With `plasticity_boost=True` (the original's rule),
    after every training batch `fit` raises them by `0.01 sqrt(L)`
    (`"clamped"`: `0.005 clip(sqrt(L), 0, 5)`), capped at 1, `L` the
    epoch's running mean loss (the original boosts after every sample).
    With `consolidate=True`, each `fit` ends by folding the memory's fast
    weights into the base weights (`consolidate_memory()`); the originals
    keep every Hebbian change of every call, `predict` included.

    See `keras_engram.memory_native.AMRC` for `fit` on a series or on
    sequences, the memory and `save` / `load`.

    Args:
        input_size: positive int, features per sample.
        hidden_size: positive int, hidden units.
        output_size: positive int, outputs per sample.
        manifold_size: positive int, manifold rows.
        learning_rate: positive float, Adam's learning rate (the original's
            per-sample SGD with momentum used 0.001).
        momentum: float in [0, 1), the weight momentum of `variant="momentum"`.
        variant: `"ndm"`, `"clamped"` or `"momentum"` (see `keras_engram.layers.NDMCell`).
        random_state: int or None, seeds the weights.
        readout_only: bool, train only the readout (the originals' regime).
        window: positive int, the truncated-BPTT window of `fit` on a series.
        legacy: bool, the originals' forward step (the `"clamped"` and
            `"momentum"` variants do not write their manifold).
        differentiable_plasticity: bool, let the gradient flow through the
            Hebbian updates.
        plasticity_boost: bool, the loss-driven plasticity boost in `fit`.
        consolidate: bool, fold the fast weights into the base weights at
            the end of each `fit`.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import NeuralDifferentialManifold
    >>> X = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> model = NeuralDifferentialManifold(2, 4, 1, manifold_size=3, random_state=0)
    >>> history = model.fit(X, X[:, :1], epochs=1)
    >>> model.predict(X[:5]).shape
    (5, 1)
    >>> 0.0 < model.get_avg_plasticity() <= 1.0
    True
    """

    _layer_class = NDMLayer
    _kind = "ndm"

    def __init__(self, input_size, hidden_size, output_size, manifold_size=64, learning_rate=0.01,
                 momentum=0.9, variant="ndm", random_state=None, readout_only=False, window=16,
                 legacy=False, differentiable_plasticity=False, plasticity_boost=True,
                 consolidate=False, weight_decay=None):
        self.manifold_size = validation.positive_int("manifold_size", manifold_size)
        self.readout_only = validation.boolean("readout_only", readout_only)
        self.plasticity_boost = validation.boolean("plasticity_boost", plasticity_boost)
        self.consolidate = validation.boolean("consolidate", consolidate)
        super().__init__(
            input_size, hidden_size, output_size, learning_rate, random_state, window, legacy,
            weight_decay=weight_decay,
            memory_size=self.manifold_size, variant=variant, momentum=momentum,
            readout_only=self.readout_only, differentiable_plasticity=differentiable_plasticity,
            input_units=validation.positive_int("input_size", input_size),
        )
        self.variant = self.cell.variant
        self._plasticity_history = []
        self._velocity_history = []

    # --- training ---

    def fit(self, X, y, epochs=100, batch_size=None, verbose=0, reset_memory=False,
            validation_split=0.0, track_plasticity=True, reset_memory_each_epoch=True):
        """Trains the model (see `keras_engram.memory_native.AMRC.fit`).

        With `track_plasticity=True` the mean plasticity and weight
        velocity of the training memory at the end of each epoch are
        appended to `get_plasticity_history()` / `get_velocity_history()`.
        With `consolidate=True` the fast weights are folded into the base
        weights afterwards.
        """
        self._track = validation.boolean("track_plasticity", track_plasticity)
        history = super().fit(X, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
                              reset_memory=reset_memory, validation_split=validation_split,
                              reset_memory_each_epoch=reset_memory_each_epoch)
        if self.consolidate:
            self.consolidate_memory()
        return history

    def _on_train_batch(self, train_layer, logs):
        loss = logs.get("loss")
        if not self.plasticity_boost or loss is None:
            return
        root = float(np.sqrt(max(float(loss), 0.0)))
        if self.variant == "clamped":
            root = min(root, CLAMPED_BOOST_BOUND)
        boost = BOOST[self.variant] * root
        for weight in (self.cell.input_plasticity, self.cell.recurrent_plasticity):
            weight.assign(keras.ops.minimum(weight.value + boost, 1.0))

    def _on_train_epoch(self, train_layer):
        if train_layer is None or not getattr(self, "_track", False):
            return
        states = [keras.ops.convert_to_numpy(s)[-1] for s in train_layer.states]
        self._plasticity_history.append(self._plasticity(states))
        self._velocity_history.append(float(self._state(states, "weight_velocity")[0]))

    def consolidate_memory(self):
        """Folds the memory's fast weights into the base weights (not a gradient step).

        `W_in0 <- W_in0 + dW_in`, `W_h0 <- W_h0 + dW_h`, the plasticity
        takes its decayed value (`P <- P delta^n`), and the memory's fast
        weights and step count return to zero; the outputs that follow are
        unchanged by the fold itself. Never called by `predict`.
        """
        states = self.get_memory_state()
        cell = self.cell
        i, h = self.input_size, self.hidden_size
        fade = cell.plasticity_decay ** float(self._state(states, "steps")[0])
        cell.input_kernel.assign(self._weight("input_kernel")
                                 + self._state(states, "input_fast_weights").reshape(i, h))
        cell.recurrent_kernel.assign(self._weight("recurrent_kernel")
                                     + self._state(states, "recurrent_fast_weights").reshape(h, h))
        cell.input_plasticity.assign(self._weight("input_plasticity") * fade)
        cell.recurrent_plasticity.assign(self._weight("recurrent_plasticity") * fade)
        for name in ("input_fast_weights", "recurrent_fast_weights", "steps"):
            states[cell.state_names.index(name)] = np.zeros_like(self._state(states, name))
        self.set_memory_state(states)

    # --- inference ---

    def predict(self, X, reset_memory=True):
        """Outputs for `X`; resets the memory first by default (as the original).

        See `keras_engram.memory_native.AMRC.predict`. No weight changes.
        """
        return super().predict(X, reset_memory=reset_memory)

    # --- statistics (from the memory) ---

    def _state(self, states, name):
        return np.asarray(states[self.cell.state_names.index(name)], np.float64)

    def _plasticity(self, states):
        fade = self.cell.plasticity_decay ** float(self._state(states, "steps")[0])
        total = np.sum(self._weight("input_plasticity")) + np.sum(self._weight("recurrent_plasticity"))
        count = self.input_size * self.hidden_size + self.hidden_size**2
        return float(fade * total / count)

    def get_avg_weight_velocity(self):
        """`mean |Wdot|` of the last step over both plastic matrices (`"momentum"`: `mean |U|`); 0 after a reset."""
        return float(self._state(self.get_memory_state(), "weight_velocity")[0])

    def get_avg_plasticity(self):
        """`mean(P delta^n)` over both plasticity masks after the memory's `n` steps."""
        return self._plasticity(self.get_memory_state())

    def get_avg_manifold_energy(self):
        """`mean(M^2)` over the manifold's entries; 0 after a reset."""
        return float(np.mean(self._state(self.get_memory_state(), "manifold") ** 2))

    avg_weight_velocity = property(get_avg_weight_velocity)
    avg_plasticity = property(get_avg_plasticity)
    avg_manifold_energy = property(get_avg_manifold_energy)

    def get_manifold_state(self):
        """The manifold `(manifold_size, hidden_size)` of the memory."""
        return self._state(self.get_memory_state(), "manifold").reshape(
            self.manifold_size, self.hidden_size
        )

    def get_plasticity_history(self):
        """The mean plasticity at the end of each training epoch (`track_plasticity=True`)."""
        return list(self._plasticity_history)

    def get_velocity_history(self):
        """The mean weight velocity at the end of each training epoch (`track_plasticity=True`)."""
        return list(self._velocity_history)

    def load(self, path):
        """Loads a file written by `save` (see `keras_engram.memory_native.AMRC.load`)."""
        super().load(path)
        self.readout_only = self.cell.readout_only
        self.variant = self.cell.variant
        self.manifold_size = self.cell.memory_size
        return self
