"""Shared numerics of the engram family, written against `keras.ops` only.

Every recurrent cell of the library that reads a memory bank by cosine
attention or writes a Hebbian trace calls these functions, so the maths lives
in one place and is checked once against the NumPy reference in `tests/`.
They run inside time loops, on backend tensors (not variables): plain
arithmetic and matmul use Python operators (`+`, `*`, `@`), which every
backend's tensors implement with the kernels `keras.ops` calls, without its
per-call checks (which an eager torch loop pays at every step). Axes are
added and removed with `ops.expand_dims` / `ops.squeeze`, not `x[:, None]`
indexing: strided slices with new axes inside TensorFlow's while loop made
training crash (segmentation fault, TF 2.21, in about half the runs).
"""

import keras
from keras import ops

L2_EPSILON = 1e-12


def inverse_l2_norm(x, axis=-1, keepdims=True, epsilon=L2_EPSILON):
    """`rsqrt(max(sum(x**2), epsilon))` along `axis`: the scale `l2_normalize` applies."""
    squared = ops.sum(x * x, axis=axis, keepdims=keepdims)
    return ops.rsqrt(ops.maximum(squared, epsilon))


def l2_normalize(x, axis=-1, epsilon=L2_EPSILON):
    """Scales `x` to unit L2 norm along `axis`; a zero vector stays zero.

    Same convention as `tf.nn.l2_normalize`: `x * rsqrt(max(sum(x**2), 1e-12))`.
    """
    return x * inverse_l2_norm(x, axis=axis, epsilon=epsilon)


def effective_temperature(temperature, sparsity_strength):
    """The softmax temperature sharpened by the sparsity strength: tau / (1 + 10 lambda)."""
    return temperature / (1.0 + 10.0 * sparsity_strength)


def cosine_attention(query, memory, temperature, key_scale=1.0):
    """Softmax over slots of the cosine similarity between `query` and `key_scale * memory`.

    Args:
        query: `(batch, dim)` tensor.
        memory: `(slots, dim)` (one bank shared by the batch) or
            `(batch, slots, dim)` (one bank per sample).
        temperature: positive Python float dividing the similarities.
        key_scale: nonzero Python float; the keys are `key_scale * memory`.
            The cosine does not see the keys' scale, only its sign, so the
            keys are never multiplied: the sign rides on the query and the
            norm's epsilon (the `1e-12` of `l2_normalize`, applied to the
            scaled keys) is divided by `key_scale**2`. The same values as
            passing the scaled keys, to float rounding.

    Returns:
        `(batch, slots)` attention weights; each row sums to one.
    """
    query = attention_query(query, temperature, key_scale)
    epsilon = key_epsilon(key_scale)
    if len(memory.shape) == 2:
        return ops.softmax(query @ ops.transpose(l2_normalize(memory, epsilon=epsilon)), axis=-1)
    # One bank per sample: scale the dot products by each key's inverse norm
    # instead of writing a normalised copy of the whole bank.
    dots = _per_sample_dots(query, memory)
    return ops.softmax(dots * inverse_l2_norm(memory, keepdims=False, epsilon=epsilon), axis=-1)


def attention_query(query, temperature, key_scale=1.0):
    """The query `cosine_attention` multiplies the unit keys with.

    Unit-normalised and divided by the temperature and by the sign of
    `key_scale`: the temperature rides on the query's scale (one small
    multiply instead of a division of the similarities).
    """
    sign = -1.0 if key_scale < 0 else 1.0
    return query * (inverse_l2_norm(query) / (sign * temperature))


def key_epsilon(key_scale=1.0):
    """The floor of the squared norms of keys carried as `memory = keys / key_scale`."""
    return L2_EPSILON / (key_scale * key_scale)


def _per_sample_dots(query, memory):
    """`(batch, dim)` x `(batch, slots, dim)` -> `(batch, slots)`: each sample's `E q`.

    torch: a row-vector product `q^T E^T` per sample; its batched
    matrix-vector path (`E q`) is about 6x slower on CPU at the paper's size.
    TensorFlow: a multiply and a sum, no batched matmul: TensorFlow 2.21's
    oneDNN batched matmul (`BatchMatMulMkl`) corrupted the heap in 1-4 of 16
    short training runs in the unrolled time loop (`keras_engram.src.ops.scan`),
    none in 40 with this form; training time is unchanged, per-sample
    inference takes 1.04-1.10x as long (docs/performance.md). JAX: `E q`.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return ops.squeeze(ops.expand_dims(query, 1) @ ops.swapaxes(memory, 1, 2), 1)
    if backend == "tensorflow":
        return ops.sum(memory * ops.expand_dims(query, 1), axis=-1)
    return ops.squeeze(memory @ ops.expand_dims(query, -1), -1)


def attention_read(weights, memory):
    """Weighted sum of memory rows: `(batch, slots)` x memory -> `(batch, dim)`.

    With one bank per sample, TensorFlow sums the weighted rows instead of a
    batched matmul (see `_per_sample_dots`).
    """
    if len(memory.shape) == 2:
        return weights @ memory
    if keras.backend.backend() == "tensorflow":
        return ops.sum(ops.expand_dims(weights, 2) * memory, axis=1)
    return ops.squeeze(ops.expand_dims(weights, 1) @ memory, 1)


def hebbian_write(attention, values, rate, count=None):
    """The Hebbian write `rate * a (x) v`, the rate folded into the small factor.

    Args:
        attention: `(batch, slots)` weights.
        values: `(batch, dim)` tensor written into the attended slots.
        rate: Python float or scalar tensor.
        count: None for one trace per sample (returns `(batch, slots, dim)`
            outer products); otherwise the number the batch's summed write is
            divided by (one trace shared by the batch: returns
            `rate * a^T v / count`, `(slots, dim)`).
    """
    if count is None:
        return ops.expand_dims(attention * rate, 2) * ops.expand_dims(values, 1)
    return ops.transpose(attention * (rate / count)) @ values


def hebbian_update(trace, attention, values, rate, write_rate, count=None, noise=None, unit_clip=False):
    """One Hebbian trace step: `(1 - rate) * trace + write_rate * a (x) v + noise`, clipped.

    Args:
        trace: the trace, `(batch, slots, dim)` or `(slots, dim)` (see
            `hebbian_write`'s `count`).
        attention: `(batch, slots)` weights.
        values: `(batch, dim)` tensor written into the attended slots.
        rate: Python float in [0, 1], the decay rate of the trace.
        write_rate: Python float, the scale of the write (the Hebbian rate,
            in the caller's unit of the trace).
        count: as in `hebbian_write`.
        noise: None, or a tensor that broadcasts against the trace and
            already carries its rate.
        unit_clip: clip the result to `[-1, 1]` (callers carry the trace in
            units of its clip bound, see `EngramCell.loop_trace_unit`).

    The write is formed with `write_rate / (1 - rate)`, the trace added to it
    and the sum scaled by `1 - rate`: the same value to float rounding as
    `(1 - rate) * trace + write`, with one full-size temporary instead of
    two. On torch the add and the scale run in place (`+=`, `*=` on the fresh
    write; other backends rebind, the same graph), and every full-size tensor
    the eager step allocates costs page faults of fresh memory on CPU
    (docs/performance.md).
    """
    keep = 1.0 - rate
    if keep > 0.0:
        updated = hebbian_write(attention, values, write_rate / keep, count)
        updated += trace
        updated *= keep
    else:
        updated = hebbian_write(attention, values, write_rate, count)
    if noise is not None:
        updated += noise
    if unit_clip:
        updated = clip_to_unit(updated)
    return updated


def clip_to_unit(x):
    """`clip(x, -1, 1)`, in the form that is cheapest on each backend.

    The same values as `ops.clip(x, -1, 1)` (NaN stays NaN). `ops.clip` hands
    its bounds to the backend as tensors: torch then runs its tensor-bound
    clamp, about 4x slower on CPU than the scalar-bound one that
    `ops.hard_tanh` reaches, with a four-pass backward (two comparisons, an
    `and`, a `where`). On JAX, `jnp.clip`'s gradient inside a scan costs
    several times the whole update on CPU and `hard_tanh`'s two selects are
    also slower (per-sample training 0.92-0.97x the time with one comparison
    and one select, docs/performance.md).
    """
    if keras.backend.backend() == "jax":
        return ops.where(ops.abs(x) > 1.0, ops.sign(x), x)
    return ops.hard_tanh(x)
