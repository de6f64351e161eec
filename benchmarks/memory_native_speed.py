"""Memory-native speed benchmark: the seven memory-native layers beside a Keras GRU and the C originals.

Measures, for the backend in KERAS_BACKEND, in one run:

1. Training throughput (samples x steps per second, and the time of one
   training step; medians over `--rounds` interleaved rounds) of each
   memory-native layer (`AMRC`, `PMRC` with gates, `AMN`, `DTPN`, `HyperAMN`,
   `SGWAMN`, `NDM` in its three variants) and of
   `keras.layers.GRU` of the same width followed by a `Dense` readout, trained with Adam on a `(batch, steps, inputs)` batch of seeded
   normal inputs (speed does not depend on the values); each row also gives
   its step time over GRU's.
2. With `--source PATH` (a checkout of hejhdiss/MEMORY-NATIVE-NEURAL_NETWORK),
   the C originals compiled with `gcc -O2 -shared -fPIC ... -lm`: their
   per-sample `train` calls per second (one sample is one step), driven
   through ctypes.
3. With `--source`, the originals' sine task (the data of their
   `test_amn.py`, split 480 / 120): the seconds `keras_engram.memory_native.AMN`
   takes to reach test R^2 0.9 (checked every 5 epochs), and the best
   test R^2 the C original AMN reaches when trained (its per-sample SGD,
   shuffled each epoch, as its `fit`) for that long.

    KERAS_BACKEND=jax python benchmarks/memory_native_speed.py --source PATH

Numbers from a shared machine are noisy; repeat a run before comparing.
"""

import argparse
import ctypes
import os
import subprocess
import tempfile
import time

import keras
import numpy as np

from keras_engram.layers import AMN, AMRC, DTPN, NDM, PMRC, SGWAMN, HyperAMN
from keras_engram.memory_native import AMN as AMNModel
from keras_engram.memory_native import r2_score


def layer_model(name, inputs, hidden, outputs):
    x = keras.Input((None, inputs))
    if name == "GRU":
        y = keras.layers.Dense(outputs)(keras.layers.GRU(hidden, return_sequences=True)(x))
    else:
        cls, kwargs = {
            "AMRC": (AMRC, {}),
            "PMRC": (PMRC, {"use_learnable_gates": True}),
            "AMN": (AMN, {"memory_size": 16}),
            "DTPN": (DTPN, {"memory_size": 16}),
            "HyperAMN": (HyperAMN, {"memory_size": 16}),
            "SGWAMN": (SGWAMN, {"pre_units": hidden, "workspace_units": 8, "memory_size": 16}),
            "NDM": (NDM, {"memory_size": 16}),
            "NDM clamped": (NDM, {"memory_size": 16, "variant": "clamped"}),
            "NDM momentum": (NDM, {"memory_size": 16, "variant": "momentum"}),
        }[name]
        y = cls(hidden, outputs, return_sequences=True, seed=0, **kwargs)(x)
    model = keras.Model(x, y)
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    return model


def throughput(name, args):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.steps, args.inputs)).astype("float32")
    y = rng.normal(size=(args.batch, args.steps, 1)).astype("float32")
    model = layer_model(name, args.inputs, args.hidden, 1)
    for _ in range(2):  # compile and warm up
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.repeats):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - start) / args.repeats
    keras.backend.clear_session()
    return args.batch * args.steps / seconds, seconds


def build_original(source, name, out_dir):
    files = {"amrc": "memory_net_dll.c", "pmrc": "memory_net_extended.c", "amn": "amn.c"}
    library = os.path.join(out_dir, f"{name}.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", library,
                    os.path.join(source, files[name]), "-lm"], check=True)
    lib = ctypes.CDLL(library)
    ptr, f32 = ctypes.c_void_p, ctypes.POINTER(ctypes.c_float)
    if name == "amn":
        lib.create_amn.restype = ptr
        lib.create_amn.argtypes = [ctypes.c_int] * 4 + [ctypes.c_float]
        lib.amn_set_memory_decay.argtypes = [ptr, ctypes.c_float]
        train, predict = lib.amn_train, lib.amn_forward
        lib.amn_reset_memory.argtypes = [ptr]
    else:
        lib.create_network.restype = ptr
        lib.create_network.argtypes = [ctypes.c_int] * 3 + [ctypes.c_float] * 3
        train, predict = lib.train, lib.predict
    train.restype = ctypes.c_float
    train.argtypes = [ptr, f32, f32]
    predict.argtypes = [ptr, f32, f32]
    return lib, train, predict


def _p(array):
    return array.ctypes.data_as(ctypes.POINTER(ctypes.c_float))


def original_create(lib, name, inputs, hidden, outputs):
    if name == "amn":
        return ctypes.c_void_p(lib.create_amn(inputs, hidden, outputs, 16, 0.001))
    net = ctypes.c_void_p(lib.create_network(inputs, hidden, outputs, 0.3, 0.1, 0.01))
    if name == "pmrc":
        lib.set_use_learnable_gates.argtypes = [ctypes.c_void_p, ctypes.c_bool]
        lib.set_use_learnable_gates(net, True)
    return net


def original_throughput(lib, train, name, args):
    net = original_create(lib, name, args.inputs, args.hidden, 1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4096, args.inputs)).astype("float32")
    y = np.zeros((4096, 1), "float32")
    start = time.perf_counter()
    for i in range(len(x)):
        train(net, _p(x[i]), _p(y[i]))
    return len(x) / (time.perf_counter() - start)


def sine_task(n=600, seed=42):
    rng = np.random.default_rng(seed)
    tau = np.linspace(0, 12, n)
    X = np.stack([np.sin(tau), np.cos(0.5 * tau), np.tanh(tau / 3), 0.05 * rng.normal(size=n),
                  np.roll(np.sin(tau), 1)], axis=1).astype("float32")
    y = (0.7 * np.sin(tau) - 0.4 * np.cos(0.5 * tau) + 0.3 * np.sin(0.2 * tau)).astype("float32")
    return X, y[:, None]


def time_to_r2(target, max_epochs=200):
    X, y = sine_task()
    model = AMNModel(5, 32, 1, memory_size=64, dt=0.1, memory_decay=0.998, random_state=0)
    start = time.perf_counter()
    for epoch in range(5, max_epochs + 1, 5):
        model.fit(X[:480], y[:480], epochs=5)
        memory = model.get_memory_state()
        r2 = model.score(X[480:], y[480:])
        model.set_memory_state(memory)
        if r2 >= target:
            return time.perf_counter() - start, epoch, r2
    return float("nan"), max_epochs, r2


def original_best_r2(lib, train, predict, seconds):
    X, y = sine_task()
    net = original_create(lib, "amn", 5, 32, 1)
    lib.amn_set_memory_decay(net, 0.998)
    rng = np.random.default_rng(42)
    best, start, out = -np.inf, time.perf_counter(), np.zeros(1, "float32")
    lib.amn_reset_memory(net)
    while time.perf_counter() - start < seconds:
        for i in rng.permutation(480):  # the original's fit shuffles every epoch
            train(net, _p(X[i]), _p(y[i]))
        predicted = []
        for i in range(480, 600):
            predict(net, _p(X[i]), _p(out))
            predicted.append(out.copy())
        best = max(best, r2_score(y[480:], np.array(predicted)))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", help="checkout of MEMORY-NATIVE-NEURAL_NETWORK (C originals)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--inputs", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10, help="training steps timed per round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds over the models (medians are reported)")
    parser.add_argument("--models", nargs="+", help="the memory-native rows to run (GRU always runs)")
    parser.add_argument("--original-runs", type=int, default=5,
                        help="runs of the C original AMN on the sine task (clock-seeded weights)")
    args = parser.parse_args()
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}; batch {args.batch}, "
          f"steps {args.steps}, inputs {args.inputs}, hidden {args.hidden}; {args.rounds} rounds "
          f"of {args.repeats} steps")
    names = ("GRU", "AMRC", "PMRC", "AMN", "DTPN", "HyperAMN", "SGWAMN", "NDM", "NDM clamped",
             "NDM momentum")
    if args.models:
        names = ("GRU",) + tuple(name for name in names[1:] if name in args.models)
    steps = {name: [] for name in names}
    for _ in range(args.rounds):  # interleaved, so that the machine's drift hits every model alike
        for name in names:
            steps[name].append(throughput(name, args)[1])
    gru_steps = steps["GRU"]
    print("\n| model | samples x steps / s | step ms | step time / GRU's (lowest-highest round) |"
          "\n|---|---:|---:|---:|")
    for name in names:
        step = float(np.median(steps[name]))
        ratios = [mine / gru for mine, gru in zip(steps[name], gru_steps)]
        print(f"| {name} | {args.batch * args.steps / step:,.0f} | {1000 * step:.1f} | "
              f"{np.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
    if not args.source:
        return
    with tempfile.TemporaryDirectory() as out_dir:
        print("\n| C original (-O2) | samples x steps / s (per-sample train) |\n|---|---:|")
        libs = {}
        for name in ("amrc", "pmrc", "amn"):
            libs[name] = build_original(os.path.abspath(args.source), name, out_dir)
            rate = original_throughput(libs[name][0], libs[name][1], name, args)
            print(f"| {name.upper()} | {rate:,.0f} |")
        seconds, epochs, r2 = time_to_r2(0.9)
        budget = seconds if seconds == seconds else 60.0
        # The original seeds its weights from the clock: one run per model, each as long.
        best = [original_best_r2(*libs["amn"], budget) for _ in range(args.original_runs)]
        print(f"\nsine task: keras-engram AMN reaches test R^2 {r2:.3f} (>= 0.9) after {epochs} "
              f"epochs, {seconds:.1f} s; the C original AMN trained as long, {args.original_runs} "
              f"runs: best test R^2 median {np.median(best):.3f}, lowest {min(best):.3f}, "
              f"highest {max(best):.3f}")


if __name__ == "__main__":
    main()
