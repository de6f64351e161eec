"""The seven memory-native models beside a Keras GRU on a noisy multi-frequency sine.

AMRC, PMRC, AMN, DTPN (`DualTrackPersistenceNetwork`), Hyper-AMN
(`HyperAMN`), SGW-AMN (`SparseGlobalWorkspace`) and NDM
(`NeuralDifferentialManifold`), each trained by backpropagation through time.

The task: one noisy reading per step of a sum of three sines; predict the
next clean value. One reading does not tell where in its cycle the signal
is, so a model needs memory. The series is split in time (the first 80 %
to train); the memory-native models train by truncated backpropagation
through time on ordered windows and predict the test part continuing from
the memory at the end of training, the GRU (the same width) trains on
windows of the same length and predicts the test part with the training
series before it as context.

    KERAS_BACKEND=jax python examples/memory_native.py [--epochs 30] [--hidden 32] [--models AMN NDM]

It prints each model's test R^2 and training time, then shows the memory at
work: predicting the test part in two calls gives the same outputs as in
one, and after `reset_memory()` the first test predictions start without
context (the mean squared error of the first 20 test steps).
"""

import argparse
import time

import keras
import numpy as np

from keras_engram.memory_native import (
    AMN,
    AMRC,
    PMRC,
    DualTrackPersistenceNetwork,
    HyperAMN,
    NeuralDifferentialManifold,
    SparseGlobalWorkspace,
    r2_score,
)

WINDOW = 16
STEPS_SHOWN = 20  # test steps compared with and without the training memory


def series(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n + 1, dtype="float64")
    clean = np.sin(0.07 * t) + 0.5 * np.sin(0.19 * t + 1.0) + 0.3 * np.sin(0.41 * t)
    readings = clean[:-1] + 0.1 * rng.normal(size=n)
    return readings[:, None].astype("float32"), clean[1:, None].astype("float32") / 2.0


def gru_baseline(x_train, y_train, x_all, hidden, epochs, seed):
    keras.utils.set_random_seed(seed)
    windows = len(x_train) // WINDOW
    xs = x_train[: windows * WINDOW].reshape(windows, WINDOW, 1)
    ys = y_train[: windows * WINDOW].reshape(windows, WINDOW, 1)
    inputs = keras.Input((None, 1))
    hidden_seq = keras.layers.GRU(hidden, return_sequences=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden_seq))
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(xs, ys, batch_size=8, epochs=epochs, shuffle=False, verbose=0)
    return model.predict(x_all[None], verbose=0)[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--models", nargs="+", help="the models to run (default: all, and GRU)")
    args = parser.parse_args()

    x, y = series()
    split = int(0.8 * len(x))
    x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
    factories = {
        "AMRC": lambda: AMRC(1, hidden, 1, output_activation="linear", random_state=0),
        "PMRC": lambda: PMRC(1, hidden, 1, use_learnable_gates=True, output_activation="linear",
                             random_state=0),
        "AMN": lambda: AMN(1, hidden, 1, memory_size=16, random_state=0),
        "DTPN": lambda: DualTrackPersistenceNetwork(1, hidden, 1, memory_matrix_size=16,
                                                    random_state=0),
        "HyperAMN": lambda: HyperAMN(1, hidden, 1, manifold_size=16, random_state=0),
        "SGW-AMN": lambda: SparseGlobalWorkspace(
            1, pre_bottleneck_size=hidden, workspace_size=8, post_bottleneck_size=hidden,
            output_size=1, manifold_size=16, random_state=0,
        ),
        "NDM": lambda: NeuralDifferentialManifold(1, hidden, 1, manifold_size=16, random_state=0),
    }
    hidden = args.hidden
    models = {name: make() for name, make in factories.items()
              if not args.models or name in args.models}
    print(f"{'model':<9} {'test R^2':>9} {'train s':>8}")
    after_training = {}
    for name, model in models.items():
        start = time.perf_counter()
        model.fit(x_train, y_train, epochs=args.epochs)
        seconds = time.perf_counter() - start
        after_training[name] = model.get_memory_state()  # `score` moves the memory on
        print(f"{name:<9} {model.score(x_test, y_test):9.3f} {seconds:8.1f}")
    if not args.models or "GRU" in args.models:
        start = time.perf_counter()
        predicted = gru_baseline(x_train, y_train, x, args.hidden, args.epochs, seed=0)
        seconds = time.perf_counter() - start
        print(f"{'GRU':<9} {r2_score(y_test, predicted[split:]):9.3f} {seconds:8.1f}")
    if "AMN" not in models:
        return

    # The memory at work (AMN): the test part in two calls equals one call.
    amn = models["AMN"]
    amn.set_memory_state(after_training["AMN"])
    whole = amn.predict(x_test)
    amn.set_memory_state(after_training["AMN"])
    halves = np.concatenate([amn.predict(x_test[:200]), amn.predict(x_test[200:])])
    print(f"AMN, test part in one call vs two calls: max difference {np.abs(whole - halves).max():.1e}")
    amn.reset_memory()
    cold = amn.predict(x_test[:STEPS_SHOWN])
    warm_error = np.mean((whole[:STEPS_SHOWN] - y_test[:STEPS_SHOWN]) ** 2)
    cold_error = np.mean((cold - y_test[:STEPS_SHOWN]) ** 2)
    print(f"AMN, first {STEPS_SHOWN} test steps: mean squared error {warm_error:.4f} with the "
          f"training memory, {cold_error:.4f} after reset_memory()")


if __name__ == "__main__":
    main()
