"""Preset directories in keras-hub's layout: resolving a handle, loading and saving.

A preset directory holds:

- `config.json`: the backbone, serialized with
  `keras.saving.serialize_keras_object` (so it carries `registered_name`,
  for example `"keras_engram>EngramBackbone"`), without `build_config` and
  `compile_config`;
- `model.weights.h5`: the backbone's weights;
- `task.json` and `task.weights.h5` (task models only): the whole task
  serialized, and the weights of its head (everything but the backbone);
- `metadata.json`: versions, backend, parameter count, date, and what the
  caller of `save_to_preset` adds (training data, score, ...);
- `README.md`: a model card generated from the files above.

These are the file names keras-hub writes, so `keras_hub.upload_preset` (or
`huggingface_hub.upload_folder` / `kagglehub.model_upload`) publishes the
directory as it is.
"""

import copy
import datetime
import importlib.metadata
import json
import os
import re
import sys

import keras

from keras_engram.src.presets.registry import BUILTIN_PRESETS
from keras_engram.version import __version__

CONFIG_FILE = "config.json"
TASK_CONFIG_FILE = "task.json"
METADATA_FILE = "metadata.json"
MODEL_WEIGHTS_FILE = "model.weights.h5"
TASK_WEIGHTS_FILE = "task.weights.h5"
README_FILE = "README.md"

HF_SCHEME = "hf://"
KAGGLE_SCHEME = "kaggle://"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Overrides that apply to the whole model: a task passes them to its backbone too.
_MODEL_WIDE = ("dtype",)
# Overrides of the top-level model only (a task's name is not its backbone's).
_TOP_LEVEL = ("name", "trainable")
# Keys of metadata.json that save_to_preset computes (the caller's `metadata` may not set them).
_COMPUTED_METADATA = (
    "keras_engram_version", "keras_version", "backend", "backend_version",
    "parameter_count", "date_saved", "tasks", "task",
)


# --- handles --------------------------------------------------------------------


def resolve_preset(preset, available):
    """The local directory of `preset`: a directory, an `hf://` / `kaggle://` handle, or a built-in name.

    A path that exists wins over a built-in preset of the same name.
    `available` names the presets the calling class loads (for the error
    message of an unknown name).
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str):
        raise TypeError(
            "Expected `preset` to be a built-in preset name, a directory or an hf:// or "
            f"kaggle:// handle (a string). Received: preset={preset!r}"
        )
    if os.path.isdir(preset):
        return preset
    if os.path.exists(preset):
        raise ValueError(
            f"Expected `preset` to be a preset directory; {preset!r} is a file. "
            f"Received: preset={preset!r}"
        )
    if preset.startswith(HF_SCHEME):
        return _download_from_hugging_face(preset)
    if preset.startswith(KAGGLE_SCHEME):
        return _download_from_kaggle(preset)
    if preset in BUILTIN_PRESETS:
        entry = BUILTIN_PRESETS[preset]
        return entry["path"] if "path" in entry else resolve_preset(entry["handle"], available)
    raise ValueError(
        f"Unknown preset {preset!r}: it is not a directory, an hf:// or kaggle:// handle, nor a "
        f"built-in preset. Built-in presets of this class: {sorted(available)} "
        f"(all of them: `keras_engram.presets.list_presets()`). Received: preset={preset!r}"
    )


def _download_from_hugging_face(preset):
    try:
        import huggingface_hub
    except ImportError as error:
        raise ImportError(
            f"Loading the preset {preset!r} needs the `huggingface_hub` package, which is not "
            "installed: `pip install huggingface_hub`."
        ) from error
    repo_id = preset[len(HF_SCHEME):]
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", repo_id):
        raise ValueError(
            "Expected a Hugging Face handle of the form 'hf://<owner>/<model>'. "
            f"Received: preset={preset!r}"
        )
    try:
        return huggingface_hub.snapshot_download(repo_id=repo_id)
    except Exception as error:  # the hub raises many kinds of errors (network, HTTP, auth)
        raise ConnectionError(
            f"Could not download the preset {preset!r} from the Hugging Face Hub "
            f"({type(error).__name__}: {error}). Check the handle and the network connection, "
            "or download the directory and pass its path."
        ) from error


def _download_from_kaggle(preset):
    try:
        import kagglehub
    except ImportError as error:
        raise ImportError(
            f"Loading the preset {preset!r} needs the `kagglehub` package, which is not "
            "installed: `pip install kagglehub`."
        ) from error
    handle = preset[len(KAGGLE_SCHEME):]
    if len(handle.split("/")) not in (4, 5) or not all(handle.split("/")):
        raise ValueError(
            "Expected a Kaggle handle of the form "
            "'kaggle://<owner>/<model>/keras/<variation>[/<version>]'. "
            f"Received: preset={preset!r}"
        )
    try:
        return kagglehub.model_download(handle)
    except Exception as error:  # network, HTTP and authentication errors
        raise ConnectionError(
            f"Could not download the preset {preset!r} from Kaggle ({type(error).__name__}: "
            f"{error}). Check the handle and the network connection, or download the directory "
            "and pass its path."
        ) from error


# --- reading ----------------------------------------------------------------------


def _file(directory, filename, preset):
    path = os.path.join(directory, filename)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The preset {preset!r} has no `{filename}` ({path} does not exist): a preset "
            f"directory holds `{CONFIG_FILE}` and `{MODEL_WEIGHTS_FILE}`, and a task preset also "
            f"`{TASK_CONFIG_FILE}` and `{TASK_WEIGHTS_FILE}`."
        )
    return path


def _read_json(directory, filename, preset):
    path = _file(directory, filename, preset)
    try:
        with open(path, encoding="utf-8") as file:
            return json.load(file)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"`{filename}` of the preset {preset!r} is not valid JSON ({error}).") from error


def _read_metadata(directory, preset):
    """metadata.json when the directory has one (it is informative only), else {}."""
    if not os.path.isfile(os.path.join(directory, METADATA_FILE)):
        return {}
    metadata = _read_json(directory, METADATA_FILE, preset)
    return metadata if isinstance(metadata, dict) else {}


def _registered_class(config, filename, preset):
    if not isinstance(config, dict) or not {"class_name", "config", "registered_name"} <= set(config):
        raise ValueError(
            f"`{filename}` of the preset {preset!r} is not a serialized Keras model: expected "
            "the keys `class_name`, `config` and `registered_name` (what "
            "`keras.saving.serialize_keras_object` writes)."
        )
    name = config["registered_name"] or config["class_name"]
    found = keras.saving.get_registered_object(name)
    if not isinstance(found, type):
        raise ValueError(
            f"`{filename}` of the preset {preset!r} holds {name!r}, a class that no imported "
            "package has registered with Keras: import the library that defines it first."
        )
    return found


def _check_class(found, cls, filename, preset):
    if not issubclass(found, cls):
        raise ValueError(
            f"`{filename}` of the preset {preset!r} holds a {found.__name__}, which is not a "
            f"{cls.__name__}: load it with `{found.__name__}.from_preset(...)`."
        )


def _version_tuple(version):
    match = re.match(r"\d+(\.\d+)*", str(version))
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _newer_version_note(metadata):
    saved = metadata.get("keras_engram_version")
    if saved and _version_tuple(saved) > _version_tuple(__version__):
        return (
            f" The preset was saved by keras-engram {saved}, newer than the installed "
            f"{__version__}: upgrade keras-engram to load it."
        )
    return ""


def _innermost(error):
    """The first cause of `error` (Keras wraps a constructor's error when it deserializes)."""
    seen = {id(error)}
    while True:
        cause = error.__cause__ or error.__context__
        if cause is None or id(cause) in seen or not isinstance(cause, (TypeError, ValueError)):
            return error
        seen.add(id(cause))
        error = cause


def _deserialize(config, filename, preset, overrides, metadata):
    try:
        return keras.saving.deserialize_keras_object(config)
    except (TypeError, ValueError) as error:
        cause = _innermost(error)
        given = f" with the overrides {overrides}" if overrides else ""
        raise type(cause)(
            f"`{filename}` of the preset {preset!r} does not build a "
            f"{config.get('class_name')}{given}: {cause}{_newer_version_note(metadata)}"
        ) from error


def _shapes(weights):
    return [tuple(weight.shape) for weight in weights]


def _head_weights(task):
    backbone_ids = {id(weight) for weight in task.backbone.weights}
    return [weight for weight in task.weights if id(weight) not in backbone_ids]


def _check_same_weights(model, reference, overrides, filename, preset):
    """An override may not change the weights that `filename` fills."""
    if _shapes(model) != _shapes(reference):
        raise ValueError(
            f"The overrides {overrides} change the weights that `{filename}` of the preset "
            f"{preset!r} holds ({len(reference)} weights of shapes {_shapes(reference)}; with "
            f"the overrides {len(model)} of shapes {_shapes(model)}): pass only overrides that "
            "keep them (for example `dtype`, `trace_scope`, `hebbian_lr`), or "
            "`load_weights=False`."
        )


def _load_weights(model, directory, filename, preset, objects_to_skip=None):
    """Loads one weights file into `model`; every failure names the file and the cause."""
    path = _file(directory, filename, preset)
    with open(path, "rb") as file:
        signature = file.read(len(_HDF5_SIGNATURE))
    if signature != _HDF5_SIGNATURE:
        raise ValueError(
            f"`{filename}` of the preset {preset!r} is not an HDF5 weights file "
            "(it does not start with the HDF5 signature)."
        )
    kwargs = {} if objects_to_skip is None else {"objects_to_skip": objects_to_skip}
    try:
        keras.saving.load_weights(model, path, **kwargs)
    except OSError as error:
        raise ValueError(
            f"`{filename}` of the preset {preset!r} is truncated or corrupt: the HDF5 file "
            f"does not open ({error})."
        ) from error
    except Exception as error:  # Keras reports a mismatch as ValueError, h5py as KeyError
        raise ValueError(
            f"`{filename}` of the preset {preset!r} does not fit the {type(model).__name__}: it "
            f"holds the weights of another architecture ({type(error).__name__}: {error})"
        ) from error


def _split_overrides(overrides, own_keys, inner_keys, preset, owner):
    """(overrides of the outer config, overrides of the inner config) by key."""
    unknown = sorted(set(overrides) - set(own_keys) - set(inner_keys))
    if unknown:
        raise TypeError(
            f"Expected keyword arguments that the config of the preset {preset!r} holds "
            f"(for {owner}: {sorted(set(own_keys) | set(inner_keys))}). "
            f"Received unknown arguments: {unknown}"
        )
    outer, inner = {}, {}
    for key, value in overrides.items():
        if key in _MODEL_WIDE:
            outer[key] = inner[key] = value
        elif key in own_keys:
            outer[key] = value
        else:
            inner[key] = value
    return outer, inner


def _check_load_weights(load_weights):
    if not isinstance(load_weights, bool):
        raise TypeError(f"Expected `load_weights` to be a bool. Received: load_weights={load_weights!r}")


def _load_backbone_from(cls, directory, preset, load_weights, overrides, metadata):
    original = _read_json(directory, CONFIG_FILE, preset)
    _check_class(_registered_class(original, CONFIG_FILE, preset), cls, CONFIG_FILE, preset)
    _split_overrides(overrides, original["config"], (), preset, cls.__name__)
    config = copy.deepcopy(original)
    config["config"].update(overrides)
    if load_weights:
        _file(directory, MODEL_WEIGHTS_FILE, preset)
    backbone = _deserialize(config, CONFIG_FILE, preset, overrides, metadata)
    if load_weights:
        if overrides:
            reference = _deserialize(original, CONFIG_FILE, preset, {}, metadata)
            _check_same_weights(backbone.weights, reference.weights, overrides, MODEL_WEIGHTS_FILE, preset)
        _load_weights(backbone, directory, MODEL_WEIGHTS_FILE, preset, _optimizer(backbone))
    return backbone


def load_backbone(cls, preset, load_weights, overrides):
    """`cls.from_preset(preset, load_weights, **overrides)` for a `Backbone` class."""
    _check_load_weights(load_weights)
    directory = resolve_preset(preset, cls.presets)
    metadata = _read_metadata(directory, preset)
    return _load_backbone_from(cls, directory, preset, load_weights, dict(overrides), metadata)


def load_task(cls, preset, load_weights, overrides):
    """`cls.from_preset(preset, load_weights, **overrides)` for a `Task` class."""
    from keras_engram.src.models.backbone import Backbone

    _check_load_weights(load_weights)
    overrides = dict(overrides)
    directory = resolve_preset(preset, cls.presets)
    metadata = _read_metadata(directory, preset)
    backbone_config = _read_json(directory, CONFIG_FILE, preset)
    _registered_class(backbone_config, CONFIG_FILE, preset)

    if not os.path.isfile(os.path.join(directory, TASK_CONFIG_FILE)):
        # A backbone preset: a new head on the trained backbone, from the keyword arguments.
        backbone_keys = backbone_config["config"]
        task_kwargs = {k: v for k, v in overrides.items()
                       if k not in backbone_keys or k in _TOP_LEVEL or k in _MODEL_WIDE}
        backbone_kwargs = {k: v for k, v in overrides.items()
                           if k in backbone_keys and k not in _TOP_LEVEL}
        backbone = _load_backbone_from(Backbone, directory, preset, load_weights, backbone_kwargs, metadata)
        try:
            return cls(backbone=backbone, **task_kwargs)
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"The preset {preset!r} has no `{TASK_CONFIG_FILE}` (it holds a backbone only): "
                f"{cls.__name__}.from_preset puts a new head on it, built from the keyword "
                f"arguments, which failed: {error}"
            ) from error

    original = _read_json(directory, TASK_CONFIG_FILE, preset)
    _check_class(_registered_class(original, TASK_CONFIG_FILE, preset), cls, TASK_CONFIG_FILE, preset)
    inner = original["config"].get("backbone")
    if not isinstance(inner, dict) or not isinstance(inner.get("config"), dict):
        raise ValueError(f"`{TASK_CONFIG_FILE}` of the preset {preset!r} holds no serialized `backbone`.")
    own_keys = [k for k in original["config"] if k != "backbone"]
    inner_keys = [k for k in inner["config"] if k not in _TOP_LEVEL]
    task_overrides, backbone_overrides = _split_overrides(
        overrides, own_keys, inner_keys, preset, cls.__name__
    )
    config = copy.deepcopy(original)
    config["config"].update(task_overrides)
    config["config"]["backbone"]["config"].update(backbone_overrides)
    if load_weights:
        _file(directory, MODEL_WEIGHTS_FILE, preset)
    task = _deserialize(config, TASK_CONFIG_FILE, preset, overrides, metadata)
    if not load_weights:
        return task
    new_head = False
    if overrides:
        reference = _deserialize(original, TASK_CONFIG_FILE, preset, {}, metadata)
        _check_same_weights(task.backbone.weights, reference.backbone.weights, backbone_overrides,
                            MODEL_WEIGHTS_FILE, preset)
        # An override of the head's shape (for example `num_classes`) gives a new,
        # untrained head on the trained backbone, as in keras-hub.
        new_head = _shapes(_head_weights(task)) != _shapes(_head_weights(reference))
    _load_weights(task.backbone, directory, MODEL_WEIGHTS_FILE, preset, _optimizer(task.backbone))
    if _head_weights(task) and not new_head:
        _load_weights(task, directory, TASK_WEIGHTS_FILE, preset, _backbone_parts(task))
    return task


def _backbone_parts(task):
    """What the head's weights file leaves out: the backbone, the layers of it the task exposes, the optimizer.

    Keras's weights files follow every attribute of a model, so a task
    attribute that returns a part of the backbone (such as
    `EngramClassifier.engram_network`) would store that part again; any
    layer the task exposes whose weights all belong to the backbone is left
    out with it. The optimizer's state is training state, not the model's.
    """
    backbone_ids = {id(weight) for weight in task.backbone.weights}
    parts = [task.backbone]
    for attribute in dir(task):
        if attribute.startswith("__") or attribute in ("presets", "backbone"):
            continue
        try:
            value = getattr(task, attribute)
        except Exception:  # a property that cannot be read here is not saved by Keras either
            continue
        if (
            isinstance(value, keras.layers.Layer)
            and value is not task
            and value.weights
            and all(id(weight) in backbone_ids for weight in value.weights)
        ):
            parts.append(value)
    return parts + _optimizer(task)


def _optimizer(model):
    optimizer = getattr(model, "optimizer", None)
    return [optimizer] if optimizer is not None else []


# --- writing ----------------------------------------------------------------------


def _without(config, keys):
    if isinstance(config, dict):
        return {k: _without(v, keys) for k, v in config.items() if k not in keys}
    if isinstance(config, list):
        return [_without(v, keys) for v in config]
    return config


def _serialize(model):
    return _without(keras.saving.serialize_keras_object(model), ("build_config", "compile_config"))


def _write_json(directory, filename, content):
    with open(os.path.join(directory, filename), "w", encoding="utf-8") as file:
        json.dump(content, file, indent=4)
        file.write("\n")


def _backend_version():
    backend = keras.backend.backend()
    module = sys.modules.get(backend)  # already imported by Keras; read, never imported here
    version = getattr(module, "__version__", None)
    if version is None:
        for distribution in (backend, f"{backend}-cpu"):
            try:
                return importlib.metadata.version(distribution)
            except importlib.metadata.PackageNotFoundError:
                continue
    return version


def _compatible_tasks(backbone):
    """Names of the registered task classes whose `backbone_cls` is the backbone's class."""
    from keras_engram.src.models.task import Task

    names = {
        obj.__name__ for obj in keras.saving.get_custom_objects().values()
        if isinstance(obj, type) and issubclass(obj, Task) and getattr(obj, "backbone_cls", None) is type(backbone)
    }
    return sorted(names)


def _check_destination(preset_dir, metadata):
    """`(preset_dir as str, metadata as dict)`, checked; creates the directory."""
    if isinstance(preset_dir, os.PathLike):
        preset_dir = os.fspath(preset_dir)
    if not isinstance(preset_dir, str):
        raise TypeError(f"Expected `preset_dir` to be a path. Received: preset_dir={preset_dir!r}")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise TypeError(f"Expected `metadata` to be a dict or None. Received: metadata={metadata!r}")
    clashing = sorted(set(metadata) & set(_COMPUTED_METADATA))
    if clashing:
        raise ValueError(
            f"Expected `metadata` without the keys save_to_preset computes ({list(_COMPUTED_METADATA)}). "
            f"Received: {clashing}"
        )
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as error:
        raise TypeError(f"Expected `metadata` to be JSON-serializable ({error}). Received: metadata={metadata!r}") from error
    if os.path.exists(preset_dir) and not os.path.isdir(preset_dir):
        raise ValueError(f"Expected `preset_dir` to be a directory. Received: preset_dir={preset_dir!r}, a file")
    return preset_dir, metadata


def _write_metadata_and_card(preset_dir, model, metadata, tasks, task, namespace, class_name=None):
    full_metadata = {
        "keras_engram_version": __version__,
        "keras_version": keras.version(),
        "backend": keras.backend.backend(),
        "backend_version": _backend_version(),
        "parameter_count": int(model.count_params()),
        "date_saved": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d@%H:%M:%S"),
        "tasks": tasks,
        "task": task,
        **metadata,
    }
    _write_json(preset_dir, METADATA_FILE, full_metadata)
    with open(os.path.join(preset_dir, README_FILE), "w", encoding="utf-8") as file:
        file.write(model_card(
            os.path.basename(os.path.normpath(preset_dir)), model, full_metadata, namespace, class_name
        ))


def save_preset(model, preset_dir, metadata, is_task):
    """Writes `model` (a `Backbone`, or a `Task` when `is_task`) to `preset_dir`."""
    preset_dir, metadata = _check_destination(preset_dir, metadata)
    if not model.built:
        raise ValueError(f"Expected a built model: build {type(model).__name__} (call it once) before saving it.")
    os.makedirs(preset_dir, exist_ok=True)

    backbone = model.backbone if is_task else model
    _write_json(preset_dir, CONFIG_FILE, _serialize(backbone))
    keras.saving.save_weights(
        backbone, os.path.join(preset_dir, MODEL_WEIGHTS_FILE), objects_to_skip=_optimizer(backbone)
    )
    task_files = (TASK_CONFIG_FILE, TASK_WEIGHTS_FILE)
    for filename in task_files:  # no stale task files from an earlier save into this directory
        if os.path.isfile(os.path.join(preset_dir, filename)):
            os.remove(os.path.join(preset_dir, filename))
    if is_task:
        _write_json(preset_dir, TASK_CONFIG_FILE, _serialize(model))
        if _head_weights(model):
            keras.saving.save_weights(
                model, os.path.join(preset_dir, TASK_WEIGHTS_FILE), objects_to_skip=_backbone_parts(model)
            )
    tasks = [type(model).__name__] if is_task else _compatible_tasks(backbone)
    _write_metadata_and_card(preset_dir, model, metadata, tasks, type(model).__name__ if is_task else None,
                             "keras_engram.models")


# --- estimators (a Keras model inside a Python object: the memory-native models) -------


def _estimator_config(estimator):
    cls = type(estimator)
    return {
        "module": cls.__module__,
        "class_name": cls.__name__,
        "config": estimator.get_config(),
        "registered_name": keras.saving.get_registered_name(cls),
    }


def save_estimator_preset(estimator, preset_dir, metadata, namespace):
    """Writes an estimator (`config.json`: its constructor arguments; `model.weights.h5`: its model's weights)."""
    preset_dir, metadata = _check_destination(preset_dir, metadata)
    os.makedirs(preset_dir, exist_ok=True)
    for filename in (TASK_CONFIG_FILE, TASK_WEIGHTS_FILE):
        if os.path.isfile(os.path.join(preset_dir, filename)):
            os.remove(os.path.join(preset_dir, filename))
    _write_json(preset_dir, CONFIG_FILE, _estimator_config(estimator))
    keras.saving.save_weights(estimator.model, os.path.join(preset_dir, MODEL_WEIGHTS_FILE))
    name = type(estimator).__name__
    _write_metadata_and_card(preset_dir, estimator.model, metadata, [name], name, namespace, name)


def _build_estimator(found, config, preset, overrides, metadata):
    try:
        return found.from_config(config)
    except (TypeError, ValueError) as error:
        given = f" with the overrides {overrides}" if overrides else ""
        raise type(error)(
            f"`{CONFIG_FILE}` of the preset {preset!r} does not build a {found.__name__}{given}: "
            f"{error}{_newer_version_note(metadata)}"
        ) from error


def load_estimator(cls, preset, load_weights, overrides):
    """`cls.from_preset(preset, load_weights, **overrides)` for an estimator class."""
    _check_load_weights(load_weights)
    overrides = dict(overrides)
    directory = resolve_preset(preset, cls.presets)
    metadata = _read_metadata(directory, preset)
    original = _read_json(directory, CONFIG_FILE, preset)
    found = _registered_class(original, CONFIG_FILE, preset)
    _check_class(found, cls, CONFIG_FILE, preset)
    _split_overrides(overrides, original["config"], (), preset, cls.__name__)
    if load_weights:
        _file(directory, MODEL_WEIGHTS_FILE, preset)
    estimator = _build_estimator(found, {**original["config"], **overrides}, preset, overrides, metadata)
    if load_weights:
        if overrides:
            reference = _build_estimator(found, original["config"], preset, {}, metadata)
            _check_same_weights(estimator.model.weights, reference.model.weights, overrides,
                                MODEL_WEIGHTS_FILE, preset)
        _load_weights(estimator.model, directory, MODEL_WEIGHTS_FILE, preset)
    return estimator


def model_card(name, model, metadata, namespace="keras_engram.models", class_name=None):
    """The README.md of a preset directory: what the model is, how to load it, what it scored."""
    cls = class_name or type(model).__name__
    lines = [
        "---",
        "library_name: keras",
        "tags:",
        "- keras-engram",
        "---",
        "",
        f"# {name}",
        "",
        metadata.get("description") or f"A keras-engram `{cls}`.",
        "",
        "## Loading",
        "",
        "```python",
        f"import {namespace}",
        "",
        f'model = {namespace}.{cls}.from_preset("{name}")  # or the directory, or hf://<owner>/{name}',
        "```",
        "",
        "It loads with keras-engram on JAX, PyTorch or TensorFlow (`KERAS_BACKEND`).",
        "",
        "## Model",
        "",
        f"- class: `{namespace}.{cls}`",
        f"- parameters: {metadata['parameter_count']:,}",
    ]
    if model.inputs:
        lines.append(f"- input: `{tuple(model.inputs[0].shape)}`")
    data = metadata.get("training_data")
    if data:
        lines += ["", "## Training data", ""]
        lines += [f"- {key}: {value}" for key, value in data.items()] if isinstance(data, dict) else [str(data)]
    score = metadata.get("score")
    if score:
        lines += ["", "## Score", ""]
        lines += [f"- {key}: {value}" for key, value in score.items()] if isinstance(score, dict) else [str(score)]
    if metadata.get("reproduce"):
        lines += ["", "## Reproducing", "", f"`{metadata['reproduce']}`"]
    lines += [
        "",
        "## Saved with",
        "",
        f"keras-engram {metadata['keras_engram_version']}, Keras {metadata['keras_version']}, "
        f"{metadata['backend']} {metadata['backend_version']}, on {metadata['date_saved']} (UTC).",
        "",
    ]
    return "\n".join(lines)
