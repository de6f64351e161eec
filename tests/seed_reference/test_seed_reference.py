"""Live comparison with tensorflow-engram 0.1.0 (run by `nox -s seed_reference`).

Needs TensorFlow and tensorflow-engram installed; collected only when
KERAS_ENGRAM_SEED_TESTS=1 (see tests/conftest.py).
"""

import os

import keras
import numpy as np
import pytest
import tensorflow_engram  # noqa: F401  (fails loudly when the seed is missing)
from tensorflow_engram.layers import EngramCell as SeedCell

from helpers import SEED_FIXTURE_INPUT_SHAPE, SEED_MODE, build_seed_mode_model, to_numpy
from seed_patch import build_seed_models, deterministic_seed
from keras_engram.compat import load_tensorflow_engram_weights
from keras_engram.layers import Engram
from keras_engram.models import EngramClassifier

pytestmark = pytest.mark.seed
INPUT_SHAPE = SEED_FIXTURE_INPUT_SHAPE


def test_backend_is_tensorflow():
    assert keras.backend.backend() == "tensorflow"


@pytest.mark.parametrize("name", ["classifier", "regressor", "network"])
def test_models_match_seed_in_seed_mode(name, tmp_path):
    x = np.random.default_rng(1).normal(size=(12,) + INPUT_SHAPE).astype("float32")
    seed_model = build_seed_models(INPUT_SHAPE)[name]
    seed_model(x[:2])
    path = os.fspath(tmp_path / "seed.weights.h5")
    seed_model.save_weights(path)
    with deterministic_seed():
        expected = seed_model.predict(x, batch_size=12, verbose=0)
    model = build_seed_mode_model(name)
    load_tensorflow_engram_weights(model, path)
    got = to_numpy(model.predict(x, batch_size=12, verbose=0))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_cell_step_matches_seed_cell_with_explicit_states():
    rng = np.random.default_rng(2)
    batch, features, hidden, slots = 5, 4, 8, 5  # batch == memory_size
    seed_cell = SeedCell(hidden_dim=hidden, memory_size=slots, hebbian_lr=0.4)
    seed_cell.build((None, features))
    layer = Engram(hidden, slots, hebbian_lr=0.4, **SEED_MODE)
    layer.build((None, None, features))
    x = rng.normal(size=(batch, features)).astype("float32")
    h0 = rng.normal(size=(batch, hidden)).astype("float32")
    H0 = rng.uniform(-0.1, 0.1, (slots, hidden)).astype("float32")
    with deterministic_seed():
        seed_cell(x, [h0, H0, seed_cell.memory_bank])  # builds the seed's sub-layers
    cell = layer.cell
    pairs = [
        (cell.memory_bank, seed_cell.memory_bank),
        *zip(cell.input_encoder.weights, seed_cell.input_encoder.weights),
        *zip(cell.hidden_integrator.weights, seed_cell.hidden_integrator.weights),
        *zip(cell.output_dense.weights, seed_cell.output_dense.weights),
        *zip(cell.layer_norm1.weights, seed_cell.layer_norm1.weights),
        *zip(cell.layer_norm2.weights, seed_cell.layer_norm2.weights),
    ]
    for mine, theirs in pairs:
        value = to_numpy(theirs)
        value = value + rng.normal(0, 0.1, value.shape).astype("float32")  # move off init values
        mine.assign(value)
        theirs.assign(value)
    with deterministic_seed():
        seed_h, (_, seed_H, _) = seed_cell(x, [h0, H0, seed_cell.memory_bank])
    h, (_, H) = cell(x, [h0, np.tile(H0.reshape(1, -1), (batch, 1))])
    np.testing.assert_allclose(to_numpy(h), to_numpy(seed_h), rtol=1e-5, atol=1e-6)
    for row in to_numpy(H):
        np.testing.assert_allclose(row, to_numpy(seed_H).ravel(), rtol=1e-5, atol=1e-7)


def test_seed_defects_that_we_fix():
    """The seed's predict is random and batch-dependent; ours (default mode) is neither."""
    x = np.random.default_rng(3).normal(size=(64,) + INPUT_SHAPE).astype("float32")
    seed_model = build_seed_models(INPUT_SHAPE)["classifier"]
    first = seed_model.predict(x, batch_size=64, verbose=0)
    second = seed_model.predict(x, batch_size=64, verbose=0)
    alone = seed_model.predict(x[:1], verbose=0)
    assert np.abs(first - second).max() > 1e-7
    assert np.abs(alone[0] - first[0]).max() > 1e-7

    model = EngramClassifier(input_shape=INPUT_SHAPE, num_classes=4, hidden_dim=16, memory_size=8)
    first = model.predict(x, batch_size=64, verbose=0)
    assert np.array_equal(first, model.predict(x, batch_size=64, verbose=0))
    np.testing.assert_allclose(model.predict(x[:1], verbose=0)[0], first[0], rtol=0, atol=1e-6)
