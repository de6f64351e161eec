"""The Abstractor against a float64 NumPy version written from its equations: outputs, gradients, saving."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from helpers import autodiff_gradients, central_differences, to_numpy
from keras_engram.memoria import Abstractor

B, T, H, M, FF = 2, 5, 4, 3, 6


def numpy_abstractor(x, q, wk, bk, wv, bv, wf, bf, wo, bo):
    keys, values = x @ wk + bk, x @ wv + bv
    scores = np.einsum("mh,bth->bmt", q, keys)
    scores = scores - scores.max(axis=-1, keepdims=True)
    a = np.exp(scores)
    a = a / a.sum(axis=-1, keepdims=True)
    z = np.einsum("bmt,bth->bmh", a, values)
    return (z @ wf + bf) @ wo + bo


def built_layer(rng):
    layer = Abstractor(M, H, FF)
    layer.build((None, None, H))
    for w in layer.weights:
        w.assign(rng.normal(0, 0.5, w.shape).astype("float32"))
    return layer


def params(layer):
    return [to_numpy(w).astype(np.float64) for w in (
        layer.queries, layer.key_dense.kernel, layer.key_dense.bias, layer.value_dense.kernel,
        layer.value_dense.bias, layer.feedforward_dense.kernel, layer.feedforward_dense.bias,
        layer.output_dense.kernel, layer.output_dense.bias)]


def test_matches_numpy():
    rng = np.random.default_rng(0)
    layer = built_layer(rng)
    x = rng.normal(size=(B, T, H)).astype("float32")
    np.testing.assert_allclose(to_numpy(layer(x)), numpy_abstractor(x, *params(layer)), rtol=1e-5, atol=1e-5)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(1)
    layer = built_layer(rng)
    x = rng.normal(size=(B, T, H)).astype("float32")
    target = rng.normal(size=(B, M, H))

    def keras_loss(x):
        return ops.sum(layer(x) * ops.convert_to_tensor(target.astype("float32")))

    variables = [layer.queries, layer.key_dense.kernel, layer.output_dense.bias]
    grad_w, (grad_x,) = autodiff_gradients(keras_loss, variables, [x])
    p = params(layer)

    def ref_loss(x, q, wk, bo):
        return np.sum(numpy_abstractor(x, q, wk, p[2], *p[3:8], bo) * target)

    expected = central_differences(ref_loss, [x, p[0], p[1], p[8]])
    for got, want in zip([grad_x] + grad_w, expected):
        scale = max(np.abs(want).max(), 1e-3)
        assert np.abs(got - want).max() <= 2e-5 * scale


def test_keras_round_trip(tmp_dir):
    rng = np.random.default_rng(2)
    inputs = keras.Input((T, H))
    model = keras.Model(inputs, Abstractor(M, H, FF, name="abstractor")(inputs))
    x = rng.normal(size=(B, T, H)).astype("float32")
    path = os.path.join(tmp_dir, "abstractor.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    assert loaded.get_layer("abstractor").get_config() == model.get_layer("abstractor").get_config()


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_memories"):
        Abstractor(0, H, FF)
    with pytest.raises(TypeError, match="hidden_dim"):
        Abstractor(M, 4.0, FF)
    with pytest.raises(ValueError, match="features"):
        Abstractor(M, H, FF)(np.ones((1, 2, H + 1), "float32"))
