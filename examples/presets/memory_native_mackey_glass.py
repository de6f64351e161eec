"""Trains the built-in presets `amrc_mackey_glass`, `pmrc_mackey_glass`, `amn_mackey_glass`.

    KERAS_BACKEND=jax python examples/presets/memory_native_mackey_glass.py              # all three
    KERAS_BACKEND=jax python examples/presets/memory_native_mackey_glass.py --models amn
    KERAS_BACKEND=jax python examples/presets/memory_native_mackey_glass.py --out DIR    # elsewhere

The task: the Mackey-Glass series (tau 17, one reading per time unit,
`keras_engram.datasets.load_mackey_glass(samples=3000, horizon=6)`), predict
the value 6 steps ahead from one reading per step; the first 80 % of the
series train, the last 20 % test. A linear model of the current reading
alone reaches R^2 0.45 on the test part (the metadata records it): the rest
needs memory of the steps before. Each model (hidden 32) trains by truncated
BPTT on the ordered series (`fit`, Adam 0.01, windows of 16 steps) and is
scored on the test part continuing from the memory at the end of training;
the preset holds the weights and the memory at the end of the TRAINING part,
so `predict(x_test)` on a freshly loaded preset gives the test score.
"""

import argparse
import os
import time

import keras
import numpy as np

from keras_engram.datasets import load_mackey_glass
from keras_engram.memory_native import AMN, AMRC, PMRC, r2_score

SEED, SAMPLES, HORIZON, HIDDEN, EPOCHS = 0, 3000, 6, 32, 200
PRESETS_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..",
    "keras_engram", "src", "memory_native", "presets",
)
MODELS = {
    "amrc": lambda: AMRC(1, HIDDEN, 1, output_activation="linear", random_state=SEED),
    "pmrc": lambda: PMRC(1, HIDDEN, 1, use_learnable_gates=True, output_activation="linear",
                         random_state=SEED),
    "amn": lambda: AMN(1, HIDDEN, 1, memory_size=16, memory_decay=0.9, random_state=SEED),
}
DESCRIPTIONS = {
    "amrc": "AMRC (hidden 32, linear output)",
    "pmrc": "PMRC (hidden 32, learnable gates, linear output)",
    "amn": "AMN (hidden 32, manifold 16 x 32, manifold decay 0.9)",
}


def memoryless_baseline(x_train, y_train, x_test, y_test):
    """R^2 on the test part of least squares on the current reading alone (no memory)."""
    design = np.hstack([x_train, np.ones_like(x_train)]).astype("float64")
    coefficients = np.linalg.lstsq(design, y_train.astype("float64"), rcond=None)[0]
    predicted = np.hstack([x_test, np.ones_like(x_test)]) @ coefficients
    return r2_score(y_test, predicted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--out", default=PRESETS_DIR, help="the folder that receives the preset directories")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()

    (x_train, y_train), (x_test, y_test) = load_mackey_glass(samples=SAMPLES, horizon=HORIZON)
    baseline = memoryless_baseline(x_train, y_train, x_test, y_test)
    print(f"memoryless linear baseline: test R^2 {baseline:.4f}")
    for kind in args.models:
        name = f"{kind}_mackey_glass"
        keras.utils.set_random_seed(SEED)
        model = MODELS[kind]()
        start = time.perf_counter()
        model.fit(x_train, y_train, epochs=args.epochs)
        seconds = time.perf_counter() - start
        trained_memory = model.get_memory_state()
        score = model.score(x_test, y_test)  # moves the memory on through the test part
        model.set_memory_state(trained_memory)
        description = (
            f"{DESCRIPTIONS[kind]} trained on the Mackey-Glass series (tau 17) to predict the value "
            f"{HORIZON} steps ahead from one reading per step; memory at the end of the training part."
        )
        metadata = {
            "description": description,
            "training_data": {
                "dataset": "the Mackey-Glass series, tau 17, one sample per time unit, standardized",
                "loader": "keras_engram.datasets.load_mackey_glass",
                "arguments": {"samples": SAMPLES, "horizon": HORIZON, "test_size": 0.2},
                "train_samples": int(len(x_train)),
                "test_samples": int(len(x_test)),
                "training": f"fit(epochs={args.epochs}): Adam 0.01, truncated BPTT over windows of "
                            f"16 ordered steps, random_state={SEED}",
            },
            "score": {
                "metric": "test R^2",
                "value": score,
                "memoryless_linear_baseline": baseline,
            },
            "reproduce": f"KERAS_BACKEND={keras.backend.backend()} python "
                         f"examples/presets/memory_native_mackey_glass.py --models {kind}",
        }
        directory = os.path.normpath(os.path.join(args.out, name))
        model.save_to_preset(directory, metadata=metadata)
        print(f"{name}: test R^2 {score:.4f}, {model.model.count_params():,} parameters, trained in "
              f"{seconds:.0f} s on {keras.backend.backend()}; written to {directory}")


if __name__ == "__main__":
    main()
