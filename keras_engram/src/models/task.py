"""Task: the base class of the library's task models (a backbone and a head)."""

import keras

from keras_engram.src.api_export import register
from keras_engram.src.models.backbone import deserialize_dtype
from keras_engram.src.presets import preset_io
from keras_engram.src.presets.registry import presets_property


@register
class Task(keras.Model):
    """Base class of a task model: a functional model that wraps a `Backbone` with a head.

    As in keras-hub: the task keeps its backbone as `self.backbone`, and
    its config holds the serialized backbone plus the task's own arguments,
    so `from_config` rebuilds the backbone first and hands it to the
    constructor (`cls(backbone=..., **task_arguments)`).

    Task models load from and save to presets in keras-hub's directory
    layout (`from_preset`, `save_to_preset`, `presets`); see the presets
    guide. A subclass names the backbone class it wraps as `backbone_cls`.
    """

    backbone_cls = None
    presets = presets_property(preset_io.TASK_CONFIG_FILE)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a task model from a preset, with its trained weights.

        `preset` is a built-in preset name (`keras_engram.presets.list_presets()`
        or `cls.presets`), a preset directory (a path that exists wins over a
        built-in name), or an `hf://` / `kaggle://` handle (see
        `Backbone.from_preset`). Called on `Task` itself, it returns whatever
        task the preset holds.

        The task comes from the preset's `task.json`, the backbone's weights
        from `model.weights.h5` and the head's from `task.weights.h5`. A
        preset without `task.json` (a backbone preset) gets a new head built
        from the keyword arguments (`cls(backbone=..., **kwargs)`).

        Args:
            preset: str or path-like, the preset.
            load_weights: bool (default True). False builds the architecture
                with freshly initialized weights.
            **kwargs: overrides of the task's or its backbone's config, for
                example `dtype` (applied to both), `trace_scope`,
                `hebbian_lr`, `name`. An override of a backbone argument that
                changes the weights (such as `hidden_dim`) is an error; one
                of a head argument that changes the head's shape (such as
                `num_classes`) gives a new, untrained head on the trained
                backbone, for fine-tuning.

        Returns:
            The task model, an instance of the preset's class (a subclass of
            `cls`).

        Raises:
            TypeError: `preset` is not a string or path, `load_weights` is not
                a bool, or an override is not an argument of the preset's
                config.
            ValueError: an unknown preset name (the message lists the
                available ones); a config of another class, or one this
                version of keras-engram cannot build; a weights file that is
                truncated, not HDF5, or of another architecture; an override
                that changes the backbone's weights.
            FileNotFoundError: the directory lacks a file it needs
                (`config.json`, `model.weights.h5`, `task.weights.h5`).
            ImportError: `huggingface_hub` / `kagglehub` is needed and not
                installed.
            ConnectionError: the download failed.

        Example:

        >>> from keras_engram.datasets import load_digits
        >>> from keras_engram.models import EngramClassifier
        >>> model = EngramClassifier.from_preset("enn_digits")
        >>> _, (x_test, y_test) = load_digits(test_size=0.25, seed=0)
        >>> model.predict(x_test[:4], verbose=0).argmax(-1)
        array([2, 0, 4, 9])
        >>> y_test[:4]
        array([2, 0, 4, 9])
        """
        return preset_io.load_task(cls, preset, load_weights, kwargs)

    def save_to_preset(self, preset_dir, metadata=None):
        """Saves the task model as a preset directory (keras-hub's layout).

        Writes the backbone's files (`config.json`, `model.weights.h5`), the
        task's (`task.json`, the whole task serialized, and
        `task.weights.h5`, the weights outside the backbone),
        `metadata.json` (versions, backend, parameter count, date, the task,
        and `metadata`) and a model card `README.md`.

        Args:
            preset_dir: str or path-like, the directory (created when needed).
            metadata: optional dict of JSON-serializable entries added to
                `metadata.json`, for example `description`, `training_data`,
                `score`. It may not set the entries this method computes.

        Raises:
            TypeError: `preset_dir` is not a path, or `metadata` is not a
                JSON-serializable dict.
            ValueError: the model is not built, `preset_dir` is a file, or
                `metadata` sets a computed entry.

        Example:

        >>> import os, tempfile
        >>> from keras_engram.models import EngramClassifier
        >>> model = EngramClassifier(input_shape=(4, 2), num_classes=3,
        ...                          hidden_dim=4, memory_size=2)
        >>> directory = os.path.join(tempfile.mkdtemp(), "tiny_classifier")
        >>> model.save_to_preset(directory, metadata={"description": "Untrained."})
        >>> sorted(os.listdir(directory))  # doctest: +NORMALIZE_WHITESPACE
        ['README.md', 'config.json', 'metadata.json', 'model.weights.h5',
         'task.json', 'task.weights.h5']
        """
        preset_io.save_preset(self, preset_dir, metadata, is_task=True)

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
