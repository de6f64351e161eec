"""Quickstart: an Engram classifier on scikit-learn's digits, beside an LSTM.

Runs on any backend (KERAS_BACKEND=jax|torch|tensorflow) with data that ship
inside scikit-learn: no download. Each 8 x 8 image is read as a sequence of
8 rows of 8 pixels.

    KERAS_BACKEND=jax python examples/quickstart.py [--epochs 40]
"""

import argparse

import keras

from keras_engram.datasets import load_digits
from keras_engram.models import EngramClassifier


def train_and_score(model, data, epochs):
    (x_train, y_train), (x_test, y_test) = data
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    return model.evaluate(x_test, y_test, verbose=0)[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
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
    for name, model in (("EngramClassifier", engram), ("LSTM(64)", lstm)):
        accuracy = train_and_score(model, data, args.epochs)
        print(f"{name:<17} test accuracy {accuracy:.4f}  ({model.count_params():,} parameters)")


if __name__ == "__main__":
    main()
