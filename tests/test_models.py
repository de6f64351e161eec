"""ENN models: the seed's architecture, determinism, batch independence, learning."""

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_engram.models import EngramClassifier, EngramNetwork, EngramRegressor


def test_paper_configuration_has_the_seeds_trainable_parameter_count():
    model = EngramClassifier(input_shape=(28, 28), num_classes=10, hidden_dim=128, memory_size=64)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 210_826
    assert model.count_params() == 210_826  # no unused non-trainable trace weight


def test_classifier_is_the_seed_architecture():
    model = EngramClassifier(input_shape=(6, 4), num_classes=3, hidden_dim=16, memory_size=8)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "EngramBackbone", "Dropout", "Dense"]
    assert [type(layer).__name__ for layer in model.backbone.layers] == ["InputLayer", "EngramNetwork"]
    assert model.layers[2].rate == 0.3
    assert model.layers[-1].activation is keras.activations.softmax
    assert model.engram_network.attention is None  # return_sequences=False: no pooling, as the seed
    seq = EngramClassifier(input_shape=(6, 4), num_classes=3, hidden_dim=16, memory_size=8,
                           return_sequences=True, use_attention=False)
    assert tuple(seq.output.shape) == (None, 6, 3)
    pooled = EngramClassifier(input_shape=(6, 4), num_classes=3, hidden_dim=16, memory_size=8,
                              return_sequences=True, use_attention=True)
    assert tuple(pooled.output.shape) == (None, 3)


def test_regressor_and_network_shapes():
    reg = EngramRegressor(input_shape=(None, 2), output_dim=3, hidden_dim=8, memory_size=4)
    assert tuple(reg.predict(np.zeros((2, 5, 2)), verbose=0).shape) == (2, 5, 3)
    last = EngramRegressor(input_shape=(5, 2), output_dim=1, hidden_dim=8, memory_size=4,
                           return_sequences=False)
    assert tuple(last.output.shape) == (None, 1)
    net = EngramNetwork(hidden_dim=8, memory_size=4, return_states=True, dropout_rate=0.1)
    out, h, H = net(np.zeros((2, 5, 3), "float32"))
    assert (tuple(out.shape), tuple(h.shape), tuple(H.shape)) == ((2, 5, 8), (2, 8), (2, 32))
    out, att = EngramNetwork(8, 4)(np.zeros((2, 5, 3), "float32"), return_attention_scores=True)
    assert tuple(att.shape) == (2, 5, 4)


def test_predict_is_deterministic_and_batch_independent():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 10, 6)).astype("float32")
    model = EngramClassifier(input_shape=(10, 6), num_classes=5, hidden_dim=32, memory_size=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, rng.integers(0, 5, 64), epochs=1, verbose=0)  # training noise on, then off
    first = model.predict(x, batch_size=64, verbose=0)
    assert np.array_equal(first, model.predict(x, batch_size=64, verbose=0))
    alone = model.predict(x[7:8], verbose=0)
    np.testing.assert_allclose(alone[0], first[7], rtol=0, atol=1e-6)


def test_batch_scope_couples_samples():
    """The seed's shared trace makes a prediction depend on the batch: the option is real."""
    x = np.random.default_rng(1).normal(size=(16, 10, 6)).astype("float32")
    model = EngramClassifier(input_shape=(10, 6), num_classes=5, hidden_dim=32, memory_size=16,
                             trace_scope="batch", hebbian_lr=0.5)
    full = model.predict(x, batch_size=16, verbose=0)
    alone = model.predict(x[:1], verbose=0)
    assert np.abs(alone[0] - full[0]).max() > 1e-6


def test_stateful_network_resets_per_training_batch():
    x = np.random.default_rng(2).normal(size=(4, 5, 3)).astype("float32")
    net = EngramNetwork(8, 4, stateful=True, reset_states_per_batch=True, trace_noise_stddev=0.0,
                        return_sequences=False)
    a = to_numpy(net(x, training=True))
    b = to_numpy(net(x, training=True))
    np.testing.assert_allclose(a, b, rtol=1e-6)  # each training batch starts from zeros
    c = to_numpy(net(x, training=False))
    d = to_numpy(net(x, training=False))
    assert np.abs(c - d).max() > 1e-6  # inference carries the state across calls


def test_loss_falls_on_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images[:512] / 16.0).astype("float32")
    y = digits.target[:512]
    model = EngramClassifier(input_shape=(8, 8), num_classes=10, hidden_dim=32, memory_size=16)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0]
    assert history.history["accuracy"][-1] > 0.3  # chance is 0.1


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_variable_length_masked_training_with_noise(scope):
    from keras_engram.layers import Engram

    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 7, 3)).astype("float32")
    x[:8, 5:] = 0.0
    inputs = keras.Input((None, 3))
    hidden = Engram(8, 4, trace_scope=scope, trace_noise_stddev=0.01, seed=1)(
        keras.layers.Masking()(inputs)
    )
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, x[:, 0, :1], epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert tuple(model.predict(x[:2, :4], verbose=0).shape) == (2, 1)


def test_regressor_with_per_sequence_targets_says_what_to_do():
    x = np.random.default_rng(0).normal(size=(8, 6, 2)).astype("float32")
    y = np.zeros((8, 3), "float32")
    model = EngramRegressor(input_shape=(6, 2), output_dim=3, hidden_dim=8, memory_size=4)
    model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"Expected targets of shape \(batch, timesteps, output_dim\)"
                                         r".*`return_sequences=False`.*y.shape=\(\w*,? ?3\)"):
        model.fit(x, y, epochs=1, verbose=0)
    per_sequence = EngramRegressor(input_shape=(6, 2), output_dim=3, hidden_dim=8, memory_size=4,
                                   return_sequences=False)
    per_sequence.compile(optimizer="adam", loss="mse")
    history = per_sequence.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_task_on_a_given_backbone_equals_the_task_built_from_arguments(tmp_path):
    from keras_engram.models import EngramBackbone

    x = np.random.default_rng(3).normal(size=(4, 6, 4)).astype("float32")
    keras.utils.set_random_seed(0)
    built = EngramClassifier(input_shape=(6, 4), num_classes=3, hidden_dim=8, memory_size=4,
                             trace_scope="batch", seed=2)
    backbone = EngramBackbone.from_config(built.backbone.get_config())
    given = EngramClassifier(backbone=backbone, num_classes=3)
    given.set_weights(built.get_weights())
    np.testing.assert_array_equal(given.predict(x, verbose=0), built.predict(x, verbose=0))
    assert backbone.get_config()["trace_scope"] == "batch"
    assert given.get_config()["backbone"] == built.get_config()["backbone"] | {
        "config": {**built.get_config()["backbone"]["config"], "name": backbone.name}}
    path = str(tmp_path / "given.keras")
    given.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is EngramClassifier and type(loaded.backbone) is EngramBackbone
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), built.predict(x, verbose=0))
    with pytest.raises(ValueError, match="Expected either `backbone` or the backbone's arguments"):
        EngramClassifier(backbone=backbone, num_classes=3, input_shape=(6, 4))
    with pytest.raises(TypeError, match="Expected `backbone` to be an EngramBackbone"):
        EngramRegressor(backbone=built, output_dim=1)


def test_cloning_a_task_model():
    """`type(model).from_config(model.get_config())` clones a task with its class.

    `keras.models.clone_model` rebuilds any functional subclass as a plain
    `Functional` on the pinned Keras (the same holds for keras-hub's
    models); docs/api/models.md says so and gives this form.
    """
    model = EngramClassifier(input_shape=(5, 3), num_classes=4, hidden_dim=8, memory_size=4)
    clone = type(model).from_config(model.get_config())
    assert type(clone) is EngramClassifier
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(model(x)))
    # The Keras behaviour the docs describe (a plain functional model).
    assert not isinstance(keras.models.clone_model(model), EngramClassifier)
