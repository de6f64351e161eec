"""Presets on the current backend: the built-in ones, save/load round trips, overrides, handles, errors."""

import json
import os
import shutil
import sys
import types

import keras
import numpy as np
import pytest

import keras_engram
import numpy_reference as ref
from helpers import max_relative_error, to_numpy
from keras_engram.models import (
    Backbone,
    EngramBackbone,
    EngramClassifier,
    EngramNetwork,
    EngramRegressor,
    Task,
)
from keras_engram.presets import list_presets, register_presets
from keras_engram.src.presets.registry import BUILTIN_PRESETS

# The ENN's built-in presets (the memory-native ones: tests/test_memory_native_presets.py).
ROWS = {row["name"]: row for row in list_presets() if row["name"].startswith("enn_")}
BUILTIN = sorted(ROWS)
# The parity battery's float32 tolerance against the float64 NumPy reference (CONTRIBUTING.md).
PARITY_TOLERANCE = 1e-5
X = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")


def builtin_dir(name):
    return BUILTIN_PRESETS[name]["path"]


def read_json(directory, filename):
    with open(os.path.join(directory, filename), encoding="utf-8") as file:
        return json.load(file)


def split_of(name):
    """The test split that the preset's metadata.json names."""
    data = read_json(builtin_dir(name), "metadata.json")["training_data"]
    loader = getattr(keras_engram.datasets, data["loader"].rsplit(".", 1)[1])
    _, (x_test, y_test) = loader(**data["arguments"])
    return x_test, y_test


def small_classifier(**kwargs):
    return EngramClassifier(input_shape=(5, 4), num_classes=3, hidden_dim=8, memory_size=4, **kwargs)


def copy_preset(name, tmp_path):
    target = os.fspath(tmp_path / name)
    shutil.copytree(builtin_dir(name), target)
    return target


@pytest.fixture
def registry_snapshot():
    saved = dict(BUILTIN_PRESETS)
    yield
    BUILTIN_PRESETS.clear()
    BUILTIN_PRESETS.update(saved)


# --- the built-in presets ----------------------------------------------------------


def test_the_enn_registers_two_builtin_presets():
    assert BUILTIN == ["enn_breast_cancer", "enn_digits"]
    for row in ROWS.values():
        assert set(row) == {"name", "class", "description", "params", "metric", "score"}
        assert row["class"] == "EngramClassifier"
        assert row["metric"] == "test accuracy"
        assert row["params"] == read_json(builtin_dir(row["name"]), "metadata.json")["parameter_count"]


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_preset_loads_and_predicts(name):
    model = Task.from_preset(name)
    assert type(model) is EngramClassifier
    x_test, _ = split_of(name)
    probabilities = model.predict(x_test[:16], verbose=0)
    assert probabilities.shape == (16, model.num_classes)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)
    assert model.count_params() == ROWS[name]["params"]


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_score_recomputed_on_its_test_split_equals_the_metadata(name):
    score = read_json(builtin_dir(name), "metadata.json")["score"]
    x_test, y_test = split_of(name)
    model = EngramClassifier.from_preset(name)
    correct = int((model.predict(x_test, batch_size=256, verbose=0).argmax(-1) == y_test).sum())
    assert (correct, len(y_test)) == (score["correct"], score["samples"])
    assert correct / len(y_test) == score["value"] == ROWS[name]["score"]


def test_digits_preset_meets_the_accuracy_bar():
    assert read_json(builtin_dir("enn_digits"), "metadata.json")["score"]["value"] >= 0.975


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_predictions_match_the_float64_numpy_reference(name):
    """Every backend computes the preset's function to the parity tolerance of the float64 reference."""
    model = EngramClassifier.from_preset(name)
    x_test, _ = split_of(name)
    x = x_test[:64]
    params = ref.cell_params(model.engram_network.cell)
    outputs, *_ = ref.sequence(params, x.astype(np.float64))
    head = model.get_layer("predictions")
    expected = ref.dense(outputs[:, -1], *(to_numpy(w).astype(np.float64) for w in head.weights), "softmax")
    assert max_relative_error(model.predict(x, verbose=0), expected) <= PARITY_TOLERANCE


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_preset_files_follow_the_keras_hub_layout(name):
    directory = builtin_dir(name)
    assert sorted(os.listdir(directory)) == [
        "README.md", "config.json", "metadata.json", "model.weights.h5", "task.json", "task.weights.h5",
    ]
    config, task = read_json(directory, "config.json"), read_json(directory, "task.json")
    assert config["registered_name"] == "keras_engram>EngramBackbone"
    assert task["registered_name"] == "keras_engram>EngramClassifier"
    assert task["config"]["backbone"]["config"] == config["config"]
    assert "build_config" not in json.dumps(task) and "compile_config" not in json.dumps(task)
    metadata = read_json(directory, "metadata.json")
    for key in ("keras_engram_version", "keras_version", "backend", "backend_version",
                "parameter_count", "date_saved", "task", "training_data", "score", "description"):
        assert metadata[key], key
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in os.listdir(directory))
    assert size < 400_000


def test_backbone_loads_from_a_task_preset():
    backbone = EngramBackbone.from_preset("enn_digits")
    task = EngramClassifier.from_preset("enn_digits")
    assert type(backbone) is EngramBackbone
    for a, b in zip(backbone.weights, task.backbone.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert Backbone.from_preset("enn_digits").hidden_dim == 64


def test_presets_class_property_lists_what_each_class_loads():
    assert sorted(EngramClassifier.presets) == BUILTIN
    assert sorted(EngramBackbone.presets) == BUILTIN
    assert sorted(Task.presets) == BUILTIN
    assert EngramRegressor.presets == {}
    assert EngramClassifier.presets["enn_digits"] == ROWS["enn_digits"]


# --- round trips -------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: small_classifier(trace_scope="batch"),
        lambda: EngramRegressor(input_shape=(None, 4), output_dim=2, hidden_dim=8, memory_size=4),
        lambda: EngramBackbone(input_shape=(5, 4), hidden_dim=8, memory_size=4,
                               return_sequences=True, use_attention=True),
    ],
    ids=["classifier", "regressor", "backbone"],
)
def test_save_to_preset_then_from_preset_reproduces_predictions_exactly(build, tmp_path):
    model = build()
    rng = np.random.default_rng(1)
    for weight in model.weights:  # away from the initializers, so that loading matters
        weight.assign(rng.normal(0, 0.3, weight.shape).astype(weight.dtype))
    expected = to_numpy(model(X))
    directory = os.fspath(tmp_path / "preset")
    model.save_to_preset(directory, metadata={"description": "a test"})
    restored = type(model).from_preset(directory)
    assert type(restored) is type(model)
    np.testing.assert_array_equal(to_numpy(restored(X)), expected)
    base = Task if isinstance(model, Task) else Backbone
    np.testing.assert_array_equal(to_numpy(base.from_preset(directory)(X)), expected)


def test_saved_metadata_and_model_card(tmp_path):
    model = small_classifier()
    directory = os.fspath(tmp_path / "tiny")
    model.save_to_preset(directory, metadata={"description": "Tiny.", "score": {"metric": "none"}})
    metadata = read_json(directory, "metadata.json")
    assert metadata["keras_engram_version"] == keras_engram.__version__
    assert metadata["keras_version"] == keras.version()
    assert metadata["backend"] == keras.backend.backend()
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["task"] == "EngramClassifier" and metadata["tasks"] == ["EngramClassifier"]
    assert metadata["description"] == "Tiny."
    card = open(os.path.join(directory, "README.md"), encoding="utf-8").read()
    assert "# tiny" in card and 'EngramClassifier.from_preset("tiny")' in card and "Tiny." in card
    assert f"{model.count_params():,}" in card


def test_backbone_metadata_names_its_tasks_and_removes_stale_task_files(tmp_path):
    directory = os.fspath(tmp_path / "preset")
    small_classifier().save_to_preset(directory)
    EngramBackbone(input_shape=(5, 4), hidden_dim=8, memory_size=4).save_to_preset(directory)
    assert "task.json" not in os.listdir(directory)
    assert "task.weights.h5" not in os.listdir(directory)
    metadata = read_json(directory, "metadata.json")
    assert metadata["task"] is None
    assert metadata["tasks"] == ["EngramClassifier", "EngramRegressor"]


def test_head_weights_file_holds_the_head_only(tmp_path):
    model = small_classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, np.array([0, 1, 2]), epochs=1, verbose=0)  # an optimizer with state
    directory = os.fspath(tmp_path / "preset")
    model.save_to_preset(directory)
    import h5py  # a Keras dependency

    names = []
    with h5py.File(os.path.join(directory, "task.weights.h5"), "r") as file:
        file.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    assert names == ["layers/dense/vars/0", "layers/dense/vars/1"]


def test_load_weights_false_builds_the_architecture_with_fresh_weights():
    trained = EngramClassifier.from_preset("enn_digits")
    fresh = EngramClassifier.from_preset("enn_digits", load_weights=False)
    assert [(w.path, tuple(w.shape)) for w in fresh.weights] == [
        (w.path, tuple(w.shape)) for w in trained.weights
    ]
    memory = fresh.engram_network.cell.memory_bank
    assert not np.array_equal(to_numpy(memory), to_numpy(trained.engram_network.cell.memory_bank))
    head = fresh.get_layer("predictions")
    np.testing.assert_array_equal(to_numpy(head.bias), 0.0)  # the initializer's value


# --- overrides ---------------------------------------------------------------------


def test_overrides_that_keep_the_weights_are_applied():
    trained = EngramClassifier.from_preset("enn_digits")
    model = EngramClassifier.from_preset("enn_digits", trace_scope="batch", hebbian_lr=0.01,
                                         dtype="mixed_bfloat16", name="renamed")
    cell = model.engram_network.cell
    assert (cell.trace_scope, cell.hebbian_lr, model.name) == ("batch", 0.01, "renamed")
    assert model.engram_network.dtype_policy.name == "mixed_bfloat16"
    for a, b in zip(model.weights, trained.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_an_override_that_changes_the_weights_is_an_error():
    with pytest.raises(ValueError, match=r"overrides \{'hidden_dim': 32\} change the weights that `model\.weights\.h5`"):
        EngramClassifier.from_preset("enn_digits", hidden_dim=32)
    # Fewer weights than the file holds is an error too (Keras would ignore the extra ones).
    with pytest.raises(ValueError, match=r"\{'use_layer_norm': False\} change the weights that `model\.weights\.h5`"):
        EngramBackbone.from_preset("enn_digits", use_layer_norm=False)
    # Without weights to load, the same override builds the other architecture.
    assert EngramClassifier.from_preset("enn_digits", load_weights=False, hidden_dim=32).engram_network.hidden_dim == 32


def test_an_unknown_override_is_a_type_error():
    with pytest.raises(TypeError, match=r"unknown arguments: \['hidden_size'\]"):
        EngramClassifier.from_preset("enn_digits", hidden_size=32)
    with pytest.raises(TypeError, match="load_weights"):
        EngramClassifier.from_preset("enn_digits", load_weights="yes")


def test_a_new_head_on_the_trained_backbone_with_num_classes():
    trained = EngramClassifier.from_preset("enn_digits")
    model = EngramClassifier.from_preset("enn_digits", num_classes=3)
    assert model.predict(np.zeros((2, 8, 8), "float32"), verbose=0).shape == (2, 3)
    for a, b in zip(model.backbone.weights, trained.backbone.weights):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def test_a_task_on_a_backbone_preset_takes_the_head_arguments(tmp_path):
    directory = os.fspath(tmp_path / "backbone")
    backbone = EngramBackbone(input_shape=(5, 4), hidden_dim=8, memory_size=4, return_sequences=False)
    backbone.save_to_preset(directory)
    model = EngramClassifier.from_preset(directory, num_classes=4)
    assert model.predict(X, verbose=0).shape == (3, 4)
    np.testing.assert_array_equal(to_numpy(model.backbone(X)), to_numpy(backbone(X)))
    with pytest.raises(TypeError, match=r"no `task\.json`.*num_classes"):
        EngramClassifier.from_preset(directory)


# --- handles -------------------------------------------------------------------------


def test_a_directory_that_exists_wins_over_a_builtin_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small_classifier().save_to_preset("enn_digits")
    model = EngramClassifier.from_preset("enn_digits")
    assert model.num_classes == 3


def test_path_like_preset(tmp_path):
    small_classifier().save_to_preset(tmp_path / "tiny")
    assert EngramClassifier.from_preset(tmp_path / "tiny").num_classes == 3


@pytest.mark.parametrize(
    "handle, module",
    [("hf://someone/enn_tiny", "huggingface_hub"), ("kaggle://someone/enn/keras/tiny", "kagglehub")],
)
def test_remote_handles_need_their_package(handle, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    with pytest.raises(ImportError, match=f"needs the `{module}` package.*pip install {module}"):
        EngramClassifier.from_preset(handle)


def _fake_hubs(monkeypatch, directory, calls, error=None):
    def download(**kwargs):
        calls.append(kwargs)
        if error is not None:
            raise error
        return directory

    hf = types.ModuleType("huggingface_hub")
    hf.snapshot_download = lambda repo_id: download(repo_id=repo_id)
    kaggle = types.ModuleType("kagglehub")
    kaggle.model_download = lambda handle: download(handle=handle)
    monkeypatch.setitem(sys.modules, "huggingface_hub", hf)
    monkeypatch.setitem(sys.modules, "kagglehub", kaggle)


def test_remote_handles_are_delegated_to_the_hub_packages(tmp_path, monkeypatch):
    directory = os.fspath(tmp_path / "downloaded")
    small_classifier().save_to_preset(directory)
    calls = []
    _fake_hubs(monkeypatch, directory, calls)
    assert EngramClassifier.from_preset("hf://someone/enn_tiny").num_classes == 3
    assert EngramClassifier.from_preset("kaggle://someone/enn/keras/tiny/2").num_classes == 3
    assert calls == [{"repo_id": "someone/enn_tiny"}, {"handle": "someone/enn/keras/tiny/2"}]


def test_unreachable_network_is_a_clear_error(monkeypatch):
    calls = []
    _fake_hubs(monkeypatch, None, calls, error=OSError("Network is unreachable"))
    with pytest.raises(ConnectionError, match=r"'hf://someone/enn_tiny'.*Network is unreachable"):
        EngramClassifier.from_preset("hf://someone/enn_tiny")
    with pytest.raises(ConnectionError, match=r"from Kaggle.*Network is unreachable"):
        EngramClassifier.from_preset("kaggle://someone/enn/keras/tiny")
    assert len(calls) == 2


def test_malformed_remote_handles(monkeypatch):
    _fake_hubs(monkeypatch, None, [])
    with pytest.raises(ValueError, match="hf://<owner>/<model>"):
        EngramClassifier.from_preset("hf://a/b/c")
    with pytest.raises(ValueError, match="kaggle://<owner>/<model>/keras/<variation>"):
        EngramClassifier.from_preset("kaggle://someone/enn")


# --- errors --------------------------------------------------------------------------


def test_an_unknown_name_lists_the_available_presets():
    with pytest.raises(ValueError, match=r"Unknown preset 'enn_digit'.*\['enn_breast_cancer', 'enn_digits'\]"):
        EngramClassifier.from_preset("enn_digit")
    with pytest.raises(ValueError, match=r"of this class: \[\]"):
        EngramRegressor.from_preset("enn_digit")
    with pytest.raises(TypeError, match="preset"):
        EngramClassifier.from_preset(3)


@pytest.mark.parametrize("filename", ["config.json", "model.weights.h5", "task.weights.h5"])
def test_a_missing_file_is_named(filename, tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    os.remove(os.path.join(directory, filename))
    with pytest.raises(FileNotFoundError, match=f"has no `{filename}`"):
        EngramClassifier.from_preset(directory)


def test_a_truncated_weights_file_is_named(tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    path = os.path.join(directory, "model.weights.h5")
    data = open(path, "rb").read()
    with open(path, "wb") as file:
        file.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"`model\.weights\.h5`.*truncated or corrupt"):
        EngramClassifier.from_preset(directory)


def test_a_file_that_is_not_hdf5_is_named(tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    with open(os.path.join(directory, "task.weights.h5"), "wb") as file:
        file.write(b"PK\x03\x04 not weights at all")
    with pytest.raises(ValueError, match=r"`task\.weights\.h5`.*not an HDF5 weights file"):
        EngramClassifier.from_preset(directory)


def test_weights_of_another_architecture_are_named(tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    other = EngramBackbone(input_shape=(3, 10), hidden_dim=8, memory_size=4)
    other.save_weights(os.path.join(directory, "model.weights.h5"))
    with pytest.raises(ValueError, match=r"`model\.weights\.h5`.*another architecture"):
        EngramClassifier.from_preset(directory)


def test_a_config_of_another_class_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"`task\.json`.*EngramClassifier, which is not a EngramRegressor"):
        EngramRegressor.from_preset("enn_digits")
    directory = os.fspath(tmp_path / "network")
    os.makedirs(directory)
    network = EngramNetwork(hidden_dim=4, memory_size=2)
    with open(os.path.join(directory, "config.json"), "w") as file:
        json.dump(keras.saving.serialize_keras_object(network), file)
    with pytest.raises(ValueError, match=r"`config\.json`.*EngramNetwork, which is not a Backbone"):
        Backbone.from_preset(directory)


def test_a_config_of_an_unregistered_class_is_named(tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    config = read_json(directory, "task.json")
    config["registered_name"] = "other_library>FancyClassifier"
    with open(os.path.join(directory, "task.json"), "w") as file:
        json.dump(config, file)
    with pytest.raises(ValueError, match=r"`task\.json`.*'other_library>FancyClassifier'.*registered"):
        Task.from_preset(directory)


def test_a_config_from_a_newer_version_with_unknown_keys_is_named(tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    config = read_json(directory, "task.json")
    config["config"]["backbone"]["config"]["memory_decay"] = 0.9
    with open(os.path.join(directory, "task.json"), "w") as file:
        json.dump(config, file)
    metadata = read_json(directory, "metadata.json")
    metadata["keras_engram_version"] = "9.0.0"
    with open(os.path.join(directory, "metadata.json"), "w") as file:
        json.dump(metadata, file)
    with pytest.raises(TypeError, match=r"`task\.json`.*\['memory_decay'\].*keras-engram 9\.0\.0, newer"):
        EngramClassifier.from_preset(directory)


def test_invalid_json_is_named(tmp_path):
    directory = copy_preset("enn_breast_cancer", tmp_path)
    with open(os.path.join(directory, "config.json"), "w") as file:
        file.write("{not json")
    with pytest.raises(ValueError, match=r"`config\.json`.*not valid JSON"):
        EngramBackbone.from_preset(directory)


def test_save_to_preset_checks_its_arguments(tmp_path):
    model = small_classifier()
    with pytest.raises(TypeError, match="metadata"):
        model.save_to_preset(os.fspath(tmp_path / "a"), metadata=["description"])
    with pytest.raises(ValueError, match="parameter_count"):
        model.save_to_preset(os.fspath(tmp_path / "a"), metadata={"parameter_count": 1})
    with pytest.raises(TypeError, match="JSON"):
        model.save_to_preset(os.fspath(tmp_path / "a"), metadata={"data": np.zeros(2)})
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="a file"):
        model.save_to_preset(os.fspath(tmp_path / "file"))
    with pytest.raises(TypeError, match="preset_dir"):
        model.save_to_preset(3)


# --- the registry --------------------------------------------------------------------


def test_register_presets_adds_a_preset_that_loads_by_name(tmp_path, registry_snapshot):
    directory = os.fspath(tmp_path / "tiny")
    small_classifier().save_to_preset(directory, metadata={"score": {"metric": "m", "value": 0.5}})
    register_presets({"tiny_classifier": {"description": "Tiny.", "path": directory}})
    row = [r for r in list_presets() if r["name"] == "tiny_classifier"][0]
    assert row == {"name": "tiny_classifier", "class": "EngramClassifier", "description": "Tiny.",
                   "params": small_classifier().count_params(), "metric": "m", "score": 0.5}
    assert EngramClassifier.from_preset("tiny_classifier").num_classes == 3
    bare = os.fspath(tmp_path / "bare")
    small_classifier().save_to_preset(bare, metadata={"score": 0.7})  # a bare number is the score
    register_presets({"tiny_bare": {"description": "Bare.", "path": bare}})
    row = [r for r in list_presets() if r["name"] == "tiny_bare"][0]
    assert (row["metric"], row["score"]) == (None, 0.7)
    register_presets({"tiny_classifier": {"description": "Tiny.", "path": directory}})  # same entry
    with pytest.raises(ValueError, match="already registered"):
        register_presets({"tiny_classifier": {"description": "Other.", "path": directory}})


def test_register_presets_checks_entries(registry_snapshot):
    with pytest.raises(TypeError, match="dict"):
        register_presets([("a", {})])
    with pytest.raises(ValueError, match="exactly one of `path` or `handle`"):
        register_presets({"a": {"description": "x"}})
    with pytest.raises(ValueError, match="exactly one of"):
        register_presets({"a": {"description": "x", "path": "p", "url": "u"}})
    with pytest.raises(TypeError, match="string"):
        register_presets({"a": {"description": 3, "path": "p"}})
    with pytest.raises(ValueError, match="hf://"):
        register_presets({"a": {"description": "x", "handle": "s3://bucket/a"}})
    register_presets({"remote": {"description": "x", "handle": "hf://someone/remote"}})
    row = [r for r in list_presets() if r["name"] == "remote"][0]
    assert row["class"] is None and row["score"] is None
