"""The DTPN cell, layer and estimator against the float64 NumPy reference and the original C code.

`memory_native_reference_dtpn_hyper.py` restates the forward step from the
specification (written independently of the library); these tests compare
every configuration with it (outputs, final states, masks, initial states,
`go_backwards`, gradients), check the Keras integration (stateful memory,
serialization), the estimator (`DualTrackPersistenceNetwork`: memory carry
and reset, save / load, diagnostics, predict without side effects), the
original C code's predictions (fixture `tests/data/original_dtpn.npz`
written by `tests/data/make_memory_native_fixtures.py`), and that BPTT
learns a delayed-recall task better than the readout-only reservoir.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

import memory_native_reference_dtpn_hyper as ref
from helpers import autodiff_gradients, central_differences, to_numpy
from keras_engram.compat import load_memory_native
from keras_engram.layers import DTPN, DTPNCell
from keras_engram.memory_native import DualTrackPersistenceNetwork, create_model
from keras_engram.src.compat.memory_native import (
    detect_kind,
    legacy_layer,
    read_memory_native_file,
)

F, H, O, M = 3, 6, 2, 4
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "original_dtpn.npz")

CONFIGS = {
    "corrected": {},
    "query_read": {"query_read": True},
    "legacy": {"legacy": True},
}
RATES = {"beta": (0.1, 0.9), "alpha": (0.05, 0.9), "memory_decay": (0.5, 0.99)}


def _w(variable):
    return to_numpy(variable).astype(np.float64)


def reference_params(cell):
    """A built `DTPNCell`'s weights under the reference's names."""
    return dict(
        legacy=cell.legacy, W_in=_w(cell.input_kernel), U=_w(cell.recurrent_kernel),
        K=_w(cell.key_kernel), V=_w(cell.value_kernel), W_out=_w(cell.output_kernel),
        b_out=_w(cell.output_bias), beta=_w(cell.beta_weight), alpha=_w(cell.alpha_weight),
        gamma=_w(cell.decay_weight), Q=_w(cell.query_kernel) if cell.query_read else None,
    )


REF_NAMES = {
    "input_kernel": "W_in", "recurrent_kernel": "U", "key_kernel": "K", "value_kernel": "V",
    "query_kernel": "Q", "output_kernel": "W_out", "output_bias": "b_out", "beta": "beta",
    "alpha": "alpha", "memory_decay": "gamma",
}


def reference_sequence(cell, x, states=None, mask=None):
    p = reference_params(cell)
    if states is None:
        states = ref.dtpn_zero_states(p, x.shape[0])
    return ref.run(ref.dtpn_step, p, x, states, mask)


def randomize(cell, rng):
    """Non-trivial values for every weight of a built cell (rates in their range)."""
    for variable in cell.weights:
        shape = tuple(variable.shape)
        if variable.name in RATES:
            value = rng.uniform(*RATES[variable.name], shape)
        elif len(shape) == 2:
            value = rng.normal(0.0, 1.5 / np.sqrt(shape[0]), shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        variable.assign(value.astype("float32"))


def make(config, rng, **kwargs):
    layer = DTPN(H, O, memory_size=M, seed=3, **CONFIGS[config], **kwargs)
    layer.build((None, None, F))
    randomize(layer.cell, rng)
    return layer


def close(actual, expected, tol=1e-5):
    actual = np.asarray(to_numpy(actual), np.float64)
    scale = max(np.abs(expected).max(), 1.0)
    assert np.abs(actual - expected).max() <= tol * scale, np.abs(actual - expected).max()


def random_states(cell, batch, rng):
    return [rng.normal(0, 0.5, (batch, size)).astype("float32") for size in cell.state_size]


# --- the layer against the reference ---------------------------------------------------


@pytest.mark.parametrize("config", list(CONFIGS))
def test_layer_matches_the_reference(config):
    rng = np.random.default_rng(7)
    layer = make(config, rng, return_sequences=True, return_state=True)
    x = rng.normal(size=(3, 9, F)).astype("float32")
    mask = rng.uniform(size=(3, 9)) > 0.3
    mask[0] = False  # a fully masked sample keeps its initial states
    states = random_states(layer.cell, 3, rng)
    out, *finals = layer(x, mask=mask, initial_state=states)
    r_out, r_finals = reference_sequence(layer.cell, x, states, mask)
    close(out, r_out)
    for final, r_final in zip(finals, r_finals):
        close(final, r_final)
    np.testing.assert_array_equal(to_numpy(finals[0])[0], states[0][0])
    # The same cell in Keras's own RNN layer, from zero states.
    rnn = keras.layers.RNN(layer.cell, return_sequences=True)
    close(rnn(x, mask=mask), reference_sequence(layer.cell, x, mask=mask)[0])


def test_go_backwards_runs_the_reversed_sequence():
    rng = np.random.default_rng(8)
    layer = make("corrected", rng, return_sequences=True, go_backwards=True)
    x = rng.normal(size=(2, 5, F)).astype("float32")
    close(layer(x), reference_sequence(layer.cell, x[:, ::-1])[0])


@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_cell_step_matches_the_reference(config):
    rng = np.random.default_rng(9)
    cell = make(config, rng).cell
    x = rng.normal(size=(4, F)).astype("float32")
    states = random_states(cell, 4, rng)
    out, new = cell(x, states)
    r_out, r_new = reference_sequence(cell, x[:, None], states)
    close(out, r_out[:, 0])
    for a, b in zip(new, r_new):
        close(a, b)


@pytest.mark.parametrize("config", ["corrected", "query_read"])
def test_gradients_match_finite_differences_of_the_reference(config):
    rng = np.random.default_rng(21)
    B, T = 2, 4
    layer = DTPN(4, O, memory_size=3, return_sequences=True, return_state=True, **CONFIGS[config])
    layer.build((None, None, F))
    randomize(layer.cell, rng)
    cell = layer.cell
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[1, 2] = False
    weights_out = rng.normal(size=(B, T, O))
    weights_states = [rng.normal(size=(B, size)) for size in cell.state_size]

    def keras_loss(x):
        out, *states = layer(x, mask=mask)
        terms = [(out, weights_out)] + list(zip(states, weights_states))
        return sum(ops.sum(t * ops.convert_to_tensor(w.astype("float32"))) for t, w in terms)

    variables = cell.trainable_weights
    names = [v.name for v in variables]
    grad_weights, (grad_x,) = autodiff_gradients(keras_loss, variables, [x])
    params = reference_params(cell)
    zeros = ref.dtpn_zero_states(params, B)

    def reference_loss(x, *values):
        p = dict(params, **{REF_NAMES[n]: v for n, v in zip(names, values)})
        out, states = ref.run(ref.dtpn_step, p, x, zeros, mask)
        terms = [(out, weights_out)] + list(zip(states, weights_states))
        return sum(np.sum(t * w) for t, w in terms)

    expected = central_differences(reference_loss, [x] + [to_numpy(v) for v in variables])
    for name, got, want in zip(["x"] + names, [grad_x] + grad_weights, expected):
        scale = max(np.abs(want).max(), 1e-3)
        assert np.abs(got - want).max() <= 2e-5 * scale, (name, np.abs(got - want).max(), scale)
        assert np.abs(got).max() > 0, name  # the gradient reaches every trainable weight


# --- trainable sets, stability, Keras integration --------------------------------------


def test_trainable_weights_per_mode():
    everything = {
        "input_kernel", "recurrent_kernel", "key_kernel", "value_kernel", "output_kernel",
        "output_bias", "beta", "alpha", "memory_decay",
    }
    expected = {
        (False, False): everything,
        (True, False): everything - {"beta", "alpha", "memory_decay"},
        (False, True): {"output_kernel", "output_bias"},
        (True, True): {"output_kernel", "output_bias"},
    }
    for (legacy, readout_only), names in expected.items():
        cell = DTPNCell(4, 1, memory_size=2, legacy=legacy, readout_only=readout_only)
        cell.build((None, 2))
        assert {w.name for w in cell.trainable_weights} == names, (legacy, readout_only)
        assert len(cell.weights) == len(everything)


@pytest.mark.large  # TensorFlow eager runs the 10,000 steps as a Python loop (~25-50 s)
def test_ten_thousand_steps_stay_finite_and_bounded():
    x = 3.0 * np.sin(np.arange(10000, dtype="float32") / 7.0)[None, :, None]
    layer = DTPN(16, 1, memory_size=8, seed=1, return_sequences=True, return_state=True)
    out, _, hidden, echo, neuron, matrix = (to_numpy(v) for v in layer(x))
    for value in (out, hidden, echo, neuron, matrix):
        assert np.isfinite(value).all()
    assert np.abs(hidden).max() <= 1.0
    # |e| <= 1 / (1 - beta), |n| likewise, |Mem| <= max |V| / (1 - gamma).
    assert np.abs(echo).max() <= 1.0 / 0.7 + 1e-5 and np.abs(neuron).max() <= 1.0 / 0.7 + 1e-5
    bound = np.abs(to_numpy(layer.cell.value_kernel)).max() / (1 - 0.99)
    assert np.abs(matrix).max() <= bound * (1 + 1e-5)


def test_stateful_memory_carries_resets_and_round_trips(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 8, F)).astype("float32")
    whole = make("corrected", rng, return_sequences=True)
    expected = to_numpy(whole(x))
    layer = DTPN(H, O, memory_size=M, stateful=True, save_memory=True, return_sequences=True)
    inputs = keras.Input(batch_shape=(2, None, F))
    model = keras.Model(inputs, layer(inputs))
    layer.cell.set_weights(whole.cell.get_weights())
    first = to_numpy(model(x[:, :5]))
    second = to_numpy(model(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], 1), expected, rtol=1e-5, atol=1e-6)
    memory = layer.get_memory_state()
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for a, b in zip(loaded.layers[-1].get_memory_state(), memory):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(to_numpy(loaded(x[:, :3])), to_numpy(model(x[:, :3])))
    # A past input changes later outputs; reset_memory removes the effect.
    layer.reset_memory()
    for state in layer.get_memory_state():
        np.testing.assert_array_equal(state, 0.0)
    np.testing.assert_allclose(to_numpy(model(x[:, :5])), expected[:, :5], rtol=1e-5, atol=1e-6)
    assert np.abs(to_numpy(model(x[:, :5])) - expected[:, :5]).max() > 1e-4


@pytest.mark.parametrize("config", list(CONFIGS))
def test_config_round_trip_and_keras_file(config, tmp_path):
    rng = np.random.default_rng(12)
    layer = make(config, rng, return_sequences=True, readout_only=config == "query_read")
    config_dict = layer.get_config()
    assert "cell" not in config_dict and config_dict["legacy"] is (config == "legacy")
    assert type(layer).from_config(config_dict).get_config() == config_dict
    cell_config = layer.cell.get_config()
    assert DTPNCell.from_config(cell_config).get_config() == cell_config
    inputs = keras.Input((None, F))
    model = keras.Model(inputs, layer(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)
    x = rng.normal(size=(2, 4, F)).astype("float32")
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)), to_numpy(model(x)))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"units": 0}, ValueError),
        ({"units": 2.5}, TypeError),
        ({"memory_size": 0}, ValueError),
        ({"beta": 1.5}, ValueError),
        ({"alpha": "0.1"}, TypeError),
        ({"memory_decay": -0.1}, ValueError),
        ({"query_read": 1}, TypeError),
        ({"readout_only": "no"}, TypeError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        DTPNCell(**{"units": 4, "output_units": 1, **kwargs})


def test_the_query_read_is_not_a_legacy_option():
    with pytest.raises(ValueError, match="query_read"):
        DTPNCell(4, 1, legacy=True, query_read=True)


# --- the estimator ---------------------------------------------------------------------


def series(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    X = np.stack([np.sin(t / 5), np.cos(t / 7), 0.3 * rng.normal(size=n)], axis=1).astype("float32")
    y = (0.5 * np.sin((t + 1) / 5) + 0.2 * X[:, 2]).astype("float32")
    return X, y


def small(seed=0, **kwargs):
    return DualTrackPersistenceNetwork(3, 8, 1, memory_matrix_size=4, random_state=seed, **kwargs)


def test_estimator_memory_carries_resets_and_predict_leaves_weights(tmp_path):
    X, y = series(120)
    model = small()
    model.fit(X[:80], y[:80], epochs=1)
    weights = [w.copy() for w in model.cell.get_weights()]
    # predict resets by default, as the original's.
    fresh = model.predict(X[60:])
    model.predict(X[:60])
    np.testing.assert_array_equal(model.predict(X[60:]), fresh)
    model.predict(X[:60])
    carried = model.predict(X[60:], reset_memory=False)
    assert np.abs(carried - fresh).max() > 1e-4  # a past input changes later outputs
    assert model.avg_echo_magnitude > 0 and model.avg_memory_magnitude > 0
    assert model.avg_matrix_energy > 0 and model.get_memory_matrix().shape == (4, 8)
    model.reset_memory()
    assert model.avg_echo_magnitude == model.avg_memory_magnitude == model.avg_matrix_energy == 0.0
    for state in model.get_memory_state():
        np.testing.assert_array_equal(state, 0.0)
    for a, b in zip(model.cell.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    # Save / load: weights, memory and predictions bit for bit.
    model.predict(X[:30])
    path = str(tmp_path / "dtpn.keras")
    model.save(path)
    expected = model.predict(X[30:], reset_memory=False)
    other = small(seed=5).load(path)
    np.testing.assert_array_equal(other.predict(X[30:], reset_memory=False), expected)


def test_estimator_state_accessors_and_time_constants():
    X, _ = series(40)
    model = small()
    model.predict(X)
    matrix = model.get_memory_matrix()
    model.reset_global_memory()
    np.testing.assert_array_equal(model.get_memory_matrix(), 0.0)
    assert np.abs(model.get_hidden_state()).max() > 0  # the other states are kept
    assert np.abs(matrix).max() > 0
    model.set_hidden_state(np.full(8, 0.5))
    np.testing.assert_array_equal(model.get_hidden_state(), 0.5)
    with pytest.raises(ValueError, match="state"):
        model.set_hidden_state(np.zeros(3))
    np.testing.assert_allclose(model.beta, 0.3)
    model.beta = 0.7
    np.testing.assert_allclose(model.beta, 0.7)
    model.memory_decay = np.linspace(0.5, 0.9, 4)
    np.testing.assert_allclose(model.memory_decay, np.linspace(0.5, 0.9, 4), rtol=1e-6)
    with pytest.raises(ValueError, match="alpha"):
        model.alpha = 1.5
    assert model.training_steps == 0 and model.last_loss is None
    model.fit(X, X[:, 0], epochs=2)
    assert model.training_steps > 0 and np.isfinite(model.last_loss)
    model.learning_rate = 0.5
    assert model.learning_rate == 0.5
    assert float(keras.ops.convert_to_numpy(model._optimizer.learning_rate)) == 0.5
    with pytest.raises(ValueError, match="learning_rate"):
        model.learning_rate = 0.0


def test_score_metrics_start_from_zero_memory():
    X, y = series(60)
    model = small()
    model.fit(X, y, epochs=1)
    predicted = model.predict(X)[:, 0].astype(np.float64)
    model.predict(X[:20])  # the memory moves on; score resets it first
    assert model.score(X, y, metric="mse") == pytest.approx(np.mean((predicted - y) ** 2), rel=1e-5)
    assert model.score(X, y, metric="mae") == pytest.approx(np.mean(np.abs(predicted - y)), rel=1e-5)
    r2 = 1 - np.sum((predicted - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert model.score(X, y) == pytest.approx(r2, rel=1e-4, abs=1e-5)
    with pytest.raises(ValueError, match="metric"):
        model.score(X, y, metric="r3")


def test_create_model_knows_dtpn():
    model = create_model("DTPN", input_size=2, hidden_size=4, output_size=1)
    assert isinstance(model, DualTrackPersistenceNetwork) and model.cell.units == 4


# --- legacy fidelity against the original C code --------------------------------------


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(np.asarray(data, np.uint8).tobytes())
    return str(path)


def test_legacy_layer_reproduces_the_original_predictions_and_memory(tmp_path):
    data = np.load(FIXTURE)
    contents = read_memory_native_file(_write(tmp_path, "saved.bin", data["saved"]))
    assert contents["kind"] == "dtpn"
    layer = legacy_layer(contents, stateful=True, return_sequences=True)
    x, y = data["x"], data["y"]
    first = to_numpy(layer(x[None, :25]))[0]
    second = to_numpy(layer(x[None, 25:]))[0]
    outputs = np.concatenate([first, second])
    scale = max(np.abs(y).max(), 1.0)
    assert np.abs(outputs - y).max() <= 2e-5 * scale, np.abs(outputs - y).max()
    after = read_memory_native_file(_write(tmp_path, "after.bin", data["saved_after"]))
    memory = layer.get_memory_state()
    for index in (1, 2, 3, 4):  # h, e, n, Mem
        expected = after["states"][index]
        assert np.abs(memory[index] - expected).max() <= 2e-5 * max(np.abs(expected).max(), 1.0)


def test_load_memory_native_then_predict_reproduces_the_original(tmp_path):
    data = np.load(FIXTURE)
    model = load_memory_native(_write(tmp_path, "saved.bin", data["saved"]))
    assert isinstance(model, DualTrackPersistenceNetwork) and model.legacy
    x, y = data["x"], data["y"]
    outputs = np.concatenate(
        [model.predict(x[:10], reset_memory=False), model.predict(x[10:], reset_memory=False)]
    )
    assert np.abs(outputs - y).max() <= 2e-5 * max(np.abs(y).max(), 1.0)
    np.testing.assert_allclose(model.beta, 0.4, rtol=1e-6)
    np.testing.assert_allclose(model.memory_decay, 0.95, rtol=1e-6)


def test_an_ambiguous_file_size_needs_the_kind(tmp_path):
    # (inputs, hidden, outputs, rows) = (2, 6, 1, 4): the AMN and DTPN layouts have one size.
    i, h, o, m = 2, 6, 1, 4
    floats = i * h + h * h + h * o + o + h * m + m * h + 2 * h + m * h + h
    data = (np.array([i, h, o, m], "i4").tobytes() + np.array([0.3, 0.1, 0.9, 0.01], "f4").tobytes()
            + np.array([0], "i4").tobytes() + np.zeros(floats, "f4").tobytes())
    with pytest.raises(ValueError, match="amn"):
        detect_kind(data)
    path = _write(tmp_path, "file.bin", np.frombuffer(data, np.uint8))
    model = load_memory_native(path, kind="dtpn")
    assert isinstance(model, DualTrackPersistenceNetwork)
    assert model.predict(np.ones((3, 2))).shape == (3, 1)


# --- learning: BPTT against the readout-only reservoir --------------------------------


def delayed_recall(n, steps, delay, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, steps, 1)).astype("float32")
    y = np.zeros_like(x)
    y[:, delay:] = x[:, :-delay]
    return x, y


@pytest.mark.parametrize("seed", range(3))
def test_bptt_learns_delayed_recall_better_than_the_readout_only_reservoir(seed):
    x, y = delayed_recall(96, 12, 3, seed)
    x_test, y_test = delayed_recall(64, 12, 3, seed + 100)
    errors = {}
    for readout_only in (False, True):
        model = DualTrackPersistenceNetwork(
            1, 16, 1, memory_matrix_size=4, random_state=seed, readout_only=readout_only,
            learning_rate=0.03,
        )
        model.fit(x, y, epochs=20, batch_size=32)
        errors[readout_only] = float(np.mean((model.predict(x_test)[:, 3:] - y_test[:, 3:]) ** 2))
    message = f"seed {seed}: test MSE BPTT {errors[False]:.4f}, readout only {errors[True]:.4f}"
    assert errors[False] < 0.5 * errors[True], message
