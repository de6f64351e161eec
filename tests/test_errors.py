"""Bad arguments and inputs raise clear errors naming the argument."""

import numpy as np
import pytest

from keras_engram.layers import Engram, EngramCell
from keras_engram.models import EngramClassifier, EngramNetwork


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        (dict(hidden_dim=0, memory_size=4), ValueError, "hidden_dim"),
        (dict(hidden_dim=8, memory_size=-1), ValueError, "memory_size"),
        (dict(hidden_dim=8.5, memory_size=4), TypeError, "hidden_dim"),
        (dict(hidden_dim=8, memory_size=4, integrator_units=0), ValueError, "integrator_units"),
        (dict(hidden_dim=8, memory_size=4, hebbian_lr=1.5), ValueError, "hebbian_lr"),
        (dict(hidden_dim=8, memory_size=4, hebbian_lr=-0.1), ValueError, "hebbian_lr"),
        (dict(hidden_dim=8, memory_size=4, sparsity_strength=2.0), ValueError, "sparsity_strength"),
        (dict(hidden_dim=8, memory_size=4, sparsity_strength=-0.5), ValueError, "sparsity_strength"),
        (dict(hidden_dim=8, memory_size=4, temperature=0.0), ValueError, "temperature"),
        (dict(hidden_dim=8, memory_size=4, temperature=-1.0), ValueError, "temperature"),
        (dict(hidden_dim=8, memory_size=4, trace_scope="global"), ValueError, "trace_scope"),
        (dict(hidden_dim=8, memory_size=4, trace_noise_stddev=-1.0), ValueError, "trace_noise_stddev"),
        (dict(hidden_dim=8, memory_size=4, trace_clip=0.0), ValueError, "trace_clip"),
        (dict(hidden_dim=8, memory_size=4, attention_l1=-1.0), ValueError, "attention_l1"),
        (dict(hidden_dim=8, memory_size=4, scale_factor=float("nan")), ValueError, "scale_factor"),
        (dict(hidden_dim=8, memory_size=4, use_layer_norm="yes"), TypeError, "use_layer_norm"),
        (dict(hidden_dim=8, memory_size=4, seed="1"), TypeError, "seed"),
        (dict(hidden_dim=8, memory_size=4, scale_factor="0.5"), TypeError, "scale_factor"),
        (dict(hidden_dim=8, memory_size=4, hebbian_lr="0.1"), TypeError, "hebbian_lr"),
        (dict(hidden_dim=8, memory_size=4, temperature=None), TypeError, "temperature"),
        (dict(hidden_dim=8, memory_size=4, dropout=1.0), ValueError, "dropout"),
        (dict(hidden_dim=8, memory_size=4, recurrent_dropout=-0.1), ValueError, "recurrent_dropout"),
        (dict(hidden_dim=8, memory_size=4, recurrent_dropout="0.1"), TypeError, "recurrent_dropout"),
    ],
)
@pytest.mark.parametrize("cls", [EngramCell, Engram])
def test_bad_arguments(cls, kwargs, error, text):
    with pytest.raises(error, match=f"Received: {text}="):
        cls(**kwargs)


@pytest.mark.parametrize("unroll, error", [(0, ValueError), (-2, ValueError), ("yes", TypeError), (1.5, TypeError)])
def test_bad_unroll(unroll, error):
    with pytest.raises(error, match="Expected `unroll` to be a positive integer. Received: unroll="):
        Engram(8, 4, unroll=unroll)


def test_message_is_keras_style():
    with pytest.raises(ValueError, match=r"Expected `hebbian_lr` to be in \[0.0, 1.0\]\. Received: hebbian_lr=2.0"):
        Engram(8, 4, hebbian_lr=2.0)


@pytest.mark.parametrize("shape", [(2, 5), (2, 5, 3, 1), (5,)])
def test_input_of_wrong_rank(shape):
    with pytest.raises(ValueError, match="rank 3"):
        Engram(8, 4)(np.zeros(shape, "float32"))


def test_feature_size_different_from_built_one():
    layer = Engram(8, 4)
    layer(np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match=r"Expected inputs with 3 features.*Received: sequences.shape=\(2, 5, 4\)"):
        layer(np.zeros((2, 5, 4), "float32"))


@pytest.mark.parametrize("name", ["return_sequences", "return_state", "go_backwards", "stateful",
                                  "save_memory"])
def test_layer_flags_must_be_bools(name):
    with pytest.raises(TypeError, match=f"Expected `{name}` to be a bool. Received: {name}='yes'"):
        Engram(8, 4, **{name: "yes"})


def test_wrong_types_are_type_errors_across_the_library():
    from keras_engram.compat import load_tensorflow_engram_weights
    from keras_engram.datasets import load_digits

    with pytest.raises(TypeError, match="Expected `return_sequences` to be a bool"):
        EngramNetwork(return_sequences="no")
    with pytest.raises(TypeError, match="Expected `num_classes` to be a positive integer"):
        EngramClassifier(input_shape=(5, 3), num_classes="2")
    with pytest.raises(TypeError, match="Expected `test_size` to be a float. Received: test_size='0.2'"):
        load_digits(test_size="0.2")
    with pytest.raises(TypeError, match="Expected an EngramClassifier, EngramRegressor, EngramBackbone"):
        layer = Engram(8, 4)
        layer(np.zeros((1, 2, 3), "float32"))
        load_tensorflow_engram_weights(layer, __file__)


def test_model_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        EngramClassifier(input_shape=(5, 3), num_classes=0)
    with pytest.raises(ValueError, match="input_shape"):
        EngramClassifier(input_shape=(5,), num_classes=2)
    with pytest.raises(TypeError, match="unknown arguments: \\['hidden_units'\\]"):
        EngramClassifier(input_shape=(5, 3), num_classes=2, hidden_units=4)
    with pytest.raises(ValueError, match="dropout_rate"):
        EngramNetwork(dropout_rate=1.0)
    with pytest.raises(ValueError, match="initial_state"):
        Engram(8, 4)(np.zeros((2, 5, 3), "float32"), initial_state=[np.zeros((2, 8), "float32")])
