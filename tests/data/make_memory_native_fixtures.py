"""Writes tests/data/memory_native_*.npz from the original memory-native C code (AMRC, PMRC, AMN, DTPN).

Usage:

    python tests/data/make_memory_native_fixtures.py --source PATH/TO/MEMORY-NATIVE-NEURAL_NETWORK

`--source` is a local checkout of hejhdiss/MEMORY-NATIVE-NEURAL_NETWORK
(GPL-3.0); the script compiles its `memory_net_dll.c` (AMRC),
`memory_net_extended.c` (PMRC), `amn.c` (AMN) and `dtpn.c` (DTPN) with
`gcc -O2 -shared -fPIC ... -lm` into a temporary folder and drives them with
ctypes (nothing of the originals is copied here). For each configuration it
trains the C model for a few dozen samples (so the weights and the memory
are not their initial values), saves it with the original's `save`, loads
that file into a freshly created C model, runs the original's `predict` over
a test sequence and saves the model again. Each `.npz` holds:

- `saved`: the bytes of the first saved file (uint8), what
  `load_memory_native`-style readers get;
- `x`: the test sequence `(steps, inputs)`, float32;
- `y`: the outputs of the original's predict, `(steps, outputs)`;
- `saved_after`: the bytes of the file saved after predicting (the final memory).

The DTPN fixture is written to `original_dtpn.npz` (tested by
tests/test_memory_native_dtpn.py).

The C originals seed their random generators from the clock (AMRC does not
seed it), so rerunning the script writes other weights; the tests only need
that a file and the outputs computed from it belong together.
"""

import argparse
import ctypes
import os
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = {"amrc": "memory_net_dll.c", "pmrc": "memory_net_extended.c", "amn": "amn.c"}
SOURCES["dtpn"] = "dtpn.c"

# name -> (kind, constructor arguments, flags (PMRC) or settings (AMN))
CONFIGS = {
    "amrc": ("amrc", dict(sizes=(3, 8, 2), beta=0.5, alpha=0.2, lr=0.05), {}),
    "pmrc_all_flags": (
        "pmrc", dict(sizes=(3, 8, 2), beta=0.4, alpha=0.15, lr=0.05),
        dict(use_recurrent=True, use_learnable_gates=True, use_output_memory=True),
    ),
    "pmrc_recurrent": (
        "pmrc", dict(sizes=(3, 8, 2), beta=0.4, alpha=0.15, lr=0.05),
        dict(use_recurrent=True, use_learnable_gates=False, use_output_memory=False),
    ),
    "amn": ("amn", dict(sizes=(3, 8, 1), memory_size=6, lr=0.001), dict(dt=0.1, memory_decay=0.995)),
}
CONFIGS["dtpn"] = (
    "dtpn", dict(sizes=(3, 8, 2), memory_size=5, lr=0.01),
    dict(beta=0.4, alpha=0.2, memory_decay=0.95),
)
FILE_NAMES = {"dtpn": "original_dtpn.npz"}
TRAIN_STEPS, TEST_STEPS = 60, 40


def build(source, kind, out_dir):
    library = os.path.join(out_dir, f"original_{kind}.so")
    subprocess.run(
        ["gcc", "-O2", "-shared", "-fPIC", "-o", library, os.path.join(source, SOURCES[kind]), "-lm"],
        check=True,
    )
    lib = ctypes.CDLL(library)
    ptr, f32 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)
    if kind == "dtpn":
        lib.create_dtpn.restype = ptr
        lib.create_dtpn.argtypes = [ctypes.c_int] * 4 + [ctypes.c_float]
        names = {"train": "dtpn_train", "predict": "dtpn_forward", "save": "dtpn_save",
                 "load": "dtpn_load"}
        for setting in ("beta", "alpha", "memory_decay"):
            getattr(lib, f"dtpn_set_{setting}").argtypes = [ptr, ctypes.c_float]
    elif kind == "amn":
        lib.create_amn.restype = ptr
        lib.create_amn.argtypes = [ctypes.c_int] * 4 + [ctypes.c_float]
        names = {"train": "amn_train", "predict": "amn_forward", "save": "amn_save", "load": "amn_load"}
        lib.amn_set_dt.argtypes = [ptr, ctypes.c_float]
        lib.amn_set_memory_decay.argtypes = [ptr, ctypes.c_float]
    else:
        lib.create_network.restype = ptr
        lib.create_network.argtypes = [ctypes.c_int] * 3 + [ctypes.c_float] * 3
        names = {"train": "train", "predict": "predict", "save": "save_network", "load": "load_network"}
        if kind == "pmrc":
            for flag in ("use_recurrent", "use_learnable_gates", "use_output_memory"):
                getattr(lib, f"set_{flag}").argtypes = [ptr, ctypes.c_bool]
    getattr(lib, names["train"]).restype = ctypes.c_float
    getattr(lib, names["train"]).argtypes = [ptr, f32, f32]
    getattr(lib, names["predict"]).argtypes = [ptr, f32, f32]
    for op in ("save", "load"):
        getattr(lib, names[op]).restype = ctypes.c_int
        getattr(lib, names[op]).argtypes = [ptr, ctypes.c_char_p]
    return lib, names


def _f32(array):
    array = np.ascontiguousarray(array, np.float32)
    return array, array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def create(lib, kind, args, settings):
    i, h, o = args["sizes"]
    if kind == "dtpn":
        net = lib.create_dtpn(i, h, o, args["memory_size"], args["lr"])
        for setting, value in settings.items():
            getattr(lib, f"dtpn_set_{setting}")(net, value)
    elif kind == "amn":
        net = lib.create_amn(i, h, o, args["memory_size"], args["lr"])
        lib.amn_set_dt(net, settings["dt"])
        lib.amn_set_memory_decay(net, settings["memory_decay"])
    else:
        net = lib.create_network(i, h, o, args["beta"], args["alpha"], args["lr"])
        for flag, value in settings.items():
            getattr(lib, f"set_{flag}")(net, value)
    return ctypes.c_void_p(net)


def write(name, source, out_dir):
    kind, args, settings = CONFIGS[name]
    lib, names = build(source, kind, out_dir)
    i, _, o = args["sizes"]
    rng = np.random.default_rng(sum(map(ord, name)))
    steps = TRAIN_STEPS + TEST_STEPS
    t = np.arange(steps)[:, None]
    x = (np.sin(0.3 * t + np.arange(i)) + 0.3 * rng.normal(size=(steps, i))).astype(np.float32)
    target = (0.8 * np.tanh(x[:, :o] - 0.5 * x[:, -o:])).astype(np.float32)

    net = create(lib, kind, args, settings)
    for step in range(TRAIN_STEPS):
        xs, xp = _f32(x[step])
        ys, yp = _f32(target[step])
        getattr(lib, names["train"])(net, xp, yp)
    saved = os.path.join(out_dir, f"{name}.bin")
    assert getattr(lib, names["save"])(net, saved.encode()) == 0

    fresh = create(lib, kind, args, settings)
    assert getattr(lib, names["load"])(fresh, saved.encode()) == 0
    outputs = []
    for step in range(TRAIN_STEPS, steps):
        xs, xp = _f32(x[step])
        out, op = _f32(np.zeros(o))
        getattr(lib, names["predict"])(fresh, xp, op)
        outputs.append(out.copy())
    after = os.path.join(out_dir, f"{name}_after.bin")
    assert getattr(lib, names["save"])(fresh, after.encode()) == 0
    with open(saved, "rb") as f:
        file_bytes = np.frombuffer(f.read(), np.uint8)
    with open(after, "rb") as f:
        after_bytes = np.frombuffer(f.read(), np.uint8)
    path = os.path.join(HERE, FILE_NAMES.get(name, f"memory_native_{name}.npz"))
    np.savez_compressed(path, saved=file_bytes, x=x[TRAIN_STEPS:], y=np.stack(outputs),
                        saved_after=after_bytes)
    print(f"{path}: {len(file_bytes)} bytes, outputs {np.stack(outputs).shape}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="checkout of MEMORY-NATIVE-NEURAL_NETWORK")
    parser.add_argument("--only", nargs="*", choices=sorted(CONFIGS), help="write only these fixtures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        for name in args.only or CONFIGS:
            write(name, os.path.abspath(args.source), out_dir)


if __name__ == "__main__":
    main()
