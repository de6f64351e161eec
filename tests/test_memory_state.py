"""The memory contract of `MemoryRNN` layers: reset, get/set, saved with the model when asked."""

import os

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_engram.layers import Engram
from keras_engram.models import EngramNetwork

BATCH, STEPS, FEATURES, HIDDEN, SLOTS = 3, 5, 4, 6, 4


def stateful_model(save_memory):
    inputs = keras.Input(batch_shape=(BATCH, STEPS, FEATURES))
    layer = Engram(HIDDEN, SLOTS, stateful=True, save_memory=save_memory, seed=1, name="engram")
    return keras.Model(inputs, layer(inputs)), layer


def data(seed):
    return np.random.default_rng(seed).normal(size=(BATCH, STEPS, FEATURES)).astype("float32")


def test_stored_memory_is_the_last_calls_final_states():
    keras.utils.set_random_seed(0)
    _, layer = stateful_model(save_memory=False)
    x = data(1)
    twin = Engram.from_config({**layer.get_config(), "stateful": False, "return_state": True})
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    _, h, H = twin(x)
    layer(x)
    stored = layer.get_memory_state()
    assert [s.shape for s in stored] == [(BATCH, HIDDEN), (BATCH, SLOTS * HIDDEN)]
    np.testing.assert_array_equal(stored[0], to_numpy(h))
    np.testing.assert_array_equal(stored[1], to_numpy(H))
    assert np.abs(stored[1]).max() > 0


def test_set_memory_state_continues_exactly_and_reset_memory_zeroes():
    keras.utils.set_random_seed(0)
    _, layer = stateful_model(save_memory=False)
    first, second = data(1), data(2)
    layer(first)
    memory = layer.get_memory_state()
    continued = to_numpy(layer(second))
    layer.set_memory_state(memory)
    np.testing.assert_array_equal(layer.get_memory_state()[1], memory[1])
    np.testing.assert_array_equal(to_numpy(layer(second)), continued)
    layer.reset_memory()
    assert all(np.all(s == 0) for s in layer.get_memory_state())
    fresh = to_numpy(layer(second))
    assert np.abs(fresh - continued).max() > 1e-6


@pytest.mark.parametrize("save_memory", [True, False])
def test_memory_is_saved_with_the_model_only_when_asked(save_memory, tmp_path):
    keras.utils.set_random_seed(0)
    model, layer = stateful_model(save_memory)
    model(data(1))
    memory = layer.get_memory_state()
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    restored = loaded.get_layer("engram")
    assert restored.save_memory is save_memory
    weights = restored.weights
    assert len(weights) == len(restored.cell.weights) + (2 if save_memory else 0)
    if save_memory:
        for got, want in zip(restored.get_memory_state(), memory):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(to_numpy(loaded(data(2))), to_numpy(model(data(2))))
    else:
        assert all(np.all(s == 0) for s in restored.get_memory_state())


def test_keras_own_stateful_rnn_states_are_not_saved(tmp_path):
    """The pinned Keras does not write a stateful RNN's states: why `save_memory` exists."""
    inputs = keras.Input(batch_shape=(2, 3, 4))
    model = keras.Model(inputs, keras.layers.SimpleRNN(5, stateful=True, name="rnn")(inputs))
    model(np.ones((2, 3, 4), "float32"))
    assert np.abs(to_numpy(model.get_layer("rnn").states[0])).max() > 0
    path = os.path.join(tmp_path, "rnn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded.get_layer("rnn").states[0]), 0.0)


def test_network_forwards_the_memory_contract():
    keras.utils.set_random_seed(0)
    net = EngramNetwork(hidden_dim=HIDDEN, memory_size=SLOTS, stateful=True,
                        return_sequences=False, seed=2)
    net(keras.Input(batch_shape=(BATCH, STEPS, FEATURES)))
    net(data(1))
    memory = net.get_memory_state()
    assert np.abs(memory[1]).max() > 0
    net.reset_memory()
    assert all(np.all(s == 0) for s in net.get_memory_state())
    net.set_memory_state(memory)
    np.testing.assert_array_equal(net.get_memory_state()[0], memory[0])


def test_memory_contract_errors():
    layer = Engram(HIDDEN, SLOTS)
    layer(data(1))
    with pytest.raises(ValueError, match="Expected a stateful layer.*Received: stateful=False"):
        layer.get_memory_state()
    _, stateful = stateful_model(save_memory=False)
    stateful(data(1))
    with pytest.raises(ValueError, match=r"Expected `states` of shapes \[\(3, 6\), \(3, 24\)\]"):
        stateful.set_memory_state([np.zeros((3, 6)), np.zeros((2, 24))])
    with pytest.raises(ValueError, match="Expected `states` to be a list of 2 arrays"):
        stateful.set_memory_state(np.zeros((3, 6)))


def test_save_memory_needs_a_stateful_layer():
    with pytest.raises(ValueError, match="Expected `stateful=True` with `save_memory=True`"):
        Engram(HIDDEN, SLOTS, save_memory=True)


def test_wrong_initial_state_names_the_argument():
    layer = Engram(HIDDEN, SLOTS)
    x = data(1)
    with pytest.raises(ValueError, match=r"Expected `initial_state` of shapes \[\(batch, 6\), "
                                         r"\(batch, 24\)\]. Received: initial_state shapes"):
        layer(x, initial_state=[np.zeros((BATCH, HIDDEN), "float32"),
                                np.zeros((BATCH, SLOTS, HIDDEN), "float32")])
    with pytest.raises(ValueError, match="Expected `initial_state` to be a list of 2 tensors"):
        layer(x, initial_state=np.zeros((BATCH, HIDDEN), "float32"))
