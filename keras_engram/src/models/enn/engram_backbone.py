"""EngramBackbone: the ENN as a functional backbone (sequences to features)."""

import inspect

import keras

from keras_engram.src.api_export import register
from keras_engram.src.models.backbone import Backbone
from keras_engram.src.models.enn.engram_network import ENGRAM_ARGS, EngramNetwork

_MODEL_KWARGS = ("name", "dtype", "trainable")
# The EngramNetwork arguments a backbone does not take: it has no head and
# returns features only.
_HEAD_ARGS = ("output_units", "output_activation", "return_states")
NETWORK_ARGS = (
    frozenset(inspect.signature(EngramNetwork.__init__).parameters) | frozenset(ENGRAM_ARGS)
) - {"self", "kwargs", *_HEAD_ARGS}


@register
class EngramBackbone(Backbone):
    """The Engram network without a head: `(batch, timesteps, features)` to ENN features.

    A functional model around one `EngramNetwork` (`Engram` recurrence, then
    attention pooling when `use_attention` and `return_sequences`, then
    dropout when `dropout_rate > 0`); its outputs are
    `(batch, hidden_dim)`, or `(batch, timesteps, hidden_dim)` with
    `return_sequences` and no pooling. The task models (`EngramClassifier`,
    `EngramRegressor`) put their heads on it, and its config is its
    constructor arguments.

    Args:
        input_shape: `(timesteps, features)`; `timesteps` may be None.
        hidden_dim: int (default 128).
        memory_size: int (default 64).
        **kwargs: any other `EngramNetwork` argument (for example
            `return_sequences`, `use_attention`, `trace_scope`,
            `hebbian_lr`, `dropout_rate`, `stateful`) except the head's
            (`output_units`, `output_activation`, `return_states`), and
            `keras.Model` arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np
    >>> from keras_engram.models import EngramBackbone
    >>> backbone = EngramBackbone(input_shape=(6, 3), hidden_dim=16, memory_size=8,
    ...                           return_sequences=False)
    >>> backbone.predict(np.zeros((2, 6, 3), "float32"), verbose=0).shape
    (2, 16)
    """

    def __init__(self, input_shape, hidden_dim=128, memory_size=64, **kwargs):
        model_kwargs, network_kwargs = split_kwargs("EngramBackbone", kwargs)
        input_shape = check_input_shape(input_shape)

        # === Layers ===
        network = EngramNetwork(
            hidden_dim=hidden_dim,
            memory_size=memory_size,
            dtype=model_kwargs.get("dtype"),
            name="engram_network",
            **network_kwargs,
        )

        # === Functional Model ===
        inputs = keras.Input(shape=input_shape, name="inputs")
        outputs = network(inputs)
        super().__init__(inputs=inputs, outputs=outputs, **model_kwargs)

        # === Config ===
        self.engram_network = network
        self.sequence_shape = input_shape

    @property
    def hidden_dim(self):
        return self.engram_network.hidden_dim

    def get_config(self):
        network = self.engram_network.get_config()
        return {
            **super().get_config(),
            "input_shape": self.sequence_shape,
            **{k: v for k, v in network.items() if k in NETWORK_ARGS},
        }


def split_kwargs(owner, kwargs):
    """Splits `**kwargs` into `keras.Model` arguments and `EngramNetwork` arguments."""
    kwargs = dict(kwargs)
    model_kwargs = {k: kwargs.pop(k) for k in _MODEL_KWARGS if k in kwargs}
    unknown = sorted(set(kwargs) - NETWORK_ARGS)
    if unknown:
        raise TypeError(
            f"Expected keyword arguments of `{owner}` or `EngramNetwork` (without its head's "
            f"{list(_HEAD_ARGS)}). Received unknown arguments: {unknown}"
        )
    return model_kwargs, kwargs


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


def backbone_from_arguments(owner, backbone, input_shape, backbone_args, kwargs):
    """A task's backbone, given or built from the seed-style arguments; and the model kwargs.

    Returns `(backbone, model_kwargs)`. With `backbone` given, `input_shape`
    and further backbone keywords are an error (the backbone holds them).
    """
    model_kwargs, network_kwargs = split_kwargs(owner, kwargs)
    if backbone is None:
        backbone = EngramBackbone(
            input_shape,
            dtype=model_kwargs.get("dtype"),
            name="engram_backbone",
            **backbone_args,
            **network_kwargs,
        )
        return backbone, model_kwargs
    if not isinstance(backbone, EngramBackbone):
        raise TypeError(f"Expected `backbone` to be an EngramBackbone. Received: backbone={backbone!r}")
    given = {"input_shape": input_shape} if input_shape is not None else {}
    given.update(network_kwargs)
    if given:
        raise ValueError(
            f"Expected either `backbone` or the backbone's arguments for `{owner}`, not both. "
            f"Received: backbone and {given}"
        )
    return backbone, model_kwargs
