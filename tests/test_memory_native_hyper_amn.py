"""The Hyper-AMN cell, layer and estimator against the float64 NumPy reference.

`memory_native_reference_dtpn_hyper.py` restates the forward step from the
specification (written independently of the library); these tests compare
the corrected and the legacy step with it (outputs, final states, masks,
initial states, `go_backwards`, gradients), check the head activations the
cell carries as a state, the Keras integration (stateful memory,
serialization), the estimator (`HyperAMN`: memory carry and reset, save /
load, diagnostics, predict without side effects), and that BPTT learns a
delayed-recall task better than the readout-only reservoir (the original's
training regime).
"""

import keras
import numpy as np
import pytest
from keras import ops

import memory_native_reference_dtpn_hyper as ref
from helpers import autodiff_gradients, central_differences, to_numpy
from keras_engram.layers import HyperAMN as HyperAMNLayer
from keras_engram.layers import HyperAMNCell
from keras_engram.memory_native import HyperAMN, create_model
from keras_engram.src.layers.memory_native.hyper_amn_cell import HEAD_DECAYS

F, H, O, M, J = 3, 5, 2, 3, 3

CONFIGS = {"corrected": {}, "legacy": {"legacy": True}}
RANGES = {"eigenvalues": (0.6, 0.99), "rigidity": (0.2, 1.0), "fluidity": (0.1, 0.7)}

REF_NAMES = {
    "input_kernel": "B_in", "eigenvalues": "lam", "rigidity": "A", "fluidity": "B",
    "key_kernel": "K", "value_kernel": "V", "query_kernel": "Q", "gate_kernel": "G",
    "gate_input_kernel": "G_x", "cross_head_kernel": "X", "output_kernel": "C",
    "skip_kernel": "D",
}


def _w(variable):
    return to_numpy(variable).astype(np.float64)


def reference_params(cell):
    """A built `HyperAMNCell`'s weights under the reference's names."""
    p = {key: _w(getattr(cell, name)) for name, key in REF_NAMES.items() if name != "gate_input_kernel"}
    if not cell.legacy:
        p["G_x"] = _w(cell.gate_input_kernel)
    p.update(legacy=cell.legacy, dt=cell.dt, gamma=np.array(HEAD_DECAYS))
    return p


def step_with_gate(p, x, state):
    """The reference step, plus the gate of the step (the cell's last state)."""
    gate = ref.hyper_amn_head_activations(p, x, state[2])
    y, new = ref.hyper_amn_step(p, x, state[:4])
    return y, new + (gate,)


def reference_sequence(cell, x, states=None, mask=None):
    p = reference_params(cell)
    if states is None:
        states = [np.zeros((x.shape[0], size)) for size in cell.state_size]
    return ref.run(step_with_gate, p, x, states, mask)


def randomize(cell, rng):
    """Non-trivial values for every weight of a built cell (rates in their range)."""
    for variable in cell.weights:
        shape = tuple(variable.shape)
        if variable.name in RANGES:
            value = rng.uniform(*RANGES[variable.name], shape)
        elif variable.name == "cross_head_kernel":
            value = np.eye(J) + rng.normal(0.0, 0.3, shape)
        elif len(shape) >= 2:
            value = rng.normal(0.0, 1.5 / np.sqrt(shape[-2]), shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        variable.assign(value.astype("float32"))


def make(config, rng, **kwargs):
    layer = HyperAMNLayer(H, O, memory_size=M, seed=3, **CONFIGS[config], **kwargs)
    layer.build((None, None, F))
    randomize(layer.cell, rng)
    return layer


def close(actual, expected, tol=1e-5):
    actual = np.asarray(to_numpy(actual), np.float64)
    scale = max(np.abs(expected).max(), 1.0)
    assert np.abs(actual - expected).max() <= tol * scale, np.abs(actual - expected).max()


def random_states(cell, batch, rng):
    states = [rng.normal(0, 0.5, (batch, size)).astype("float32") for size in cell.state_size]
    states[-1] = rng.dirichlet(np.ones(J), batch).astype("float32")  # a gate
    return states


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


def test_the_legacy_gate_is_uniform_after_a_reset_and_the_corrected_one_sees_the_input():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(2, 1, F)).astype("float32")
    gates = {}
    for config in CONFIGS:
        layer = make(config, rng, return_state=True)
        gates[config] = to_numpy(layer(x)[-1])
    np.testing.assert_allclose(gates["legacy"], 1.0 / 3.0, rtol=1e-6)
    assert np.abs(gates["corrected"] - 1.0 / 3.0).max() > 1e-3
    assert np.abs(gates["corrected"][0] - gates["corrected"][1]).max() > 1e-4


@pytest.mark.parametrize("config", list(CONFIGS))
def test_gradients_match_finite_differences_of_the_reference(config):
    rng = np.random.default_rng(21)
    B, T = 2, 4
    layer = HyperAMNLayer(4, O, memory_size=2, return_sequences=True, return_state=True,
                          **CONFIGS[config])
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
    zeros = [np.zeros((B, size)) for size in cell.state_size]

    def reference_loss(x, *values):
        p = dict(params, **{REF_NAMES[n]: v for n, v in zip(names, values)})
        out, states = ref.run(step_with_gate, p, x, zeros, mask)
        terms = [(out, weights_out)] + list(zip(states, weights_states))
        return sum(np.sum(t * w) for t, w in terms)

    expected = central_differences(reference_loss, [x] + [to_numpy(v) for v in variables])
    for name, got, want in zip(["x"] + names, [grad_x] + grad_weights, expected):
        scale = max(np.abs(want).max(), 1e-3)
        assert np.abs(got - want).max() <= 2e-5 * scale, (name, np.abs(got - want).max(), scale)
        assert np.abs(got).max() > 0, name  # the gradient reaches every trainable weight


# --- trainable sets, stability, Keras integration --------------------------------------


def test_trainable_weights_per_mode():
    names = set(REF_NAMES)
    for legacy in (False, True):
        expected = names - {"gate_input_kernel"} if legacy else names
        cell = HyperAMNCell(4, 1, memory_size=2, legacy=legacy)
        cell.build((None, 2))
        assert {w.name for w in cell.trainable_weights} == expected
        reservoir = HyperAMNCell(4, 1, memory_size=2, legacy=legacy, readout_only=True)
        reservoir.build((None, 2))
        assert {w.name for w in reservoir.trainable_weights} == {"output_kernel"}
        assert {w.name for w in reservoir.weights} == expected


def test_initial_weights_follow_the_original_ranges():
    cell = HyperAMNCell(64, 1, memory_size=2, seed=0)
    cell.build((None, 2))
    lows = np.array([0.3, 0.5, 0.7])
    rigidity = to_numpy(cell.rigidity)
    assert (rigidity.min(1) >= lows).all() and (rigidity.max(1) <= lows + 0.3).all()
    fluidity = to_numpy(cell.fluidity)
    assert (fluidity.min(1) >= [0.3, 0.2, 0.1]).all() and (fluidity.max(1) <= [0.7, 0.5, 0.3]).all()
    cross = to_numpy(cell.cross_head_kernel)
    np.testing.assert_array_equal(np.diag(cross), 1.0)
    assert 0 < np.abs(cross - np.eye(3)).max() < 0.5
    eigenvalues = to_numpy(cell.eigenvalues)
    assert eigenvalues.min() >= 0.95 and eigenvalues.max() <= 0.99


@pytest.mark.large  # TensorFlow eager runs the 10,000 steps as a Python loop (~25-50 s)
@pytest.mark.parametrize("config", list(CONFIGS))
def test_ten_thousand_steps_stay_finite(config):
    x = 3.0 * np.sin(np.arange(10000, dtype="float32") / 7.0)[None, :, None]
    layer = HyperAMNLayer(16, 1, memory_size=8, seed=1, return_sequences=True, return_state=True,
                          **CONFIGS[config])
    values = [to_numpy(v) for v in layer(x)]
    for value in values:
        assert np.isfinite(value).all()
    assert np.abs(values[2]).max() < 100.0  # the head states stay bounded


def test_stateful_memory_carries_resets_and_round_trips(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 8, F)).astype("float32")
    whole = make("corrected", rng, return_sequences=True)
    expected = to_numpy(whole(x))
    layer = HyperAMNLayer(H, O, memory_size=M, stateful=True, save_memory=True,
                          return_sequences=True)
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
    layer.reset_memory()
    for state in layer.get_memory_state():
        np.testing.assert_array_equal(state, 0.0)
    np.testing.assert_allclose(to_numpy(model(x[:, :5])), expected[:, :5], rtol=1e-5, atol=1e-6)
    assert np.abs(to_numpy(model(x[:, :5])) - expected[:, :5]).max() > 1e-4


@pytest.mark.parametrize("config", list(CONFIGS))
def test_config_round_trip_and_keras_file(config, tmp_path):
    rng = np.random.default_rng(12)
    layer = make(config, rng, return_sequences=True, readout_only=config == "legacy")
    config_dict = layer.get_config()
    assert "cell" not in config_dict and config_dict["legacy"] is (config == "legacy")
    assert type(layer).from_config(config_dict).get_config() == config_dict
    cell_config = layer.cell.get_config()
    assert HyperAMNCell.from_config(cell_config).get_config() == cell_config
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
        ({"output_units": 1.5}, TypeError),
        ({"memory_size": -2}, ValueError),
        ({"dt": 0.0}, ValueError),
        ({"dt": "0.1"}, TypeError),
        ({"readout_only": 0}, TypeError),
        ({"legacy": "yes"}, TypeError),
        ({"seed": 1.5}, TypeError),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        HyperAMNCell(**{"units": 4, "output_units": 1, **kwargs})


# --- the estimator ---------------------------------------------------------------------


def series(n, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    X = np.stack([np.sin(t / 5), np.cos(t / 7), 0.3 * rng.normal(size=n)], axis=1).astype("float32")
    y = (0.5 * np.sin((t + 1) / 5) + 0.2 * X[:, 2]).astype("float32")
    return X, y


def small(seed=0, **kwargs):
    return HyperAMN(3, 8, 1, manifold_size=4, random_state=seed, **kwargs)


def test_estimator_memory_carries_resets_and_predict_leaves_weights(tmp_path):
    X, y = series(120)
    model = small()
    model.fit(X[:80], y[:80], epochs=1)
    weights = [w.copy() for w in model.cell.get_weights()]
    fresh = model.predict(X[60:])  # predict resets by default, as the original's
    model.predict(X[:60])
    np.testing.assert_array_equal(model.predict(X[60:]), fresh)
    model.predict(X[:60])
    carried = model.predict(X[60:], reset_memory=False)
    assert np.abs(carried - fresh).max() > 1e-4  # a past input changes later outputs
    gate = model.get_head_activations()
    assert gate.shape == (3,) and abs(gate.sum() - 1.0) < 1e-5 and gate.min() > 0
    energies = [model.get_manifold_energy(j) for j in range(3)]
    assert min(energies) > 0
    np.testing.assert_allclose(model.avg_manifold_energy, energies)
    np.testing.assert_allclose(
        energies[HyperAMN.MANIFOLD_LOGICAL],
        np.mean(model.get_manifold_state()[2].astype(np.float64) ** 2),
    )
    model.reset_memory()
    np.testing.assert_array_equal(model.get_head_activations(), 0.0)
    assert max(model.get_manifold_energy(j) for j in range(3)) == 0.0
    for a, b in zip(model.cell.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
    # forward: one sample, carrying the memory.
    out = model.forward(X[0])
    assert out.shape == (1,) and model.get_head_activations().sum() > 0
    with pytest.raises(ValueError, match="x"):
        model.forward(X[:2])
    with pytest.raises(ValueError, match="head"):
        model.get_manifold_energy(3)
    with pytest.raises(TypeError, match="head"):
        model.get_manifold_energy("0")
    cross = to_numpy(model.cell.cross_head_kernel)
    assert model.get_cross_head_flow() == pytest.approx(np.abs(cross[~np.eye(3, dtype=bool)]).mean())
    # Save / load: weights, memory and predictions bit for bit.
    model.predict(X[:30])
    path = str(tmp_path / "hyper.keras")
    model.save(path)
    expected = model.predict(X[30:], reset_memory=False)
    other = small(seed=5).load(path)
    np.testing.assert_array_equal(other.predict(X[30:], reset_memory=False), expected)


def test_create_model_knows_hyper_amn():
    model = create_model("Hyper_AMN", input_size=2, hidden_size=4, output_size=1, readout_only=True)
    assert isinstance(model, HyperAMN) and model.readout_only
    assert HyperAMN.NUM_HEADS == 3 and HyperAMN.MANIFOLD_EMOTIONAL == 1


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
        model = HyperAMN(1, 16, 1, manifold_size=4, random_state=seed, readout_only=readout_only,
                         learning_rate=0.05)
        model.fit(x, y, epochs=40, batch_size=32)
        errors[readout_only] = float(np.mean((model.predict(x_test)[:, 3:] - y_test[:, 3:]) ** 2))
    message = f"seed {seed}: test MSE BPTT {errors[False]:.4f}, readout only {errors[True]:.4f}"
    assert errors[False] < 0.5 * errors[True], message
