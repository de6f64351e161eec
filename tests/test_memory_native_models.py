"""The memory-native estimators (`keras_engram.memory_native`): fit / predict / score, memory, files.

These are the originals' test intentions as assertions: save/load reproduces
predictions bit for bit with the memory; a past input changes later outputs
and `reset_memory` removes the effect; gates learn; AMN reaches R^2 >= 0.9
on the originals' sine task in each of 5 seeds; bad inputs are clear errors.
"""

import numpy as np
import pytest

from helpers import to_numpy
from keras_engram.memory_native import AMN, AMRC, PMRC, create_model, r2_score


def sine_task(n=600, seed=42):
    """The originals' test_pmrc / test_amn data: 5 inputs, one target; split 480 / 120."""
    rng = np.random.default_rng(seed)
    tau = np.linspace(0, 12, n)
    X = np.stack(
        [np.sin(tau), np.cos(0.5 * tau), np.tanh(tau / 3), 0.05 * rng.normal(size=n),
         np.roll(np.sin(tau), 1)], axis=1,
    ).astype("float32")
    y = (0.7 * np.sin(tau) - 0.4 * np.cos(0.5 * tau) + 0.3 * np.sin(0.2 * tau)).astype("float32")
    return X, y


MODELS = {
    "amrc": lambda seed=0: AMRC(5, 8, 1, random_state=seed),
    "pmrc": lambda seed=0: PMRC(5, 8, 1, use_learnable_gates=True, use_output_memory=True,
                                random_state=seed),
    "amn": lambda seed=0: AMN(5, 8, 1, memory_size=4, random_state=seed),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_save_and_load_reproduce_predictions_bit_for_bit_with_the_memory(name, tmp_path):
    X, y = sine_task(200)
    model = MODELS[name]()
    model.fit(X[:150], y[:150], epochs=1)
    model.predict(X[150:170])  # the memory moves on
    path = str(tmp_path / "model.keras")
    model.save(path)
    expected = model.predict(X[170:])
    other = MODELS[name](seed=5).load(path)
    for a, b in zip(other.get_memory_state(), model.get_memory_state()):
        assert a.shape == b.shape
    np.testing.assert_array_equal(other.predict(X[170:]), expected)


@pytest.mark.parametrize("name", list(MODELS))
def test_memory_carries_across_calls_and_reset_removes_it(name):
    X, _ = sine_task(120)
    model = MODELS[name]()
    model.predict(X[:60])
    carried = model.predict(X[60:])
    model.reset_memory()
    fresh = model.predict(X[60:])
    assert np.abs(carried - fresh).max() > 1e-4  # the past input changes later outputs
    model.reset_memory()
    model.predict(X[:30] * 3.0)
    model.reset_memory()
    np.testing.assert_array_equal(model.predict(X[60:]), fresh)
    for state in (model.reset_memory() or model.get_memory_state()):
        np.testing.assert_array_equal(state, 0.0)


def test_set_memory_state_round_trips():
    X, _ = sine_task(50)
    model = MODELS["amn"]()
    model.predict(X)
    memory = model.get_memory_state()
    after = model.predict(X[:5])
    model.set_memory_state(memory)
    np.testing.assert_array_equal(model.predict(X[:5]), after)
    with pytest.raises(ValueError, match="states"):
        model.set_memory_state(memory[:2])


@pytest.mark.parametrize("name", list(MODELS))
def test_the_same_random_state_trains_identically(name):
    X, y = sine_task(160)
    first, second = MODELS[name](seed=3), MODELS[name](seed=3)
    first.fit(X[:128], y[:128], epochs=2)
    second.fit(X[:128], y[:128], epochs=2)
    np.testing.assert_array_equal(first.predict(X[128:]), second.predict(X[128:]))
    assert np.abs(MODELS[name](seed=4).predict(X[:8]) - first.predict(X[:8])).max() > 0


def test_the_gates_learn():
    X, y = sine_task(480)
    model = PMRC(5, 16, 1, use_learnable_gates=True, random_state=0)
    before = {w.name: to_numpy(w) for w in model.cell.weights}
    model.fit(X, y, epochs=10)
    for name in ("gate_kernel", "gate_recurrent_kernel", "gate_bias", "candidate_kernel"):
        weight = next(w for w in model.cell.weights if w.name == name)
        assert np.abs(to_numpy(weight) - before[name]).max() > 1e-2, name
    gate = model.get_gate_state()
    assert gate.shape == (16,) and 0.0 < gate.min() and gate.max() < 1.0


@pytest.mark.large
@pytest.mark.parametrize("seed", range(5))
def test_amn_reaches_r2_of_0_9_on_the_originals_sine_task(seed):
    X, y = sine_task()
    # The originals' sizes and settings (test_amn.py), trained by BPTT with Adam at 0.03.
    model = AMN(5, 32, 1, memory_size=64, dt=0.1, memory_decay=0.998, random_state=seed,
                learning_rate=0.03)
    model.fit(X[:480], y[:480], epochs=60)
    assert model.score(X[480:], y[480:]) >= 0.9
    assert np.isfinite(model.avg_manifold_energy) and model.avg_lru_magnitude < 1.0


def test_amn_statistics_read_the_memory():
    X, _ = sine_task(64)
    model = MODELS["amn"]()
    assert model.avg_manifold_energy == 0.0 and model.avg_lru_magnitude == 0.0
    model.predict(X)
    assert model.avg_manifold_energy > 0 and model.avg_lru_magnitude > 0
    assert model.get_manifold_state().shape == (4, 8)
    assert 1.0 < model.avg_lc_timescale < 2.5  # 1 / (A + B_f |f|) with A in [0.5, 1], B_f in [0.1, 0.4]


def test_sequences_validation_split_and_shapes():
    X, y = sine_task(200)
    model = MODELS["pmrc"]()
    history = model.fit(X, y, epochs=2, validation_split=0.2)
    assert len(history["loss"]) == 2 and len(history["val_loss"]) == 2
    memory = model.get_memory_state()
    batch = X[:160].reshape(10, 16, 5)
    out = model.predict(batch)
    assert out.shape == (10, 16, 1)
    for a, b in zip(model.get_memory_state(), memory):  # independent sequences: memory untouched
        np.testing.assert_array_equal(a, b)
    history = model.fit(batch, y[:160].reshape(10, 16), epochs=1, batch_size=4)
    assert np.isfinite(history["loss"][0])
    model.fit(batch, y[:160].reshape(10, 16)[:, -1:], epochs=1)  # a target for the last step
    assert model.predict(X[0]).shape == (1,)


def test_r2_score_is_the_pooled_coefficient_of_determination():
    y = np.array([[1.0, 2.0], [2.0, 4.0], [3.0, 9.0]])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.broadcast_to(y.mean(0), y.shape)) == 0.0
    predicted = y + 1.0
    expected = 1 - 6.0 / (2.0 + np.sum((y[:, 1] - 5.0) ** 2))
    assert abs(r2_score(y, predicted) - expected) < 1e-12
    assert r2_score(np.ones(3), np.zeros(3)) == 0.0


def test_create_model_by_name():
    model = create_model("PmRc", input_size=2, hidden_size=4, output_size=1)
    assert isinstance(model, PMRC) and model.cell.units == 4
    with pytest.raises(ValueError, match="name"):
        create_model("lstm", input_size=2, hidden_size=4, output_size=1)
    with pytest.raises(TypeError, match="name"):
        create_model(3)


def test_bad_inputs_are_clear_errors(tmp_path):
    X, y = sine_task(64)
    model = MODELS["amrc"]()
    with pytest.raises(ValueError, match="X"):
        model.fit(X[:, :4], y)
    with pytest.raises(ValueError, match="X"):
        model.predict(X[:, :3])
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="y"):
        model.fit(X, bad)
    with pytest.raises(ValueError, match="y"):
        model.fit(X, y[:10])
    with pytest.raises(ValueError, match="at least one sample"):
        model.predict(X[:0])
    with pytest.raises(TypeError, match="X"):
        model.predict("not an array")
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(X, y, validation_split=1.5)
    with pytest.raises(TypeError, match="hidden_size"):
        AMRC(5, "8", 1)
    with pytest.raises(ValueError, match="beta"):
        AMRC(5, 8, 1, beta=2.0)
    with pytest.raises(ValueError, match=".keras"):
        model.save(str(tmp_path / "model.bin"))
    path = str(tmp_path / "wide.keras")
    AMRC(5, 16, 1).save(path)
    with pytest.raises(ValueError, match="sizes"):
        model.load(path)
    with pytest.raises(ValueError, match="AMN"):
        AMN(5, 16, 1).load(path)


def test_frozen_entries_stay_bit_identical_under_adam_with_weight_decay(tmp_path):
    X, y = sine_task(200)
    model = PMRC(5, 8, 1, use_learnable_gates=True, random_state=0, weight_decay=0.1)
    model.fit(X, y, epochs=1)  # Adam's moments are non-zero from here on
    model.freeze_output_layer()
    model.freeze_memory_gates()
    model.freeze_hidden_percentage(0.5)
    assert model.frozen_counts() == {
        "kernel": 20, "output_kernel": 8, "output_bias": 1, "gate_kernel": 40,
        "gate_recurrent_kernel": 64, "gate_bias": 8, "candidate_kernel": 40, "candidate_bias": 8,
    }
    masks = {name: to_numpy(mask) == 0 for name, mask in model._masks.masks.items()}
    before = {w.name: to_numpy(w) for w in model.cell.trainable_weights}
    model.fit(X, y, epochs=2)
    for weight in model.cell.trainable_weights:
        after, frozen = to_numpy(weight), masks[weight.name]
        np.testing.assert_array_equal(after[frozen], before[weight.name][frozen])
        if (~frozen).any():
            assert np.abs(after[~frozen] - before[weight.name][~frozen]).max() > 0, weight.name
    # The masks are saved with the model.
    path = str(tmp_path / "frozen.keras")
    model.save(path)
    loaded = PMRC(5, 8, 1, use_learnable_gates=True).load(path)
    assert loaded.frozen_counts() == model.frozen_counts()
    model.unfreeze_output_layer()
    model.unfreeze_memory_gates()
    assert model.frozen_counts() == {"kernel": 20}


def test_freeze_by_magnitude_freezes_the_largest_or_smallest_entries():
    model = AMRC(5, 8, 1, random_state=0)
    magnitude = np.abs(to_numpy(model.cell.kernel)).reshape(-1)
    model.freeze_by_magnitude(0.25, freeze_large=True)
    frozen = to_numpy(model._masks.masks["kernel"]).reshape(-1) == 0
    assert frozen.sum() == 10 and magnitude[frozen].min() >= magnitude[~frozen].max()
    model.freeze_by_magnitude(0.25, freeze_large=False)
    frozen = to_numpy(model._masks.masks["kernel"]).reshape(-1) == 0
    assert frozen.sum() == 10 and magnitude[frozen].max() <= magnitude[~frozen].min()
    model.freeze_hidden_layer()
    assert model.frozen_counts() == {"kernel": 40, "bias": 8}
    with pytest.raises(ValueError, match="percentage"):
        model.freeze_hidden_percentage(1.5)
    with pytest.raises(ValueError, match="percentage"):
        model.freeze_output_percentage(-0.1)
    with pytest.raises(ValueError, match="threshold"):
        model.freeze_by_magnitude(2.0)
