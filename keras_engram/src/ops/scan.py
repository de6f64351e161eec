"""A scan over time whose per-step outputs need not match the carry."""

import keras
from keras import ops

from keras_engram.src.ops import fast_paths


def scan(step, init, xs, output_templates, unroll=False):
    """Runs `carry, outputs = step(carry, x)` over the leading axis of `xs`.

    Where `fast_paths.unstacked_loop` says so (torch; TensorFlow's short
    static sequences) the loop is `_unstacked_loop`. Otherwise it is
    `keras.ops.scan`; on TensorFlow that works around three limits of
    Keras's TensorFlow scan: the per-step outputs must have the structure,
    shapes and dtypes of the carry (so they ride along in an extended carry
    and the stacked carries are dropped); several inputs cannot be scanned
    when the time length is not static (so they are packed into one
    tensor); and `unroll` becomes the `parallel_iterations` of its
    `tf.while_loop`, where the default 1 would run the loop serially
    (`fast_paths.TF_PARALLEL_ITERATIONS`, as `keras.layers.RNN`, is used).

    Args:
        step: callable `(carry, x) -> (new_carry, outputs)`; `x` is the tuple
            of one step's slices of `xs`; `outputs` is a tuple.
        init: the initial carry (a tuple of tensors).
        xs: tuple of time-major tensors `(time, rows, ...)`; the first one
            has the full number of rows, the others the same or 1.
        output_templates: tuple of zero tensors shaped like one step's outputs.
        unroll: bool or positive int. JAX: passed to `keras.ops.scan`.
            TensorFlow: see `fast_paths.unrolls_on_tensorflow`; an integer is
            the `tf.while_loop`'s parallel iterations (at least 32).
            torch: ignored.

    Returns:
        `(final_carry, stacked_outputs)`.
    """
    if fast_paths.unstacked_loop(xs[0].shape[0], unroll):
        return _unstacked_loop(step, init, xs, output_templates)
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, init, xs, unroll=unroll)

    if len(xs) > 1 and xs[0].shape[0] is None:
        step, xs = _packed(step, xs)

    def extended_step(extended_carry, x):
        new_carry, outputs = step(extended_carry[0], x)
        return (new_carry, outputs), (new_carry, outputs)

    parallel = True if unroll is True else max(fast_paths.TF_PARALLEL_ITERATIONS, int(unroll))
    (final_carry, _), (_, stacked) = ops.scan(
        extended_step, (init, output_templates), xs, unroll=parallel
    )
    return final_carry, stacked


def _packed(step, xs):
    """Packs `xs` into one float tensor and wraps `step` to unpack each slice."""
    dtype = next((x.dtype for x in xs if x.dtype != "bool"), "float32")
    steps, rows = ops.shape(xs[0])[0], ops.shape(xs[0])[1]
    widths = [x.shape[-1] for x in xs]
    layout = [(x.dtype, x.shape[1] == 1 and xs[0].shape[1] != 1) for x in xs]
    packed = ops.concatenate(
        [ops.broadcast_to(ops.cast(x, dtype), (steps, rows, x.shape[-1])) for x in xs], axis=-1
    )
    splits = [sum(widths[: i + 1]) for i in range(len(widths) - 1)]

    def unpacking_step(carry, x):
        parts = []
        for part, (part_dtype, single_row) in zip(ops.split(x[0], splits, axis=-1), layout):
            if single_row:
                part = part[:1]
            parts.append(part > 0.5 if part_dtype == "bool" else part)
        return step(carry, tuple(parts))

    return unpacking_step, (packed,)


def _unstacked_loop(step, init, xs, output_templates):
    """A Python loop over per-step tensors split up front (`ops.unstack`).

    Eager on torch; on TensorFlow, traced into an unrolled graph. `ops.unstack`
    has one gradient for all steps (a stack), where indexing `x[t]` has one
    full-size gradient per step.
    """
    steps = [ops.unstack(x, axis=0) for x in xs]
    carry, outputs = init, []
    for x in zip(*steps):
        carry, out = step(carry, x)
        outputs.append(out)
    if not outputs:  # no time steps: the initial carry, empty stacks (as JAX's scan)
        return carry, tuple(ops.zeros((0, *t.shape), dtype=t.dtype) for t in output_templates)
    stacked = tuple(ops.stack(column, axis=0) for column in zip(*outputs))
    return carry, stacked
