"""Quickstart: an Engram classifier on scikit-learn's digits, beside an LSTM.

Runs on any backend (KERAS_BACKEND=jax|torch|tensorflow) with data that ship
inside scikit-learn: no download. Each 8 x 8 image is read as a sequence of
8 rows of 8 pixels.

    KERAS_BACKEND=jax python examples/quickstart.py [--epochs 40] [--figures DIR]

It ends by writing three figures of the Engram memory (the Hebbian trace over
the epochs, the attention of four test digits over the memory slots, and how
often each slot wins) and prints their paths.
"""

import argparse
import os

import keras

from keras_engram.datasets import load_digits
from keras_engram.models import EngramClassifier
from keras_engram.utils import (
    HebbianTraceMonitor,
    plot_attention,
    plot_hebbian_trace,
    plot_memory_usage,
)


def train_and_score(model, data, epochs, callbacks=()):
    (x_train, y_train), (x_test, y_test) = data
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0,
              callbacks=list(callbacks))
    return model.evaluate(x_test, y_test, verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--figures", default="quickstart_figures",
                        help="folder for the memory figures")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    data = load_digits(seed=0)
    print(f"Backend: {keras.backend.backend()}; digits: {len(data[0][0])} train, "
          f"{len(data[1][0])} test sequences of 8 steps x 8 features")

    engram = EngramClassifier(input_shape=(8, 8), num_classes=10, hidden_dim=64, memory_size=32)
    lstm = keras.Sequential([
        keras.Input((8, 8)),
        keras.layers.LSTM(64),
        keras.layers.Dropout(0.3),
        keras.layers.Dense(10, activation="softmax"),
    ])
    x_test = data[1][0]
    monitor = HebbianTraceMonitor(x_test[:64], verbose=0)
    for name, model, callbacks in (
        ("EngramClassifier", engram, [monitor]),
        ("LSTM(64)", lstm, []),
    ):
        accuracy = train_and_score(model, data, args.epochs, callbacks)
        print(f"{name:<17} test accuracy {accuracy:.4f}  ({model.count_params():,} parameters)")

    os.makedirs(args.figures, exist_ok=True)
    paths = [os.path.join(args.figures, name) for name in
             ("hebbian_trace.png", "attention.png", "memory_usage.png")]
    plot_hebbian_trace(monitor, paths[0])
    plot_attention(engram, x_test, paths[1], samples=4)
    plot_memory_usage(engram, x_test, paths[2])
    stats = monitor.get_attention_stats()
    print(f"Memory after {args.epochs} epochs: attention entropy {stats['entropy'][-1]:.2f} nats, "
          f"{stats['slots_used'][-1]:.0%} of slots used on 64 test digits")
    print("Figures written:")
    for path in paths:
        print(f"  {os.path.abspath(path)}")


if __name__ == "__main__":
    main()
