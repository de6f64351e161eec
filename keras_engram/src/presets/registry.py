"""The registry of built-in presets: `register_presets`, `list_presets` and the `presets` class property."""

import json
import os

import keras

# name -> {"description": str, "path": local directory} or {"description", "handle"}.
BUILTIN_PRESETS = {}

_ENTRY_KEYS = frozenset({"description", "path", "handle"})
_REMOTE_SCHEMES = ("hf://", "kaggle://")


def register_presets(presets):
    """Adds presets to the built-in registry (one call per model folder).

    Each model folder of the library has one file, `<folder>_presets.py`,
    that calls this function at import with the presets of its models. A
    preset is a directory in the keras-hub layout (`config.json`,
    `model.weights.h5`, `metadata.json`, and `task.json` with
    `task.weights.h5` for a task model) inside the package, or a
    `hf://` / `kaggle://` handle of one. The model class, parameter count and
    score that `list_presets` shows are read from the directory's files.

    Args:
        presets: dict mapping each preset name (str) to a dict with
            `"description"` (str) and either `"path"` (a local preset
            directory) or `"handle"` (an `hf://` or `kaggle://` handle).

    Raises:
        TypeError: `presets` or an entry is not a dict, or a name or a value
            is not a string.
        ValueError: an entry lacks a key or has an unknown one, a handle has
            another scheme, or a name is already registered with a different
            entry.

    Example:

    >>> import os, tempfile
    >>> from keras_engram.presets import list_presets, register_presets
    >>> from keras_engram.models import EngramBackbone
    >>> directory = os.path.join(tempfile.mkdtemp(), "tiny")
    >>> EngramBackbone(input_shape=(4, 2), hidden_dim=4,
    ...                memory_size=2).save_to_preset(directory)
    >>> register_presets({"tiny_backbone": {"description": "A tiny example.",
    ...                                     "path": directory}})
    >>> "tiny_backbone" in EngramBackbone.presets
    True
    """
    if not isinstance(presets, dict):
        raise TypeError(f"Expected `presets` to be a dict. Received: presets={presets!r}")
    checked = {}
    for name, entry in presets.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"Expected preset names to be non-empty strings. Received: name={name!r}")
        if not isinstance(entry, dict):
            raise TypeError(f"Expected the entry of preset {name!r} to be a dict. Received: {entry!r}")
        unknown = sorted(set(entry) - _ENTRY_KEYS)
        if unknown or "description" not in entry or ("path" in entry) == ("handle" in entry):
            raise ValueError(
                f"Expected the entry of preset {name!r} to have `description` and exactly one of "
                f"`path` or `handle`. Received: keys={sorted(entry)}"
            )
        for key, value in entry.items():
            if not isinstance(value, str):
                raise TypeError(
                    f"Expected `{key}` of preset {name!r} to be a string. Received: {key}={value!r}"
                )
        if "handle" in entry and not entry["handle"].startswith(_REMOTE_SCHEMES):
            raise ValueError(
                f"Expected `handle` of preset {name!r} to start with one of {list(_REMOTE_SCHEMES)}. "
                f"Received: handle={entry['handle']!r}"
            )
        if name in BUILTIN_PRESETS and BUILTIN_PRESETS[name] != entry:
            raise ValueError(
                f"Expected a new preset name: {name!r} is already registered "
                f"({BUILTIN_PRESETS[name]!r}). Received: {entry!r}"
            )
        checked[name] = dict(entry)
    BUILTIN_PRESETS.update(checked)


def _read_json(directory, filename):
    path = os.path.join(directory, filename)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def preset_info(name):
    """The row of `list_presets` for the registered preset `name`."""
    entry = BUILTIN_PRESETS[name]
    row = {"name": name, "class": None, "description": entry["description"],
           "params": None, "metric": None, "score": None}
    if "path" not in entry:
        return row  # a remote preset: its files are read when it is loaded
    config = _read_json(entry["path"], "task.json") or _read_json(entry["path"], "config.json") or {}
    metadata = _read_json(entry["path"], "metadata.json") or {}
    score = metadata.get("score")
    if not isinstance(score, dict):  # a bare number, or no score
        score = {"value": score} if isinstance(score, (int, float)) else {}
    row.update(
        {
            "class": config.get("class_name"),
            "params": metadata.get("parameter_count"),
            "metric": score.get("metric"),
            "score": score.get("value"),
        }
    )
    return row


def list_presets():
    """The built-in presets: name, model class, description, parameter count and score.

    Built-in presets ship inside the package (no download); each loads with
    `from_preset(name)` on its class, on any backend.

    Returns:
        A list of dicts sorted by name, with keys `name`, `class` (the model
        class name), `description`, `params` (parameter count), `metric` (the
        name of the measured score, for example `"test accuracy"`) and
        `score` (its value on the test split that the preset's
        `metadata.json` names). For a preset registered by a remote handle,
        `class`, `params`, `metric` and `score` are None.

    Example:

    >>> from keras_engram.presets import list_presets
    >>> rows = {row["name"]: row for row in list_presets()}
    >>> digits, amn = rows["enn_digits"], rows["amn_mackey_glass"]
    >>> digits["class"], digits["metric"]
    ('EngramClassifier', 'test accuracy')
    >>> amn["class"], amn["metric"]
    ('AMN', 'test R^2')
    """
    return [preset_info(name) for name in sorted(BUILTIN_PRESETS)]


def presets_for_class(cls, config_file):
    """The registered presets that `cls.from_preset` loads, as `{name: row}`.

    A task class (`config_file="task.json"`) gets the presets whose
    `task.json` holds a subclass of it; a backbone class
    (`config_file="config.json"`) those whose `config.json` does (a task
    preset's backbone loads on its own too).
    """
    found = {}
    for name in sorted(BUILTIN_PRESETS):
        entry = BUILTIN_PRESETS[name]
        if "path" not in entry:
            continue
        config = _read_json(entry["path"], config_file)
        if not config:
            continue
        class_name = config.get("registered_name") or config.get("class_name")
        registered = keras.saving.get_registered_object(class_name) if isinstance(class_name, str) else None
        if isinstance(registered, type) and issubclass(registered, cls):
            found[name] = preset_info(name)
    return found


class _ClassProperty:
    """A read-only property of the class itself (`Model.presets`)."""

    def __init__(self, fget):
        self.fget = fget
        self.__doc__ = fget.__doc__

    def __get__(self, instance, owner):
        return self.fget(owner)


def presets_property(config_file):
    """The `presets` class property of `Backbone` (`"config.json"`) and `Task` (`"task.json"`)."""

    def presets(cls):
        """The built-in presets this class loads with `from_preset`, as `{name: row of list_presets}`."""
        return presets_for_class(cls, config_file)

    return _ClassProperty(presets)
