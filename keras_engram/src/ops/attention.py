"""Cosine attention over a memory bank and its read, written against `keras.ops`.

Shared by every cell of the library that recalls from a memory bank by
cosine similarity. The functions run inside time loops, on backend tensors
(not variables): arithmetic and matmul use Python operators (`+`, `*`,
`@`), which every backend's tensors implement with the kernels
`keras.ops` calls, without its per-call checks (paid at every step of an
eager torch loop). Axes are added with `ops.expand_dims`, not `x[:, None]`:
strided slices with new axes inside TensorFlow's while loop crashed training.
"""

from keras import ops

from keras_engram.src.ops import fast_paths

L2_EPSILON = 1e-12


def inverse_l2_norm(x, axis=-1, keepdims=True, epsilon=L2_EPSILON):
    """`rsqrt(max(sum(x**2), epsilon))` along `axis`: the scale `l2_normalize` applies."""
    squared = ops.sum(x * x, axis=axis, keepdims=keepdims)
    return ops.rsqrt(ops.maximum(squared, epsilon))


def l2_normalize(x, axis=-1, epsilon=L2_EPSILON):
    """Scales `x` to unit L2 norm along `axis`; a zero vector stays zero.

    The convention of `tf.nn.l2_normalize`: `x * rsqrt(max(sum(x**2), 1e-12))`.

    Example:

    >>> from keras import ops
    >>> from keras_engram.src.ops.attention import l2_normalize
    >>> x = ops.convert_to_tensor([[3.0, 4.0], [0.0, 0.0]])
    >>> unit = ops.convert_to_numpy(l2_normalize(x))
    >>> [[round(float(v), 2) for v in row] for row in unit]
    [[0.6, 0.8], [0.0, 0.0]]
    """
    return x * inverse_l2_norm(x, axis=axis, epsilon=epsilon)


def effective_temperature(temperature, sparsity_strength):
    """The softmax temperature sharpened by the sparsity strength: `tau / (1 + 10 lambda)`."""
    return temperature / (1.0 + 10.0 * sparsity_strength)


def attention_query(query, temperature, key_scale=1.0):
    """The query `cosine_attention` multiplies the unit keys with.

    Unit-normalised and divided by the temperature and by the sign of
    `key_scale` (one small multiply instead of a division of the similarities).
    """
    sign = -1.0 if key_scale < 0 else 1.0
    return query * (inverse_l2_norm(query) / (sign * temperature))


def key_epsilon(key_scale=1.0):
    """The floor of the squared norms of keys carried as `memory = keys / key_scale`."""
    return L2_EPSILON / (key_scale * key_scale)


def cosine_attention(query, memory, temperature, key_scale=1.0):
    """Softmax over slots of the cosine similarity between `query` and `key_scale * memory`.

    Args:
        query: `(batch, dim)` tensor.
        memory: `(slots, dim)` (one bank shared by the batch) or
            `(batch, slots, dim)` (one bank per sample).
        temperature: positive Python float dividing the similarities.
        key_scale: nonzero Python float; the keys are `key_scale * memory`.
            The cosine sees only the keys' sign, so the keys are never
            multiplied: the sign rides on the query and the norm's epsilon
            is divided by `key_scale**2`.

    Returns:
        `(batch, slots)` attention weights; each row sums to one.

    Example:

    >>> from keras import ops
    >>> from keras_engram.src.ops.attention import cosine_attention
    >>> bank = ops.eye(3)
    >>> weights = cosine_attention(ops.convert_to_tensor([[1.0, 0.0, 0.0]]), bank, 0.1)
    >>> ops.convert_to_numpy(weights).argmax(-1).tolist()
    [0]
    """
    query = attention_query(query, temperature, key_scale)
    epsilon = key_epsilon(key_scale)
    if len(memory.shape) == 2:
        return ops.softmax(query @ ops.transpose(l2_normalize(memory, epsilon=epsilon)), axis=-1)
    # One bank per sample: scale the dot products by each key's inverse norm
    # instead of writing a normalised copy of the whole bank.
    dots = fast_paths.per_sample_dots(query, memory)
    return ops.softmax(dots * inverse_l2_norm(memory, keepdims=False, epsilon=epsilon), axis=-1)


def attention_read(weights, memory):
    """Weighted sum of memory rows: `(batch, slots)` x memory -> `(batch, dim)`."""
    if len(memory.shape) == 2:
        return weights @ memory
    return fast_paths.per_sample_read(weights, memory)
