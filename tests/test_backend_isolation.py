"""`import keras_engram` loads no deep-learning framework besides the chosen backend's."""

import json
import os
import subprocess
import sys

import keras
import numpy as np

FRAMEWORKS = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}
# Top-level module of the tensor type each backend returns from convert_to_tensor.
TENSOR_MODULES = {"jax": ("jax", "jaxlib"), "torch": ("torch",), "tensorflow": ("tensorflow",)}


def test_import_loads_no_framework_beyond_keras_own():
    """keras-engram adds no framework to what `import keras` loads under this backend.

    (Keras itself imports jax when it is installed, whatever the backend; the
    per-backend nox sessions install only one framework and so also prove
    that nothing else is needed.)
    """
    backend = keras.backend.backend()
    code = (
        "import sys, keras;"
        "names = ('jax', 'torch', 'tensorflow');"
        "before = {k for k in names if k in sys.modules};"
        "import numpy as np, keras_engram;"
        "m = keras_engram.EngramClassifier(input_shape=(4, 3), num_classes=2, hidden_dim=4, memory_size=2);"
        "m.predict(np.zeros((1, 4, 3)), verbose=0);"
        "after = {k for k in names if k in sys.modules};"
        "print(','.join(sorted(before)) + '|' + ','.join(sorted(after)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "KERAS_BACKEND": backend},
    )
    before, after = result.stdout.strip().splitlines()[-1].split("|")
    assert after == before
    assert FRAMEWORKS[backend] in after.split(",")
    if backend != "tensorflow":
        assert "tensorflow" not in after.split(",")


def test_library_source_never_imports_a_framework():
    import pathlib

    import keras_engram

    root = pathlib.Path(keras_engram.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")) and any(
                stripped.split()[1].split(".")[0] == name for name in ("jax", "torch", "tensorflow")
            ):
                offenders.append(f"{path.name}: {stripped}")
    assert offenders == []


def _configured_backend():
    """The backend Keras should pick, read independently of Keras.

    KERAS_BACKEND when set; otherwise the "backend" entry of keras.json
    ($KERAS_HOME/keras.json, else ~/.keras/keras.json, or /tmp/.keras when the
    home directory is not writable); otherwise Keras's default, "tensorflow".
    """
    requested = os.environ.get("KERAS_BACKEND")
    if requested:
        return requested, "KERAS_BACKEND"
    if "KERAS_HOME" in os.environ:
        keras_dir = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        keras_dir = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    config = os.path.expanduser(os.path.join(keras_dir, "keras.json"))
    try:
        with open(config) as f:
            return json.load(f).get("backend", "tensorflow"), config
    except (OSError, ValueError):
        return "tensorflow", "Keras's default (no readable keras.json)"


def test_backend_is_the_requested_one():
    """Keras runs the backend that KERAS_BACKEND, keras.json or the default names.

    The tensors the backend makes belong to that framework (a torch tensor
    under torch, a jax Array under jax, a tf Tensor under tensorflow).
    """
    expected, source = _configured_backend()
    backend = keras.backend.backend()
    assert backend == expected, f"keras runs {backend!r}; {source} names {expected!r}"
    tensor = keras.ops.convert_to_tensor(np.zeros((2,), "float32"))
    assert type(tensor).__module__.split(".")[0] in TENSOR_MODULES[backend], (
        f"a {backend} tensor is a {type(tensor).__module__}.{type(tensor).__name__}"
    )
