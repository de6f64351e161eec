"""The SGW-AMN cell, layer and estimator.

The forward steps (corrected and legacy, both routings) are compared with the
float64 NumPy reference `memory_native_reference_sgw_ndm.py`, written from the
specification by another author; the other tests check the workspace's
memory, the sparsity loss, gradients (routing through the top-k included),
long-run finiteness, learning beyond the readout-only regime, the estimator
API and argument errors.
"""

import keras
import numpy as np
import pytest

import memory_native_reference_sgw_ndm as ref
from helpers import autodiff_gradients, to_numpy
from keras_engram.layers import SGWAMN, SGWAMNCell
from keras_engram.memory_native import SparseGlobalWorkspace, create_model

F, PRE, WS, POST, O, M = 3, 7, 3, 5, 2, 4


def randomize(cell, rng):
    """Non-trivial values for every weight of a built SGW-AMN cell (time constants in range)."""
    for variable in cell.weights:
        shape = tuple(variable.shape)
        if variable.name == "rigidity":
            value = rng.uniform(0.5, 0.8, shape)
        elif variable.name == "fluidity":
            value = rng.uniform(0.2, 0.5, shape)
        else:
            value = rng.normal(0.0, 1.5 / np.sqrt(shape[0]), shape)
        variable.assign(value.astype("float32"))


def make(legacy=False, rng=None, **kwargs):
    layer = SGWAMN(POST, O, pre_units=PRE, workspace_units=WS, memory_size=M, legacy=legacy,
                   seed=3, **kwargs)
    layer.build((None, None, F))
    if rng is not None:
        randomize(layer.cell, rng)
    return layer


def _w(variable):
    return to_numpy(variable).astype(np.float64)


def ref_params(cell):
    """The cell's weights and settings under the reference's names."""
    return dict(
        legacy=cell.legacy, W_pre=_w(cell.pre_kernel), W_c=_w(cell.competition_kernel),
        A=_w(cell.rigidity), B=_w(cell.fluidity), W_post=_w(cell.post_kernel),
        K=_w(cell.key_kernel), V=_w(cell.value_kernel), Q=_w(cell.query_kernel),
        W_out=_w(cell.output_kernel), T=cell.temperature, dt=cell.dt, gamma=cell.memory_decay,
        wm_decay=cell.workspace_decay, mix=0.7,
        routing="weighted" if cell.routing == "weighted" and not cell.legacy else "hard",
    )


def to_ref_states(cell, states):
    s = {name: np.asarray(to_numpy(v), np.float64) for name, v in zip(cell.state_names, states)}
    names = ["output", "workspace_matrix", "manifold"] + ([] if cell.legacy else ["workspace"])
    return [s[n] for n in names]


def random_states(cell, batch, rng):
    states = []
    for name, size in zip(cell.state_names, cell.state_size):
        value = rng.normal(0.0, 0.4, (batch, size))
        if name == "workspace_matrix":  # symmetric, as every written one
            square = value.reshape(batch, WS, WS)
            value = (0.5 * (square + square.transpose(0, 2, 1))).reshape(batch, -1)
        states.append(value.astype("float32"))
    return states


def close(actual, expected, tol=1e-5, what=""):
    actual = np.asarray(to_numpy(actual), np.float64)
    scale = max(np.abs(expected).max(), 1.0)
    error = np.abs(actual - expected).max()
    assert error <= tol * scale, (what, error, scale)


CONFIGS = {
    "corrected": dict(legacy=False),
    "weighted": dict(legacy=False, routing="weighted"),
    "legacy": dict(legacy=True),
}


# --- against the reference ----------------------------------------------------------------


@pytest.mark.parametrize("config", list(CONFIGS))
def test_layer_matches_the_reference(config):
    rng = np.random.default_rng(21)
    layer = make(rng=rng, return_sequences=True, return_state=True, **CONFIGS[config])
    cell = layer.cell
    x = rng.normal(size=(3, 8, F)).astype("float32")
    mask = rng.uniform(size=(3, 8)) > 0.3
    mask[0] = False
    states = random_states(cell, 3, rng)
    out, *finals = layer(x, mask=mask, initial_state=states)
    p = ref_params(cell)
    r_out, r_finals = ref.run(ref.sgw_step, p, x, to_ref_states(cell, states), mask)
    close(out, r_out, what="output")
    for got, want in zip(to_ref_states(cell, finals), r_finals):
        close(got, want)
    rnn = keras.layers.RNN(cell, return_sequences=True)
    close(rnn(x, mask=mask), ref.run(ref.sgw_step, p, x, ref.sgw_initial_state(p, 3), mask)[0])


@pytest.mark.parametrize("config", list(CONFIGS))
def test_a_step_and_its_statistics_match_the_reference(config):
    rng = np.random.default_rng(22)
    layer = make(rng=rng, **CONFIGS[config])
    cell = layer.cell
    x = rng.normal(size=(2, F)).astype("float32")
    states = random_states(cell, 2, rng)
    _, new = cell(x, states)
    named = dict(zip(cell.state_names, new))
    p = ref_params(cell)
    for b in range(2):
        aux = {}
        _, r_new = ref.sgw_step(p, x[b], tuple(s[b] for s in to_ref_states(cell, states)), aux)
        for got, want in zip(to_ref_states(cell, [s[b : b + 1] for s in new]), r_new):
            close(got[0], want)
        close(named["entropy"][b, 0], aux["entropy"], what="entropy")
        close(named["density"][b, 0], aux["sparsity"], what="sparsity")


def test_go_backwards_and_the_sparsity_loss_match_the_reference():
    rng = np.random.default_rng(23)
    layer = make(rng=rng, return_sequences=True, go_backwards=True)
    x = rng.normal(size=(2, 5, F)).astype("float32")
    p = ref_params(layer.cell)
    out = layer(x)
    close(out, ref.run(ref.sgw_step, p, x[:, ::-1], ref.sgw_initial_state(p, 2))[0])
    penalties = []
    for b in range(2):
        state = ref.sgw_initial_state(p)
        for t in range(5):
            aux = {}
            _, state = ref.sgw_step(p, x[b, 4 - t], state, aux)
            penalties.append(aux["penalty"])
    (loss,) = layer.losses
    close(loss, 0.01 * np.mean(penalties), what="sparsity loss")


# --- the layer -----------------------------------------------------------------------


def test_the_workspace_integrates_over_time_and_legacy_zeroes_it():
    """A single input impulse: the corrected workspace keeps it, the legacy one forgets it at once."""
    x = np.zeros((1, 6, F), "float32")
    x[0, 0] = 2.0
    tails = {}
    for legacy in (False, True):
        layer = make(legacy=legacy, rng=np.random.default_rng(24), return_state=True,
                     workspace_decay=1.0)
        states = dict(zip(layer.cell.state_names, layer(x)[1:]))
        tails[legacy] = to_numpy(states["density"])[0, 0]
        if not legacy:
            assert np.abs(to_numpy(states["workspace"])).max() > 0.1
    assert tails[True] == 0.0  # gelu(0) = 0: no input, no workspace in the legacy step


def test_stateful_memory_carries_resets_and_round_trips(tmp_path):
    rng = np.random.default_rng(25)
    x = rng.normal(size=(2, 8, F)).astype("float32")
    whole = make(rng=rng, return_sequences=True)
    expected = to_numpy(whole(x))
    layer = SGWAMN(POST, O, pre_units=PRE, workspace_units=WS, memory_size=M, stateful=True,
                   save_memory=True, return_sequences=True)
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
    rng = np.random.default_rng(26)
    layer = make(rng=rng, return_sequences=True, **CONFIGS[config])
    config_dict = layer.get_config()
    assert "cell" not in config_dict
    assert type(layer).from_config(config_dict).get_config() == config_dict
    cell_config = layer.cell.get_config()
    assert SGWAMNCell.from_config(cell_config).get_config() == cell_config
    inputs = keras.Input((None, F))
    model = keras.Model(inputs, layer(inputs))
    path = str(tmp_path / "model.keras")
    model.save(path)
    x = rng.normal(size=(2, 4, F)).astype("float32")
    np.testing.assert_array_equal(to_numpy(keras.saving.load_model(path)(x)), to_numpy(model(x)))


# --- gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("config", list(CONFIGS))
def test_gradients_reach_every_trainable_weight(config):
    """Every weight gets a gradient; with the hard routing of legacy mode, the competition only via z."""
    rng = np.random.default_rng(27)
    layer = make(rng=rng, return_sequences=True, **CONFIGS[config])
    x = rng.normal(size=(2, 6, F)).astype("float32")
    target = keras.ops.convert_to_tensor(rng.normal(size=(2, 6, O)).astype("float32"))
    variables = list(layer.cell.trainable_weights)
    assert len(variables) == 9
    grads, _ = autodiff_gradients(lambda x: keras.ops.sum((layer(x) - target) ** 2), variables, [x])
    for variable, grad in zip(variables, grads):
        assert np.isfinite(grad).all() and np.abs(grad).max() > 0, variable.name
    competition = dict(zip([v.name for v in variables], grads))["competition_kernel"]
    # Rows of pre-bottleneck units that never win get a gradient only through the
    # softmax's normalisation, in the straight-through routing; the weighted
    # routing renormalises over the winners (the normalisation cancels) and the
    # legacy routing does not read the probabilities.
    pre = to_numpy(keras.ops.gelu(x @ to_numpy(layer.cell.pre_kernel), approximate=True))
    score = np.abs(pre) * np.abs(to_numpy(layer.cell.competition_kernel)).sum(1)
    winners = np.argsort(-score, axis=-1)[..., :WS]
    never = np.setdiff1d(np.arange(PRE), np.unique(winners))
    if never.size:
        routed = np.abs(competition[never]).max()
        assert (routed > 0) is (config == "corrected"), (config, routed)


def test_readout_only_trains_only_the_readout():
    layer = make(readout_only=True)
    assert [w.name for w in layer.cell.trainable_weights] == ["output_kernel"]


@pytest.mark.large
def test_ten_thousand_steps_stay_finite():
    x = (3.0 * np.sin(np.arange(10000, dtype="float32") / 7.0))[None, :, None]
    x = np.concatenate([x, np.cos(x), -x], axis=-1)
    layer = SGWAMN(6, 1, pre_units=8, workspace_units=3, memory_size=3, seed=1,
                   return_sequences=True, return_state=True)
    out, *states = layer(x)
    assert np.isfinite(to_numpy(out)).all()
    for name, state in zip(layer.cell.state_names, states):
        assert np.isfinite(to_numpy(state)).all(), name


# --- the estimator ---------------------------------------------------------------------------


def small(seed=0, **kwargs):
    return SparseGlobalWorkspace(3, 8, 3, 6, 1, manifold_size=3, random_state=seed, **kwargs)


def series(n, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)).astype("float32")
    y = np.tanh(X[:, :1] + np.roll(X[:, 1:2], 1, axis=0))
    return X, y


def test_predict_changes_no_weight_and_memory_carries_and_resets():
    X, y = series(120)
    model = small()
    before = {w.name: to_numpy(w).copy() for w in model.cell.weights}
    model.predict(X[:60])
    carried = model.predict(X[60:], reset_memory=False)
    fresh = model.predict(X[60:])  # resets first by default
    assert np.abs(carried - fresh).max() > 1e-4
    for w in model.cell.weights:
        np.testing.assert_array_equal(to_numpy(w), before[w.name], err_msg=w.name)
    assert 0.0 <= model.workspace_sparsity <= 1.0
    assert 0.0 < model.competition_entropy <= np.log(8) + 1e-6
    assert model.avg_manifold_energy > 0 and model.bottleneck_rate == 3 / 8
    model.reset_memory()
    assert model.get_workspace_sparsity() == 0.0 and model.get_competition_entropy() == 0.0
    assert model.avg_manifold_energy == 0.0


def test_fit_trains_every_weight_and_records_the_competition(tmp_path):
    X, y = series(200)
    model = small()
    before = {w.name: to_numpy(w).copy() for w in model.cell.weights}
    history = model.fit(X, y, epochs=2)
    assert len(history["loss"]) == 2 and len(model.get_sparsity_history()) == 2
    assert len(model.get_entropy_history()) == 2
    for w in model.cell.weights:
        assert np.abs(to_numpy(w) - before[w.name]).max() > 0, w.name
    path = str(tmp_path / "sgw.keras")
    model.predict(X[:20])
    model.save(path)
    expected = model.predict(X[20:40], reset_memory=False)
    other = small(seed=4).load(path)
    np.testing.assert_array_equal(other.predict(X[20:40], reset_memory=False), expected)
    with pytest.raises(ValueError, match="pre_bottleneck"):
        SparseGlobalWorkspace(3, 9, 3, 6, 1, manifold_size=3).load(path)


def test_readout_only_fit_changes_only_the_readout():
    X, y = series(200)
    model = small(readout_only=True)
    before = {w.name: to_numpy(w).copy() for w in model.cell.weights}
    model.fit(X, y, epochs=1)
    changed = {w.name for w in model.cell.weights if np.abs(to_numpy(w) - before[w.name]).max() > 0}
    assert changed == {"output_kernel"}


def test_score_metrics_and_create_model():
    X, y = series(60)
    model = create_model("SGW-AMN", input_size=3, pre_bottleneck_size=6, workspace_size=2,
                         post_bottleneck_size=4, output_size=1, manifold_size=2)
    assert isinstance(model, SparseGlobalWorkspace)
    predicted = model.predict(X)
    assert abs(model.score(X, y, metric="mse") - np.mean((predicted - y) ** 2)) < 1e-6
    assert abs(model.score(X, y, metric="mae") - np.mean(np.abs(predicted - y))) < 1e-6
    small_kwargs = dict(pre_bottleneck_size=4, workspace_size=2, post_bottleneck_size=3, manifold_size=2)
    assert isinstance(create_model("sgw_amn", input_size=2, **small_kwargs), SparseGlobalWorkspace)


def fading_sum(n, retention, seed):
    """x_t ~ U(-1, 1); the target is the exponential average of the PAST inputs (standardised).

    `y_t = sum_{k >= 1} (1 - r) r^(k-1) x_{t-k}`: it needs a memory of the
    last few inputs with the retention `r` per step (0.6), faster than the
    workspace's initial leak (about 0.93 per step).
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 1)).astype("float32")
    y = np.zeros_like(x)
    for t in range(1, n):
        y[t] = retention * y[t - 1] + (1 - retention) * x[t - 1]
    return x, y / y.std()


@pytest.mark.large
def test_training_every_weight_beats_the_readout_only_regime_on_a_fading_memory_task():
    scores = {}
    for seed in range(3):
        x, y = fading_sum(640, 0.6, seed)
        for readout_only in (False, True):
            model = SparseGlobalWorkspace(1, 8, 4, 8, 1, manifold_size=4, random_state=seed,
                                          readout_only=readout_only, learning_rate=0.03)
            model.fit(x[:512], y[:512], epochs=12, batch_size=8)
            scores[seed, readout_only] = model.score(x[512:], y[512:])
    for seed in range(3):
        full, reservoir = scores[seed, False], scores[seed, True]
        assert full > reservoir + 0.05, (
            f"seed {seed}: R^2 all weights {full:.3f}, readout only {reservoir:.3f}"
        )


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"units": 0}, ValueError),
        ({"pre_units": 2.0}, TypeError),
        ({"workspace_units": 9}, ValueError),
        ({"temperature": 0.0}, ValueError),
        ({"sparsity_penalty": -0.1}, ValueError),
        ({"workspace_decay": 1.1}, ValueError),
        ({"routing": "soft"}, ValueError),
        ({"routing": None}, TypeError),
        ({"readout_only": 1}, TypeError),
        ({"legacy": "no"}, TypeError),
    ],
)
def test_bad_arguments_raise_naming_the_argument(kwargs, error):
    arguments = {"units": 4, "output_units": 1, "pre_units": 8, "workspace_units": 3, **kwargs}
    name = next(iter(kwargs))
    with pytest.raises(error, match=name if name != "workspace_units" else "workspace_units"):
        SGWAMNCell(**arguments)
