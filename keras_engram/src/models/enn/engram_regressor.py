"""EngramRegressor: sequence regression with an Engram network."""

import keras

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.models.enn import engram_task
from keras_engram.src.models.enn.engram_network import EngramNetwork
from keras_engram.src.precision import full_precision


@register
class EngramRegressor(keras.Model):
    """Regressor: `EngramNetwork` -> `Dense(output_dim)` (per step on sequences).

    The architecture and defaults of tensorflow-engram's `EngramRegressor`
    factory, as a functional `keras.Model` subclass whose config holds the
    constructor arguments.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be None.
        output_dim: positive int, number of regression targets.
        hidden_dim: int (default 128).
        memory_size: int (default 64).
        return_states: bool, accepted for compatibility; the regressor
            outputs predictions only.
        return_sequences: bool (default True, as in tensorflow-engram),
            predict at every step: targets are then `(batch, timesteps,
            output_dim)`; with `return_sequences=False` the model predicts
            once per sequence and targets are `(batch, output_dim)`.
        reset_states_per_batch: bool (see `EngramNetwork`).
        sparsity_strength: float in [0, 1] (default 0.1).
        **kwargs: further `EngramNetwork` arguments and `keras.Model`
            arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np
    >>> from keras_engram.models import EngramRegressor
    >>> model = EngramRegressor(input_shape=(6, 2), output_dim=1,
    ...                         hidden_dim=16, memory_size=8)
    >>> model.predict(np.zeros((3, 6, 2), "float32"), verbose=0).shape
    (3, 6, 1)
    """

    def __init__(
        self,
        input_shape,
        output_dim,
        hidden_dim=128,
        memory_size=64,
        return_states=False,
        return_sequences=True,
        reset_states_per_batch=True,
        sparsity_strength=0.1,
        **kwargs,
    ):
        model_kwargs, network_kwargs = engram_task.split_kwargs("EngramRegressor", kwargs)
        input_shape = engram_task.check_input_shape(input_shape)
        output_dim = validation.positive_int("output_dim", output_dim)

        # === Layers ===
        network = EngramNetwork(
            hidden_dim=hidden_dim,
            memory_size=memory_size,
            return_sequences=return_sequences,
            return_states=False,
            reset_states_per_batch=reset_states_per_batch,
            sparsity_strength=sparsity_strength,
            dtype=model_kwargs.get("dtype"),
            name="engram_network",
            **network_kwargs,
        )
        # The output layer computes in float32 under mixed precision (Keras's advice).
        head_dtype = full_precision({"dtype": model_kwargs.get("dtype")})
        head = keras.layers.Dense(output_dim, name="predictions", **head_dtype)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="inputs")
        outputs = head(network(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **model_kwargs)

        # === Config ===
        self.engram_network = network
        self._config = {
            "input_shape": input_shape,
            "output_dim": output_dim,
            "hidden_dim": hidden_dim,
            "memory_size": memory_size,
            "return_states": return_states,
            "return_sequences": return_sequences,
            "reset_states_per_batch": reset_states_per_batch,
            "sparsity_strength": sparsity_strength,
            **network_kwargs,
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if (
            y is not None
            and y_pred is not None
            and len(y_pred.shape) == 3
            and len(y.shape) == 2
            and y.shape[1] not in (None, y_pred.shape[1])
        ):
            raise ValueError(
                "Expected targets of shape (batch, timesteps, output_dim): this EngramRegressor "
                "predicts at every step (`return_sequences=True`, the default of "
                "tensorflow-engram). For one prediction per sequence, build it with "
                f"`return_sequences=False`. Received: y.shape={tuple(y.shape)}, "
                f"predictions.shape={tuple(y_pred.shape)}"
            )
        return super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def get_config(self):
        return {**engram_task.base_config(self), **self._config}

    @classmethod
    def from_config(cls, config):
        return cls(**engram_task.deserialize_dtype(config))
