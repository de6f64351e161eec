"""MemoryNativeModel: the estimator interface shared by the memory-native models (AMRC, PMRC, AMN)."""

import inspect

import keras
import numpy as np

from keras_engram.src import validation
from keras_engram.src.presets import preset_io
from keras_engram.src.presets.registry import presets_property
from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.memory_native.freeze_masks import FreezeMasks
from keras_engram.src.memory_native.masked_adam import MaskedAdam


def r2_score(y_true, y_pred):
    """`1 - sum((y - y_hat)^2) / sum((y - column_mean(y))^2)`, sums over every sample and output.

    The coefficient of determination with each output's own mean and the
    squared errors pooled over all outputs (for one output, the usual R^2).
    Returns 0.0 when the targets are constant.
    """
    y_true = np.asarray(y_true, np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, np.float64).reshape(len(y_pred), -1)
    total = np.sum((y_true - y_true.mean(axis=0)) ** 2)
    if total == 0:
        return 0.0
    return float(1.0 - np.sum((y_true - y_pred) ** 2) / total)


class _ResetEachEpoch(keras.callbacks.Callback):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def on_epoch_begin(self, epoch, logs=None):
        self.layer.reset_state()


def sync_jax_state(model):
    """Writes a running JAX trainer's variables back to the model (no-op on other backends).

    During `fit` the JAX trainer keeps the variables outside the model; a
    callback that reads or assigns a variable calls this first, and the
    trainer then reads the variables back before its next step.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


class _TrainingHooks(keras.callbacks.Callback):
    """Calls a model's `_on_train_batch` / `_on_train_epoch` (each after syncing JAX's state)."""

    def __init__(self, on_batch=None, on_epoch=None):
        super().__init__()
        self.on_batch, self.on_epoch = on_batch, on_epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.on_batch is not None:
            sync_jax_state(self.model)
            self.on_batch(logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.on_epoch is not None:
            sync_jax_state(self.model)
            self.on_epoch(logs or {})


class _SeriesValidation(keras.callbacks.Callback):
    """The loss on the held-out end of the series, run on from the end of the training series."""

    def __init__(self, owner, train_layer, x, y):
        super().__init__()
        self.owner, self.train_layer, self.x, self.y = owner, train_layer, x, y

    def on_epoch_end(self, epoch, logs=None):
        start = [keras.ops.convert_to_numpy(s)[-1:] for s in self.train_layer.states]
        predicted = self.owner._run_free(self.x[None], start)[0]
        if logs is not None:
            logs["val_loss"] = float(np.mean((predicted - self.y) ** 2))


class MemoryNativeModel:
    """Base of the memory-native estimators: a Keras model with memory, `fit` / `predict` / `score`.

    Subclasses name their layer (`AMRC`, `PMRC`, `AMN` of
    `keras_engram.layers`); this class holds the shared interface. See
    `keras_engram.memory_native.AMRC` for the arguments and methods.

    Example:

    >>> from keras_engram.memory_native import AMN, AMRC, PMRC, MemoryNativeModel
    >>> all(issubclass(cls, MemoryNativeModel) for cls in (AMRC, PMRC, AMN))
    True
    """

    _layer_class = None
    _kind = None

    presets = presets_property(preset_io.CONFIG_FILE)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Registered as `keras_engram.memory_native>Name`, so that a preset's config.json names
        # its class (the layers of the same names are `keras_engram>Name`).
        keras.saving.register_keras_serializable(package="keras_engram.memory_native")(cls)

    def __new__(cls, *args, **kwargs):
        # The constructor's arguments, defaults filled in, are the model's config (as Keras
        # records a layer's): `get_config` returns them and `from_config` calls the constructor.
        instance = super().__new__(cls)
        bound = inspect.signature(cls.__init__).bind(instance, *args, **kwargs)
        bound.apply_defaults()
        instance._config = dict(list(bound.arguments.items())[1:])
        return instance

    def get_config(self):
        """The constructor's arguments (with its defaults), as a JSON-serializable dict."""
        return dict(self._config)

    @classmethod
    def from_config(cls, config):
        """A new, untrained model from `get_config`'s dict."""
        return cls(**config)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """A trained model from a preset, with its memory at the end of its training series.

        `preset` is a built-in preset name (`keras_engram.presets.list_presets()`,
        `cls.presets`), a directory written by `save_to_preset`, or an
        `hf://` / `kaggle://` handle. The preset's memory is the state at the
        end of the series it was trained on, so `predict` continues that
        series; `reset_memory()` starts from zeros.

        Args:
            preset: str or path-like, the preset.
            load_weights: bool (default True). False gives the architecture
                with fresh weights and zero memory.
            **kwargs: overrides of the constructor arguments that keep the
                weights, for example `learning_rate` or `window`.

        Returns:
            The model, an instance of the preset's class.

        Raises:
            TypeError: `preset` is not a string or path, or an override is
                not a constructor argument of the preset's model.
            ValueError: an unknown preset name, a preset of another class, a
                weights file that does not fit, or an override that changes
                the weights.
            FileNotFoundError: the directory lacks `config.json` or
                `model.weights.h5`.

        Example:

        >>> from keras_engram.datasets import load_mackey_glass
        >>> from keras_engram.memory_native import AMN
        >>> model = AMN.from_preset("amn_mackey_glass")
        >>> _, (x_test, y_test) = load_mackey_glass(horizon=6)
        >>> model.score(x_test, y_test) > 0.9
        True
        """
        return preset_io.load_estimator(cls, preset, load_weights, kwargs)

    def save_to_preset(self, preset_dir, metadata=None):
        """Saves the model as a preset directory (keras-hub's file names), memory included.

        Writes `config.json` (the class and its constructor arguments),
        `model.weights.h5` (the weights, the memory and the freezing masks),
        `metadata.json` (versions, backend, parameter count, date, and
        `metadata`) and a model card `README.md`.

        Args:
            preset_dir: str or path-like, the directory (created when needed).
            metadata: optional JSON-serializable dict added to `metadata.json`
                (for example `description`, `training_data`, `score`).

        Raises:
            TypeError: `preset_dir` is not a path, or `metadata` is not a
                JSON-serializable dict.
            ValueError: `preset_dir` is a file, or `metadata` sets an entry
                this method computes.

        Example:

        >>> import os, tempfile
        >>> from keras_engram.memory_native import AMRC
        >>> model = AMRC(2, 8, 1, random_state=0)
        >>> directory = os.path.join(tempfile.mkdtemp(), "tiny_amrc")
        >>> model.save_to_preset(directory)
        >>> AMRC.from_preset(directory).get_config() == model.get_config()
        True
        """
        preset_io.save_estimator_preset(self, preset_dir, metadata, "keras_engram.memory_native")

    def __init__(self, input_size, hidden_size, output_size, learning_rate, random_state,
                 window, legacy, weight_decay=None, **cell_kwargs):
        self.input_size = validation.positive_int("input_size", input_size)
        self.hidden_size = validation.positive_int("hidden_size", hidden_size)
        self.output_size = validation.positive_int("output_size", output_size)
        self.learning_rate = validation.positive_float("learning_rate", learning_rate)
        self.random_state = validation.optional_int("random_state", random_state)
        self.window = validation.positive_int("window", window)
        self.legacy = validation.boolean("legacy", legacy)
        self.weight_decay = validation.float_in_range(
            "weight_decay", weight_decay, 0.0, None
        ) if weight_decay is not None else None
        layer = self._layer_class(
            units=self.hidden_size, output_units=self.output_size, legacy=self.legacy,
            seed=self.random_state, stateful=True, save_memory=True, return_sequences=True,
            name=self._kind, **cell_kwargs,
        )
        inputs = keras.Input(batch_shape=(1, None, self.input_size), name="series")
        outputs = layer(inputs)
        masks = FreezeMasks({w.name: w.shape for w in layer.cell.trainable_weights}, name="freeze_masks")
        self._use(keras.Model(inputs, masks(outputs), name=f"{self._kind}_model"))
        self.history = {}
        self._last_input = None
        self._freeze_rng = None

    def _use(self, model):
        self.model = model
        self._layer = next(layer for layer in model.layers if isinstance(layer, MemoryRNN))
        self._masks = next(layer for layer in model.layers if isinstance(layer, FreezeMasks))
        self._optimizer = MaskedAdam(self.learning_rate, weight_decay=self.weight_decay)
        self._free = None  # a stateless layer on the same cell, made on first use

    def _prepare_optimizer(self):
        """Hands the current freezing masks to the optimizer (read when `fit` traces its step)."""
        frozen = {}
        for weight in self.cell.trainable_weights:
            mask = self._masks.masks.get(weight.name)
            if mask is not None:
                frozen[id(weight)] = keras.ops.convert_to_numpy(mask) == 0
        self._optimizer.frozen = frozen

    @property
    def cell(self):
        """The model's cell (`AMRCCell`, `PMRCCell` or `AMNCell`), holding every weight."""
        return self._layer.cell

    # --- data checks ---

    def _check_x(self, X, name="X"):
        if not isinstance(X, (np.ndarray, list, tuple)) and not hasattr(X, "__array__"):
            raise TypeError(f"Expected `{name}` to be an array. Received: {name}={type(X).__name__}")
        X = np.asarray(X, np.float32)
        if X.ndim not in (1, 2, 3) or X.shape[-1] != self.input_size:
            raise ValueError(
                f"Expected `{name}` of shape (samples, {self.input_size}) (one series) or "
                f"(sequences, steps, {self.input_size}). Received: {name}.shape={X.shape}"
            )
        if X.ndim > 1 and 0 in X.shape[:-1]:
            raise ValueError(f"Expected at least one sample in `{name}`. Received: {name}.shape={X.shape}")
        if not np.isfinite(X).all():
            raise ValueError(f"Expected finite values in `{name}`. Received: NaN or inf in {name}")
        return X

    def _check_y(self, y, X):
        y = np.asarray(y, np.float32)
        if y.ndim == X.ndim - 1 and self.output_size == 1 and y.shape == X.shape[:-1]:
            y = y[..., None]
        expected = X.shape[:-1] + (self.output_size,)
        if y.shape != expected and not (X.ndim == 3 and y.shape == (len(X), self.output_size)):
            raise ValueError(
                f"Expected `y` of shape {expected} for X of shape {X.shape}. Received: y.shape={y.shape}"
            )
        if not np.isfinite(y).all():
            raise ValueError("Expected finite values in `y`. Received: NaN or inf in y")
        return y

    # --- training ---

    def fit(self, X, y, epochs=100, batch_size=None, verbose=0, reset_memory=False,
            validation_split=0.0, reset_memory_each_epoch=True):
        """Trains the model by backpropagation through time (Adam, mean squared error).

        A 2-D `X` `(samples, input_size)` is one time series in order. It is
        cut into `batch_size` consecutive streams (the batch axis), each cut
        into windows of `window` steps; the streams' windows are fed in
        order, the state at the end of one window starting the next
        (truncated BPTT: gradients stop at window borders), and every epoch
        starts the streams from zero memory. Time is never shuffled. The
        first samples that do not fill a whole window of every stream are
        skipped (fewer than `batch_size * window`). After training, the
        memory is the state at the end of the series, so `predict` on the
        samples that follow continues it. With `reset_memory_each_epoch=False`
        each epoch's streams start from the memory the previous epoch ended
        with (the first from zeros).

        A 3-D `X` `(sequences, steps, input_size)` is a batch of independent
        sequences, each from zero memory, in batches of `batch_size`
        (default 32) in their given order; `y` is
        `(sequences, steps, output_size)` or `(sequences, output_size)`
        (a target for the last step). The memory is not changed.

        Args:
            X: array, the inputs.
            y: array, the targets (`(samples,)` allowed for one output).
            epochs: positive int.
            batch_size: positive int or None. 2-D `X`: the number of streams
                (default: as many as give at least eight windows each, at
                most 16).
            verbose: 0, 1 or 2, Keras's progress output.
            reset_memory: bool, set the memory to zeros first.
            validation_split: float in [0, 1): the fraction held out at the
                end of the series (2-D `X`: its loss is computed after each
                epoch by running on from the end of the training series) or
                of the sequences (3-D).
            reset_memory_each_epoch: bool (2-D `X`), start every epoch's
                streams from zero memory (the default).

        Returns:
            The history dict (`loss`, and `val_loss` with a validation split).
        """
        X = self._check_x(X)
        y = self._check_y(y, X)
        epochs = validation.positive_int("epochs", epochs)
        batch_size = validation.positive_int("batch_size", batch_size, allow_none=True)
        validation_split = validation.rate("validation_split", validation_split)
        reset_each_epoch = validation.boolean("reset_memory_each_epoch", reset_memory_each_epoch)
        if validation.boolean("reset_memory", reset_memory):
            self.reset_memory()
        self._prepare_optimizer()
        if X.ndim == 3:
            history = self._fit_sequences(X, y, epochs, batch_size or 32, verbose, validation_split)
        else:
            if X.ndim == 1:
                X, y = X[None], y[None]
            history = self._fit_series(X, y, epochs, batch_size, verbose, validation_split,
                                       reset_each_epoch)
        self.history = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        return self.history

    def _fit_series(self, X, y, epochs, streams, verbose, validation_split, reset_each_epoch=True):
        held = int(len(X) * validation_split)
        X_fit, y_fit = (X[:-held], y[:-held]) if held else (X, y)
        n = len(X_fit)
        window = min(self.window, n)
        if streams is None:
            streams = max(1, min(16, n // (8 * window)))
        streams = min(streams, max(1, n // window))
        per_stream = n // (streams * window)
        used = streams * per_stream * window
        shape = (streams, per_stream, window)
        # Windows ordered (window index, stream): batch k holds window k of every stream.
        xs = X_fit[n - used :].reshape(*shape, -1).transpose(1, 0, 2, 3).reshape(-1, window, self.input_size)
        ys = y_fit[n - used :].reshape(*shape, -1).transpose(1, 0, 2, 3).reshape(-1, window, self.output_size)
        # save_memory: the states are tracked variables, which every backend's
        # trainer carries from one batch (window) to the next, as it carries
        # BatchNormalization's statistics (untracked states do not survive a
        # jitted JAX train step).
        train_layer = MemoryRNN(self.cell, stateful=True, save_memory=True, return_sequences=True)
        inputs = keras.Input(batch_shape=(streams, window, self.input_size))
        model = keras.Model(inputs, train_layer(inputs))
        model.compile(optimizer=self._optimizer, loss="mse")
        callbacks = [_ResetEachEpoch(train_layer)] if reset_each_epoch else []
        callbacks += self._training_hooks(train_layer)
        if held:
            callbacks.append(_SeriesValidation(self, train_layer, X[-held:], y[-held:]))
        history = model.fit(xs, ys, batch_size=streams, epochs=epochs, shuffle=False,
                            verbose=verbose, callbacks=callbacks)
        # The memory continues from the end of the training series (the last stream).
        final = [keras.ops.convert_to_numpy(s)[-1:] for s in train_layer.states]
        self._layer.set_memory_state(final)
        self._last_input = X_fit[-1]
        return history

    def _fit_sequences(self, X, y, epochs, batch_size, verbose, validation_split):
        last_only = y.ndim == 2
        layer = MemoryRNN(self.cell, return_sequences=not last_only)
        inputs = keras.Input((None, self.input_size))
        model = keras.Model(inputs, layer(inputs))
        model.compile(optimizer=self._optimizer, loss="mse")
        return model.fit(X, y, batch_size=batch_size, epochs=epochs, shuffle=False,
                         verbose=verbose, validation_split=validation_split,
                         callbacks=self._training_hooks(None))

    # --- training hooks (a subclass's side effects of training) ---

    def _on_train_batch(self, train_layer, logs):
        """After every training batch (`logs["loss"]`: the epoch's running mean loss); none here."""

    def _on_train_epoch(self, train_layer):
        """After every epoch (`train_layer`: the trained layer, whose states are the streams' memory, or None)."""

    def _training_hooks(self, train_layer):
        # A callback only for the hooks a subclass defines (each one syncs a running JAX trainer).
        cls = type(self)
        on_batch = on_epoch = None
        if cls._on_train_batch is not MemoryNativeModel._on_train_batch:
            on_batch = lambda logs: self._on_train_batch(train_layer, logs)  # noqa: E731
        if cls._on_train_epoch is not MemoryNativeModel._on_train_epoch:
            on_epoch = lambda logs: self._on_train_epoch(train_layer)  # noqa: E731
        if on_batch is None and on_epoch is None:
            return []
        return [_TrainingHooks(on_batch=on_batch, on_epoch=on_epoch)]

    # --- inference ---

    def _run_free(self, X, initial_state=None):
        """A batch of sequences through a stateless layer on the same cell (memory untouched)."""
        if self._free is None:
            self._free = MemoryRNN(self.cell, return_sequences=True)
        return keras.ops.convert_to_numpy(self._free(X, initial_state=initial_state))

    def predict(self, X, reset_memory=False):
        """Outputs for `X`, carrying the memory (2-D and 1-D `X`).

        A 2-D `X` `(samples, input_size)` continues the series from the
        current memory and leaves the memory at its end (as the originals'
        `predict`); a 1-D `X` is one sample and gives a 1-D output. A 3-D `X`
        is a batch of independent sequences from zero memory, which leaves
        the memory unchanged.

        Args:
            X: array, the inputs.
            reset_memory: bool, set the memory to zeros first.

        Returns:
            The outputs, `(samples, output_size)` (1-D `X`: `(output_size,)`;
            3-D `X`: `(sequences, steps, output_size)`).
        """
        X = self._check_x(X)
        if validation.boolean("reset_memory", reset_memory):
            self.reset_memory()
        if X.ndim == 3:
            return self._run_free(X)
        single = X.ndim == 1
        series = X[None, None] if single else X[None]
        out = keras.ops.convert_to_numpy(self.model(series))[0]
        self._last_input = series[0, -1]
        return out[0] if single else out

    def forward(self, x):
        """One sample `(input_size,)` through the model, carrying the memory: `(output_size,)`."""
        x = np.asarray(x, np.float32) if not isinstance(x, np.ndarray) else x
        if x.ndim != 1:
            raise ValueError(
                f"Expected one sample `x` of shape ({self.input_size},). Received: x.shape={x.shape}"
            )
        return MemoryNativeModel.predict(self, x, reset_memory=False)

    def print_info(self):
        """Prints the model's class, arguments, parameter counts and memory size."""
        trainable = int(sum(np.prod(w.shape) for w in self.cell.trainable_weights))
        memory = int(sum(self.cell.state_size))
        print(f"{type(self).__name__} (keras_engram.memory_native), backend {keras.backend.backend()}")
        for name, value in self.get_config().items():
            print(f"  {name}: {value}")
        print(f"  trainable parameters: {trainable:,}; memory: {memory:,} values")

    def score(self, X, y, metric="r2"):
        """`metric` of `predict(X)` against `y`; `predict` moves the memory as it does alone.

        `metric="r2"` (default): `R^2 = 1 - sum((y - y_hat)^2) / sum((y -
        column_mean(y))^2)`, the sums over every sample and output (0.0 for
        constant targets; see `r2_score`). `"mse"` and `"mae"`: the mean
        squared and mean absolute error (the originals' metrics), in float64.
        """
        metric = validation.one_of("metric", metric, ("r2", "mse", "mae"))
        X = self._check_x(X)
        y = self._check_y(y, X)
        y = y.reshape(-1, self.output_size)
        predicted = self.predict(X).reshape(-1, self.output_size)
        if metric == "r2":
            return r2_score(y, predicted)
        error = np.asarray(predicted, np.float64) - np.asarray(y, np.float64)
        return float(np.mean(error**2) if metric == "mse" else np.mean(np.abs(error)))

    # --- memory ---

    def reset_memory(self):
        """Sets the memory (every state) to zeros."""
        self._layer.reset_memory()

    def get_memory_state(self):
        """Every state of the memory, as a list of 1-D NumPy arrays (the cell's `state_size` order)."""
        return [s[0] for s in self._layer.get_memory_state()]

    def set_memory_state(self, states):
        """Assigns every state of the memory (as `get_memory_state` returns them), bit for bit."""
        sizes = list(self.cell.state_size)
        if not isinstance(states, (list, tuple)) or len(states) != len(sizes):
            raise ValueError(
                f"Expected `states` to be a list of {len(sizes)} arrays of sizes {sizes}. "
                f"Received: states={states!r}"
            )
        self._layer.set_memory_state([np.asarray(s, np.float32).reshape(1, -1) for s in states])

    # --- persistence ---

    def save(self, path):
        """Saves the model, its weights and its memory to a `.keras` file (bit-exact on load)."""
        if not isinstance(path, str) or not path.endswith(".keras"):
            raise ValueError(f"Expected `path` to be a str ending in '.keras'. Received: path={path!r}")
        self.model.save(path)

    def load(self, path):
        """Loads a file written by `save` into this model (weights, memory, the cell's settings).

        Raises:
            ValueError: the file holds another model, or other sizes.
        """
        model = keras.saving.load_model(path)
        layer = next((l for l in model.layers if isinstance(l, MemoryRNN)), None)
        if not isinstance(layer, self._layer_class):
            raise ValueError(
                f"Expected a file saved by a {type(self).__name__} model. "
                f"Received: a {type(layer).__name__} layer in {path}"
            )
        sizes = (layer.cell.input_dim, layer.cell.units, layer.cell.output_units)
        if sizes != (self.input_size, self.hidden_size, self.output_size):
            raise ValueError(
                f"Expected a model of sizes (input, hidden, output) = "
                f"{(self.input_size, self.hidden_size, self.output_size)}. Received: {sizes} in {path}"
            )
        self.legacy = layer.cell.legacy
        cell_config = layer.cell.get_config()
        self._config.update({k: cell_config[k] for k in self._config if k in cell_config})
        self._config["legacy"] = self.legacy
        self._use(model)
        return self

    def _weight(self, name):
        return keras.ops.convert_to_numpy(getattr(self.cell, name))

