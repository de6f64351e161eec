"""FitHooks: training-time side effects (callbacks) for the memory-native estimators."""

import keras

from keras_engram.src.layers.memory_rnn import MemoryRNN
from keras_engram.src.memory_native.memory_native_model import _ResetEachEpoch, _SeriesValidation


def sync_jax_state(model):
    """Writes a running JAX trainer's variables back to the model (no-op on other backends).

    During `fit` the JAX trainer keeps the variables outside the model; a
    callback that reads or assigns a variable calls this first, and the
    trainer then reads the variables back before its next step.
    """
    sync = getattr(model, "jax_state_sync", None)
    if sync is not None:
        sync()


class _Hook(keras.callbacks.Callback):
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


class FitHooks:
    """A mixin for a `MemoryNativeModel`: `fit` runs the model's own callbacks.

    A subclass implements `_on_train_batch(train_layer, logs)` (after every
    training batch, with Keras's logs, `logs["loss"]` the running mean loss
    of the epoch) and `_on_train_epoch(train_layer)` (after every epoch);
    `train_layer` is the layer that `fit` trains (its states are the
    training streams' memory). The training itself is `MemoryNativeModel`'s.
    """

    def _on_train_batch(self, train_layer, logs):
        pass

    def _on_train_epoch(self, train_layer):
        pass

    def _hooks(self, train_layer):
        # Only the hooks a subclass defines (each one syncs a running JAX trainer's state).
        cls = type(self)
        on_batch = on_epoch = None
        if cls._on_train_batch is not FitHooks._on_train_batch:
            on_batch = lambda logs: self._on_train_batch(train_layer, logs)  # noqa: E731
        if cls._on_train_epoch is not FitHooks._on_train_epoch:
            on_epoch = lambda logs: self._on_train_epoch(train_layer)  # noqa: E731
        return _Hook(on_batch=on_batch, on_epoch=on_epoch)

    def _fit_series(self, X, y, epochs, streams, verbose, validation_split):
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
        xs = X_fit[n - used :].reshape(*shape, -1).transpose(1, 0, 2, 3).reshape(-1, window, self.input_size)
        ys = y_fit[n - used :].reshape(*shape, -1).transpose(1, 0, 2, 3).reshape(-1, window, self.output_size)
        train_layer = MemoryRNN(self.cell, stateful=True, save_memory=True, return_sequences=True)
        inputs = keras.Input(batch_shape=(streams, window, self.input_size))
        model = keras.Model(inputs, train_layer(inputs))
        model.compile(optimizer=self._optimizer, loss="mse")
        callbacks = [_ResetEachEpoch(train_layer), self._hooks(train_layer)]
        if held:
            callbacks.append(_SeriesValidation(self, train_layer, X[-held:], y[-held:]))
        history = model.fit(xs, ys, batch_size=streams, epochs=epochs, shuffle=False,
                            verbose=verbose, callbacks=callbacks)
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
                         callbacks=[self._hooks(None)])
