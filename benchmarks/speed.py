"""ENN speed benchmark: keras-engram against the seed and Keras's RNNs.

Measures, for the backend in KERAS_BACKEND, side by side in one run:
keras-engram's ENN in seed mode (`trace_scope="batch"`) and in the default
per-sample mode, Keras LSTM / GRU / SimpleRNN of the same width, the
parameter-matched LSTM(214), and tensorflow-engram 0.1.0 itself (always on
TensorFlow, in its own child process, so every backend's run has the seed row).
Each model runs in its own child process (clean peak memory), once per
round; the rounds (`--rounds`, default 3) interleave the models, so that the
machine's drift hits them alike. Reported, as medians over the rounds:
compile seconds (first `fit` batch minus a steady one), training and
inference samples/s after warm-up, and the peak resident memory of the
child. Ratios ENN/seed and ENN/LSTM(214) come from this run only: the median
of the per-round ratios, with the lowest and highest round beside it.

The paper's MNIST configuration is the default: 28 steps x 28 features,
hidden 128, memory 64, batch 128, inputs drawn once from a seeded normal
(speed does not depend on the values). `--scaling` adds the table of
sequence length 28/256/1024 x memory 64/512 for the ENN.

    KERAS_BACKEND=jax python benchmarks/speed.py
    KERAS_BACKEND=tensorflow python benchmarks/speed.py --scaling
    KERAS_BACKEND=jax python benchmarks/speed.py --grid --models per-sample seed "LSTM(214)"

The allocator matters on CPU (see docs/performance.md): child processes
inherit LD_PRELOAD (e.g. LD_PRELOAD=libtcmalloc_minimal.so.4) and glibc's
MALLOC_* tunables, and the header names them. `--allocators` measures the
models under several allocators in the same interleaved rounds instead, and
adds a table of each allocator's speed-up over the first one:

    KERAS_BACKEND=torch python benchmarks/speed.py --models ENN \
        --allocators glibc glibc-tuned tcmalloc
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

HIDDEN, MEMORY, STEPS, FEATURES, BATCH, CLASSES = 128, 64, 28, 28, 128, 10
MATCHED_LSTM = 214

# glibc keeps freed memory up to 32 MiB per block mapped and never trims the
# heap's top back to the kernel, so fresh multi-megabyte tensors do not
# page-fault in again (docs/performance.md, "Limits, and why").
GLIBC_TUNED = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
TCMALLOC_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/aarch64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib64/libtcmalloc_minimal.so.4",
    "/usr/local/lib/libtcmalloc_minimal.so.4",
)
ALLOCATORS = ("inherit", "glibc", "glibc-tuned", "tcmalloc")

MODELS = {
    "ENN seed mode (batch trace)": dict(kind="enn", trace_scope="batch"),
    "ENN default (per-sample trace)": dict(kind="enn", trace_scope="sample"),
    "ENN per-sample, explicit trace": dict(kind="enn", trace_scope="sample", explicit=True),
    "tensorflow-engram 0.1.0": dict(kind="seed"),
    f"Keras LSTM({HIDDEN})": dict(kind="LSTM", units=HIDDEN),
    f"Keras GRU({HIDDEN})": dict(kind="GRU", units=HIDDEN),
    f"Keras SimpleRNN({HIDDEN})": dict(kind="SimpleRNN", units=HIDDEN),
    f"Keras LSTM({MATCHED_LSTM}), parameter-matched": dict(kind="LSTM", units=MATCHED_LSTM),
}


# --------------------------------------------------------------------- worker


def _rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _build(spec, steps, memory, hidden):
    import keras

    if spec["kind"] == "enn":
        from keras_engram.models import EngramClassifier

        if spec.get("explicit"):
            # The per-sample trace's step loop, without its implicit form.
            from keras_engram.src.ops import fast_paths

            fast_paths.implicit_trace = lambda per_sample, steps, noisy=False: False
        if spec.get("chunk"):
            from keras_engram.src.ops import fast_paths

            fast_paths.IMPLICIT_CHUNK_STEPS = spec["chunk"]

        return EngramClassifier(
            input_shape=(steps, FEATURES), num_classes=CLASSES, hidden_dim=hidden,
            memory_size=memory, trace_scope=spec["trace_scope"], seed=0,
        )
    if spec["kind"] == "seed":
        from tensorflow_engram.models import EngramClassifier as SeedClassifier

        return SeedClassifier(
            input_shape=(steps, FEATURES), num_classes=CLASSES, hidden_dim=hidden,
            memory_size=memory,
        )
    layer = getattr(keras.layers, spec["kind"])
    return keras.Sequential([
        keras.Input((steps, FEATURES)),
        layer(spec["units"]),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])


def _timer():
    """Returns `timed(method, *args, **kwargs)`: seconds from the call to the end of the last batch.

    Keras on TensorFlow sometimes spends 0.2-1.3 s after `on_train_end` /
    `on_predict_end`, while `fit`/`predict` tear down their input pipeline
    (measured 2026-11-23: in one call of two to five, about half the call's
    own time, with any model, seed included). That is not training or
    inference, and it cut a row's samples/s by up to half at random, so the
    clock stops at the end callback. `predict` has a batch-end hook, which
    makes Keras wait for each batch's outputs (JAX dispatches asynchronously);
    `fit` reads a weight at the end, which waits for the last step.
    """
    import keras

    class EndOfWork(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            keras.ops.convert_to_numpy(self.model.trainable_weights[0])
            self.end = time.perf_counter()

        def on_predict_batch_end(self, batch, logs=None):
            pass

        def on_predict_end(self, logs=None):
            self.end = time.perf_counter()

    callback = EndOfWork()

    def timed(method, *args, **kwargs):
        start = time.perf_counter()
        method(*args, callbacks=[callback], **kwargs)
        return callback.end - start

    return timed


def worker(args):
    import keras
    import numpy as np

    spec = json.loads(args.worker)
    rng = np.random.default_rng(0)
    samples = args.samples - args.samples % args.batch
    x = rng.normal(size=(samples, args.steps, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, size=samples)
    keras.utils.set_random_seed(0)
    model = _build(spec, args.steps, args.memory, args.hidden)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit]
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=jit)
    baseline = _rss_mb()
    timed = _timer()
    fit = dict(batch_size=args.batch, epochs=1, verbose=0, shuffle=False)

    # Compilation: the first batch traces/compiles; a second batch is steady.
    xb, yb = x[: args.batch], y[: args.batch]
    first = timed(model.fit, xb, yb, **fit)
    steady = timed(model.fit, xb, yb, **fit)
    train_s = timed(model.fit, x, y, **fit)

    model.predict(x[: 2 * args.batch], batch_size=args.batch, verbose=0)
    infer_s = timed(model.predict, x, batch_size=args.batch, verbose=0)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({
        "params": int(model.count_params()),
        "compile_s": max(first - steady, 0.0),
        "train_sps": samples / train_s,
        "infer_sps": samples / infer_s,
        "peak_mb": peak,
        "growth_mb": peak - baseline,
    }))


# --------------------------------------------------------------------- driver


def allocator_env(name):
    """The child environment for allocator `name` (one of `ALLOCATORS`)."""
    env = dict(os.environ)
    if name == "inherit":
        return env
    env.pop("LD_PRELOAD", None)
    for key in [key for key in env if key.startswith("MALLOC_")]:
        del env[key]
    if name == "glibc-tuned":
        env.update(GLIBC_TUNED)
    elif name == "tcmalloc":
        found = [path for path in TCMALLOC_CANDIDATES if os.path.exists(path)]
        if not found:
            raise SystemExit(
                "Expected libtcmalloc_minimal.so.4 for --allocators tcmalloc (Debian/Ubuntu: "
                f"apt install libtcmalloc-minimal4). Received: none of {TCMALLOC_CANDIDATES}"
            )
        env["LD_PRELOAD"] = found[0]
    return env


def measure(spec, args, steps=STEPS, memory=MEMORY, samples=None, env=None):
    command = [
        sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec),
        "--steps", str(steps), "--memory", str(memory), "--hidden", str(args.hidden),
        "--batch", str(args.batch), "--samples", str(samples or args.samples), "--jit", args.jit,
    ]
    env = dict(os.environ if env is None else env)
    if spec["kind"] == "seed":
        env["KERAS_BACKEND"] = "tensorflow"  # the seed is TensorFlow-only
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions():
    import keras

    backend = keras.backend.backend()
    module = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}[backend]
    version = __import__(module).__version__
    return backend, f"keras {keras.__version__}, {module} {version}"


def model_tables(selected, args):
    """Prints the per-model table and the ENN ratios for the `selected` models.

    The models are measured `args.rounds` times, interleaved (round 1 runs
    every model once, then round 2, ...; the order rotates each round), so a
    drift of the machine's speed within the run hits every model alike
    instead of whichever model ran during a slow spell (this machine's speed
    drifts by up to 2x within an hour). A model's row is the median of its
    rounds; a ratio is the median of the per-round ratios, each between two
    models measured minutes apart, with the lowest and highest in brackets.
    With several `args.allocators`, every model runs under each of them in
    the same rounds (a row per model and allocator).
    """
    allocators = args.allocators
    runs = [(name, alloc) for name in selected for alloc in allocators]
    rounds = {run: [] for run in runs}
    errors = {}
    for index in range(args.rounds):
        shift = index % len(runs)
        for run in runs[shift:] + runs[:shift]:
            if run in errors:
                continue
            name, alloc = run
            result = measure(selected[name], args, args.steps, args.memory,
                             env=allocator_env(alloc))
            if "error" in result:
                errors[run] = result["error"]
            else:
                rounds[run].append(result)
        print(f"round {index + 1} of {args.rounds} done", file=sys.stderr, flush=True)

    def label(run):
        name, alloc = run
        return name if len(allocators) == 1 else f"{name} [{alloc}]"

    print()
    print("| model | params | compile s | train samples/s | inference samples/s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for run in runs:
        if run in errors:
            print(f"| {label(run)} | failed: {errors[run]} | | | | |")
            continue
        results = rounds[run]
        row = {key: statistics.median([result[key] for result in results])
               for key in ("compile_s", "train_sps", "infer_sps", "peak_mb")}
        print(f"| {label(run)} | {results[0]['params']:,} | {row['compile_s']:.1f} | "
              f"{row['train_sps']:,.0f} | {row['infer_sps']:,.0f} | {row['peak_mb']:,.0f} |")

    def ratio(a, b, key):
        if a in errors or b in errors or a not in rounds or b not in rounds:
            return "-"
        pairs = [x[key] / y[key] for x, y in zip(rounds[a], rounds[b])]
        if len(pairs) == 1:
            return f"{pairs[0]:.2f}x"
        return f"{statistics.median(pairs):.2f}x ({min(pairs):.2f}-{max(pairs):.2f})"

    seed, matched = "tensorflow-engram 0.1.0", f"Keras LSTM({MATCHED_LSTM}), parameter-matched"
    modes = [mode for mode in ("ENN seed mode (batch trace)", "ENN default (per-sample trace)",
                               "ENN per-sample, explicit trace")
             if mode in selected]
    if modes and (seed in selected or matched in selected):
        print()
        print(f"Ratios: median of {args.rounds} rounds (lowest-highest round)")
        print()
        print("| ENN mode | train / seed | inference / seed | train / LSTM(214) | "
              "inference / LSTM(214) |")
        print("|---|---:|---:|---:|---:|")
        for alloc in allocators:
            for mode in modes:
                run = (mode, alloc)
                print(f"| {label(run)} | {ratio(run, (seed, alloc), 'train_sps')} | "
                      f"{ratio(run, (seed, alloc), 'infer_sps')} | "
                      f"{ratio(run, (matched, alloc), 'train_sps')} | "
                      f"{ratio(run, (matched, alloc), 'infer_sps')} |")

    implicit, explicit = "ENN default (per-sample trace)", "ENN per-sample, explicit trace"
    if implicit in selected and explicit in selected:
        print()
        print("| per-sample trace, implicit form / explicit step loop | train | inference |")
        print("|---|---:|---:|")
        for alloc in allocators:
            run, base_run = (implicit, alloc), (explicit, alloc)
            print(f"| {label(run)} | {ratio(run, base_run, 'train_sps')} | "
                  f"{ratio(run, base_run, 'infer_sps')} |")

    if len(allocators) > 1:
        base = allocators[0]
        print()
        print(f"Allocators: samples/s under each allocator / under {base}, same model, "
              "median of the rounds (lowest-highest)")
        print()
        print("| model | allocator | train | inference |")
        print("|---|---|---:|---:|")
        for name in selected:
            for alloc in allocators[1:]:
                print(f"| {name} | {alloc} | {ratio((name, alloc), (name, base), 'train_sps')} | "
                      f"{ratio((name, alloc), (name, base), 'infer_sps')} |")


def allocator(env=None):
    """The allocator of `env` (default: this process's): LD_PRELOAD, or glibc with its tunables."""
    env = os.environ if env is None else env
    preloaded = os.path.basename(env.get("LD_PRELOAD", ""))
    if preloaded:
        return preloaded
    tunables = sorted(f"{k}={v}" for k, v in env.items() if k.startswith("MALLOC_"))
    return "glibc malloc" + (f" ({', '.join(tunables)})" if tunables else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4096, help="training samples timed")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--hidden", type=int, default=HIDDEN)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--memory", type=int, default=MEMORY)
    parser.add_argument("--jit", choices=("auto", "true", "false"), default="auto",
                        help="model.compile(jit_compile=...) for every model")
    parser.add_argument("--models", nargs="*", help="substrings of the model names to run")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved measurements of every model (medians are reported)")
    parser.add_argument("--allocators", nargs="+", choices=ALLOCATORS, default=["inherit"],
                        help="run every model under each of these allocators, side by side "
                             "(inherit: this environment's; glibc: without LD_PRELOAD and "
                             "MALLOC_*; glibc-tuned: glibc with MALLOC_MMAP_THRESHOLD_ and "
                             "MALLOC_TRIM_THRESHOLD_ raised; tcmalloc: LD_PRELOAD of "
                             "libtcmalloc_minimal)")
    parser.add_argument("--scaling", action="store_true", help="add the ENN scaling table")
    parser.add_argument("--scaling-batch", type=int, default=8)
    parser.add_argument("--grid", action="store_true",
                        help="the per-sample ENN (implicit and explicit trace), the seed and "
                             "LSTM(214) at each --grid-steps x --grid-memory")
    parser.add_argument("--grid-steps", nargs="+", type=int, default=[28, 100, 1000])
    parser.add_argument("--grid-memory", nargs="+", type=int, default=[64, 256])
    parser.add_argument("--grid-batch", type=int, default=32)
    parser.add_argument("--chunks", nargs="+", type=int, default=[],
                        help="add the per-sample ENN with these implicit chunk lengths")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"Expected --rounds to be a positive int. Received: --rounds={args.rounds}")
    if len(set(args.allocators)) != len(args.allocators):
        parser.error(f"Expected distinct --allocators. Received: --allocators={args.allocators}")
    if args.worker:
        return worker(args)

    backend, version_text = versions()
    print(f"{time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, "
          f"backend {backend} ({version_text}), jit_compile={args.jit}, "
          f"allocator {'; '.join(allocator(allocator_env(a)) for a in args.allocators)}")
    print(f"{args.steps} steps x {FEATURES} features, hidden {args.hidden}, memory "
          f"{args.memory}, batch {args.batch}, {args.samples} training samples timed per round, "
          f"{args.rounds} rounds")
    models = dict(MODELS)
    for length in args.chunks:
        models[f"ENN per-sample, chunks of {length}"] = dict(
            kind="enn", trace_scope="sample", chunk=length
        )
    selected = {
        name: spec for name, spec in models.items()
        if not args.models or any(part in name for part in args.models)
    }
    if selected and not args.grid:
        model_tables(selected, args)

    if args.grid:
        for steps in args.grid_steps:
            for memory in args.grid_memory:
                sized = argparse.Namespace(**{
                    **vars(args), "steps": steps, "memory": memory, "batch": args.grid_batch,
                    "samples": 2 * args.grid_batch,
                })
                print()
                print(f"### {steps} steps, memory {memory}, batch {args.grid_batch}, "
                      f"{sized.samples} training samples timed per round")
                model_tables(selected, sized)

    if args.scaling:
        print()
        print(f"Scaling (ENN, batch {args.scaling_batch}, {2 * args.scaling_batch} training "
              "samples; time per training sample and per step, and peak memory growth during fit)")
        print()
        print("| mode | memory | steps | train ms/sample | train us/(sample*step) | "
              "growth MB |")
        print("|---|---:|---:|---:|---:|---:|")
        scaled = argparse.Namespace(**{**vars(args), "batch": args.scaling_batch})
        for mode in ("batch", "sample"):
            for memory in (64, 512):
                for steps in (28, 256, 1024):
                    result = measure(dict(kind="enn", trace_scope=mode), scaled, steps, memory,
                                     samples=2 * args.scaling_batch)
                    if "error" in result:
                        print(f"| {mode} | {memory} | {steps} | failed: {result['error']} | | |")
                        continue
                    per_sample = 1000 / result["train_sps"]
                    print(f"| {mode} | {memory} | {steps} | {per_sample:.2f} | "
                          f"{1000 * per_sample / steps:.1f} | {result['growth_mb']:,.0f} |",
                          flush=True)


if __name__ == "__main__":
    main()
