"""Abstractor: compresses a sequence into a fixed number of working memories (Memoria)."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register


@register
class Abstractor(keras.layers.Layer):
    """Learned queries attend over a sequence: `[batch, T, hidden]` -> `[batch, num_memories, hidden]`.

    With `h` the input, `Q` the `num_memories` learned queries:
    `A = softmax_T(Q (h W_k + b_k)^T)` (one head, no `1/sqrt(d)` scaling),
    `Z = A (h W_v + b_v)`, and the output `(Z W_f + b_f) W_o + b_o`: two
    dense layers without a non-linearity between them, no residual, no
    normalization. The output is the working memory Memoria stores.

    Args:
        num_memories: positive int, working memories produced per sequence.
        hidden_dim: positive int, features of the input and the output.
        feedforward_dim: positive int, width of the inner dense layer.
        query_initializer: initializer of the queries (default normal, stddev 0.02).
        kernel_initializer: initializer of the dense kernels.
        bias_initializer: initializer of the dense biases.
        **kwargs: base layer arguments.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memoria import Abstractor
    >>> layer = Abstractor(num_memories=3, hidden_dim=4, feedforward_dim=5)
    >>> tuple(layer(np.ones((2, 7, 4), "float32")).shape)
    (2, 3, 4)
    """

    def __init__(
        self,
        num_memories,
        hidden_dim,
        feedforward_dim,
        query_initializer=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_memories = validation.positive_int("num_memories", num_memories)
        self.hidden_dim = validation.positive_int("hidden_dim", hidden_dim)
        self.feedforward_dim = validation.positive_int("feedforward_dim", feedforward_dim)
        self.query_initializer = keras.initializers.get(
            query_initializer or keras.initializers.RandomNormal(stddev=0.02)
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

        def dense(units, name):
            return keras.layers.Dense(
                units, kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer, dtype=self.dtype_policy, name=name,
            )

        self.key_dense = dense(self.hidden_dim, "key")
        self.value_dense = dense(self.hidden_dim, "value")
        self.feedforward_dense = dense(self.feedforward_dim, "feedforward")
        self.output_dense = dense(self.hidden_dim, "output")

    def build(self, input_shape):
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"Expected inputs with {self.hidden_dim} features (`hidden_dim`). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.queries = self.add_weight(
            shape=(self.num_memories, self.hidden_dim), initializer=self.query_initializer,
            name="queries",
        )
        self.key_dense.build(input_shape)
        self.value_dense.build(input_shape)
        self.feedforward_dense.build((None, self.num_memories, self.hidden_dim))
        self.output_dense.build((None, self.num_memories, self.feedforward_dim))
        self.built = True

    def call(self, inputs):
        keys = self.key_dense(inputs)
        values = self.value_dense(inputs)
        queries = ops.cast(self.queries, keys.dtype)
        scores = ops.einsum("mh,bth->bmt", queries, keys)
        weights = ops.softmax(scores, axis=-1)
        z = ops.einsum("bmt,bth->bmh", weights, values)
        return self.output_dense(self.feedforward_dense(z))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_memories, self.hidden_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "num_memories": self.num_memories,
            "hidden_dim": self.hidden_dim,
            "feedforward_dim": self.feedforward_dim,
            "query_initializer": keras.initializers.serialize(self.query_initializer),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
