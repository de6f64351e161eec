"""Backbone: the base class of the library's functional backbones."""

import keras

from keras_engram.src.api_export import register


@register
class Backbone(keras.Model):
    """Base class of a backbone: a functional model whose config is its constructor arguments.

    As in keras-hub, a backbone maps inputs to features and carries no task
    head; task models (`Task`) wrap one. A subclass builds its graph in
    `__init__`, calls `super().__init__(inputs=..., outputs=..., **kwargs)`,
    and extends `get_config` with its own arguments; `from_config` calls
    the constructor with them.
    """

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_dtype(config))


def deserialize_dtype(config):
    """`config` with a serialized dtype policy turned back into a policy."""
    config = dict(config)
    if isinstance(config.get("dtype"), dict):
        config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
    return config
