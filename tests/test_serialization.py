"""`.keras` round trips and config round trips of every public class, on the current backend."""

import os

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_engram.layers import Engram, EngramAttentionPooling, EngramCell
from keras_engram.models import EngramClassifier, EngramNetwork, EngramRegressor

X = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")


def wrap(layer):
    inputs = keras.Input((5, 4))
    return keras.Model(inputs, layer(inputs))


MODELS = {
    "cell_in_rnn": lambda: wrap(keras.layers.RNN(EngramCell(8, 4, trace_scope="batch"))),
    "engram": lambda: wrap(Engram(8, 4, return_sequences=True, go_backwards=True,
                                  integrator_units=12, attention_l1=0.1, seed=5)),
    "pooling": lambda: wrap(EngramAttentionPooling()),
    "network": lambda: EngramNetwork(8, 4, output_units=2, use_attention=True,
                                     output_activation="sigmoid", dropout_rate=0.2),
    "classifier": lambda: EngramClassifier(input_shape=(5, 4), num_classes=3, hidden_dim=8,
                                           memory_size=4, trace_scope="batch"),
    "regressor": lambda: EngramRegressor(input_shape=(None, 4), output_dim=2, hidden_dim=8,
                                         memory_size=4, use_layer_norm=False),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_round_trip_reproduces_outputs_exactly(name, tmp_path):
    model = MODELS[name]()
    expected = to_numpy(model(X))
    path = os.fspath(tmp_path / f"{name}.keras")
    model.save(path)
    restored = keras.models.load_model(path)  # no custom_objects needed
    assert type(restored) is type(model)
    np.testing.assert_array_equal(to_numpy(restored(X)), expected)


@pytest.mark.parametrize(
    "obj",
    [
        lambda: EngramCell(8, 4, hebbian_lr=0.2, temperature=2.0, trace_clip=None,
                           kernel_regularizer="l2", seed=3),
        lambda: Engram(8, 4, return_state=True, stateful=False, unroll=False, trace_scope="batch"),
        lambda: EngramAttentionPooling(kernel_initializer="zeros"),
        lambda: EngramNetwork(8, 4, return_states=True, seed=1, trace_noise_stddev=0.0),
        lambda: EngramClassifier(input_shape=(5, 4), num_classes=3, hidden_dim=8, memory_size=4,
                                 hebbian_lr=0.1, name="clf"),
        lambda: EngramRegressor(input_shape=(5, 4), output_dim=2, hidden_dim=8, memory_size=4),
    ],
)
def test_config_round_trip(obj):
    original = obj()
    config = original.get_config()
    clone = type(original).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(original)
    assert serialized["registered_name"] == f"keras_engram>{type(original).__name__}"


def test_engram_config_mirrors_the_constructor():
    import inspect

    params = set(inspect.signature(Engram.__init__).parameters) - {"self", "kwargs"}
    assert params <= set(Engram(4, 2).get_config())
    params = set(inspect.signature(EngramCell.__init__).parameters) - {"self", "kwargs"}
    assert params <= set(EngramCell(4, 2).get_config())
    params = set(inspect.signature(EngramNetwork.__init__).parameters) - {"self", "kwargs"}
    assert params <= set(EngramNetwork().get_config())
