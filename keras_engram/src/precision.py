"""Which layers keep float32 under a mixed-precision policy."""

import keras


def full_precision(layer_kwargs):
    """Layer kwargs with a mixed dtype policy replaced by its variable dtype.

    Used where 16-bit arithmetic loses what the layer computes: the engram
    recurrence (`EngramCell`, `Engram`) accumulates Hebbian increments
    (`hebbian_lr * a z`) that bfloat16/float16 round away; the attention
    pooling's softmax over time and the task models' output layers follow
    Keras's mixed-precision advice. Other layers keep the mixed policy and
    cast at the boundary. Non-mixed policies pass through unchanged.
    """
    policy = keras.dtype_policies.get(layer_kwargs.get("dtype") or keras.config.dtype_policy())
    if policy.compute_dtype == policy.variable_dtype:
        return layer_kwargs
    return {**layer_kwargs, "dtype": policy.variable_dtype}
