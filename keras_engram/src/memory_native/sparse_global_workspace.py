"""SparseGlobalWorkspace: the SGW-AMN as an estimator (fit / predict / score)."""

import keras
import numpy as np

from keras_engram.src import validation
from keras_engram.src.layers.memory_native.sgw_amn import SGWAMN as SGWAMNLayer
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel


class SparseGlobalWorkspace(MemoryNativeModel):
    """Sparse Global Workspace network (SGW-AMN) with the memory-native API: `fit`, `predict`, `score`.

    A Keras model (`.model`: a stateful `keras_engram.layers.SGWAMN` layer
    for one series, its memory saved with it) trained by backpropagation
    through time with Adam on the mean squared error plus the workspace
    sparsity penalty. Every weight is trained (the expansion, the
    competition, the workspace's time constants, the bottleneck
    expansion, the manifold and the readout; the routing learns through a
    straight-through estimator, see `keras_engram.layers.SGWAMNCell`); with
    `readout_only=True` only the readout, as in the original. The workspace
    integrates over time (the original zeroes it every step; `legacy=True`).
    `predict` resets the memory first by default, as the original's.

    See `keras_engram.memory_native.AMRC` for `fit` on a series or on
    sequences, the memory and `save` / `load`.

    Args:
        input_size: positive int, features per sample.
        pre_bottleneck_size: positive int, the expansion's width.
        workspace_size: positive int, the workspace's width (the number of
            winners; at most `pre_bottleneck_size`).
        post_bottleneck_size: positive int, the width after the workspace.
        output_size: positive int, outputs per sample.
        manifold_size: positive int, manifold rows.
        learning_rate: positive float, Adam's learning rate (the original's
            per-sample SGD used 0.001).
        random_state: int or None, seeds the weights.
        readout_only: bool, train only the readout (the original's regime).
        window: positive int, the truncated-BPTT window of `fit` on a series.
        legacy: bool, the original's forward step.
        routing: `"straight_through"` or `"weighted"` (see `keras_engram.layers.SGWAMNCell`).
        sparsity_penalty: float >= 0, the weight of the workspace's L1 loss.
        weight_decay: float >= 0 or None, Adam's decoupled weight decay.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memory_native import SparseGlobalWorkspace
    >>> X = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    >>> model = SparseGlobalWorkspace(3, 8, 3, 6, 1, manifold_size=2, random_state=0)
    >>> history = model.fit(X, X[:, :1], epochs=1)
    >>> model.predict(X[:5]).shape
    (5, 1)
    >>> model.bottleneck_rate
    0.375
    """

    _layer_class = SGWAMNLayer
    _kind = "sgw_amn"

    def __init__(self, input_size, pre_bottleneck_size=256, workspace_size=16,
                 post_bottleneck_size=256, output_size=2, manifold_size=64, learning_rate=0.01,
                 random_state=None, readout_only=False, window=16, legacy=False,
                 routing="straight_through", sparsity_penalty=0.01, weight_decay=None):
        self.pre_bottleneck_size = validation.positive_int("pre_bottleneck_size", pre_bottleneck_size)
        self.workspace_size = validation.positive_int("workspace_size", workspace_size)
        self.manifold_size = validation.positive_int("manifold_size", manifold_size)
        self.readout_only = validation.boolean("readout_only", readout_only)
        super().__init__(
            input_size, post_bottleneck_size, output_size, learning_rate, random_state, window,
            legacy, weight_decay=weight_decay,
            pre_units=self.pre_bottleneck_size, workspace_units=self.workspace_size,
            memory_size=self.manifold_size, routing=routing, sparsity_penalty=sparsity_penalty,
            readout_only=self.readout_only,
        )
        self._sparsity_history = []
        self._entropy_history = []

    @property
    def post_bottleneck_size(self):
        """The width after the workspace (`hidden_size`)."""
        return self.hidden_size

    # --- training ---

    def fit(self, X, y, epochs=100, batch_size=None, verbose=0, reset_memory=False,
            validation_split=0.0, track_competition=True, reset_memory_each_epoch=True):
        """Trains the model (see `keras_engram.memory_native.AMRC.fit`).

        The loss is the mean squared error plus the workspace sparsity
        penalty. With `track_competition=True` the workspace sparsity and
        the competition entropy of the training memory at the end of each
        epoch are appended to `get_sparsity_history()` /
        `get_entropy_history()`.
        """
        self._track = validation.boolean("track_competition", track_competition)
        return super().fit(X, y, epochs=epochs, batch_size=batch_size, verbose=verbose,
                           reset_memory=reset_memory, validation_split=validation_split,
                              reset_memory_each_epoch=reset_memory_each_epoch)

    def _on_train_epoch(self, train_layer):
        if train_layer is None or not getattr(self, "_track", False):
            return
        states = [keras.ops.convert_to_numpy(s)[-1] for s in train_layer.states]
        self._sparsity_history.append(float(self._state(states, "density")[0]))
        self._entropy_history.append(float(self._state(states, "entropy")[0]))

    # --- inference ---

    def predict(self, X, reset_memory=True):
        """Outputs for `X`; resets the memory first by default (as the original).

        See `keras_engram.memory_native.AMRC.predict`.
        """
        return super().predict(X, reset_memory=reset_memory)

    # --- statistics (from the memory) ---

    def _state(self, states, name):
        return np.asarray(states[self.cell.state_names.index(name)], np.float64)

    def get_workspace_sparsity(self):
        """The fraction of workspace units with `|s_i| > 0.1` at the last step (a density); 0 after a reset."""
        return float(self._state(self.get_memory_state(), "density")[0])

    def get_competition_entropy(self):
        """`-sum pi_i ln pi_i` of the last step's routing (nats, at most `ln PRE`); 0 after a reset."""
        return float(self._state(self.get_memory_state(), "entropy")[0])

    def get_avg_manifold_energy(self):
        """`mean(M^2)` over the manifold's entries; 0 after a reset."""
        return float(np.mean(self._state(self.get_memory_state(), "manifold") ** 2))

    workspace_sparsity = property(get_workspace_sparsity)
    competition_entropy = property(get_competition_entropy)
    avg_manifold_energy = property(get_avg_manifold_energy)

    @property
    def bottleneck_rate(self):
        """`workspace_size / pre_bottleneck_size` (a constant)."""
        return self.workspace_size / self.pre_bottleneck_size

    def get_workspace_matrix(self):
        """The workspace's Hebbian matrix `(workspace_size, workspace_size)` of the memory."""
        return self._state(self.get_memory_state(), "workspace_matrix").reshape(
            self.workspace_size, self.workspace_size
        )

    def get_manifold_state(self):
        """The manifold `(manifold_size, post_bottleneck_size)` of the memory."""
        return self._state(self.get_memory_state(), "manifold").reshape(
            self.manifold_size, self.hidden_size
        )

    def get_sparsity_history(self):
        """The workspace sparsity at the end of each training epoch (`track_competition=True`)."""
        return list(self._sparsity_history)

    def get_entropy_history(self):
        """The competition entropy at the end of each training epoch (`track_competition=True`)."""
        return list(self._entropy_history)

    def load(self, path):
        """Loads a file written by `save` (see `keras_engram.memory_native.AMRC.load`).

        Raises:
            ValueError: the file holds another model, or other sizes.
        """
        model = keras.saving.load_model(path)
        cell = next((l.cell for l in model.layers if isinstance(l, SGWAMNLayer)), None)
        if cell is not None:
            sizes = (cell.pre_units, cell.workspace_units)
            if sizes != (self.pre_bottleneck_size, self.workspace_size):
                raise ValueError(
                    "Expected a model of sizes (pre_bottleneck, workspace) = "
                    f"{(self.pre_bottleneck_size, self.workspace_size)}. Received: {sizes} in {path}"
                )
        super().load(path)
        self.readout_only = self.cell.readout_only
        self.manifold_size = self.cell.memory_size
        return self
