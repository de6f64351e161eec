"""Seed weights load on every backend and reproduce the seed's predictions.

The fixtures in tests/data were written by tensorflow-engram 0.1.0 itself
(tests/data/make_seed_fixtures.py); `nox -s seed_reference` repeats the
comparison live against the installed seed package.
"""

import os

import h5py
import numpy as np
import pytest

from helpers import SEED_FIXTURE_INPUT_SHAPE, build_seed_mode_model, to_numpy
from keras_engram.compat import load_tensorflow_engram_weights
from keras_engram.models import EngramClassifier, EngramNetwork

DATA = os.path.join(os.path.dirname(__file__), "data")
INPUT_SHAPE = SEED_FIXTURE_INPUT_SHAPE


@pytest.mark.parametrize("name", ["classifier", "regressor", "network"])
def test_seed_weights_reproduce_seed_predictions(name):
    expected = np.load(os.path.join(DATA, "seed_predictions.npz"))
    model = build_seed_mode_model(name)
    load_tensorflow_engram_weights(model, os.path.join(DATA, f"seed_{name}.weights.h5"))
    got = to_numpy(model.predict(expected["x"], batch_size=9, verbose=0))
    assert got.shape == expected[name].shape
    # Float32 rounding: a near-zero element of an output whose other elements
    # are about 2 differs by a few ulps of 2, not of itself, so the absolute
    # tolerance (1e-6) grows with the output's scale above 1.
    scale = max(1.0, float(np.abs(expected[name]).max()))
    np.testing.assert_allclose(got, expected[name], rtol=1e-5, atol=1e-6 * scale)


def test_every_seed_array_is_used():
    """Each weight comes from the file; only the seed's unused trace weight is left over."""
    model = build_seed_mode_model("network")
    path = os.path.join(DATA, "seed_network.weights.h5")
    load_tensorflow_engram_weights(model, path)
    arrays = []
    with h5py.File(path) as f:
        f.visititems(
            lambda k, v: arrays.append(np.asarray(v))
            if isinstance(v, h5py.Dataset) and not k.startswith("optimizer")
            else None
        )
    ours = [to_numpy(w) for w in model.weights]
    unmatched = [
        a for a in arrays if not any(a.shape == o.shape and np.array_equal(a, o) for o in ours)
    ]
    assert len(arrays) == len(ours) + 1
    assert len(unmatched) == 1 and unmatched[0].shape == (8, 16)  # `initial_hebbian_trace`
    assert np.abs(unmatched[0]).max() <= 0.01  # its RandomUniform(-0.01, 0.01) initial value


def test_default_mode_differs_from_seed_mode():
    """Per-sample traces are a different model: the check above is not vacuous."""
    expected = np.load(os.path.join(DATA, "seed_predictions.npz"))
    model = build_seed_mode_model("classifier", trace_scope="sample")
    load_tensorflow_engram_weights(model, os.path.join(DATA, "seed_classifier.weights.h5"))
    got = to_numpy(model.predict(expected["x"], batch_size=9, verbose=0))
    assert np.abs(got - expected["classifier"]).max() > 1e-5


def test_mismatched_file_is_a_clear_error(tmp_path):
    wrong_size = EngramClassifier(input_shape=INPUT_SHAPE, num_classes=4, hidden_dim=12, memory_size=8)
    with pytest.raises(ValueError, match="does not match the model"):
        load_tensorflow_engram_weights(wrong_size, os.path.join(DATA, "seed_classifier.weights.h5"))
    wrong_head = build_seed_mode_model("regressor")
    with pytest.raises(ValueError, match="attention pooling"):
        load_tensorflow_engram_weights(wrong_head, os.path.join(DATA, "seed_network.weights.h5"))
    with pytest.raises(FileNotFoundError, match="filepath"):
        load_tensorflow_engram_weights(wrong_head, str(tmp_path / "missing.weights.h5"))
    not_h5 = tmp_path / "bad.weights.h5"
    not_h5.write_text("not an h5 file")
    with pytest.raises(ValueError, match="Expected a Keras `.weights.h5` file"):
        load_tensorflow_engram_weights(wrong_head, str(not_h5))
    with pytest.raises(ValueError, match="built"):
        load_tensorflow_engram_weights(EngramNetwork(16, 8), os.path.join(DATA, "seed_network.weights.h5"))
