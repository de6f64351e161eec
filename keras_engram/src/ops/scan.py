"""A `keras.ops.scan` whose per-step outputs need not match the carry."""

import keras
from keras import ops


def scan(step, init, xs, output_templates, unroll=1):
    """Runs `carry, outputs = step(carry, x)` over the leading axis of `xs`.

    `keras.ops.scan` on TensorFlow requires the per-step outputs to have the
    structure, shapes and dtypes of the carry. There the outputs ride along in
    an extended carry `(carry, outputs)` and the stacked carries are dropped;
    other backends scan directly.

    Args:
        step: callable `(carry, x) -> (new_carry, outputs)`; `outputs` is a tuple.
        init: the initial carry (a tuple of tensors).
        xs: tuple of time-major tensors.
        output_templates: tuple of zero tensors shaped like one step's outputs
            (only read on TensorFlow).
        unroll: passed to `keras.ops.scan`.

    Returns:
        `(final_carry, stacked_outputs)`.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, init, xs, unroll=unroll)

    def extended_step(extended_carry, x):
        new_carry, outputs = step(extended_carry[0], x)
        return (new_carry, outputs), (new_carry, outputs)

    (final_carry, _), (_, stacked) = ops.scan(
        extended_step, (init, output_templates), xs, unroll=unroll
    )
    return final_carry, stacked
