"""A `keras.ops.scan` whose per-step outputs need not match the carry."""

import keras
from keras import ops

# `keras.layers.RNN`'s TensorFlow loop (backend/tensorflow/rnn.py) uses 32.
TF_PARALLEL_ITERATIONS = 32


def scan(step, init, xs, output_templates, unroll=1):
    """Runs `carry, outputs = step(carry, x)` over the leading axis of `xs`.

    On torch the loop is `_unstacked_loop` (see there). Three TensorFlow
    limits of `keras.ops.scan` are worked around here:
    the per-step outputs must have the structure, shapes and dtypes of the
    carry (so they ride along in an extended carry `(carry, outputs)` and the
    stacked carries are dropped); several inputs cannot be scanned when
    the time length is not static (so they are packed into one tensor); and
    `unroll` becomes the `parallel_iterations` of its `tf.while_loop`, so the
    default (no unrolling) would run the loop with 1 (serially, forward and
    backward: half the training speed at the paper's size). The TensorFlow
    loop gets `TF_PARALLEL_ITERATIONS`, the value `keras.layers.RNN` uses.
    Other backends scan directly.

    Args:
        step: callable `(carry, x) -> (new_carry, outputs)`; `x` is the tuple
            of one step's slices of `xs`; `outputs` is a tuple.
        init: the initial carry (a tuple of tensors).
        xs: tuple of time-major rank-3 tensors `(time, rows, features)`; the
            first one has the full number of rows, the others the same or 1.
        output_templates: tuple of zero tensors shaped like one step's outputs
            (read on TensorFlow, and on torch for zero time steps).
        unroll: passed to `keras.ops.scan` (JAX: real unrolling; TensorFlow:
            parallel iterations, at least `TF_PARALLEL_ITERATIONS`; torch:
            ignored, the loop is a Python loop either way).

    Returns:
        `(final_carry, stacked_outputs)`.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return _unstacked_loop(step, init, xs, output_templates)
    if backend != "tensorflow":
        return ops.scan(step, init, xs, unroll=unroll)

    if len(xs) > 1 and xs[0].shape[0] is None:
        step, xs = _packed(step, xs)

    def extended_step(extended_carry, x):
        new_carry, outputs = step(extended_carry[0], x)
        return (new_carry, outputs), (new_carry, outputs)

    parallel = max(TF_PARALLEL_ITERATIONS, 1 if isinstance(unroll, bool) else unroll)
    if unroll is True:
        parallel = True
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
    """The eager (torch) loop: each input split into per-step tensors up front.

    `keras.ops.scan` on torch reads step `t` as `x[t]`; the gradient of each
    such read is a zero tensor of the whole `x` with one slice filled, so the
    backward pass writes and sums `time` full-size copies of every input:
    quadratic in the sequence length (measured: 1.7x the training time at
    1,024 steps, about 7 % at 28; docs/performance.md). `ops.unstack` has one
    gradient for all steps (a stack).
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
