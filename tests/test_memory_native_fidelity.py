"""Legacy fidelity: the `legacy=True` cells reproduce the original C code's predictions.

The fixtures `tests/data/memory_native_*.npz` come from
`tests/data/make_memory_native_fixtures.py`, which compiles the originals
and records a file written by their `save`, the outputs of their `predict`
on a test sequence after loading that file into a fresh model, and the file
saved after predicting (the final memory). Here the file is read into a
stateful legacy layer, which runs the same sequence.
"""

import glob
import os

import numpy as np
import pytest

from helpers import to_numpy
from keras_engram.compat import load_memory_native
from keras_engram.src.compat.memory_native import (
    detect_kind,
    legacy_layer,
    read_memory_native_file,
)

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
FIXTURES = sorted(glob.glob(os.path.join(DATA, "memory_native_*.npz")))
NAMES = [os.path.basename(p)[len("memory_native_") : -len(".npz")] for p in FIXTURES]
# float32 rounding: the C code sums in another order; 40 steps of a recurrence.
TOLERANCE = 2e-5

def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(np.asarray(data, np.uint8).tobytes())
    return str(path)

def test_every_model_has_a_fixture():
    assert {name.split("_")[0] for name in NAMES} == {"amrc", "pmrc", "amn"}

@pytest.mark.parametrize("fixture", FIXTURES, ids=NAMES)
def test_legacy_layer_reproduces_the_original_predictions_and_memory(fixture, tmp_path):
    data = np.load(fixture)
    contents = read_memory_native_file(_write(tmp_path, "saved.bin", data["saved"]))
    assert contents["kind"] == os.path.basename(fixture).split("_")[2].split(".")[0]
    layer = legacy_layer(contents, stateful=True, return_sequences=True)
    x, y = data["x"], data["y"]
    # In two calls: the memory carries over from the first to the second.
    first = to_numpy(layer(x[None, :25]))[0]
    second = to_numpy(layer(x[None, 25:]))[0]
    outputs = np.concatenate([first, second])
    scale = max(np.abs(y).max(), 1.0)
    assert np.abs(outputs - y).max() <= TOLERANCE * scale, np.abs(outputs - y).max()
    # The final memory equals what the original saves after predicting.
    after = read_memory_native_file(_write(tmp_path, "after.bin", data["saved_after"]))
    memory = layer.get_memory_state()
    saved_states = {
        "amrc": (1, 3),  # m, y_{t-2}
        "pmrc": tuple(range(1, len(memory))),  # m, y_{t-2}, o_{t-2}, (gate)
        "amn": (1, 2, 3),  # hidden, lru, manifold
    }[contents["kind"]]
    for index in saved_states:
        if contents["kind"] == "pmrc" and index == 2:
            continue  # y_{t-1}: not in the file
        expected = after["states"][index]
        assert np.abs(memory[index] - expected).max() <= TOLERANCE * max(np.abs(expected).max(), 1.0)

@pytest.mark.parametrize("fixture", FIXTURES, ids=NAMES)
def test_load_memory_native_then_predict_reproduces_the_original(fixture, tmp_path):
    data = np.load(fixture)
    model = load_memory_native(_write(tmp_path, "saved.bin", data["saved"]))
    assert model.legacy and type(model).__name__.lower() == os.path.basename(fixture).split("_")[2].split(".")[0]
    x, y = data["x"], data["y"]
    outputs = np.concatenate([model.predict(x[:10]), model.predict(x[10:])])
    assert np.abs(outputs - y).max() <= TOLERANCE * max(np.abs(y).max(), 1.0)


def test_the_amn_fixture_exercises_the_saturating_clips():
    data = np.load(os.path.join(DATA, "memory_native_amn.npz"))

    after = np.frombuffer(data["saved_after"].tobytes(), np.float32)
    lru = after[-8:]  # the file ends with the hidden and LRU states (8 units)
    assert np.abs(lru).max() == 10.0

def test_bad_files_are_clear_errors(tmp_path):
    data = np.load(FIXTURES[0])["saved"]
    with pytest.raises(ValueError, match="size fixes its layout"):
        read_memory_native_file(_write(tmp_path, "cut.bin", data[:-4]))
    with pytest.raises(ValueError, match="at least 16 bytes"):
        detect_kind(b"abc")
    amn = np.load(os.path.join(DATA, "memory_native_amn.npz"))["saved"]
    with pytest.raises(ValueError, match="of kind 'amrc'"):
        read_memory_native_file(_write(tmp_path, "amn.bin", amn), kind="amrc")
    with pytest.raises(TypeError, match="path"):
        read_memory_native_file(3)
