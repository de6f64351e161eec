"""Writes the tensorflow-engram reference fixtures in tests/data/.

Run once with TensorFlow and tensorflow-engram 0.1.0 installed
(`nox -s seed_fixtures`). For each seed model (classifier, regressor,
network) it trains two epochs on random data so that no weight is left at
its initial value, saves the weights with the seed's own `save_weights`, and
records the seed's predictions in seed mode (noise and initial state zero).
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from seed_patch import build_seed_models, deterministic_seed  # noqa: E402

INPUT_SHAPE = (7, 5)


def main():
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(64,) + INPUT_SHAPE).astype("float32")
    x_test = rng.normal(size=(9,) + INPUT_SHAPE).astype("float32")
    targets = {
        "classifier": (rng.integers(0, 4, 64), "sparse_categorical_crossentropy"),
        "regressor": (rng.normal(size=(64, 7, 2)).astype("float32"), "mse"),
        "network": (rng.normal(size=(64, 3)).astype("float32"), "mse"),
    }
    arrays = {"x": x_test}
    for name, model in build_seed_models(INPUT_SHAPE).items():
        y, loss = targets[name]
        model(x_train[:2])  # the seed's EngramNetwork cannot fit before it is built
        model.compile(optimizer="adam", loss=loss)
        model.fit(x_train, y, epochs=2, batch_size=16, verbose=0)
        model.save_weights(os.path.join(HERE, f"seed_{name}.weights.h5"))
        with deterministic_seed():
            arrays[name] = model.predict(x_test, batch_size=len(x_test), verbose=0)
    np.savez(os.path.join(HERE, "seed_predictions.npz"), **arrays)
    print("wrote", sorted(arrays))


if __name__ == "__main__":
    main()
