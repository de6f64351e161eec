"""How close the implicit trace's clip check comes to the trace it bounds, during training.

Trains the paper's configuration (`EngramClassifier`, 28 x 28 inputs, hidden
128, memory 64) on scikit-learn's digits upsampled to 28 x 28 and, after
each epoch, runs 256 samples through the explicit trace (float64, NumPy)
and prints: the largest trace entry over all steps, the check's bound
(`keras_engram.src.ops.implicit_trace.clip_bound`, what decides between the
implicit form and the explicit loop) and, for comparison, the largest row
norm `|H_i|_2` (a bound the library does not use), against `trace_clip`.

    KERAS_BACKEND=jax python benchmarks/clip_bound.py --epochs 8
"""

import argparse


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()

    import keras
    import numpy as np
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    from keras_engram.models import EngramClassifier
    from keras_engram.src.ops import implicit_trace
    from keras_engram.utils import engram_layers

    digits = load_digits()
    x = np.stack([zoom(image, 3.5, order=1) for image in digits.images]).astype("float32") / 16.0
    y = digits.target
    keras.utils.set_random_seed(0)
    model = EngramClassifier(input_shape=(28, 28), num_classes=10, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    layer = engram_layers(model)[0]
    cell = layer.cell
    eta = cell.hebbian_lr

    def measure(label):
        batch = x[:256]
        attention = keras.ops.convert_to_numpy(layer.inspect(batch)["attention"]).astype("float64")
        z = keras.ops.convert_to_numpy(cell.encode(batch)).astype("float64")
        trace = np.zeros((z.shape[0], cell.memory_size, cell.hidden_dim))
        largest = row_norm = 0.0
        for t in range(z.shape[1]):
            trace = (1 - eta) * trace + eta * attention[:, t, :, None] * z[:, t, None, :]
            largest = max(largest, np.abs(trace).max())
            row_norm = max(row_norm, np.sqrt((trace**2).sum(-1)).max())
        weights, start = implicit_trace.decay_weights(None, z.shape[1], eta, "float32")
        bound = implicit_trace.clip_bound(
            keras.ops.convert_to_tensor(attention.astype("float32")),
            keras.ops.convert_to_tensor(z.astype("float32")), None, None, None, weights, start, eta,
        )
        bound = float(np.max(keras.ops.convert_to_numpy(bound)))
        print(f"| {label} | {largest:.4f} | {bound:.4f} | {row_norm:.4f} | {cell.trace_clip} |",
              flush=True)

    print("| after | largest trace entry | check's bound | largest row norm | clip |")
    print("|---|---:|---:|---:|---:|")
    measure("initialisation")
    for epoch in range(args.epochs):
        model.fit(x, y, batch_size=128, epochs=1, verbose=0)
        measure(f"epoch {epoch + 1}")


if __name__ == "__main__":
    main()
