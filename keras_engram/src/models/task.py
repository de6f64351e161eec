"""Task: the base class of the library's task models (a backbone and a head)."""

import keras

from keras_engram.src.api_export import register
from keras_engram.src.models.backbone import deserialize_dtype


@register
class Task(keras.Model):
    """Base class of a task model: a functional model that wraps a `Backbone` with a head.

    As in keras-hub: the task keeps its backbone as `self.backbone`, and
    its config holds the serialized backbone plus the task's own arguments,
    so `from_config` rebuilds the backbone first and hands it to the
    constructor (`cls(backbone=..., **task_arguments)`).
    """

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
        }

    @classmethod
    def from_config(cls, config):
        config = deserialize_dtype(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
