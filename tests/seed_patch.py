"""Runs tensorflow-engram 0.1.0 in its deterministic "seed mode" for reference tests.

The seed draws trace noise at every step and random initial states; the
reference comparison replaces both by zeros (enn.md: "tensorflow-engram with
its noise and random initial state patched to zero").
"""

import contextlib


@contextlib.contextmanager
def deterministic_seed():
    import tensorflow as tf
    import tensorflow_engram.layers as seed_layers

    cell_cls = seed_layers.EngramCell
    original_state = cell_cls.get_initial_state
    original_normal = tf.random.normal

    def zero_initial_state(self, inputs=None, batch_size=None, dtype=None):
        if batch_size is None:
            batch_size = tf.shape(inputs)[0]
        dtype = dtype or tf.float32
        return [
            tf.zeros([batch_size, self.hidden_dim], dtype),
            tf.zeros([self.memory_size, self.hidden_dim], dtype),
            self.memory_bank,
        ]

    def zero_normal(shape, mean=0.0, stddev=1.0, dtype=tf.float32, seed=None, name=None):
        return tf.zeros(shape, dtype=dtype)

    cell_cls.get_initial_state = zero_initial_state
    tf.random.normal = zero_normal
    try:
        yield
    finally:
        cell_cls.get_initial_state = original_state
        tf.random.normal = original_normal


def build_seed_models(input_shape):
    """The three seed models the fixtures cover (same arguments used on our side)."""
    from tensorflow_engram.models import EngramClassifier, EngramNetwork, EngramRegressor

    return {
        "classifier": EngramClassifier(
            input_shape=input_shape, num_classes=4, hidden_dim=16, memory_size=8
        ),
        "regressor": EngramRegressor(
            input_shape=input_shape, output_dim=2, hidden_dim=16, memory_size=8
        ),
        "network": EngramNetwork(
            hidden_dim=16, memory_size=8, output_units=3, use_attention=True
        ),
    }
