"""The Hebbian trace: a decaying sum of outer-product writes, written against `keras.ops`.

Shared by every cell of the library that keeps a Hebbian trace. Like
`keras_engram.src.ops.attention`, the functions run inside time loops on
backend tensors and use Python operators for arithmetic.
"""

from keras import ops


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

    Example:

    >>> from keras import ops
    >>> from keras_engram.src.ops.hebbian import hebbian_write
    >>> tuple(hebbian_write(ops.ones((2, 3)), ops.ones((2, 4)), 0.5).shape)
    (2, 3, 4)
    """
    if count is None:
        return ops.expand_dims(attention * rate, 2) * ops.expand_dims(values, 1)
    return ops.transpose(attention * (rate / count)) @ values


def hebbian_update(trace, attention, values, rate, write_rate, count=None, noise=None, clip=None):
    """One trace step: `(1 - rate) * trace + write_rate * a (x) v + noise`, then `clip`.

    Args:
        trace: `(batch, slots, dim)` or `(slots, dim)` (see `hebbian_write`'s `count`).
        attention: `(batch, slots)` weights.
        values: `(batch, dim)` tensor written into the attended slots.
        rate: Python float in [0, 1], the decay rate of the trace.
        write_rate: Python float, the scale of the write.
        count: as in `hebbian_write`.
        noise: None, or a tensor that broadcasts against the trace and
            already carries its rate.
        clip: None, or a callable applied to the result.

    The write is formed with `write_rate / (1 - rate)`, the trace added to
    it and the sum scaled by `1 - rate`: the same value to float rounding as
    `(1 - rate) * trace + write`, with one full-size temporary instead of
    two (on torch the add and the scale run in place on the fresh write).
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
    if clip is not None:
        updated = clip(updated)
    return updated
