"""Quickstart: an Engram classifier on scikit-learn's digits, beside an LSTM.

Runs on any backend (KERAS_BACKEND=jax|torch|tensorflow) with data that ship
inside scikit-learn: no download. Each 8 x 8 image is read as a sequence of
8 rows of 8 pixels.

    KERAS_BACKEND=jax python examples/quickstart.py [--epochs 40] [--figures DIR]

It ends by printing how sharp the Engram's recall is on the test digits and
writing three figures of its memory (the Hebbian trace at the end of a
sequence after each epoch, the attention of four test digits over the memory
slots, and how each slot is used), and prints their paths. docs/memory.md
explains the numbers.
"""

import argparse
import os

import keras

from keras_engram.datasets import load_digits
from keras_engram.models import EngramClassifier
from keras_engram.utils import (
    HebbianTraceMonitor,
    attention_statistics,
    engram_memory,
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
    monitored = 64
    monitor = HebbianTraceMonitor(x_test[:monitored], verbose=0)
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
    plot_memory_usage(engram, x_test, paths[2])  # the same test digits as the numbers below
    report_memory(engram, x_test, args.epochs, monitored)
    print("Figures written:")
    for path in paths:
        print(f"  {os.path.abspath(path)}")


def report_memory(model, x, epochs, monitored):
    """Prints the attention statistics of `x` (those in the title of memory_usage.png)."""
    memory = engram_memory(model, x)
    stats = attention_statistics(memory["attention"], memory["valid"])
    slots = len(stats["slot_counts"])
    near_uniform = stats["peaked_steps"] < 0.05
    print(f"Engram memory on the {len(x)} test digits ({stats['steps']:,} steps, {slots} slots), "
          f"after {epochs} epochs:")
    print(f"  attention entropy {stats['entropy']:.3f} nats "
          f"(uniform over {slots} slots: ln {slots} = {stats['uniform_entropy']:.3f})")
    print(f"  mean largest weight of a step {stats['max_weight']:.3f} "
          f"(uniform: 1/{slots} = {stats['uniform_weight']:.3f}); "
          f"steps whose largest weight exceeds 2/{slots}: {stats['peaked_steps']:.1%}")
    print(f"  argmax winners: {int((stats['slot_counts'] > 0).sum())} of {slots} slots win at "
          "least one step (bars of memory_usage.png)"
          + ("; with weights this close to uniform the winner is mostly noise" if near_uniform
             else ""))
    if near_uniform:
        print("  Recall is nearly uniform over the slots: the memory read is close to their "
              "average. Raising sparsity_strength or lowering temperature sharpens it "
              "(benchmarks/attention_sharpness.py).")
    print(f"The Hebbian trace starts at zero for every sequence and is built over its "
          f"{x.shape[1]} steps; hebbian_trace.png shows it at the end of {monitored} test digits "
          "(their mean) with each epoch's weights. What training learns is the memory bank and "
          "the weights, so the trace panels change only as much as those do.")


if __name__ == "__main__":
    main()
