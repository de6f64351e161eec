"""Shared numerics of the engram family, written against `keras.ops` only.

Every recurrent cell of the library that reads a memory bank by cosine
attention or writes a Hebbian trace calls these functions, so the maths lives
in one place and is checked once against the NumPy reference in `tests/`.
"""

import keras
from keras import ops

L2_EPSILON = 1e-12


def inverse_l2_norm(x, axis=-1, keepdims=True):
    """`rsqrt(max(sum(x**2), 1e-12))` along `axis`: the scale `l2_normalize` applies."""
    squared = ops.sum(ops.square(x), axis=axis, keepdims=keepdims)
    return ops.rsqrt(ops.maximum(squared, L2_EPSILON))


def l2_normalize(x, axis=-1):
    """Scales `x` to unit L2 norm along `axis`; a zero vector stays zero.

    Same convention as `tf.nn.l2_normalize`: `x * rsqrt(max(sum(x**2), 1e-12))`.
    """
    return x * inverse_l2_norm(x, axis=axis)


def effective_temperature(temperature, sparsity_strength):
    """The softmax temperature sharpened by the sparsity strength: tau / (1 + 10 lambda)."""
    return temperature / (1.0 + 10.0 * sparsity_strength)


def cosine_attention(query, memory, temperature):
    """Softmax over slots of the cosine similarity between `query` and `memory`.

    Args:
        query: `(batch, dim)` tensor.
        memory: `(slots, dim)` (one bank shared by the batch) or
            `(batch, slots, dim)` (one bank per sample).
        temperature: positive Python float dividing the similarities.

    Returns:
        `(batch, slots)` attention weights; each row sums to one.
    """
    query = l2_normalize(query)
    if len(memory.shape) == 2:
        similarity = ops.matmul(query, ops.transpose(l2_normalize(memory)))
    else:
        # One bank per sample: scale the dot products by each key's inverse
        # norm instead of writing a normalised copy of the whole bank.
        dots = ops.squeeze(ops.matmul(memory, ops.expand_dims(query, -1)), -1)
        similarity = dots * inverse_l2_norm(memory, keepdims=False)
    return ops.softmax(similarity / temperature, axis=-1)


def attention_read(weights, memory):
    """Weighted sum of memory rows: `(batch, slots)` x memory -> `(batch, dim)`."""
    if len(memory.shape) == 2:
        return ops.matmul(weights, memory)
    return ops.squeeze(ops.matmul(ops.expand_dims(weights, 1), memory), 1)


def hebbian_decay_update(trace, correlation, rate, noise=None, clip=None):
    """One Hebbian trace step: `clip((1 - rate) * trace + rate * (correlation + noise))`.

    `trace` and `correlation` have the same shape; `clip` is the symmetric
    bound (None for no clipping).
    """
    drive = correlation if noise is None else correlation + noise
    updated = trace * (1.0 - rate) + rate * drive
    if clip is not None:
        updated = symmetric_clip(updated, clip)
    return updated


def symmetric_clip(x, bound):
    """`clip(x, -bound, bound)`, written so that its gradient is cheap under XLA.

    The same values as `ops.clip` (NaN stays NaN). On JAX, `jnp.clip`'s
    gradient inside a scan costs several times the whole update on CPU (it
    saves and selects with two masks per step); one comparison and one
    select do the same job (see docs/performance.md).
    """
    if keras.backend.backend() != "jax":
        return ops.clip(x, -bound, bound)
    return ops.where(ops.abs(x) > bound, ops.sign(x) * bound, x)
