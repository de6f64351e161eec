"""What the per-sample trace's implicit form gains, and what its clip check and noise cost.

Trains `EngramClassifier` (per-sample trace) in one process, side by side:
the explicit step loop, the implicit form as the library runs it (trace
noise on, clip check), and the implicit form without noise and/or without
a clip (`trace_noise_stddev=0`, `trace_clip=None`), so the cost of the
check and of the noise's exact terms shows. Rounds interleave the
variants; reported are the median training and inference samples/s and
each variant's ratio to the explicit loop (median of the per-round ratios).

    KERAS_BACKEND=jax python benchmarks/implicit_trace.py
    KERAS_BACKEND=torch python benchmarks/implicit_trace.py --steps 100 --memory 256
"""

import argparse
import statistics
import time

VARIANTS = {
    "explicit step loop": (dict(), False),
    "implicit (default: noise, clip check)": (dict(), True),
    "implicit, no noise": (dict(trace_noise_stddev=0.0), True),
    "implicit, no noise, no clip": (dict(trace_noise_stddev=0.0, trace_clip=None), True),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--memory", type=int, default=64)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import keras
    import numpy as np

    from keras_engram.models import EngramClassifier
    from keras_engram.src.ops import fast_paths

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.samples, args.steps, 28)).astype("float32")
    y = rng.integers(0, 10, size=args.samples)
    implicit = fast_paths.implicit_trace
    models = {}
    for name, (kwargs, use_implicit) in VARIANTS.items():
        keras.utils.set_random_seed(0)
        model = EngramClassifier(input_shape=(args.steps, 28), num_classes=10,
                                 memory_size=args.memory, seed=0, **kwargs)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        models[name] = (model, use_implicit)

    def run(name):
        model, use_implicit = models[name]
        fast_paths.implicit_trace = implicit if use_implicit else (lambda *a, **k: False)
        fit = dict(batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
        start = time.perf_counter()
        model.fit(x, y, **fit)
        keras.ops.convert_to_numpy(model.trainable_weights[0])
        train = time.perf_counter() - start
        start = time.perf_counter()
        model.predict(x, batch_size=args.batch, verbose=0)
        return args.samples / train, args.samples / (time.perf_counter() - start)

    for name in models:  # tracing and compilation
        run(name)
    results = {name: [] for name in models}
    names = list(models)
    for index in range(args.rounds):
        for name in names[index % len(names):] + names[: index % len(names)]:
            results[name].append(run(name))

    print(f"{time.strftime('%Y-%m-%d')}, backend {keras.backend.backend()} (keras "
          f"{keras.__version__}), {args.steps} steps, memory {args.memory}, batch {args.batch}, "
          f"{args.samples} samples, {args.rounds} rounds")
    print()
    print("| per-sample ENN | train samples/s | inference samples/s | train / explicit | "
          "inference / explicit |")
    print("|---|---:|---:|---:|---:|")
    base = results["explicit step loop"]
    for name, rows in results.items():
        train = statistics.median(r[0] for r in rows)
        infer = statistics.median(r[1] for r in rows)
        ratio_train = statistics.median(r[0] / b[0] for r, b in zip(rows, base))
        ratio_infer = statistics.median(r[1] / b[1] for r, b in zip(rows, base))
        print(f"| {name} | {train:,.0f} | {infer:,.0f} | {ratio_train:.2f}x | {ratio_infer:.2f}x |")


if __name__ == "__main__":
    main()
