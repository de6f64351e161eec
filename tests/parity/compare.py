"""Compares the parity battery's per-backend results; exits 1 when a tolerance is exceeded.

    python tests/parity/compare.py --out DIR [--precision float32|mixed_bfloat16]

Errors are relative to the reference's scale: for arrays a (tested) and
b (reference), rel = max|a - b| / max|b| (max over the arrays of a group).
Checks: every backend against the float64 NumPy reference (golden) where a case
has one; every backend's outputs and gradients against the same cases run in
float64 (DIR/float64, from `harness.py reference`; that run is itself checked
against the NumPy reference); every pair of backends for forward outputs, gradients (weights and
inputs) and the weights and losses after 5 Adam steps; and the 3 x 3 weight
portability matrix (.keras and .weights.h5 saved on the row's backend, loaded
on the column's); and the presets (tests/parity/harness.py): the built-in
presets' predictions on their test splits for every pair of backends, their
count of correct predictions against their metadata.json on every backend,
and a 3 x 3 matrix of presets saved on the row's backend (`save_to_preset`)
and loaded on the column's (`from_preset`).

Before comparing, every backend (all three, or those named by --backends) must
have produced every case: its devices.json, <case>.npz with the same arrays as
the other backends, and a port_<source>.npz entry for every case not marked
skipped. Anything missing fails the comparison (exit 1) with a list of what is
missing, rather than comparing fewer backends or cases.

    python tests/parity/compare.py --self-check   # the completeness check on synthetic results
"""

import argparse
import itertools
import json
import os
import sys

import numpy as np

BACKENDS = ("jax", "torch", "tensorflow")
TOLERANCES = {
    "float32": {"golden": 1e-5, "outputs": 1e-5, "gradients": 1e-5, "trained": 1e-4, "port": 1e-5},
    "mixed_bfloat16": {"golden": 1e-2, "outputs": 1e-2, "gradients": 1e-2, "trained": 1e-2, "port": 1e-2},
}
FLOAT64_REFERENCE_TOLERANCE = 1e-12


def errors(a_arrays, b_arrays):
    """(max abs, max rel) over paired arrays; rel scaled by each reference's max |b|."""
    worst_abs, worst_rel = 0.0, 0.0
    if len(a_arrays) != len(b_arrays):
        return float("inf"), float("inf")
    for a, b in zip(a_arrays, b_arrays):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        if a.shape != b.shape:
            return float("inf"), float("inf")
        diff = float(np.abs(a - b).max()) if a.size else 0.0
        scale = max(float(np.abs(b).max()) if b.size else 0.0, 1e-12)
        worst_abs, worst_rel = max(worst_abs, diff), max(worst_rel, diff / scale)
    return worst_abs, worst_rel


def group(record, prefix):
    keys = sorted((k for k in record.files if k.startswith(prefix)), key=lambda k: int(k.rsplit("_", 1)[1]))
    return [record[k] for k in keys]


# Arrays every case record has (harness.py `run`), and the float64 anchor's subset.
REQUIRED_KEYS = ("weight_paths", "out_0", "loss_0", "train_losses")
ANCHOR_PREFIXES = ("out_", "grad_w_", "grad_x_")


def missing_results(out, backends):
    """What the backends did not produce in `out`: a list of messages, empty when complete.

    Every backend needs devices.json and <case>.npz for every case any backend
    ran, each with REQUIRED_KEYS and the same array names as the others; the
    float64 anchor (when DIR/float64 exists) every case, with the backends'
    out_/grad_ arrays; and port_<source>.npz from each other backend with
    `<case>__keras` and `<case>__h5` for every case it did not mark skipped.
    """
    problems, meta, keys = [], {}, {}
    for backend in backends:
        path = os.path.join(out, backend, "devices.json")
        if not os.path.isfile(path):
            problems.append(f"{backend}: no results ({path} missing; did `harness.py run` fail?)")
            continue
        with open(path) as f:
            meta[backend] = json.load(f)
    cases = sorted(set().union(*(m["cases"] for m in meta.values())))
    for backend in meta:
        for case in cases:
            if case not in meta[backend]["cases"]:
                problems.append(f"{backend}: case {case} not run (not in devices.json)")
            path = os.path.join(out, backend, case + ".npz")
            if not os.path.isfile(path):
                problems.append(f"{backend}: {path} missing")
                continue
            with np.load(path) as record:
                keys[(backend, case)] = set(record.files)
            absent = [k for k in REQUIRED_KEYS if k not in keys[(backend, case)]]
            if absent:
                problems.append(f"{backend}: {case}.npz lacks {absent}")
    for case in cases:
        seen = {b: keys[(b, case)] for b in meta if (b, case) in keys}
        union = set().union(*seen.values()) if seen else set()
        for backend, names in seen.items():
            if names != union:
                problems.append(f"{backend}: {case}.npz lacks {sorted(union - names)} "
                                "(present on another backend)")
        anchor = os.path.join(out, "float64", case + ".npz")
        if os.path.isdir(os.path.join(out, "float64")):
            if not os.path.isfile(anchor):
                problems.append(f"float64: {anchor} missing")
            else:
                with np.load(anchor) as record:
                    wanted = {k for k in union if k.startswith(ANCHOR_PREFIXES)} | {"weight_paths"}
                    absent = sorted(wanted - set(record.files))
                if absent:
                    problems.append(f"float64: {case}.npz lacks {absent}")
    for target in meta:
        for source in meta:
            if source == target:
                continue
            path = os.path.join(out, target, f"port_{source}.npz")
            if not os.path.isfile(path):
                problems.append(f"{target}: {path} missing (did `harness.py port` run?)")
                continue
            with np.load(path) as port:
                names = set(port.files)
                skipped = set(port["skipped"].tolist()) if "skipped" in names else set()
            for case in cases:
                if case in skipped:
                    continue
                absent = [f"{case}__{kind}" for kind in ("keras", "h5") if f"{case}__{kind}" not in names]
                if absent:
                    problems.append(f"{target}: port_{source}.npz lacks {absent}")
    preset_names = {}
    for backend in meta:
        path = os.path.join(out, backend, "presets.npz")
        if not os.path.isfile(path):
            problems.append(f"{backend}: {path} missing (presets not run)")
            continue
        with np.load(path) as record:
            preset_names[backend] = {k.split("__")[0] for k in record.files if k.endswith("__predictions")}
    union = set().union(*preset_names.values()) if preset_names else set()
    for backend, names in preset_names.items():
        if names != union:
            problems.append(f"{backend}: presets.npz lacks {sorted(union - names)} (present on another backend)")
    for target in meta:
        for source in meta:
            if source == target:
                continue
            path = os.path.join(out, target, f"presets_port_{source}.npz")
            if not os.path.isfile(path):
                problems.append(f"{target}: {path} missing (did `harness.py port` run?)")
                continue
            with np.load(path) as port:
                absent = sorted(preset_names.get(source, set()) - set(port.files))
            if absent:
                problems.append(f"{target}: presets_port_{source}.npz lacks {absent}")
    return problems


def self_check():
    """missing_results on synthetic results: complete, then with each kind of gap."""
    import tempfile

    def write(out, backends=BACKENDS, cases=("a", "b"), drop=()):
        for backend in backends:
            os.makedirs(os.path.join(out, backend), exist_ok=True)
            with open(os.path.join(out, backend, "devices.json"), "w") as f:
                json.dump({"cases": list(cases), "devices": ["cpu"]}, f)
            for case in cases:
                if (backend, case) in drop:
                    continue
                record = {"weight_paths": np.array(["w"]), "out_0": np.zeros(2), "loss_0": np.array(0.0),
                          "train_losses": np.zeros(5), "grad_w_0": np.zeros(2)}
                record = {k: v for k, v in record.items() if (backend, case, k) not in drop}
                np.savez(os.path.join(out, backend, case + ".npz"), **record)
            for source in backends:
                if source != backend and (backend, "port", source) not in drop:
                    port = {f"{c}__{k}": np.zeros(2) for c in cases for k in ("keras", "h5")
                            if (backend, source, c) not in drop}
                    np.savez(os.path.join(out, backend, f"port_{source}.npz"),
                             skipped=np.array([], dtype=str), **port)
            if (backend, "presets") not in drop:
                np.savez(os.path.join(out, backend, "presets.npz"), p__predictions=np.zeros(2))
            for source in backends:
                if source != backend and (backend, "presets_port", source) not in drop:
                    np.savez(os.path.join(out, backend, f"presets_port_{source}.npz"), p=np.zeros(2))

    gaps = {
        "complete": ((), BACKENDS, None),
        "a backend's case .npz": ((("torch", "b"),), BACKENDS, "torch: "),
        "a key in one backend's .npz": ((("jax", "a", "grad_w_0"),), BACKENDS, "jax: a.npz lacks ['grad_w_0']"),
        "a required key everywhere": (tuple((b, "a", "train_losses") for b in BACKENDS), BACKENDS,
                                      "lacks ['train_losses']"),
        "a port file": ((("tensorflow", "port", "jax"),), BACKENDS, "port_jax.npz missing"),
        "a case in a port file": ((("jax", "torch", "b"),), BACKENDS, "port_torch.npz lacks ['b__keras'"),
        "a whole backend": ((), BACKENDS[:2], "tensorflow: no results"),
        "a presets file": ((("torch", "presets"),), BACKENDS, "presets.npz missing"),
        "a presets port file": ((("jax", "presets_port", "tensorflow"),), BACKENDS,
                                "presets_port_tensorflow.npz missing"),
    }
    for what, (drop, written, expected) in gaps.items():
        with tempfile.TemporaryDirectory() as out:
            write(out, written, drop=drop)
            problems = missing_results(out, BACKENDS)
        if expected is None:
            assert problems == [], f"self-check ({what}): unexpected {problems}"
        else:
            assert any(expected in p for p in problems), f"self-check (missing {what}): {problems}"
    print(f"compare.py self-check: complete results pass, {len(gaps) - 1} kinds of gap are reported")


def compare_presets(out, present, pairs, check, failures):
    """The presets' tables: predictions per backend pair, scores, and the 3 x 3 portability matrix."""
    records = {b: np.load(os.path.join(out, b, "presets.npz")) for b in present}
    names = sorted(k.split("__")[0] for k in records[present[0]].files if k.endswith("__predictions"))
    print("\npresets: predictions (built-in presets on their whole test split), max abs / max rel "
          "error per backend pair; correct predictions per backend against metadata.json\n")
    print("| preset | " + " | ".join(f"{a}-{b}" for a, b in pairs) + " | correct (" + ", ".join(present) + ") |")
    print("|---" * (len(pairs) + 2) + "|")
    for name in names:
        cells = []
        for a, b in pairs:
            err = errors([records[a][f"{name}__predictions"]], [records[b][f"{name}__predictions"]])
            check("outputs", err[1], f"preset {name} [{a}-{b}] predictions")
            cells.append(f"{err[0]:.1e} / {err[1]:.1e}")
        if f"{name}__labels" in records[present[0]].files:
            counts = []
            for b in present:
                r = records[b]
                correct = int((r[f"{name}__predictions"].argmax(-1) == r[f"{name}__labels"]).sum())
                expected = int(r[f"{name}__correct"])
                if correct != expected:
                    failures.append(f"preset {name} [{b}]: {correct} correct, metadata.json says {expected}")
                counts.append(f"{correct}/{len(r[f'{name}__labels'])}")
            cells.append(", ".join(counts) + f" (metadata: {int(records[present[0]][f'{name}__correct'])})")
        else:
            cells.append("(no labels: seeded weights)")
        print(f"| {name} | " + " | ".join(cells) + " |")

    print("\npreset portability: saved with save_to_preset on the row's backend, loaded with "
          "from_preset on the column's; max rel error of the predictions over all presets\n")
    print("| saved on \\ loaded on | " + " | ".join(present) + " |")
    print("|---" * (len(present) + 1) + "|")
    for source in present:
        cells = []
        for target in present:
            if source == target:
                cells.append("(same)")
                continue
            port = np.load(os.path.join(out, target, f"presets_port_{source}.npz"))
            worst = 0.0
            for name in names:
                rel = errors([port[name]], [records[source][f"{name}__predictions"]])[1]
                check("port", rel, f"preset {name} saved on {source} loaded on {target}")
                worst = max(worst, rel)
            cells.append(f"{worst:.1e}")
        print(f"| {source} | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out")
    parser.add_argument("--precision", default="float32", choices=sorted(TOLERANCES))
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS,
                        help="the backends that must have produced every case (default: all three)")
    parser.add_argument("--self-check", action="store_true",
                        help="check the completeness check on synthetic results, then exit")
    args = parser.parse_args()
    if args.self_check:
        self_check()
        return
    if not args.out:
        parser.error("--out is required")
    tol = TOLERANCES[args.precision]
    present = [b for b in BACKENDS if b in args.backends]
    if len(present) < 2:
        sys.exit(f"parity: need at least two backends to compare; --backends names {present}")
    problems = missing_results(args.out, present)
    if problems:
        print(f"parity: FAILED: incomplete results in {args.out} ({len(problems)} gap(s)); "
              "nothing compared:", file=sys.stderr)
        for problem in problems:
            print("  " + problem, file=sys.stderr)
        sys.exit(1)
    meta = {b: json.load(open(os.path.join(args.out, b, "devices.json"))) for b in present}
    cases = sorted(set().union(*(meta[b]["cases"] for b in present)))
    load = {(b, c): np.load(os.path.join(args.out, b, c + ".npz")) for b in present for c in cases}
    failures = []

    def check(kind, value, what):
        if not value <= tol[kind]:
            failures.append(f"{what}: {kind} rel error {value:.2e} > {tol[kind]:.0e}")

    print(f"parity ({args.precision}); devices: " + "; ".join(f"{b}: {', '.join(meta[b]['devices'])}" for b in present))
    print(f"tolerances (rel = max|a-b|/max|b|): {tol}\n")

    print("golden: each backend vs the float64 NumPy reference (max rel error)\n")
    print("| case | " + " | ".join(present) + " |")
    print("|---" * (len(present) + 1) + "|")
    for case in cases:
        if not any(k.startswith("golden_") for k in load[(present[0], case)].files):
            continue
        cells = []
        for b in present:
            r = load[(b, case)]
            golden = group(r, "golden_")
            _, rel = errors(group(r, "out_")[: len(golden)], golden)
            check("golden", rel, f"{case} [{b} vs NumPy]")
            cells.append(f"{rel:.1e}")
        print(f"| {case} | " + " | ".join(cells) + " |")

    reference_dir = os.path.join(args.out, "float64")
    if os.path.isdir(reference_dir):
        reference = {c: np.load(os.path.join(reference_dir, c + ".npz")) for c in cases}
        # Under a mixed policy the layers that keep it round their inputs to 16 bits on
        # every backend alike: the distance to float64 then measures that rounding,
        # which is by design, and only the backend pairs are checked.
        anchor_checked = args.precision == "float32"
        print("\nfloat64 anchor: the same cases run in float64 on TensorFlow (same weights,"
              " inputs, targets); each backend's outputs / gradients (weights, inputs) against"
              " it (max rel error), and the float64 run against the NumPy reference"
              + ("" if anchor_checked else
                 f" (shown, not checked, under {args.precision}: 16-bit rounding by design)")
              + "\n")
        print("| case | " + " | ".join(present) + " | float64 run vs NumPy |")
        print("|---" * (len(present) + 2) + "|")
        for case in cases:
            ref = reference[case]
            cells = []
            for b in present:
                r = load[(b, case)]
                if list(r["weight_paths"]) != list(ref["weight_paths"]):
                    failures.append(f"{case} [{b} vs float64]: weight order differs")
                out = errors(group(r, "out_"), group(ref, "out_"))[1]
                grad = errors(group(r, "grad_w_") + group(r, "grad_x_"),
                              group(ref, "grad_w_") + group(ref, "grad_x_"))[1]
                if anchor_checked:
                    check("golden", out, f"{case} [{b} outputs vs float64]")
                    check("golden", grad, f"{case} [{b} gradients vs float64]")
                cells.append(f"{out:.1e} / {grad:.1e}")
            golden = group(load[(present[0], case)], "golden_")
            if golden:
                # The anchor itself must be float64-exact, or it anchors nothing.
                rel = errors(group(ref, "out_")[: len(golden)], golden)[1]
                if not rel <= FLOAT64_REFERENCE_TOLERANCE:
                    failures.append(f"{case}: float64 run vs NumPy rel error {rel:.2e} > "
                                    f"{FLOAT64_REFERENCE_TOLERANCE:.0e}")
                cells.append(f"{rel:.1e}")
            else:
                cells.append("(no NumPy golden)")
            print(f"| {case} | " + " | ".join(cells) + " |")
    else:
        print(f"\n(no float64 anchor in {reference_dir}: run `harness.py reference`; gradients "
              "are compared between backends only)")

    pairs = list(itertools.combinations(present, 2))
    print("\nbackend pairs: max abs / max rel error\n")
    print("| case | pair | outputs | gradients (weights, inputs) | after 5 Adam steps (weights, losses) |")
    print("|---|---|---|---|---|")
    for case in cases:
        for a, b in pairs:
            ra, rb = load[(a, case)], load[(b, case)]
            if list(ra["weight_paths"]) != list(rb["weight_paths"]):
                failures.append(f"{case} [{a}-{b}]: weight order differs")
            out = errors(group(ra, "out_"), group(rb, "out_"))
            grad = errors(group(ra, "grad_w_") + group(ra, "grad_x_"), group(rb, "grad_w_") + group(rb, "grad_x_"))
            trained = errors(group(ra, "trained_") + [ra["train_losses"]], group(rb, "trained_") + [rb["train_losses"]])
            check("outputs", out[1], f"{case} [{a}-{b}] outputs")
            check("gradients", grad[1], f"{case} [{a}-{b}] gradients")
            check("trained", trained[1], f"{case} [{a}-{b}] trained")
            print(f"| {case} | {a}-{b} | {out[0]:.1e} / {out[1]:.1e} | {grad[0]:.1e} / {grad[1]:.1e} "
                  f"| {trained[0]:.1e} / {trained[1]:.1e} |")

    print("\nweight portability: saved on the row's backend, loaded on the column's; "
          "max rel error of the outputs over all cases (.keras / .weights.h5)\n")
    print("| saved on \\ loaded on | " + " | ".join(present) + " |")
    print("|---" * (len(present) + 1) + "|")
    for source in present:
        cells = []
        for target in present:
            if source == target:
                cells.append("(same)")
                continue
            port = np.load(os.path.join(args.out, target, f"port_{source}.npz"))
            skipped = set(port["skipped"].tolist())  # stateful cases (missing_results checked the rest)
            worst = {"keras": 0.0, "h5": 0.0}
            for case in cases:
                if case in skipped:
                    continue
                expected = [load[(source, case)]["out_0"]]
                for kind in worst:
                    rel = errors([port[f"{case}__{kind}"]], expected)[1]
                    worst[kind] = max(worst[kind], rel)
                    check("port", rel, f"{case} saved on {source} loaded on {target} ({kind})")
            cells.append(f"{worst['keras']:.1e} / {worst['h5']:.1e}")
        print(f"| {source} | " + " | ".join(cells) + " |")

    compare_presets(args.out, present, pairs, check, failures)

    if failures:
        print(f"\nFAILED: {len(failures)} check(s) over tolerance:")
        for failure in failures:
            print("  " + failure)
        sys.exit(1)
    print(f"\nparity: all checks within tolerance ({len(cases)} cases, {len(present)} backends)")


if __name__ == "__main__":
    main()
