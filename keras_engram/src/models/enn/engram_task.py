"""Shared construction of the functional ENN task models (classifier, regressor)."""

import inspect

import keras

from keras_engram.src.models.enn.engram_network import EngramNetwork

_MODEL_KWARGS = ("name", "dtype", "trainable")
_NETWORK_ARGS = frozenset(inspect.signature(EngramNetwork.__init__).parameters) - {
    "self",
    "kwargs",
}


def split_kwargs(owner, kwargs):
    """Splits `**kwargs` into `keras.Model` arguments and `EngramNetwork` arguments."""
    model_kwargs = {k: kwargs.pop(k) for k in _MODEL_KWARGS if k in kwargs}
    unknown = sorted(set(kwargs) - _NETWORK_ARGS)
    if unknown:
        raise TypeError(
            f"Expected keyword arguments of `{owner}` or `EngramNetwork`. "
            f"Received unknown arguments: {unknown}"
        )
    return model_kwargs, dict(kwargs)


def check_input_shape(input_shape):
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) != 2
        or input_shape[-1] is None
    ):
        raise ValueError(
            "Expected `input_shape` to be (timesteps, features) with known features "
            f"(timesteps may be None). Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


def base_config(model):
    return {
        "name": model.name,
        "trainable": model.trainable,
        "dtype": keras.dtype_policies.serialize(model.dtype_policy),
    }


def deserialize_dtype(config):
    config = dict(config)
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
    return config
