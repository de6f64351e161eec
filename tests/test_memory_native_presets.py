"""The memory-native models' presets and config, and the Mackey-Glass data they are trained on."""

import json
import os

import numpy as np
import pytest

from keras_engram.datasets import load_mackey_glass, mackey_glass_series
from keras_engram.memory_native import AMN, AMRC, PMRC, r2_score
from keras_engram.presets import list_presets
from keras_engram.src.presets.registry import BUILTIN_PRESETS

CLASSES = {"amrc_mackey_glass": AMRC, "pmrc_mackey_glass": PMRC, "amn_mackey_glass": AMN}


def _metadata(name):
    with open(os.path.join(BUILTIN_PRESETS[name]["path"], "metadata.json"), encoding="utf-8") as file:
        return json.load(file)


# --- the data -------------------------------------------------------------------------


def _euler_mackey_glass(units, tau=17, dt=0.0005):
    """dx/dt = 0.2 x(t - tau) / (1 + x(t - tau)^10) - 0.1 x(t), x = 1.2 for t <= 0, by Euler steps of dt."""
    per_unit = int(round(1 / dt))
    delay = tau * per_unit
    x = np.full(delay + units * per_unit + 1, 1.2)
    for i in range(delay, len(x) - 1):
        lagged = x[i - delay]
        x[i + 1] = x[i] + dt * (0.2 * lagged / (1 + lagged**10) - 0.1 * x[i])
    return x[delay::per_unit][:units]


def test_series_matches_a_fine_euler_integration():
    # Before chaos amplifies the integrators' differences (60 time units), the
    # series agrees with an independent first-order integration at 1/200 of the step.
    ours = mackey_glass_series(60, discard=0)
    reference = _euler_mackey_glass(60)
    assert ours[0] == 1.2
    np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_load_mackey_glass_split_targets_and_scaling():
    (x_train, y_train), (x_test, y_test) = load_mackey_glass(samples=500, horizon=6, test_size=0.2)
    assert x_train.shape == y_train.shape == (400, 1) and x_test.shape == y_test.shape == (100, 1)
    x = np.concatenate([x_train, x_test])[:, 0]
    y = np.concatenate([y_train, y_test])[:, 0]
    np.testing.assert_array_equal(y[:-6], x[6:])  # the target is the reading 6 steps later
    assert abs(x_train.mean()) < 1e-5 and abs(x_train.std() - 1) < 1e-5
    raw = mackey_glass_series(506)
    scaled = (raw - raw[:400].mean()) / raw[:400].std()
    np.testing.assert_allclose(x, scaled[:500], atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        (dict(samples=0), ValueError),
        (dict(samples=2.5), TypeError),
        (dict(horizon=0), ValueError),
        (dict(test_size=1.0), ValueError),
        (dict(tau=-1), ValueError),
    ],
)
def test_load_mackey_glass_bad_arguments(kwargs, error):
    name = next(iter(kwargs))
    with pytest.raises(error, match=name):
        load_mackey_glass(**kwargs)


# --- presets ----------------------------------------------------------------------------


def test_builtin_presets_are_listed():
    rows = {row["name"]: row for row in list_presets()}
    for name, cls in CLASSES.items():
        assert rows[name]["class"] == cls.__name__
        assert rows[name]["metric"] == "test R^2"
        assert name in cls.presets
    assert "amn_mackey_glass" not in AMRC.presets


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_builtin_preset_reproduces_its_score(name):
    model = CLASSES[name].from_preset(name)
    metadata = _metadata(name)
    arguments = metadata["training_data"]["arguments"]
    _, (x_test, y_test) = load_mackey_glass(**arguments)
    score = r2_score(y_test, model.predict(x_test))
    assert abs(score - metadata["score"]["value"]) < 1e-4, (score, metadata["score"])
    # Memory helps: well above least squares on the current reading alone.
    assert score > 0.9 > metadata["score"]["memoryless_linear_baseline"] + 0.4, metadata["score"]
    # The stored memory is the end of the training series: from zeros the first steps are worse.
    model.reset_memory()
    cold = model.predict(x_test[:10])
    warm = CLASSES[name].from_preset(name).predict(x_test[:10])
    assert np.mean((warm - y_test[:10]) ** 2) < np.mean((cold - y_test[:10]) ** 2)


@pytest.mark.parametrize(
    "make",
    [
        lambda: AMRC(2, 6, 1, beta=0.2, random_state=1),
        lambda: PMRC(2, 6, 1, use_learnable_gates=True, use_output_memory=True, random_state=1),
        lambda: AMN(2, 6, 1, memory_size=3, dt=0.2, random_state=1),
    ],
)
def test_save_to_preset_round_trip(make, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 2)).astype("float32")
    model = make()
    model.fit(x, x[:, :1], epochs=1)
    if hasattr(model, "freeze_hidden_percentage"):  # AMRC, PMRC: the freezing masks travel too
        model.freeze_hidden_percentage(0.5)
    directory = tmp_path / "preset"
    model.save_to_preset(directory, metadata={"description": "tiny"})
    assert sorted(os.listdir(directory)) == ["README.md", "config.json", "metadata.json", "model.weights.h5"]
    loaded = type(model).from_preset(str(directory))
    assert loaded.get_config() == model.get_config()
    for saved, restored in zip(model.get_memory_state(), loaded.get_memory_state()):
        np.testing.assert_array_equal(saved, restored)
    for saved, restored in zip(model.model.get_weights(), loaded.model.get_weights()):
        np.testing.assert_array_equal(saved, restored)  # weights, memory and masks
    np.testing.assert_array_equal(model.predict(x[:7]), loaded.predict(x[:7]))
    card = (directory / "README.md").read_text()
    assert f"keras_engram.memory_native.{type(model).__name__}.from_preset" in card


def test_config_mirrors_the_constructor():
    model = PMRC(3, 5, 2, alpha=0.2, use_recurrent=False, window=8, random_state=4)
    config = model.get_config()
    assert config["alpha"] == 0.2 and config["use_recurrent"] is False and config["window"] == 8
    assert config["beta"] == 0.3  # a default is recorded too
    clone = PMRC.from_config(config)
    assert clone.get_config() == config
    json.dumps(config)


def test_preset_errors(tmp_path):
    directory = tmp_path / "amrc"
    AMRC(1, 4, 1, random_state=0).save_to_preset(directory)
    with pytest.raises(ValueError, match="holds a AMRC"):
        AMN.from_preset(str(directory))
    with pytest.raises(ValueError, match="change the weights"):
        AMRC.from_preset(str(directory), hidden_size=5)
    with pytest.raises(TypeError, match="unknown arguments"):
        AMRC.from_preset(str(directory), memory_size=5)
    assert AMRC.from_preset(str(directory), learning_rate=0.5).learning_rate == 0.5
    with pytest.raises(ValueError, match="Unknown preset"):
        AMRC.from_preset("no_such_preset")
    with pytest.raises(TypeError, match="metadata"):
        AMRC(1, 4, 1).save_to_preset(tmp_path / "other", metadata=["not", "a", "dict"])


def test_estimators_and_layers_keep_distinct_registered_names():
    import keras

    import keras_engram

    assert keras.saving.get_registered_object("keras_engram>AMRC") is keras_engram.layers.AMRC
    assert keras.saving.get_registered_object("keras_engram.memory_native>AMRC") is AMRC
    assert keras.saving.get_registered_name(AMN) == "keras_engram.memory_native>AMN"
