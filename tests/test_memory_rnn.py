"""The memory-cell base (`MemoryCell`, `MemoryRNN`) with a cell written from the recipe alone.

`LeakyCell` follows CONTRIBUTING.md's recipe for a new cell: the Keras cell
contract from `MemoryCell`, a `_loop_step`, and a layer of a few lines. Its
maths, `m' = (1 - a) m + a tanh(x W)` with output `m'`, is checked against a
NumPy loop, so the base's masks, `go_backwards`, initial and stateful states
and `keras.layers.RNN` compatibility are tested apart from the ENN.
"""

import keras
import numpy as np
import pytest
from keras import ops

from helpers import to_numpy
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_rnn import MemoryRNN

RATE = 0.3


class LeakyCell(MemoryCell):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    @property
    def state_size(self):
        return [self.units]

    @property
    def output_size(self):
        return self.units

    def build(self, input_shape):
        self.input_dim = input_shape[-1]
        self.kernel = self.add_weight(shape=(self.input_dim, self.units), name="kernel")

    def _loop_inputs(self, sequences, training=False):
        return (ops.tanh(ops.matmul(sequences, self.kernel)),)  # hoisted out of the loop

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        (m,) = carry
        new = (1.0 - RATE) * m + RATE * inputs[0]
        if mask is not None:
            new = ops.where(mask, new, m)
        return new, (new,), {}

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Leaky(MemoryRNN):
    def __init__(self, units, **kwargs):
        super().__init__(LeakyCell(units, name="leaky_cell"), **kwargs)

    def get_config(self):
        return {**super().get_config(), **self.cell.cell_config()}


def reference(x, kernel, mask=None, m0=None, go_backwards=False):
    drive = np.tanh(x.astype(np.float64) @ kernel)
    m = np.zeros((x.shape[0], kernel.shape[1])) if m0 is None else m0.astype(np.float64)
    outputs = []
    for t in (range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])):
        new = (1 - RATE) * m + RATE * drive[:, t]
        m = new if mask is None else np.where(mask[:, t : t + 1], new, m)
        outputs.append(m)
    return np.stack(outputs, 1), m


@pytest.mark.parametrize("go_backwards", [False, True])
def test_a_recipe_cell_runs_like_its_numpy_loop(go_backwards):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = rng.uniform(size=(3, 6)) > 0.3
    m0 = rng.normal(size=(3, 5)).astype("float32")
    layer = Leaky(5, return_sequences=True, return_state=True, go_backwards=go_backwards)
    out, m = layer(x, mask=mask, initial_state=[m0])
    kernel = to_numpy(layer.cell.kernel)
    r_out, r_m = reference(x, kernel, mask, m0, go_backwards)
    np.testing.assert_allclose(to_numpy(out), r_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(m), r_m, rtol=1e-5, atol=1e-6)
    rnn = keras.layers.RNN(layer.cell, return_sequences=True, go_backwards=go_backwards)
    np.testing.assert_allclose(to_numpy(rnn(x)), reference(x, kernel, go_backwards=go_backwards)[0],
                               rtol=1e-5, atol=1e-6)


def test_a_recipe_cell_gets_the_memory_contract_and_config():
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype("float32")
    layer = Leaky(5, stateful=True)
    first = to_numpy(layer(x))
    memory = layer.get_memory_state()
    np.testing.assert_array_equal(memory[0], first)
    second = to_numpy(layer(x))
    _, expected = reference(x, to_numpy(layer.cell.kernel), m0=memory[0])
    np.testing.assert_allclose(second, expected, rtol=1e-5, atol=1e-6)
    layer.reset_memory()
    np.testing.assert_array_equal(layer.get_memory_state()[0], 0.0)
    config = layer.get_config()
    assert config["units"] == 5 and config["stateful"] is True and "cell" not in config
    assert Leaky.from_config(config).get_config() == config
