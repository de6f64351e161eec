"""Backbone: the base class of the library's functional backbones."""

import keras

from keras_engram.src.api_export import register
from keras_engram.src.presets import preset_io
from keras_engram.src.presets.registry import presets_property


@register
class Backbone(keras.Model):
    """Base class of a backbone: a functional model whose config is its constructor arguments.

    As in keras-hub, a backbone maps inputs to features and carries no task
    head; task models (`Task`) wrap one. A subclass builds its graph in
    `__init__`, calls `super().__init__(inputs=..., outputs=..., **kwargs)`,
    and extends `get_config` with its own arguments; `from_config` calls
    the constructor with them.

    Backbones load from and save to presets in keras-hub's directory layout
    (`from_preset`, `save_to_preset`, `presets`); see the presets guide.
    """

    presets = presets_property(preset_io.CONFIG_FILE)

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a backbone from a preset, with its trained weights.

        `preset` is one of:

        - a built-in preset name (`keras_engram.presets.list_presets()`,
          or `cls.presets`);
        - a preset directory (written by `save_to_preset`); a path that
          exists wins over a built-in name;
        - `"hf://<owner>/<model>"` or
          `"kaggle://<owner>/<model>/keras/<variation>[/<version>]"`,
          downloaded with `huggingface_hub` / `kagglehub` (installed
          separately).

        A task preset loads as a backbone too: its `config.json` and
        `model.weights.h5` hold the backbone.

        Args:
            preset: str or path-like, the preset (see above).
            load_weights: bool (default True). False builds the architecture
                with freshly initialized weights.
            **kwargs: overrides of the preset's config (its constructor
                arguments), for example `dtype`, `trace_scope`,
                `hebbian_lr`, `name`. With `load_weights`, an override that
                changes the weights (such as `hidden_dim`) is an error.

        Returns:
            The backbone, an instance of the preset's class (a subclass of
            `cls`).

        Raises:
            TypeError: `preset` is not a string or path, `load_weights` is not
                a bool, or an override is not an argument of the preset's
                config.
            ValueError: an unknown preset name (the message lists the
                available ones); a config of another class, or one this
                version of keras-engram cannot build; a weights file that is
                truncated, not HDF5, or of another architecture; an override
                that changes the weights.
            FileNotFoundError: the directory lacks `config.json` or
                `model.weights.h5`.
            ImportError: `huggingface_hub` / `kagglehub` is needed and not
                installed.
            ConnectionError: the download failed.

        Example:

        >>> from keras_engram.models import EngramBackbone
        >>> backbone = EngramBackbone.from_preset("enn_digits")
        >>> backbone.hidden_dim, backbone.count_params()
        (64, 52288)
        """
        return preset_io.load_backbone(cls, preset, load_weights, kwargs)

    def save_to_preset(self, preset_dir, metadata=None):
        """Saves the backbone as a preset directory (keras-hub's layout).

        Writes `config.json` (the serialized backbone), `model.weights.h5`,
        `metadata.json` (keras-engram, Keras and backend versions, the
        backend, parameter count, date, compatible tasks, and `metadata`) and
        a model card `README.md`. The directory is created when needed;
        task files left in it by an earlier save are removed.

        Args:
            preset_dir: str or path-like, the directory.
            metadata: optional dict of JSON-serializable entries added to
                `metadata.json`, for example `description`, `training_data`,
                `score`. It may not set the entries this method computes.

        Raises:
            TypeError: `preset_dir` is not a path, or `metadata` is not a
                JSON-serializable dict.
            ValueError: the backbone is not built, `preset_dir` is a file, or
                `metadata` sets a computed entry.

        Example:

        >>> import os, tempfile
        >>> from keras_engram.models import EngramBackbone
        >>> backbone = EngramBackbone(input_shape=(4, 2), hidden_dim=4, memory_size=2)
        >>> directory = os.path.join(tempfile.mkdtemp(), "tiny_backbone")
        >>> backbone.save_to_preset(directory)
        >>> sorted(os.listdir(directory))
        ['README.md', 'config.json', 'metadata.json', 'model.weights.h5']
        """
        preset_io.save_preset(self, preset_dir, metadata, is_task=False)

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
