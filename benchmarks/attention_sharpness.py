"""How `sparsity_strength` and `temperature` sharpen the Engram's recall, on the digits.

Trains the quickstart's `EngramClassifier` (hidden_dim 64, memory_size 32;
fewer epochs, 20) on scikit-learn's digits (8 steps x 8 features,
`keras_engram.datasets.load_digits`) for each setting and seed, and prints
one Markdown table row per setting, averaged over the seeds: the effective softmax temperature
`tau_eff = temperature / (1 + 10 * sparsity_strength)`, the attention entropy
on the test digits against the uniform `ln N`, the mean largest weight of a
step against `1/N`, the share of steps whose largest weight exceeds `2/N`,
the number of slots that win an argmax, the test accuracy (mean, and the
lowest and highest seed) and the wall time of the setting's runs. The first
row is the library's default (temperature 1.5, sparsity_strength 0.1).
Not a test: a measurement, about two minutes on 2 CPU cores with the defaults.

    KERAS_BACKEND=jax python benchmarks/attention_sharpness.py [--epochs 20] [--seeds 0 1 2]
"""

import argparse
import platform
import time

import keras
import numpy as np

from keras_engram.datasets import load_digits
from keras_engram.models import EngramClassifier
from keras_engram.utils import attention_statistics, engram_cell, engram_layers, engram_memory

# (temperature, sparsity_strength); the first is the default.
SETTINGS = [(1.5, 0.1), (1.5, 0.5), (1.5, 1.0), (0.5, 0.1), (0.1, 0.1)]


def run(temperature, sparsity_strength, seed, args):
    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = load_digits(seed=seed)
    model = EngramClassifier(input_shape=(8, 8), num_classes=10, hidden_dim=args.hidden_dim,
                             memory_size=args.memory_size, temperature=temperature,
                             sparsity_strength=sparsity_strength, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, verbose=0)
    accuracy = float((model.predict(x_test, batch_size=256, verbose=0).argmax(-1) == y_test).mean())
    memory = engram_memory(model, x_test)
    stats = attention_statistics(memory["attention"], memory["valid"])
    cell = engram_cell(engram_layers(model)[0])
    return float(cell.effective_temperature), stats, accuracy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--memory-size", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    versions = f"keras {keras.__version__}"
    if keras.backend.backend() == "jax":
        import jax

        versions += f", jax {jax.__version__}"
    elif keras.backend.backend() == "torch":
        import torch

        versions += f", torch {torch.__version__}"
    else:
        import tensorflow as tf

        versions += f", tensorflow {tf.__version__}"
    n = args.memory_size
    print(f"Backend {keras.backend.backend()}; {versions}; numpy {np.__version__}; "
          f"python {platform.python_version()}; {platform.machine()}")
    print(f"EngramClassifier hidden_dim={args.hidden_dim}, memory_size={n}, {args.epochs} epochs, "
          f"Adam 1e-3, batch 64, seeds {args.seeds}; statistics over the 450 test digits "
          f"(3,600 steps) per seed, then averaged over seeds")
    print()
    print(f"| temperature | sparsity_strength | tau_eff | entropy (ln {n} = {np.log(n):.3f}) "
          f"| mean max weight (1/{n} = {1 / n:.3f}) | steps with max > 2/{n} "
          "| slots winning an argmax | test accuracy | time (s) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for temperature, sparsity_strength in SETTINGS:
        start = time.perf_counter()
        results = [run(temperature, sparsity_strength, seed, args) for seed in args.seeds]
        seconds = time.perf_counter() - start
        tau = results[0][0]

        def mean(key):
            return float(np.mean([stats[key] for _, stats, _ in results]))

        used = np.mean([(stats["slot_counts"] > 0).sum() for _, stats, _ in results])
        accuracies = [acc for _, _, acc in results]
        print(f"| {temperature:g} | {sparsity_strength:g} | {tau:.3f} | {mean('entropy'):.3f} "
              f"| {mean('max_weight'):.3f} | {mean('peaked_steps'):.1%} | {used:.1f} of {n} "
              f"| {np.mean(accuracies):.4f} ({min(accuracies):.4f}-{max(accuracies):.4f}) "
              f"| {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
