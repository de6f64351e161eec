"""MemoriaTransformerBlock: a GPT-2 pre-LN block with Memoria's cross-attention."""

import math

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register

# The additive mask constant: the float32 minimum (finite, so an all-masked row
# attends uniformly over its lanes instead of producing NaN).
_MASK_VALUE = -3.4028234663852886e38


def _gelu_tanh(x):
    """GELU, tanh approximation (GPT-2's `gelu_new`), written out so float64 stays exact.

    The same function as `keras.activations.gelu(x, approximate=True)`, whose
    TensorFlow kernel is off by ~1e-9 in float64.
    """
    inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
    return 0.5 * x * (1.0 + ops.tanh(inner))


def _static_shape(x):
    shape = getattr(x, "shape", None)
    return None if shape is None else tuple(shape)


@register
class MemoriaTransformerBlock(keras.layers.Layer):
    """GPT-2 pre-LN transformer block with Memoria's working-memory and memory cross-attention.

    With `h` the input `[batch, T, H]`, `g` the cross-attention gate:

    ```
    h = h + SelfAttn(ln_1(h))                                         (causal)
    h = h + g * XAttn(ln_wm(h), working_memory)                       (no mask)
    h = h + g * XAttn(ln_mem(h), memories, (1 - memory_mask) * f32min)
    h = h + MLP(ln_2(h))
    ```

    `SelfAttn` and `XAttn` are multi-head scaled dot-product attentions
    (`softmax(q k^T / sqrt(H / num_heads) + mask) v`, heads split on `H`).
    One cross-attention (`cross_query`, `cross_key`, `cross_value`,
    `cross_output`, all `H -> H`) serves both the working memory and the
    reminded memories; only the LayerNorms `ln_wm` and `ln_mem` differ. The
    memory mask is additive with the float32 minimum, so a row whose lanes
    are all masked attends uniformly over them. The MLP is
    `mlp_output(activation(mlp_inner(x)))`. Dropout of rate `dropout` acts on
    the attention probabilities and on every residual branch, in training
    only. Each cross-attention step is skipped when its keys are not given.

    Args:
        num_heads: positive int, attention heads; must divide the hidden size.
        intermediate_dim: positive int, width of the MLP's inner layer.
        dropout: float in [0, 1), attention and residual dropout rate.
        layer_norm_epsilon: positive float, the LayerNorms' epsilon.
        activation: activation of the MLP's inner layer. `"gelu"` is the
            tanh approximation (GPT-2's `gelu_new`); other names and callables
            go through `keras.activations.get`.
        kernel_initializer: initializer of the dense kernels (default normal,
            stddev 0.02).
        bias_initializer: initializer of the dense biases.
        cross_attention: bool; `False` builds a plain GPT-2 block without
            `ln_wm`, `ln_mem` and `cross_*` weights.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: `[batch, T, H]` hidden states.
        working_memory: `[batch, Nw, H]` or None (no working-memory attention).
        memories: `[batch, R, H]` or None (no memory attention).
        memory_mask: `[batch, R]` bool or 0/1, `True` for a valid lane; None
            means all lanes are valid. Only with `memories`.
        memory_width: None, or a scalar or `[batch]` tensor of reminded
            widths; the memory attention's context is multiplied by
            `max(memory_width) > 0` before `cross_output`, so with width 0
            the memory step adds only `cross_output`'s bias. Only with
            `memories`.
        cross_attention_gate: None, or a scalar or `[batch]` 0/1 tensor that
            multiplies the residual contributions of both cross-attentions.
        training: bool, dropout on or off.
        return_attention_scores: bool; when True the call returns
            `(outputs, probabilities)`.

    Returns:
        `[batch, T, H]`; with `return_attention_scores=True` a tuple of that
        and the memory cross-attention probabilities
        `[batch, num_heads, T, R]` (after attention dropout), or None when
        `memories` is None.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memoria import MemoriaTransformerBlock
    >>> block = MemoriaTransformerBlock(num_heads=2, intermediate_dim=8)
    >>> h = np.ones((2, 5, 4), "float32")
    >>> memories = np.ones((2, 3, 4), "float32")
    >>> mask = np.array([[1, 1, 0], [0, 0, 0]], bool)
    >>> out, probs = block(h, working_memory=np.ones((2, 2, 4), "float32"),
    ...                    memories=memories, memory_mask=mask,
    ...                    return_attention_scores=True)
    >>> tuple(out.shape), tuple(probs.shape)
    ((2, 5, 4), (2, 2, 5, 3))
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        activation="gelu",
        kernel_initializer=None,
        bias_initializer="zeros",
        cross_attention=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = validation.positive_int("num_heads", num_heads)
        self.intermediate_dim = validation.positive_int("intermediate_dim", intermediate_dim)
        self.dropout = validation.rate("dropout", dropout)
        self.layer_norm_epsilon = validation.positive_float(
            "layer_norm_epsilon", layer_norm_epsilon
        )
        self.cross_attention = validation.boolean("cross_attention", cross_attention)
        if isinstance(activation, str) and activation == "gelu":
            self.activation = "gelu"
            self._activation_fn = _gelu_tanh
        else:
            try:
                self._activation_fn = keras.activations.get(activation)
            except (ValueError, TypeError) as error:
                raise ValueError(
                    "Expected `activation` to be an activation name or callable. "
                    f"Received: activation={activation!r}"
                ) from error
            if self._activation_fn is None or not callable(self._activation_fn):
                raise TypeError(
                    "Expected `activation` to be an activation name or callable. "
                    f"Received: activation={activation!r}"
                )
            self.activation = activation
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or keras.initializers.RandomNormal(stddev=0.02)
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = False

        def dense(units, name):
            return keras.layers.Dense(
                units, kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer, dtype=self.dtype_policy, name=name,
            )

        def norm(name):
            return keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
            )

        # Sublayers in weight order; the output widths that depend on the
        # hidden size are set in `build`.
        self.ln_1 = norm("ln_1")
        self.self_query = None
        self.self_key = None
        self.self_value = None
        self.self_output = None
        self._dense = dense
        self._norm = norm
        self.attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="attention_dropout"
        )
        self.residual_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="residual_dropout"
        )
        self.hidden_dim = None

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "Expected `inputs` of shape [batch, T, hidden] with a known hidden size. "
                f"Received: input_shape={input_shape}"
            )
        hidden = int(input_shape[-1])
        if hidden % self.num_heads:
            raise ValueError(
                f"Expected the hidden size to be divisible by `num_heads`={self.num_heads}. "
                f"Received: input_shape={input_shape}"
            )
        self.hidden_dim = hidden
        dense, norm = self._dense, self._norm
        self.self_query = dense(hidden, "self_query")
        self.self_key = dense(hidden, "self_key")
        self.self_value = dense(hidden, "self_value")
        self.self_output = dense(hidden, "self_output")
        if self.cross_attention:
            self.ln_wm = norm("ln_wm")
            self.ln_mem = norm("ln_mem")
            self.cross_query = dense(hidden, "cross_query")
            self.cross_key = dense(hidden, "cross_key")
            self.cross_value = dense(hidden, "cross_value")
            self.cross_output = dense(hidden, "cross_output")
        self.ln_2 = norm("ln_2")
        self.mlp_inner = dense(self.intermediate_dim, "mlp_inner")
        self.mlp_output = dense(hidden, "mlp_output")

        shape = (None, None, hidden)
        self.ln_1.build(shape)
        for layer in (self.self_query, self.self_key, self.self_value, self.self_output):
            layer.build(shape)
        if self.cross_attention:
            for layer in (
                self.ln_wm, self.ln_mem, self.cross_query, self.cross_key,
                self.cross_value, self.cross_output,
            ):
                layer.build(shape)
        self.ln_2.build(shape)
        self.mlp_inner.build(shape)
        self.mlp_output.build((None, None, self.intermediate_dim))
        self.built = True

    # --- argument checks -------------------------------------------------

    def _check_arguments(
        self, inputs, working_memory, memories, memory_mask, memory_width,
        cross_attention_gate, return_attention_scores,
    ):
        validation.boolean("return_attention_scores", return_attention_scores)
        given = {
            "working_memory": working_memory, "memories": memories,
            "memory_mask": memory_mask, "memory_width": memory_width,
            "cross_attention_gate": cross_attention_gate,
        }
        if not self.cross_attention:
            for name, value in given.items():
                if value is not None:
                    raise ValueError(
                        f"Expected no `{name}` for a block built with cross_attention=False. "
                        f"Received: {name} with shape {_static_shape(value)}"
                    )
        input_shape = _static_shape(inputs)
        if input_shape is None or len(input_shape) != 3:
            raise ValueError(
                f"Expected `inputs` of shape [batch, T, hidden]. Received: inputs.shape={input_shape}"
            )
        hidden = input_shape[-1]
        for name, value in (("working_memory", working_memory), ("memories", memories)):
            if value is None:
                continue
            shape = _static_shape(value)
            if shape is None:
                raise TypeError(
                    f"Expected `{name}` to be a tensor of shape [batch, N, {hidden}]. "
                    f"Received: {name}={value!r}"
                )
            if len(shape) != 3 or shape[-1] != hidden:
                raise ValueError(
                    f"Expected `{name}` of shape [batch, N, {hidden}] (the inputs' hidden size). "
                    f"Received: {name}.shape={shape}"
                )
        if memories is None:
            for name in ("memory_mask", "memory_width"):
                if given[name] is not None:
                    raise ValueError(
                        f"Expected `{name}` only together with `memories`. "
                        f"Received: {name} with shape {_static_shape(given[name])} and memories=None"
                    )
        if memory_mask is not None:
            mask_shape = _static_shape(memory_mask)
            if mask_shape is None:
                raise TypeError(
                    "Expected `memory_mask` to be a bool or 0/1 tensor of shape [batch, R]. "
                    f"Received: memory_mask={memory_mask!r}"
                )
            dtype = keras.backend.standardize_dtype(memory_mask.dtype)
            if not (dtype == "bool" or "int" in dtype or "float" in dtype):
                raise TypeError(
                    "Expected `memory_mask` to be a bool or 0/1 numeric tensor. "
                    f"Received: memory_mask.dtype={dtype}"
                )
            memory_shape = _static_shape(memories)
            expected = memory_shape[:2]
            if len(mask_shape) != 2 or any(
                a is not None and b is not None and a != b
                for a, b in zip(mask_shape, expected)
            ):
                raise ValueError(
                    f"Expected `memory_mask` of shape [batch, R] = {expected} (the shape of "
                    f"`memories` without its last axis). Received: memory_mask.shape={mask_shape}"
                )
        for name, value in (
            ("memory_width", memory_width), ("cross_attention_gate", cross_attention_gate)
        ):
            if value is None:
                continue
            shape = _static_shape(value)
            if shape is not None and len(shape) > 1:
                raise ValueError(
                    f"Expected `{name}` to be a scalar or a [batch] tensor. "
                    f"Received: {name}.shape={shape}"
                )

    # --- computation -----------------------------------------------------

    def _split_heads(self, x):
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.num_heads, self.hidden_dim // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def _merge_heads(self, x):
        x = ops.transpose(x, (0, 2, 1, 3))
        shape = ops.shape(x)
        return ops.reshape(x, (shape[0], shape[1], self.hidden_dim))

    def _attend(self, query, key, value, causal=False, additive_mask=None, training=None):
        """Multi-head attention of [B, heads, T, dh] tensors -> (context, probabilities)."""
        dtype = query.dtype
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))
        scores = scores / math.sqrt(self.hidden_dim // self.num_heads)
        if keras.backend.standardize_dtype(dtype) in ("float16", "bfloat16"):
            scores = ops.cast(scores, "float32")
        if causal:
            length = ops.shape(scores)[-1]
            positions = ops.arange(length)
            allowed = ops.greater_equal(positions[:, None], positions[None, :])
            scores = ops.where(allowed, scores, ops.cast(_MASK_VALUE, scores.dtype))
        if additive_mask is not None:
            scores = scores + ops.cast(additive_mask, scores.dtype)[:, None, None, :]
        probabilities = ops.cast(ops.softmax(scores, axis=-1), dtype)
        probabilities = self.attention_dropout(probabilities, training=training)
        return ops.matmul(probabilities, value), probabilities

    def _cross_attend(self, queries, keys_values, additive_mask=None, width_gate=None,
                      training=None):
        query = self._split_heads(self.cross_query(queries))
        key = self._split_heads(self.cross_key(keys_values))
        value = self._split_heads(self.cross_value(keys_values))
        context, probabilities = self._attend(
            query, key, value, additive_mask=additive_mask, training=training
        )
        context = self._merge_heads(context)
        if width_gate is not None:
            context = context * width_gate
        output = self.residual_dropout(self.cross_output(context), training=training)
        return output, probabilities

    def call(
        self,
        inputs,
        working_memory=None,
        memories=None,
        memory_mask=None,
        memory_width=None,
        cross_attention_gate=None,
        training=None,
        return_attention_scores=False,
    ):
        self._check_arguments(
            inputs, working_memory, memories, memory_mask, memory_width,
            cross_attention_gate, return_attention_scores,
        )
        h = inputs
        dtype = h.dtype

        x = self.ln_1(h)
        query = self._split_heads(self.self_query(x))
        key = self._split_heads(self.self_key(x))
        value = self._split_heads(self.self_value(x))
        context, _ = self._attend(query, key, value, causal=True, training=training)
        h = h + self.residual_dropout(
            self.self_output(self._merge_heads(context)), training=training
        )

        gate = None
        if cross_attention_gate is not None and (
            working_memory is not None or memories is not None
        ):
            gate = ops.cast(ops.convert_to_tensor(cross_attention_gate), dtype)
            if len(gate.shape) == 1:
                gate = ops.reshape(gate, (-1, 1, 1))

        def gated(update):
            return update if gate is None else gate * update

        if working_memory is not None:
            update, _ = self._cross_attend(
                self.ln_wm(h), ops.cast(working_memory, dtype), training=training
            )
            h = h + gated(update)

        memory_probabilities = None
        if memories is not None:
            additive_mask = None
            if memory_mask is not None:
                valid = ops.cast(ops.convert_to_tensor(memory_mask), "float32")
                additive_mask = (1.0 - valid) * _MASK_VALUE
            width_gate = None
            if memory_width is not None:
                width = ops.convert_to_tensor(memory_width)
                width_gate = ops.cast(ops.greater(ops.max(width), 0), dtype)
            update, memory_probabilities = self._cross_attend(
                self.ln_mem(h), ops.cast(memories, dtype), additive_mask=additive_mask,
                width_gate=width_gate, training=training,
            )
            h = h + gated(update)

        x = self.mlp_output(self._activation_fn(self.mlp_inner(self.ln_2(h))))
        h = h + self.residual_dropout(x, training=training)
        if return_attention_scores:
            return h, memory_probabilities
        return h

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self,
        inputs,
        working_memory=None,
        memories=None,
        memory_mask=None,
        memory_width=None,
        cross_attention_gate=None,
        training=None,
        return_attention_scores=False,
    ):
        self._check_arguments(
            inputs, working_memory, memories, memory_mask, memory_width,
            cross_attention_gate, return_attention_scores,
        )
        outputs = keras.KerasTensor(tuple(inputs.shape), dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        probabilities = None
        if memories is not None:
            probabilities = keras.KerasTensor(
                (inputs.shape[0], self.num_heads, inputs.shape[1], memories.shape[1]),
                dtype=self.compute_dtype,
            )
        return outputs, probabilities

    def get_config(self):
        activation = self.activation
        if not isinstance(activation, str):
            activation = keras.activations.serialize(self._activation_fn)
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "activation": activation,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "cross_attention": self.cross_attention,
        }
