"""Attention pooling over time, as in tensorflow-engram's `EngramAttentionLayer`."""

import keras
from keras import ops

from keras_engram.src.api_export import register
from keras_engram.src.precision import full_precision


@register
class EngramAttentionPooling(keras.layers.Layer):
    """Pools a sequence into one vector with learned attention over time.

    `score_t = tanh(w . o_t + b)`, `alpha = softmax_t(score)`,
    `output = sum_t alpha_t o_t`. Masked time steps get zero weight; a
    sequence whose steps are all masked pools to zeros. Under a mixed
    precision policy the softmax over time is computed in float32.

    Args:
        kernel_initializer: initializer of `w` (default `"glorot_uniform"`).
        bias_initializer: initializer of `b` (default `"zeros"`).
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `(batch, timesteps, features)` tensor.
        mask: optional `(batch, timesteps)` boolean mask.
        return_attention_scores: bool, also return the weights `(batch, timesteps)`.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import EngramAttentionPooling
    >>> tuple(EngramAttentionPooling()(np.ones((2, 5, 3), "float32")).shape)
    (2, 3)
    """

    def __init__(self, kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        super().__init__(**full_precision(kwargs))
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.attention_dense = keras.layers.Dense(
            1,
            activation="tanh",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            name="attention_dense",
            dtype=self.dtype_policy,
        )
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "Expected inputs of rank 3 (batch, timesteps, features). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.attention_dense.build(input_shape)
        self.built = True

    def call(self, inputs, mask=None, return_attention_scores=False):
        scores = ops.squeeze(self.attention_dense(inputs), -1)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        weights = ops.softmax(scores, axis=1)
        if mask is not None:
            weights = weights * ops.cast(mask, weights.dtype)
        pooled = ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)
        if return_attention_scores:
            return pooled, weights
        return pooled

    def compute_output_spec(self, inputs, mask=None, return_attention_scores=False):
        pooled = keras.KerasTensor((inputs.shape[0], inputs.shape[2]), dtype=self.compute_dtype)
        if return_attention_scores:
            return pooled, keras.KerasTensor(inputs.shape[:2], dtype=self.compute_dtype)
        return pooled

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
