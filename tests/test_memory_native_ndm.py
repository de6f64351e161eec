"""The NDM cell, layer and estimator (three variants).

The forward steps (corrected and legacy, every variant) are compared with the
float64 NumPy reference `memory_native_reference_sgw_ndm.py`, written from the
specification by another author; the other tests check the fast-weight
contract (no call changes a weight), memory carry and reset, gradients,
long-run finiteness, learning beyond the readout-only regime, the estimator
API and argument errors.
"""

import keras
import numpy as np
import pytest

import memory_native_reference_sgw_ndm as ref
from helpers import autodiff_gradients, to_numpy
from keras_engram.layers import NDM, NDMCell
from keras_engram.memory_native import NeuralDifferentialManifold, create_model

F, H, O, M = 3, 5, 2, 4
VARIANTS = ("ndm", "clamped", "momentum")


def randomize(cell, rng):
    """Non-trivial values for every weight of a built NDM cell (plasticity in (0, 1])."""
    for variable in cell.weights:
        shape = tuple(variable.shape)
        if "plasticity" in variable.name:
            value = rng.uniform(0.3, 1.0, shape)
        else:
            value = rng.normal(0.0, 1.2 / np.sqrt(shape[0]), shape)
        variable.assign(value.astype("float32"))


def make(variant, legacy=False, rng=None, **kwargs):
    layer = NDM(H, O, memory_size=M, variant=variant, legacy=legacy, seed=3, **kwargs)
    layer.build((None, None, F))
    if rng is not None:
        randomize(layer.cell, rng)
    return layer


def weights_of(cell):
    return {w.name: to_numpy(w).copy() for w in cell.weights}


def _w(variable):
    return to_numpy(variable).astype(np.float64)


def ref_params(cell):
    """The cell's weights and settings under the reference's names."""
    p = dict(
        variant=cell.variant, legacy=cell.legacy, W_in=_w(cell.input_kernel),
        W_h=_w(cell.recurrent_kernel), W_out=_w(cell.output_kernel), K=_w(cell.key_kernel),
        V=_w(cell.value_kernel), Q=_w(cell.query_kernel), P_in=_w(cell.input_plasticity),
        P_h=_w(cell.recurrent_plasticity), dt=cell.dt, lam=cell.weight_decay,
        eta=cell.hebbian_strength, kappa=cell.trace_decay, gamma=cell.memory_decay,
        delta=cell.plasticity_decay,
    )
    if cell.variant == "momentum":
        p.update(mu=cell.momentum, base_plasticity=cell.base_plasticity)
    return p


def to_ref_states(cell, states):
    """The cell's states in the reference's order (the step count as the decay factor `c`)."""
    s = {name: np.asarray(to_numpy(v), np.float64) for name, v in zip(cell.state_names, states)}
    names = ["output", "hidden", "pre_trace", "post_trace", "input_fast_weights",
             "recurrent_fast_weights"]
    names += {"ndm": ["manifold"], "clamped": [],
              "momentum": ["input_velocity", "recurrent_velocity"]}[cell.variant]
    return [s[n] for n in names] + [cell.plasticity_decay ** s["steps"]]


def random_states(cell, batch, rng):
    states = []
    for name, size in zip(cell.state_names, cell.state_size):
        if name == "steps":
            value = rng.integers(0, 50, (batch, 1)).astype("float64")
        elif name in ("pre_trace", "post_trace"):
            value = rng.uniform(0.0, 1.0, (batch, size))
        elif name == "manifold" and cell.variant != "ndm":
            value = np.zeros((batch, size))  # the reference has no manifold for these variants
        else:
            value = rng.normal(0.0, 0.4, (batch, size))
        states.append(value.astype("float32"))
    return states


def close(actual, expected, tol=1e-5, what=""):
    actual = np.asarray(to_numpy(actual), np.float64)
    scale = max(np.abs(expected).max(), 1.0)
    error = np.abs(actual - expected).max()
    assert error <= tol * scale, (what, error, scale)


def prepare_for_reference(layer):
    """The reference's corrected clamped / momentum steps do not write the manifold: V = 0 there."""
    cell = layer.cell
    if not cell.legacy and cell.variant != "ndm":
        cell.value_kernel.assign(np.zeros(cell.value_kernel.shape, "float32"))


# --- against the reference ----------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True], ids=["corrected", "legacy"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_matches_the_reference(variant, legacy):
    rng = np.random.default_rng(11)
    layer = make(variant, legacy=legacy, rng=rng, return_sequences=True, return_state=True)
    prepare_for_reference(layer)
    cell = layer.cell
    x = (1.5 * rng.normal(size=(3, 8, F))).astype("float32")
    mask = rng.uniform(size=(3, 8)) > 0.3
    mask[0] = False
    states = random_states(cell, 3, rng)
    out, *finals = layer(x, mask=mask, initial_state=states)
    r_out, r_finals = ref.run(ref.ndm_step, ref_params(cell), x, to_ref_states(cell, states), mask)
    close(out, r_out, what="output")
    for name, got, want in zip(cell.state_names, to_ref_states(cell, finals), r_finals):
        close(got, want, what=name)
    if not legacy and variant != "ndm":  # V = 0: the manifold stays zero
        np.testing.assert_array_equal(to_numpy(dict(zip(cell.state_names, finals))["manifold"]), 0.0)
    if legacy:
        return
    # Keras's own RNN, from zero states (the reference's fresh state).
    rnn = keras.layers.RNN(cell, return_sequences=True)
    zero = ref.ndm_initial_state(ref_params(cell), 3)
    close(rnn(x, mask=mask), ref.run(ref.ndm_step, ref_params(cell), x, zero, mask)[0])


@pytest.mark.parametrize("legacy", [False, True], ids=["corrected", "legacy"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_a_step_and_its_statistics_match_the_reference(variant, legacy):
    rng = np.random.default_rng(12)
    layer = make(variant, legacy=legacy, rng=rng)
    prepare_for_reference(layer)
    cell = layer.cell
    x = rng.normal(size=(2, F)).astype("float32")
    states = random_states(cell, 2, rng)
    _, new = cell(x, states)
    new_named = dict(zip(cell.state_names, new))
    p = ref_params(cell)
    for b in range(2):
        aux = {}
        _, r_new = ref.ndm_step(p, x[b], tuple(s[b] for s in to_ref_states(cell, states)), aux)
        for name, got, want in zip(cell.state_names, to_ref_states(cell, [s[b : b + 1] for s in new]),
                                   r_new):
            close(got[0], want, what=name)
        close(new_named["weight_velocity"][b, 0], aux["velocity"], what="velocity")


def test_go_backwards_runs_the_reversed_sequence():
    rng = np.random.default_rng(13)
    layer = make("momentum", rng=rng, return_sequences=True, go_backwards=True)
    prepare_for_reference(layer)
    x = rng.normal(size=(2, 5, F)).astype("float32")
    p = ref_params(layer.cell)
    close(layer(x), ref.run(ref.ndm_step, p, x[:, ::-1], ref.ndm_initial_state(p, 2))[0])


def test_the_corrected_manifold_write_of_every_variant_is_the_ndm_write():
    """Corrected clamped / momentum write the manifold as the corrected "ndm" step does."""
    rng = np.random.default_rng(14)
    x = rng.normal(size=(1, 6, F)).astype("float32")
    manifolds = {}
    for variant in VARIANTS:
        layer = NDM(H, O, memory_size=M, variant=variant, return_state=True, dt=0.1,
                    hebbian_strength=0.0, weight_decay=0.0)
        layer.build((None, None, F))
        randomize(layer.cell, np.random.default_rng(15))
        states = dict(zip(layer.cell.state_names, layer(x)[1:]))
        manifolds[variant] = to_numpy(states["manifold"])
    # Without Hebbian change the three variants differ only in the clamped bounds.
    np.testing.assert_allclose(manifolds["momentum"], manifolds["ndm"], rtol=1e-6, atol=1e-7)
    assert np.abs(manifolds["clamped"]).max() > 0


# --- the layer -----------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_layout_and_fast_weights_start_at_zero(variant):
    layer = make(variant)
    cell = layer.cell
    names = cell.state_names
    assert names[:6] == ["output", "hidden", "pre_trace", "post_trace", "input_fast_weights",
                         "recurrent_fast_weights"]
    assert ("input_velocity" in names) is (variant == "momentum")
    sizes = dict(zip(names, cell.state_size))
    assert sizes["input_fast_weights"] == F * H and sizes["recurrent_fast_weights"] == H * H
    assert sizes["manifold"] == M * H and sizes["steps"] == 1
    for state in cell.get_initial_state(2):
        np.testing.assert_array_equal(to_numpy(state), 0.0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_call_changes_no_weight_and_legacy_clamped_and_momentum_write_no_manifold(variant):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 7, F)).astype("float32")
    for legacy in (False, True):
        layer = make(variant, legacy=legacy, rng=np.random.default_rng(2), return_state=True)
        before = weights_of(layer.cell)
        _, *states = layer(x, training=True)
        for name, value in weights_of(layer.cell).items():
            np.testing.assert_array_equal(value, before[name], err_msg=name)
        state = dict(zip(layer.cell.state_names, states))
        assert np.abs(to_numpy(state["input_fast_weights"])).max() > 0
        assert np.abs(to_numpy(state["recurrent_fast_weights"])).max() > 0
        np.testing.assert_array_equal(to_numpy(state["steps"]), 7.0)
        assert (to_numpy(state["weight_velocity"]) > 0).all()
        silent = legacy and variant != "ndm"
        assert bool(np.abs(to_numpy(state["manifold"])).max() == 0.0) is silent, (variant, legacy)


def test_clamped_bounds_hold_for_large_inputs():
    rng = np.random.default_rng(3)
    layer = make("clamped", rng=rng, return_sequences=True, return_state=True)
    x = 50.0 * rng.normal(size=(2, 30, F)).astype("float32")
    out, *states = layer(x)
    state = dict(zip(layer.cell.state_names, states))
    assert np.abs(to_numpy(out)).max() <= 20.0
    assert np.abs(to_numpy(state["hidden"])).max() <= 5.0
    assert to_numpy(state["pre_trace"]).max() <= 2.0 and to_numpy(state["post_trace"]).max() <= 2.0
    for name, kernel in (("input_fast_weights", "input_kernel"),
                         ("recurrent_fast_weights", "recurrent_kernel")):
        base = to_numpy(getattr(layer.cell, kernel)).reshape(1, -1)
        assert np.abs(to_numpy(state[name]) + base).max() <= 10.0 + 1e-5


def test_stateful_memory_carries_resets_and_round_trips(tmp_path):
    variant = "momentum"  # the most states
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 8, F)).astype("float32")
    whole = make(variant, rng=rng, return_sequences=True)
    expected = to_numpy(whole(x))
    layer = NDM(H, O, memory_size=M, variant=variant, stateful=True, save_memory=True,
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
    # A past input changes later outputs; reset_memory removes the effect.
    layer.reset_memory()
    for state in layer.get_memory_state():
        np.testing.assert_array_equal(state, 0.0)
    np.testing.assert_allclose(to_numpy(model(x[:, :5])), expected[:, :5], rtol=1e-5, atol=1e-6)
    assert np.abs(to_numpy(model(x[:, :5])) - expected[:, :5]).max() > 1e-4


@pytest.mark.parametrize("variant, legacy", [("ndm", False), ("clamped", True), ("momentum", False)])
def test_config_round_trip_and_keras_file(variant, legacy, tmp_path):
    rng = np.random.default_rng(5)
    layer = make(variant, legacy=legacy, rng=rng, return_sequences=True,
                 differentiable_plasticity=legacy)
    config = layer.get_config()
    assert "cell" not in config and config["variant"] == variant and config["legacy"] is legacy
    assert type(layer).from_config(config).get_config() == config
    cell_config = layer.cell.get_config()
    assert NDMCell.from_config(cell_config).get_config() == cell_config
    inputs = keras.Input((None, F))
    model = keras.Model(inputs, layer(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)
    x = rng.normal(size=(2, 4, F)).astype("float32")
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)), to_numpy(model(x)))


def test_keras_rnn_runs_the_cell_with_input_units():
    rng = np.random.default_rng(6)
    layer = make("ndm", rng=rng, return_sequences=True)
    cell = NDMCell(H, O, memory_size=M, input_units=F)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    x = rng.normal(size=(2, 5, F)).astype("float32")
    rnn(x)
    cell.set_weights(layer.cell.get_weights())
    np.testing.assert_allclose(to_numpy(rnn(x)), to_numpy(layer(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="input_units"):
        keras.layers.RNN(NDMCell(H, O))


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, differentiable", [("ndm", False), ("clamped", True), ("momentum", False)]
)
def test_gradients_reach_every_trainable_weight(variant, differentiable):
    rng = np.random.default_rng(7)
    layer = make(variant, rng=rng, return_sequences=True,
                 differentiable_plasticity=differentiable)
    x = rng.normal(size=(2, 6, F)).astype("float32")
    target = keras.ops.convert_to_tensor(rng.normal(size=(2, 6, O)).astype("float32"))
    variables = list(layer.cell.trainable_weights)
    assert {v.name for v in variables} == {
        "input_kernel", "recurrent_kernel", "output_kernel", "query_kernel", "key_kernel",
        "value_kernel",
    }
    grads, _ = autodiff_gradients(
        lambda x: keras.ops.sum((layer(x) - target) ** 2), variables, [x]
    )
    for variable, grad in zip(variables, grads):
        assert np.isfinite(grad).all() and np.abs(grad).max() > 0, variable.name


def test_differentiable_plasticity_changes_the_gradient_not_the_forward():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 6, F)).astype("float32")
    results = {}
    for differentiable in (False, True):
        layer = make("ndm", rng=np.random.default_rng(9), return_sequences=True,
                     differentiable_plasticity=differentiable, hebbian_strength=2.0)
        (grad,), _ = autodiff_gradients(
            lambda x: keras.ops.sum(layer(x) ** 2), [layer.cell.input_kernel], [x]
        )
        results[differentiable] = (to_numpy(layer(x)), grad)
    np.testing.assert_array_equal(results[False][0], results[True][0])
    assert np.abs(results[False][1] - results[True][1]).max() > 1e-6


def test_readout_only_trains_only_the_readout():
    layer = make("ndm", readout_only=True)
    assert [w.name for w in layer.cell.trainable_weights] == ["output_kernel"]
    assert {w.name for w in layer.cell.non_trainable_weights} >= {
        "input_kernel", "recurrent_kernel", "query_kernel", "key_kernel", "value_kernel",
        "input_plasticity", "recurrent_plasticity",
    }


# --- long runs ----------------------------------------------------------------------------


@pytest.mark.large
@pytest.mark.parametrize("variant", VARIANTS)
def test_ten_thousand_steps_stay_finite(variant):
    x = (3.0 * np.sin(np.arange(10000, dtype="float32") / 7.0))[None, :, None]
    x = np.concatenate([x, np.cos(x), -x], axis=-1)
    layer = NDM(4, 1, memory_size=3, variant=variant, seed=1, return_sequences=True,
                return_state=True)
    out, *states = layer(x)
    assert np.isfinite(to_numpy(out)).all(), variant
    for name, state in zip(layer.cell.state_names, states):
        assert np.isfinite(to_numpy(state)).all(), (variant, name)


# --- the estimator ---------------------------------------------------------------------------


def sine_task(n=600, seed=42):
    """The originals' test_pmrc / test_amn data: 5 inputs, one target."""
    rng = np.random.default_rng(seed)
    tau = np.linspace(0, 12, n)
    X = np.stack(
        [np.sin(tau), np.cos(0.5 * tau), np.tanh(tau / 3), 0.05 * rng.normal(size=n),
         np.roll(np.sin(tau), 1)], axis=1,
    ).astype("float32")
    y = (0.7 * np.sin(tau) - 0.4 * np.cos(0.5 * tau) + 0.3 * np.sin(0.2 * tau)).astype("float32")
    return X, y


def small(variant="ndm", seed=0, **kwargs):
    return NeuralDifferentialManifold(5, 6, 1, manifold_size=3, variant=variant,
                                      random_state=seed, **kwargs)


@pytest.mark.parametrize("variant", VARIANTS)
def test_predict_changes_no_weight_and_fit_boosts_the_plasticity(variant):
    X, y = sine_task(160)
    model = small(variant)
    before = weights_of(model.cell)
    model.predict(X)
    model.predict(X[:20], reset_memory=False)
    for name, value in weights_of(model.cell).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    model.reset_memory()
    start = model.get_avg_plasticity()
    model.fit(X, y, epochs=2)
    model.reset_memory()
    if variant == "momentum":  # starts at the cap, 1
        assert start == model.get_avg_plasticity() == 1.0
    else:
        assert model.get_avg_plasticity() > start  # the loss-driven boost
    assert len(model.get_plasticity_history()) == 2 and len(model.get_velocity_history()) == 2
    trained = weights_of(model.cell)
    assert np.abs(trained["input_kernel"] - before["input_kernel"]).max() > 0


def test_memory_carries_across_predict_calls_and_reset_removes_it():
    X, _ = sine_task(120)
    model = small()
    model.predict(X[:60])
    carried = model.predict(X[60:], reset_memory=False)
    fresh = model.predict(X[60:])  # resets first by default
    assert np.abs(carried - fresh).max() > 1e-4
    model.predict(X[:30] * 3.0)
    model.reset_memory()
    np.testing.assert_array_equal(model.predict(X[60:], reset_memory=False), fresh)
    model.reset_memory()
    for state in model.get_memory_state():
        np.testing.assert_array_equal(state, 0.0)
    assert model.get_avg_weight_velocity() == 0.0 and model.get_avg_manifold_energy() == 0.0


def test_statistics_follow_the_spec_and_reset_with_the_memory():
    X, _ = sine_task(50)
    model = small()
    plasticity = np.concatenate([to_numpy(model.cell.input_plasticity).ravel(),
                                 to_numpy(model.cell.recurrent_plasticity).ravel()])
    assert abs(model.get_avg_plasticity() - plasticity.mean()) < 1e-6
    model.predict(X)
    assert abs(model.avg_plasticity - plasticity.mean() * 0.999**50) < 1e-6
    assert model.avg_weight_velocity > 0 and model.avg_manifold_energy > 0
    manifold = model.get_manifold_state()
    assert manifold.shape == (3, 6)
    assert abs(model.avg_manifold_energy - np.mean(manifold**2)) < 1e-6
    model.reset_memory()
    assert abs(model.avg_plasticity - plasticity.mean()) < 1e-6


def test_consolidation_folds_the_fast_weights_without_changing_the_outputs():
    X, y = sine_task(80)
    model = small()
    model.predict(X[:40])
    fast = model.get_memory_state()[4].reshape(5, 6)
    kernel = to_numpy(model.cell.input_kernel).copy()
    expected = model.predict(X[40:], reset_memory=False)
    model.predict(X[:40])
    model.consolidate_memory()
    np.testing.assert_allclose(to_numpy(model.cell.input_kernel), kernel + fast, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.predict(X[40:], reset_memory=False), expected,
                               rtol=1e-4, atol=1e-5)
    consolidating = small(consolidate=True)
    consolidating.fit(X, y, epochs=1)
    assert consolidating.get_memory_state()[4].max() == 0.0


def test_save_and_load_reproduce_predictions_bit_for_bit(tmp_path):
    X, y = sine_task(120)
    model = small("momentum")
    model.fit(X[:100], y[:100], epochs=1)
    model.predict(X[100:110], reset_memory=False)
    path = str(tmp_path / "ndm.keras")
    model.save(path)
    expected = model.predict(X[110:], reset_memory=False)
    other = small("momentum", seed=5).load(path)
    np.testing.assert_array_equal(other.predict(X[110:], reset_memory=False), expected)
    assert other.variant == "momentum"


def test_score_metrics_and_create_model():
    X, y = sine_task(60)
    model = create_model("NDM_clamped", input_size=5, hidden_size=4, output_size=1,
                         manifold_size=2)
    assert isinstance(model, NeuralDifferentialManifold) and model.cell.variant == "clamped"
    mse = model.score(X, y, metric="mse")
    predicted = model.predict(X)[:, 0]
    assert abs(mse - np.mean((predicted - y) ** 2)) < 1e-6
    assert abs(model.score(X, y, metric="mae") - np.mean(np.abs(predicted - y))) < 1e-6
    assert model.score(X, y) == pytest.approx(1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2), abs=1e-6)
    with pytest.raises(ValueError, match="metric"):
        model.score(X, y, metric="r3")
    assert create_model("ndm_momentum", input_size=2, hidden_size=3, output_size=1).variant == "momentum"


def delayed_recall(n, delay, seed):
    """x_t ~ U(-1, 1); the target is x_{t - delay} (zero before)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 1)).astype("float32")
    y = np.concatenate([np.zeros((delay, 1), "float32"), x[:-delay]])
    return x, y


@pytest.mark.large
@pytest.mark.parametrize("variant", VARIANTS)
def test_training_every_weight_beats_the_readout_only_regime_on_delayed_recall(variant):
    scores = {}
    for seed in range(3):
        x, y = delayed_recall(640, 1, seed)
        for readout_only in (False, True):
            model = NeuralDifferentialManifold(1, 8, 1, manifold_size=4, variant=variant,
                                               random_state=seed, readout_only=readout_only,
                                               learning_rate=0.03, window=16)
            model.fit(x[:512], y[:512], epochs=12, batch_size=8)
            scores[seed, readout_only] = model.score(x[512:], y[512:])
    for seed in range(3):
        full, reservoir = scores[seed, False], scores[seed, True]
        assert full > reservoir + 0.05, (
            f"{variant} seed {seed}: R^2 all weights {full:.3f}, readout only {reservoir:.3f}"
        )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"units": 0}, ValueError),
        ({"units": 2.5}, TypeError),
        ({"variant": "fast"}, ValueError),
        ({"variant": 1}, TypeError),
        ({"dt": 0.0}, ValueError),
        ({"hebbian_strength": -1.0}, ValueError),
        ({"trace_decay": 1.5}, ValueError),
        ({"momentum": 1.0}, ValueError),
        ({"differentiable_plasticity": 1}, TypeError),
        ({"readout_only": "no"}, TypeError),
        ({"input_units": 0}, ValueError),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error):
    arguments = {"units": 4, "output_units": 1, "input_units": 2, **kwargs}
    with pytest.raises(error, match=next(iter(kwargs))):
        NDMCell(**arguments)
    with pytest.raises((ValueError, TypeError), match="manifold_size"):
        NeuralDifferentialManifold(2, 4, 1, manifold_size=0)
