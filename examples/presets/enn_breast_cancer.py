"""Trains the built-in preset `enn_breast_cancer` and writes its directory.

    KERAS_BACKEND=jax python examples/presets/enn_breast_cancer.py            # the shipped directory
    KERAS_BACKEND=jax python examples/presets/enn_breast_cancer.py --out DIR  # elsewhere

An `EngramClassifier` (hidden 32, memory 16) trained on scikit-learn's breast
cancer data, read as 3 steps (mean, standard error, worst) of 10
measurements, standardized with the training split's statistics
(`keras_engram.datasets.load_breast_cancer(test_size=0.25, seed=0)`): Adam
1e-3, batch 64, 60 epochs, seed 0. The test accuracy goes into the preset's
metadata.json; the preset is written with `save_to_preset`.
"""

import argparse
import os
import time

import keras

from keras_engram.datasets import load_breast_cancer
from keras_engram.models import EngramClassifier

NAME = "enn_breast_cancer"
SEED, TEST_SIZE = 0, 0.25
HIDDEN, MEMORY, EPOCHS, BATCH, LEARNING_RATE = 32, 16, 60, 64, 1e-3
DEFAULT_OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..",
    "keras_engram", "src", "models", "enn", "presets", NAME,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="the preset directory to write")
    args = parser.parse_args()

    keras.utils.set_random_seed(SEED)
    (x_train, y_train), (x_test, y_test) = load_breast_cancer(test_size=TEST_SIZE, seed=SEED)
    model = EngramClassifier(input_shape=(3, 10), num_classes=2, hidden_dim=HIDDEN,
                             memory_size=MEMORY, seed=SEED, name=NAME)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="sparse_categorical_crossentropy")
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    seconds = time.perf_counter() - start

    predicted = model.predict(x_test, batch_size=256, verbose=0).argmax(-1)
    correct = int((predicted == y_test).sum())
    metadata = {
        "description": (
            "EngramClassifier (hidden 32, memory 16) trained on scikit-learn's breast cancer data "
            "read as 3 steps (mean, standard error, worst) of 10 measurements; benign or malignant."
        ),
        "training_data": {
            "dataset": "scikit-learn load_breast_cancer (569 tumours, 30 features read as 3 x 10, standardized "
                       "with the training split's mean and standard deviation; 0 malignant, 1 benign)",
            "loader": "keras_engram.datasets.load_breast_cancer",
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
