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


def inverse_l2_norm(x, axis=-1, keepdims=True):
    """`rsqrt(max(sum(x**2), 1e-12))` along `axis`: the scale `l2_normalize` applies."""
    squared = ops.sum(x * x, axis=axis, keepdims=keepdims)
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
    # The temperature rides on the query's scale: one small multiply instead
    # of a division of the similarities.
    query = query * (inverse_l2_norm(query) / temperature)
    if len(memory.shape) == 2:
        return ops.softmax(query @ ops.transpose(l2_normalize(memory)), axis=-1)
    # One bank per sample: scale the dot products by each key's inverse norm
    # instead of writing a normalised copy of the whole bank.
    dots = _per_sample_dots(query, memory)
    return ops.softmax(dots * inverse_l2_norm(memory, keepdims=False), axis=-1)


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


def hebbian_decay_update(trace, write, rate, noise=None, unit_clip=False):
    """One Hebbian trace step: `(1 - rate) * trace + write + noise`, then `clip(., -1, 1)`.

    `write` (from `hebbian_write`) and `noise` already carry the rate, so the
    full-size trace is touched by one multiply and one add (two with noise)
    before the clip. `noise` broadcasts against the trace. The clip is the
    unit clip (`unit_clip=True`) because callers carry the trace in units of
    its clip bound (see `EngramCell.loop_trace_unit`).
    """
    updated = trace * (1.0 - rate) + write
    if noise is not None:
        updated = updated + noise
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
