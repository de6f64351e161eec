"""Digits accuracy protocol: ENN vs LSTM, and tensorflow-engram when present.

scikit-learn's digits read as 8 steps x 8 features (X / 16), stratified 25%
test split, split and weight seeds 0, 1, 2, hidden 64, memory 32, Adam 1e-3,
batch 64, 40 epochs. Prints one row per model with each seed's test accuracy
and the mean. The backend is KERAS_BACKEND's; run once per backend:

    KERAS_BACKEND=jax python benchmarks/digits_accuracy.py
"""

import argparse
import time

import keras
import numpy as np

from keras_engram.datasets import load_digits
from keras_engram.models import EngramClassifier

HIDDEN, MEMORY, EPOCHS, BATCH, LR = 64, 32, 40, 64, 1e-3


def enn(seed, trace_scope="sample"):
    return EngramClassifier(input_shape=(8, 8), num_classes=10, hidden_dim=HIDDEN,
                            memory_size=MEMORY, trace_scope=trace_scope, seed=seed)


def enn_batch_trace(seed):
    return enn(seed, trace_scope="batch")


def lstm(seed):
    return keras.Sequential([
        keras.Input((8, 8)),
        keras.layers.LSTM(HIDDEN, seed=seed),
        keras.layers.Dropout(0.3, seed=seed),
        keras.layers.Dense(10, activation="softmax"),
    ])


def seed_enn(seed):
    from tensorflow_engram.models import EngramClassifier as SeedClassifier

    return SeedClassifier(input_shape=(8, 8), num_classes=10, hidden_dim=HIDDEN, memory_size=MEMORY)


def accuracy(build, seed, epochs):
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=seed)
    model = build(seed)
    model.compile(optimizer=keras.optimizers.Adam(LR), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=epochs, batch_size=BATCH, verbose=0)
    predicted = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
    return float((predicted == y_test).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-trace", action="store_true",
                        help="add keras-engram in seed mode (trace_scope='batch')")
    parser.add_argument("--models", nargs="*", help="substrings of the model names to run")
    args = parser.parse_args()
    models = {"keras-engram ENN": enn, "Keras LSTM": lstm}
    if args.batch_trace:
        models["keras-engram ENN, batch trace"] = enn_batch_trace
    if keras.backend.backend() == "tensorflow":
        try:
            import tensorflow_engram  # noqa: F401

            models["tensorflow-engram 0.1.0"] = seed_enn
        except ImportError:
            print("(tensorflow-engram not installed: seed row left out)")
    if args.models:
        models = {k: v for k, v in models.items() if any(m in k for m in args.models)}
    print(f"backend {keras.backend.backend()}, keras {keras.__version__}, "
          f"{args.epochs} epochs, seeds {args.seeds}")
    print(f"| model | {' | '.join(f'seed {s}' for s in args.seeds)} | mean | std | seconds |")
    print("|---" * (len(args.seeds) + 4) + "|")
    for name, build in models.items():
        start = time.perf_counter()
        scores = [accuracy(build, seed, args.epochs) for seed in args.seeds]
        cells = " | ".join(f"{s:.4f}" for s in scores)
        spread = np.std(scores, ddof=1) if len(scores) > 1 else float("nan")
        print(f"| {name} | {cells} | {np.mean(scores):.4f} | {spread:.4f} "
              f"| {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
