"""EngramClassifier: sequence classification with an Engram network."""

import keras

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.models.enn import engram_task
from keras_engram.src.models.enn.engram_network import EngramNetwork
from keras_engram.src.precision import full_precision


@register
class EngramClassifier(keras.Model):
    """Classifier: `EngramNetwork` -> `Dropout(0.3)` -> `Dense(num_classes, softmax)`.

    The architecture and defaults of tensorflow-engram's `EngramClassifier`
    factory, as a functional `keras.Model` subclass whose config holds the
    constructor arguments (keras-hub style). At the paper's MNIST configuration
    (`input_shape=(28, 28)`, 10 classes, hidden 128, memory 64) it has 210,826
    trainable parameters, the seed's trainable count; the seed's total of
    219,018 includes an unused non-trainable trace weight that is not kept.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be None.
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

    def __init__(
        self,
        input_shape,
        num_classes,
        hidden_dim=128,
        memory_size=64,
        return_states=False,
        reset_states_per_batch=True,
        return_sequences=False,
        use_attention=True,
        sparsity_strength=0.1,
        **kwargs,
    ):
        model_kwargs, network_kwargs = engram_task.split_kwargs("EngramClassifier", kwargs)
        input_shape = engram_task.check_input_shape(input_shape)
        num_classes = validation.positive_int("num_classes", num_classes)

        # === Layers ===
        network = EngramNetwork(
            hidden_dim=hidden_dim,
            memory_size=memory_size,
            return_sequences=return_sequences,
            use_attention=use_attention,
            return_states=False,
            reset_states_per_batch=reset_states_per_batch,
            sparsity_strength=sparsity_strength,
            dtype=model_kwargs.get("dtype"),
            name="engram_network",
            **network_kwargs,
        )
        dropout = keras.layers.Dropout(0.3, seed=network_kwargs.get("seed"), name="dropout")
        # The output layer computes in float32 under mixed precision (Keras's advice).
        head_dtype = full_precision({"dtype": model_kwargs.get("dtype")})
        head = keras.layers.Dense(num_classes, activation="softmax", name="predictions", **head_dtype)

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="inputs")
        outputs = head(dropout(network(inputs)))
        super().__init__(inputs=inputs, outputs=outputs, **model_kwargs)

        # === Config ===
        self.engram_network = network
        self._config = {
            "input_shape": input_shape,
            "num_classes": num_classes,
            "hidden_dim": hidden_dim,
            "memory_size": memory_size,
            "return_states": return_states,
            "reset_states_per_batch": reset_states_per_batch,
            "return_sequences": return_sequences,
            "use_attention": use_attention,
            "sparsity_strength": sparsity_strength,
            **network_kwargs,
        }

    def get_config(self):
        return {**engram_task.base_config(self), **self._config}

    @classmethod
    def from_config(cls, config):
        return cls(**engram_task.deserialize_dtype(config))
