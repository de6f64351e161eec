"""Seeded initializers shared by the memory-native cells (each weight its own seed offset)."""

import keras


def seeded_normal(scale, mode, seed, offset):
    """`VarianceScaling` (untruncated normal) seeded with `seed + offset` (unseeded for `seed=None`)."""
    return keras.initializers.VarianceScaling(
        scale=scale, mode=mode, distribution="untruncated_normal",
        seed=None if seed is None else seed + offset,
    )


def seeded_uniform(low, high, seed, offset):
    """`RandomUniform(low, high)` seeded with `seed + offset` (unseeded for `seed=None`)."""
    return keras.initializers.RandomUniform(low, high, seed=None if seed is None else seed + offset)
