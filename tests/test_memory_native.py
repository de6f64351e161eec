"""The memory-native cells and layers (AMRC, PMRC, AMN) against their float64 NumPy references.

`memory_native_reference.py` restates each forward step from the
specification (the corrected step and the originals' `legacy=True` step);
these tests compare every configuration with it, and check the Keras
integration (`keras.layers.RNN`, masks, stateful memory, serialization), the
corrected semantics that differ from the originals (echo lag, AMN's
stability) and argument errors.
"""

import keras
import numpy as np
import pytest

import memory_native_reference as ref
from helpers import to_numpy
from keras_engram.layers import AMN, AMRC, PMRC, AMNCell, AMRCCell, PMRCCell

F, H, O, M = 3, 6, 2, 4

CONFIGS = {
    "amrc": (AMRC, {}),
    "amrc_linear": (AMRC, {"output_activation": "linear"}),
    "pmrc": (PMRC, {}),
    "pmrc_gates_output_memory": (PMRC, {"use_learnable_gates": True, "use_output_memory": True}),
    "pmrc_plain": (PMRC, {"use_recurrent": False}),
    "amn": (AMN, {"memory_size": M, "dt": 0.3, "memory_decay": 0.9}),
}


def randomize(cell, rng):
    """Non-trivial values for every weight of a built memory-native cell (in its valid range)."""
    ranges = {
        "beta": (0.0, 1.0), "alpha": (0.0, 1.0), "output_beta": (0.0, 1.0),
        "rigidity": (0.5, 1.0), "fluidity": (0.1, 0.6), "eigenvalues": (0.8, 0.99),
    }
    for variable in cell.weights:
        shape = tuple(variable.shape)
        name = variable.name
        if name in ranges:
            value = rng.uniform(*ranges[name], shape)
        elif len(shape) == 2:
            value = rng.normal(0.0, 1.5 / np.sqrt(shape[0]), shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        variable.assign(value.astype("float32"))


def make(config, legacy, rng, **kwargs):
    cls, cell_kwargs = CONFIGS[config]
    layer = cls(H, O, legacy=legacy, seed=3, **cell_kwargs, **kwargs)
    layer.build((None, None, F))
    randomize(layer.cell, rng)
    return layer


def close(actual, expected, tol=1e-5):
    actual = np.asarray(to_numpy(actual), np.float64)
    scale = max(np.abs(expected).max(), 1.0)
    assert np.abs(actual - expected).max() <= tol * scale, np.abs(actual - expected).max()


def random_states(cell, batch, rng):
    states = [rng.normal(0, 0.5, (batch, size)).astype("float32") for size in cell.state_size]
    if isinstance(cell, PMRCCell) and cell.use_learnable_gates:
        states[-1] = rng.uniform(0, 1, states[-1].shape).astype("float32")
    return states


@pytest.mark.parametrize("legacy", [False, True], ids=["corrected", "legacy"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_layer_matches_the_reference(config, legacy):
    rng = np.random.default_rng(7)
    layer = make(config, legacy, rng, return_sequences=True, return_state=True)
    x = rng.normal(size=(3, 9, F)).astype("float32")
    mask = rng.uniform(size=(3, 9)) > 0.3
    mask[0] = False  # a fully masked sample keeps its initial states
    states = random_states(layer.cell, 3, rng)
    out, *finals = layer(x, mask=mask, initial_state=states)
    r_out, r_finals = ref.sequence(layer.cell, x, states, mask)
    close(out, r_out)
    for final, r_final in zip(finals, r_finals):
        close(final, r_final)
    np.testing.assert_array_equal(to_numpy(finals[0])[0], states[0][0])
    # The same cell in Keras's own RNN layer, from zero states.
    rnn = keras.layers.RNN(layer.cell, return_sequences=True)
    close(rnn(x, mask=mask), ref.sequence(layer.cell, x, mask=mask)[0])


@pytest.mark.parametrize("config", ["amrc", "pmrc_gates_output_memory", "amn"])
def test_go_backwards_runs_the_reversed_sequence(config):
    rng = np.random.default_rng(8)
    layer = make(config, False, rng, return_sequences=True, go_backwards=True)
    x = rng.normal(size=(2, 5, F)).astype("float32")
    close(layer(x), ref.sequence(layer.cell, x[:, ::-1])[0])


@pytest.mark.parametrize("legacy", [False, True], ids=["corrected", "legacy"])
@pytest.mark.parametrize("config", ["amrc", "pmrc_gates_output_memory", "amn"])
def test_a_cell_step_matches_the_reference(config, legacy):
    rng = np.random.default_rng(9)
    cell = make(config, legacy, rng).cell
    x = rng.normal(size=(4, F)).astype("float32")
    states = random_states(cell, 4, rng)
    out, new = cell(x, states)
    r_out, r_new = ref.sequence(cell, x[:, None], states)
    close(out, r_out[:, 0])
    for a, b in zip(new, r_new):
        close(a, b)


def test_the_echo_lags_one_step_and_two_in_legacy_mode():
    """An input impulse with beta 1 and no memory: the echo decays smoothly (legacy: every other step)."""
    x = np.zeros((1, 6, 1), "float32")
    x[0, 0, 0] = 1.0
    outputs = {}
    for legacy in (False, True):
        layer = AMRC(1, 1, beta=1.0, alpha=0.0, legacy=legacy, return_sequences=True)
        layer.build((None, None, 1))
        layer.cell.kernel.assign([[1.0]])
        layer.cell.output_kernel.assign([[1.0]])
        outputs[legacy] = to_numpy(layer(x))[0, :, 0]
    n = np.tanh(1.0)
    np.testing.assert_allclose(outputs[False], np.tanh(np.full(6, n)), rtol=1e-6)
    np.testing.assert_allclose(outputs[True], np.tanh([n, 0, n, 0, n, 0]), rtol=1e-6, atol=1e-7)


def test_corrected_amn_stays_bounded_where_legacy_saturates():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(1, 300, 5)).astype("float32")
    states = {}
    for legacy in (False, True):
        layer = AMN(32, 1, memory_size=64, legacy=legacy, seed=0, return_state=True)
        _, _, _, lru, manifold = layer(x)
        states[legacy] = (to_numpy(lru), to_numpy(manifold))
    lru, manifold = states[False]
    assert np.isfinite(lru).all() and np.isfinite(manifold).all()
    assert np.abs(lru).max() < 1.0 and np.abs(manifold).mean() < 1.0
    # The originals' wiring pins every LRU unit at its clip (spec 4.2).
    assert np.abs(states[True][0]).min() == 10.0


@pytest.mark.large
def test_corrected_amn_stays_finite_and_unsaturated_over_10000_steps():
    x = np.sin(np.arange(10000, dtype="float32") / 7.0)[None, :, None] * 3.0
    layer = AMN(32, 1, memory_size=64, seed=1, return_sequences=True, return_state=True)
    out, _, liquid, lru, manifold = layer(x)
    for value in (out, liquid, lru, manifold):
        assert np.isfinite(to_numpy(value)).all()
    assert np.abs(to_numpy(lru)).max() < 1.0
    assert np.abs(to_numpy(manifold)).max() < 0.9 * 5.0


@pytest.mark.parametrize("config", ["amrc", "pmrc_gates_output_memory", "amn"])
def test_stateful_memory_carries_resets_and_round_trips(config, tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 8, F)).astype("float32")
    whole = make(config, False, rng, return_sequences=True)
    expected = to_numpy(whole(x))
    cls, cell_kwargs = CONFIGS[config]
    layer = cls(H, O, stateful=True, save_memory=True, return_sequences=True, **cell_kwargs)
    inputs = keras.Input(batch_shape=(2, None, F))
    model = keras.Model(inputs, layer(inputs))
    layer.cell.set_weights(whole.cell.get_weights())
    first = to_numpy(model(x[:, :5]))
    second = to_numpy(model(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], 1), expected, rtol=1e-5, atol=1e-6)
    # The memory is saved with the model and restored bit for bit.
    memory = layer.get_memory_state()
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    loaded_layer = loaded.layers[-1]
    for a, b in zip(loaded_layer.get_memory_state(), memory):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(to_numpy(loaded(x[:, :3])), to_numpy(model(x[:, :3])))
    # A past input changes later outputs; reset_memory removes the effect.
    layer.reset_memory()
    for state in layer.get_memory_state():
        np.testing.assert_array_equal(state, 0.0)
    np.testing.assert_allclose(to_numpy(model(x[:, :5])), expected[:, :5], rtol=1e-5, atol=1e-6)
    assert np.abs(to_numpy(model(x[:, :5])) - expected[:, :5]).max() > 1e-4
    layer.set_memory_state(memory)
    np.testing.assert_array_equal(layer.get_memory_state()[1], memory[1])


@pytest.mark.parametrize("legacy", [False, True], ids=["corrected", "legacy"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_config_round_trip_and_keras_file(config, legacy, tmp_path):
    rng = np.random.default_rng(12)
    layer = make(config, legacy, rng, return_sequences=True)
    config_dict = layer.get_config()
    assert "cell" not in config_dict and config_dict["legacy"] is legacy
    assert type(layer).from_config(config_dict).get_config() == config_dict
    cell_config = layer.cell.get_config()
    assert type(layer.cell).from_config(cell_config).get_config() == cell_config
    inputs = keras.Input((None, F))
    model = keras.Model(inputs, layer(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)
    x = rng.normal(size=(2, 4, F)).astype("float32")
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)), to_numpy(model(x)))


@pytest.mark.parametrize("cls", [AMRCCell, PMRCCell, AMNCell])
def test_learned_time_constants_are_trainable_and_fixed_in_legacy_mode(cls):
    learned = {
        AMRCCell: {"beta", "alpha"},
        PMRCCell: {"beta", "alpha"},
        AMNCell: {"rigidity", "fluidity", "eigenvalues"},
    }[cls]
    for legacy in (False, True):
        cell = cls(4, 1, legacy=legacy)
        cell.build((None, 2))
        trainable = {w.name for w in cell.trainable_weights}
        fixed = {w.name for w in cell.non_trainable_weights}
        assert (learned <= trainable) is (not legacy)
        assert (learned <= fixed) is legacy


@pytest.mark.parametrize("config", ["amrc", "pmrc", "amn"])
def test_training_moves_the_time_constants_and_keeps_them_in_range(config):
    rng = np.random.default_rng(13)
    cls, cell_kwargs = CONFIGS[config]
    inputs = keras.Input((None, F))
    layer = cls(H, O, seed=1, **cell_kwargs)
    model = keras.Model(inputs, layer(inputs))
    cell = layer.cell
    rates = [w for w in cell.trainable_weights if len(w.shape) == 1 and "bias" not in w.name]
    before = [to_numpy(w) for w in rates]
    model.compile(keras.optimizers.SGD(learning_rate=50.0), "mse")
    x = rng.normal(size=(8, 6, F)).astype("float32")
    model.fit(x, rng.normal(size=(8, O)).astype("float32") * 3, epochs=2, verbose=0)
    moved = [np.abs(to_numpy(w) - b).max() for w, b in zip(rates, before)]
    assert all(m > 0 for m in moved), moved
    for w in rates:
        value = to_numpy(w)
        assert value.min() >= 0.0
        if w.name in ("beta", "alpha", "output_beta", "eigenvalues"):
            assert value.max() <= 1.0


@pytest.mark.parametrize(
    "cls, kwargs, error",
    [
        (AMRCCell, {"units": 0}, ValueError),
        (AMRCCell, {"units": 2.5}, TypeError),
        (AMRCCell, {"output_units": -1}, ValueError),
        (AMRCCell, {"beta": 1.5}, ValueError),
        (AMRCCell, {"alpha": "0.1"}, TypeError),
        (AMRCCell, {"legacy": "yes"}, TypeError),
        (AMRCCell, {"output_activation": "relu"}, ValueError),
        (PMRCCell, {"output_beta": -0.1}, ValueError),
        (PMRCCell, {"use_learnable_gates": 1}, TypeError),
        (AMNCell, {"memory_size": 0}, ValueError),
        (AMNCell, {"dt": 0.0}, ValueError),
        (AMNCell, {"memory_decay": 1.2}, ValueError),
        (AMNCell, {"seed": 1.5}, TypeError),
    ],
)
def test_bad_arguments_raise_naming_the_argument(cls, kwargs, error):
    arguments = {"units": 4, "output_units": 1, **kwargs}
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        cls(**arguments)


@pytest.mark.parametrize("cls", [AMRC, PMRC, AMN])
def test_a_wrong_feature_size_is_a_clear_error(cls):
    layer = cls(4, 1)
    layer(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match="3 features"):
        layer(np.zeros((1, 2, 5), "float32"))
