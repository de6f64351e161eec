"""EngramClassifier: sequence classification with an Engram backbone."""

import keras

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.models.enn.engram_backbone import (
    EngramBackbone,
    backbone_from_arguments,
)
from keras_engram.src.models.task import Task
from keras_engram.src.precision import full_precision


@register
class EngramClassifier(Task):
    """Classifier: `EngramBackbone` -> `Dropout(0.3)` -> `Dense(num_classes, softmax)`.

    The architecture and defaults of tensorflow-engram's `EngramClassifier`
    factory, as a functional task model (keras-hub style): build it from the
    seed's arguments (`input_shape`, `num_classes`, `hidden_dim`, ...), or
    put its head on a backbone of your own (`backbone=EngramBackbone(...)`).
    At the paper's MNIST configuration (`input_shape=(28, 28)`, 10 classes,
    hidden 128, memory 64) it has 210,826 trainable parameters, the seed's
    trainable count; the seed's total of 219,018 includes an unused
    non-trainable trace weight that is not kept.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be None. Not
            with `backbone`.
        num_classes: positive int.
        hidden_dim: int (default 128).
        memory_size: int (default 64).
        return_states: bool, accepted for compatibility: as in the seed, the
            classifier outputs class probabilities only.
        reset_states_per_batch: bool (see `EngramNetwork`).
        return_sequences: bool, classify every step (per-step softmax).
        use_attention: bool (default True), attention pooling; only used with
            `return_sequences=True` (as in the seed).
        sparsity_strength: float in [0, 1] (default 0.1).
        backbone: optional `EngramBackbone`. When given, the backbone's
            arguments above (`hidden_dim` to `sparsity_strength`) are not
            used and `input_shape` and further backbone keywords must not be
            passed: the backbone already holds them.
        **kwargs: further `EngramNetwork` arguments (for example
            `trace_scope`, `hebbian_lr`, `dropout_rate`) and `keras.Model`
            arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np
    >>> from keras_engram.models import EngramClassifier
    >>> model = EngramClassifier(input_shape=(8, 8), num_classes=3,
    ...                          hidden_dim=16, memory_size=8)
    >>> model.predict(np.zeros((2, 8, 8), "float32"), verbose=0).shape
    (2, 3)
    """

    backbone_cls = EngramBackbone

    def __init__(
        self,
        input_shape=None,
        num_classes=None,
        hidden_dim=128,
        memory_size=64,
        return_states=False,
        reset_states_per_batch=True,
        return_sequences=False,
        use_attention=True,
        sparsity_strength=0.1,
        backbone=None,
        **kwargs,
    ):
        num_classes = validation.positive_int("num_classes", num_classes)
        backbone, model_kwargs = backbone_from_arguments(
            "EngramClassifier",
            backbone,
            input_shape,
            dict(
                hidden_dim=hidden_dim,
                memory_size=memory_size,
                reset_states_per_batch=reset_states_per_batch,
                return_sequences=return_sequences,
                use_attention=use_attention,
                sparsity_strength=sparsity_strength,
            ),
            kwargs,
        )

        # === Layers ===
        seed = backbone.engram_network.cell.seed
        dropout = keras.layers.Dropout(0.3, seed=seed, name="dropout")
        # The output layer computes in float32 under mixed precision (Keras's advice).
        head_dtype = full_precision({"dtype": model_kwargs.get("dtype")})
        head = keras.layers.Dense(num_classes, activation="softmax", name="predictions", **head_dtype)

        # === Functional Model ===
        inputs = keras.Input(shape=backbone.sequence_shape, name="inputs")
        outputs = head(dropout(backbone(inputs)))
        super().__init__(inputs=inputs, outputs=outputs, **model_kwargs)

        # === Config ===
        self.backbone = backbone
        self.num_classes = num_classes
        self.return_states = validation.boolean("return_states", return_states)

    @property
    def engram_network(self):
        """The backbone's `EngramNetwork`."""
        return self.backbone.engram_network

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "return_states": self.return_states,
        }
