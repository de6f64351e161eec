"""Memoria step time: keras-engram on each backend beside memoria-pytorch, in one run.

One step is `add_working_memory` -> `remind` -> `adjust_lifespan_and_memories`
with lifespan deltas `(3 * index + t) % 6` for the reminded engrams. Each
measurement runs in its own process (a Keras backend is fixed per process):

* `<backend>-compiled`: the pure step (`memoria_add`, `memoria_remind`,
  `memoria_adjust`) as one compiled function: `jax.jit`,
  `tf.function(jit_compile=True)`, `torch.compile` (when it compiles);
* `<backend>-class`: the `Memoria` class (argument checks; on JAX each call
  is a one-step `keras.ops.scan`, compiled once; elsewhere eager ops);
* `memoria-pytorch`: the reference, one batched instance (its normal use).

The reference must be importable (`pip install memoria-pytorch`, or
`PYTHONPATH` pointing at an unpacked wheel). Usage:

    python benchmarks/memoria_speed.py                  # every size, every runner
    python benchmarks/memoria_speed.py --sizes small8 --runners jax-compiled reference

With `--rounds R` every (size, runner) process runs R times, interleaved
(round 1 of every runner, then round 2, ...), so that a shared machine's
changing load falls on every runner alike. Prints, per runner, the median
over the rounds of the median milliseconds per step (after warm-up steps
that fill the memory), the range over the rounds, and the median over the
rounds of reference / ours (each ratio from the same round). Not a test.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (B, W, H, K, S, D, L0, F, capacity)
SIZES = {
    "small8": (8, 32, 256, 4, 16, 5, 3, 4, 256),
    "small2": (2, 8, 64, 4, 16, 5, 3, 4, 128),
    "large": (32, 32, 64, 16, 128, 10, 9, 16, 1024),
}
RUNNERS = ("reference", "jax-compiled", "jax-class", "tensorflow-compiled", "tensorflow-class",
           "torch-compiled", "torch-class")


def _inputs(size, steps):
    import numpy as np

    b, w, h = SIZES[size][:3]
    return np.random.default_rng(0).uniform(size=(steps, b, w, h)).astype("float32")


def _time(step, warmup, steps):
    for t in range(warmup):
        step(t)
    times = []
    for t in range(warmup, warmup + steps):
        start = time.perf_counter()
        step(t)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def run_reference(size, warmup, steps):
    import torch
    from memoria import Memoria

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    b, w, h, k, s, d, l0, f, _ = SIZES[size]
    xs = torch.from_numpy(_inputs(size, warmup + steps))
    memoria = Memoria(num_reminded_stm=k, stm_capacity=s, ltm_search_depth=d,
                      initial_lifespan=l0, num_final_ltms=f)

    def step(t):
        memoria.add_working_memory(xs[t])
        _, idx = memoria.remind()
        delta = torch.where(idx >= 0, (3 * idx + t) % 6, 0).float()
        memoria.adjust_lifespan_and_memories(idx, delta)

    return {"ms": _time(step, warmup, steps), "alive": int(memoria.engrams.data.shape[1])}


def run_ours(size, warmup, steps, compiled):
    import keras

    from keras_engram.memoria import (
        Memoria, MemoriaConfig, memoria_add, memoria_adjust, memoria_init, memoria_remind,
    )

    backend = keras.backend.backend()
    b, w, h, k, s, d, l0, f, cap = SIZES[size]
    xs = _inputs(size, warmup + steps)
    distance = "matmul" if size == "large" else "difference"
    note = ""
    if not compiled:
        memoria = Memoria(k, s, d, l0, f, cap, tie_break="random", seed=0, distance=distance)

        def step(t):
            memoria.add_working_memory(xs[t])
            _, idx = memoria.remind()
            idx = keras.ops.convert_to_numpy(idx)
            delta = ((3 * idx + t) % 6) * (idx >= 0)
            memoria.adjust_lifespan_and_memories(idx, delta.astype("float32"))

        ms = _time(step, warmup, steps)
        return {"ms": ms, "evicted": int(memoria.evicted.sum()),
                "alive": int(memoria.get_memory_state()["n"].max()), "note": note}

    config = MemoriaConfig(k, s, d, l0, f, cap, "neg_sq_l2", "random", distance)
    from keras_engram.memoria import memoria_noise

    def pure(state, x, t, noise):
        state = memoria_add(state, x, config)
        state, out = memoria_remind(state, config, w, noise)
        idx = out["indices"]
        delta = keras.ops.where(idx >= 0, keras.ops.cast((3 * idx + t) % 6, "float32"), 0.0)
        return memoria_adjust(state, idx, delta, config), idx

    if backend == "jax":
        import jax

        fn = jax.jit(pure)
        sync = jax.block_until_ready
    elif backend == "tensorflow":
        import tensorflow as tf

        fn = tf.function(pure, jit_compile=True)
        sync = lambda v: v.numpy()  # noqa: E731
    else:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        try:
            fn = torch.compile(pure, fullgraph=True, dynamic=False)
            probe_state = memoria_init(config, b, h)
            fn(probe_state, keras.ops.convert_to_tensor(xs[0]), keras.ops.convert_to_tensor(0),
               memoria_noise(config, b, keras.random.SeedGenerator(0)))
        except Exception as error:  # report and fall back to the eager pure step
            note = f"torch.compile failed ({type(error).__name__}); eager pure step"
            fn = pure
        sync = lambda v: v.cpu()  # noqa: E731

    seed = keras.random.SeedGenerator(0)
    holder = {"state": memoria_init(config, b, h)}
    xt = [keras.ops.convert_to_tensor(x) for x in xs]

    def step(t):
        noise = memoria_noise(config, b, seed)
        holder["state"], idx = fn(holder["state"], xt[t], keras.ops.convert_to_tensor(t, "int32"), noise)
        sync(idx)

    ms = _time(step, warmup, steps)
    state = {key: keras.ops.convert_to_numpy(v) for key, v in holder["state"].items()}
    return {"ms": ms, "evicted": int(state["evicted"].sum()), "alive": int(state["n"].max()), "note": note}


def worker(runner, size, warmup, steps):
    if runner == "reference":
        return run_reference(size, warmup, steps)
    return run_ours(size, warmup, steps, compiled=runner.endswith("compiled"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--runners", nargs="+", default=list(RUNNERS), choices=RUNNERS)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved repetitions of every run")
    parser.add_argument("--worker", nargs=2, metavar=("RUNNER", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.warmup, args.steps)))
        return
    rounds = {}
    for index in range(args.rounds):
        for size in args.sizes:
            for runner in args.runners:
                result = _run_worker(runner, size, args)
                rounds.setdefault((size, runner), []).append(result)
                print(f"round {index + 1}", size, runner, result, flush=True)
    results = {}
    for key, runs in rounds.items():
        good = [r for r in runs if "error" not in r]
        if not good:
            results[key] = runs[-1]
            continue
        ms = [r["ms"] for r in good]
        results[key] = {**good[-1], "ms": statistics.median(ms), "lo": min(ms), "hi": max(ms)}
        ref = [r.get("ms") for r in rounds.get((key[0], "reference"), [])]
        pairs = [(a, r["ms"]) for a, r in zip(ref, runs) if a is not None and "error" not in r]
        if pairs and key[1] != "reference":
            results[key]["ratio"] = statistics.median([a / b for a, b in pairs])
    import keras

    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; keras {keras.__version__}")
    print(f"rounds: {args.rounds}")
    print("\n| size (B, W, H; capacity) | runner | ms / step | range | reference / ours | max alive | evicted |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        b, w, h, *_, cap = SIZES[size]
        for runner in args.runners:
            r = results[(size, runner)]
            if "error" in r:
                print(f"| {size} ({b}, {w}, {h}; {cap}) | {runner} | error: {r['error']} | | | | |")
                continue
            ratio = f"{r['ratio']:.2g}x" if "ratio" in r else ""
            note = f" ({r['note']})" if r.get("note") else ""
            print(f"| {size} ({b}, {w}, {h}; {cap}) | {runner}{note} | {r['ms']:.3g} | "
                  f"{r['lo']:.3g}-{r['hi']:.3g} | {ratio} | {r.get('alive', '')} | {r.get('evicted', '')} |")


def _run_worker(runner, size, args):
    backend = "torch" if runner == "reference" else runner.split("-")[0]
    env = {**os.environ, "KERAS_BACKEND": backend,
           "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    steps = max(5, args.steps // 5) if size == "large" else args.steps
    warmup = max(5, args.warmup // 3) if size == "large" else args.warmup
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--worker", runner, size,
         "--warmup", str(warmup), "--steps", str(steps)],
        capture_output=True, text=True, env=env,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
