"""The seed methods every memory-native estimator shares: forward, print_info, reset_memory_each_epoch."""

import numpy as np
import pytest

from keras_engram.memory_native import (
    AMN,
    DualTrackPersistenceNetwork,
    HyperAMN,
    NeuralDifferentialManifold,
)

X = np.random.default_rng(0).normal(size=(96, 2)).astype("float32")
Y = np.cumsum(X[:, :1], axis=0).astype("float32") * 0.1  # depends on the past: memory matters

MODELS = {
    "amn": lambda: AMN(2, 6, 1, memory_size=3, random_state=0, window=8),
    "dtpn": lambda: DualTrackPersistenceNetwork(2, 6, 1, memory_matrix_size=3, random_state=0, window=8),
    "ndm": lambda: NeuralDifferentialManifold(2, 6, 1, manifold_size=3, random_state=0, window=8),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_is_one_step_of_predict_carrying_the_memory(name):
    model = MODELS[name]()
    model.reset_memory()
    stepped = np.stack([model.forward(x) for x in X[:5]])
    whole = model.predict(X[:5], reset_memory=True)
    np.testing.assert_allclose(stepped, whole, rtol=1e-5, atol=1e-6)
    assert stepped.shape == (5, 1)
    with pytest.raises(ValueError, match="one sample"):
        model.forward(X[:2])


def test_hyper_amn_forward_is_the_shared_method():
    model = HyperAMN(2, 6, 1, manifold_size=3, random_state=0)
    assert model.forward(X[0]).shape == (1,)


def test_print_info_names_the_model_and_its_arguments(capsys):
    MODELS["dtpn"]().print_info()
    printed = capsys.readouterr().out
    assert printed.startswith("DualTrackPersistenceNetwork")
    assert "memory_matrix_size: 3" in printed and "trainable parameters:" in printed


@pytest.mark.parametrize("name", ["dtpn", "ndm"])
def test_reset_memory_each_epoch_false_carries_the_streams_across_epochs(name):
    weights = {}
    for reset in (True, False):
        model = MODELS[name]()
        model.fit(X, Y, epochs=2, batch_size=2, reset_memory_each_epoch=reset)
        weights[reset] = [np.array(w) for w in model.model.get_weights()]
    # The first epoch is the same; the second starts from other memory, so its gradients differ.
    assert any(not np.array_equal(a, b) for a, b in zip(weights[True], weights[False]))
    with pytest.raises(TypeError, match="reset_memory_each_epoch"):
        MODELS[name]().fit(X, Y, epochs=1, reset_memory_each_epoch="no")
