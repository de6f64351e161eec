"""Trains the built-in preset `enn_digits` and writes its directory.

    KERAS_BACKEND=jax python examples/presets/enn_digits.py            # the shipped directory
    KERAS_BACKEND=jax python examples/presets/enn_digits.py --out DIR  # elsewhere

An `EngramClassifier` (hidden 64, memory 32, the digits protocol's model of
docs/results.md) trained on scikit-learn's digits, read as 8 steps of 8
pixels (`keras_engram.datasets.load_digits(test_size=0.25, seed=0)`): Adam
1e-3, batch 64, 40 epochs, seed 0. The test accuracy goes into the preset's
metadata.json; the preset is written with `save_to_preset`.
"""

import argparse
import os
import time

import keras

from keras_engram.datasets import load_digits
from keras_engram.models import EngramClassifier

NAME = "enn_digits"
SEED, TEST_SIZE = 0, 0.25
HIDDEN, MEMORY, EPOCHS, BATCH, LEARNING_RATE = 64, 32, 40, 64, 1e-3
DEFAULT_OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..",
    "keras_engram", "src", "models", "enn", "presets", NAME,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="the preset directory to write")
    args = parser.parse_args()

    keras.utils.set_random_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_digits(test_size=TEST_SIZE, seed=SEED)
    model = EngramClassifier(input_shape=(8, 8), num_classes=10, hidden_dim=HIDDEN,
                             memory_size=MEMORY, seed=SEED, name=NAME)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    seconds = time.perf_counter() - start

    predicted = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
    correct = int((predicted == y_test).sum())
    metadata = {
        "description": (
            "EngramClassifier (hidden 64, memory 32) trained on scikit-learn's handwritten digits "
            "read as 8 rows of 8 pixels; 10 classes."
        ),
        "training_data": {
            "dataset": "scikit-learn load_digits (1,797 images of 8 x 8 pixels, scaled to [0, 1])",
            "loader": "keras_engram.datasets.load_digits",
            "arguments": {"test_size": TEST_SIZE, "seed": SEED},
            "train_samples": int(len(y_train)),
            "test_samples": int(len(y_test)),
            "training": f"Adam {LEARNING_RATE}, batch {BATCH}, {EPOCHS} epochs, "
                        f"keras.utils.set_random_seed({SEED})",
        },
        "score": {
            "metric": "test accuracy",
            "value": correct / len(y_test),
            "correct": correct,
            "samples": int(len(y_test)),
        },
        "reproduce": f"KERAS_BACKEND={keras.backend.backend()} python examples/presets/{NAME}.py",
    }
    model.save_to_preset(os.path.normpath(args.out), metadata=metadata)
    print(f"{NAME}: test accuracy {correct / len(y_test):.4f} ({correct}/{len(y_test)}), "
          f"{model.count_params():,} parameters, trained in {seconds:.0f} s on "
          f"{keras.backend.backend()}; written to {os.path.normpath(args.out)}")


if __name__ == "__main__":
    main()
