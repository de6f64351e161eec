"""EngramRegressor: sequence regression with an Engram backbone."""

import keras

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.models.enn.engram_backbone import EngramBackbone, backbone_from_arguments
from keras_engram.src.models.task import Task
from keras_engram.src.precision import full_precision


@register
class EngramRegressor(Task):
    """Regressor: `EngramBackbone` -> `Dense(output_dim)` (per step on sequences).

    The architecture and defaults of tensorflow-engram's `EngramRegressor`
    factory, as a functional task model: build it from the seed's arguments,
    or put its head on a backbone of your own (`backbone=EngramBackbone(...)`).

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be None. Not
            with `backbone`.
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
        backbone: optional `EngramBackbone` (see `EngramClassifier`).
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

    backbone_cls = EngramBackbone

    def __init__(
        self,
        input_shape=None,
        output_dim=None,
        hidden_dim=128,
        memory_size=64,
        return_states=False,
        return_sequences=True,
        reset_states_per_batch=True,
        sparsity_strength=0.1,
        backbone=None,
        **kwargs,
    ):
        output_dim = validation.positive_int("output_dim", output_dim)
        backbone, model_kwargs = backbone_from_arguments(
            "EngramRegressor",
            backbone,
            input_shape,
            dict(
                hidden_dim=hidden_dim,
                memory_size=memory_size,
                return_sequences=return_sequences,
                reset_states_per_batch=reset_states_per_batch,
                sparsity_strength=sparsity_strength,
            ),
            kwargs,
        )

        # === Layers ===
        # The output layer computes in float32 under mixed precision (Keras's advice).
        head_dtype = full_precision({"dtype": model_kwargs.get("dtype")})
        head = keras.layers.Dense(output_dim, name="predictions", **head_dtype)

        # === Functional Model ===
        inputs = keras.Input(shape=backbone.sequence_shape, name="inputs")
        outputs = head(backbone(inputs))
        super().__init__(inputs=inputs, outputs=outputs, **model_kwargs)

        # === Config ===
        self.backbone = backbone
        self.output_dim = output_dim
        self.return_states = validation.boolean("return_states", return_states)

    @property
    def engram_network(self):
        """The backbone's `EngramNetwork`."""
        return self.backbone.engram_network

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
        return {
            **super().get_config(),
            "output_dim": self.output_dim,
            "return_states": self.return_states,
        }
