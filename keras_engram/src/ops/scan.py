"""A `keras.ops.scan` whose per-step outputs need not match the carry."""

import keras
from keras import ops

# `keras.layers.RNN`'s TensorFlow loop (backend/tensorflow/rnn.py) uses 32.
TF_PARALLEL_ITERATIONS = 32
# On TensorFlow, a loop over at most this many (static) steps is built as an
# unrolled graph by default (see `unrolls_on_tensorflow`).
TF_UNROLL_MAX_STEPS = 32


def unrolls_on_tensorflow(steps, unroll=False):
    """Whether `scan` builds TensorFlow's loop as an unrolled graph.

    Unrolled: with `unroll=True`, and by default (`unroll=False`) for at most
    `TF_UNROLL_MAX_STEPS` steps; never for a length unknown when the graph is
    traced (`steps` None). An integer `unroll` asks for a `tf.while_loop`
    with that many parallel iterations (at least `TF_PARALLEL_ITERATIONS`).

    An unrolled graph trains the ENN 1.25x faster at the paper's size (28
    steps) than the `tf.while_loop`, whose backward pass reads each step's
    saved tensors back from lists, and XLA can compile it (`jit_compile=True`,
    Keras's default on a TensorFlow GPU), which it cannot do for the
    gradient of Keras's `while_loop` (no `maximum_iterations`). The price is
    tracing time, about 0.2 s per step for a training function at the
    paper's size, hence the bound (docs/performance.md).
    """
    if steps is None:
        return False
    if isinstance(unroll, bool):
        return unroll or steps <= TF_UNROLL_MAX_STEPS
    return False


def scan(step, init, xs, output_templates, unroll=False):
    """Runs `carry, outputs = step(carry, x)` over the leading axis of `xs`.

    On torch, and on TensorFlow where `unrolls_on_tensorflow` says so, the
    loop is `_unstacked_loop` (see there): eager on torch, an unrolled graph
    on TensorFlow. TensorFlow's `tf.while_loop` works around three limits
    of `keras.ops.scan`:
    the per-step outputs must have the structure, shapes and dtypes of the
    carry (so they ride along in an extended carry `(carry, outputs)` and the
    stacked carries are dropped); several inputs cannot be scanned when
    the time length is not static (so they are packed into one tensor); and
    `unroll` becomes the `parallel_iterations` of its `tf.while_loop`, so the
    default (no unrolling) would run the loop with 1 (serially, forward and
    backward: half the training speed at the paper's size). The TensorFlow
    loop gets `TF_PARALLEL_ITERATIONS`, the value `keras.layers.RNN` uses.
    JAX scans directly.

    Args:
        step: callable `(carry, x) -> (new_carry, outputs)`; `x` is the tuple
            of one step's slices of `xs`; `outputs` is a tuple.
        init: the initial carry (a tuple of tensors).
        xs: tuple of time-major rank-3 tensors `(time, rows, features)`; the
            first one has the full number of rows, the others the same or 1.
        output_templates: tuple of zero tensors shaped like one step's outputs
            (read by TensorFlow's `tf.while_loop`, and by the unstacked loop
            for zero time steps).
        unroll: bool or positive int. JAX: passed to `keras.ops.scan` (real
            unrolling). TensorFlow: see `unrolls_on_tensorflow`; an integer
            is the `tf.while_loop`'s parallel iterations (at least
            `TF_PARALLEL_ITERATIONS`). torch: ignored, the loop is a Python
            loop either way.

    Returns:
        `(final_carry, stacked_outputs)`.
    """
    backend = keras.backend.backend()
    if backend == "torch" or (
        backend == "tensorflow" and unrolls_on_tensorflow(xs[0].shape[0], unroll)
    ):
        return _unstacked_loop(step, init, xs, output_templates)
    if backend != "tensorflow":
        return ops.scan(step, init, xs, unroll=unroll)

    if len(xs) > 1 and xs[0].shape[0] is None:
        step, xs = _packed(step, xs)

    def extended_step(extended_carry, x):
        new_carry, outputs = step(extended_carry[0], x)
        return (new_carry, outputs), (new_carry, outputs)

    # Here `unroll` is False (a length above TF_UNROLL_MAX_STEPS, or unknown
    # at tracing time: TF_PARALLEL_ITERATIONS), an int (at least that many),
    # or True with an unknown length (Keras's TF scan then runs as many
    # parallel iterations as steps).
    parallel = True if unroll is True else max(TF_PARALLEL_ITERATIONS, int(unroll))
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

    Eager on torch; on TensorFlow, traced into an unrolled graph (no
    `tf.while_loop`). `keras.ops.scan` on torch reads step `t` as `x[t]`; the
    gradient of each such read is a zero tensor of the whole `x` with one
    slice filled, so the backward pass writes and sums `time` full-size
    copies of every input: quadratic in the sequence length (measured: 1.7x
    the training time at 1,024 steps, about 7 % at 28; docs/performance.md).
    `ops.unstack` has one gradient for all steps (a stack).
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
