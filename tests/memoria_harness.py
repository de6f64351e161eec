"""Shared drivers for the Memoria tests: random configurations and a lockstep runner.

`run_lockstep` steps the port (`keras_engram.memoria.Memoria`) beside one
per-row reference object per batch row (the NumPy `RowMemoria`, or an
adapter around memoria-pytorch at batch size 1) and compares, after every
remind and every adjustment, everything the specification fixes.
"""

import numpy as np

from memoria_numpy_reference import dyadic_delta

# (K, S, D, L0, F, W): fixed corner cases first (F = 0, D = 0, K = 1, tiny S).
CORNER_CONFIGS = [
    (2, 3, 2, 3, 0, 2),
    (3, 4, 0, 4, 2, 1),
    (1, 2, 3, 2, 3, 3),
    (5, 11, 5, 5, 5, 4),
]


def random_configs(count, seed):
    rng = np.random.default_rng(seed)
    out = list(CORNER_CONFIGS)
    while len(out) < count:
        out.append((int(rng.integers(1, 6)), int(rng.integers(2, 12)), int(rng.integers(0, 6)),
                    int(rng.integers(1, 6)), int(rng.integers(0, 6)), int(rng.integers(1, 5))))
    return out[:count]


def draw_inputs(rng, steps, batch, width, hidden, similarity):
    scale = 0.4 if similarity == "exp_neg_sq_l2" else 1.0
    return (scale * rng.normal(size=(steps, batch, width, hidden))).astype("float32")


def run_lockstep(port, rows, inputs, capacity, compare_ids=True, compare_age=True):
    """Steps `port` and the per-row references `rows` on `inputs [T, B, W, H]`.

    Returns the number of steps run. Raises AssertionError at the first
    difference, naming the step, row and buffer.
    """
    steps, batch, _, hidden = inputs.shape
    for t in range(steps):
        port.add_working_memory(inputs[t])
        for b, row in enumerate(rows):
            row.add(inputs[t, b])
        _, indices = port.remind()
        got = np.asarray(indices)
        width = port.reminded_width
        gains = np.zeros(got.shape, "float32")
        for b, row in enumerate(rows):
            expected, expected_width = row.remind()
            named = sorted(int(v) for v in got[b] if v >= 0)
            assert named == expected, f"step {t} row {b}: reminded {named}, reference {expected}"
            assert int(width[b]) == expected_width, (
                f"step {t} row {b}: width {int(width[b])}, reference {expected_width}"
            )
            for r, slot in enumerate(got[b]):
                if slot >= 0:
                    gains[b, r] = dyadic_delta(int(slot), t)
        port.adjust_lifespan_and_memories(got, gains)
        state = port.get_memory_state()
        assert int(state["evicted"].sum()) == 0, f"step {t}: capacity {capacity} overflowed"
        for b, row in enumerate(rows):
            row.adjust({int(s): float(g) for s, g in zip(got[b], gains[b]) if s >= 0})
            expected = row.slots(capacity, hidden)
            where = f"step {t} row {b}"
            assert int(state["n"][b]) == expected["n"], f"{where}: n {state['n'][b]} vs {expected['n']}"
            np.testing.assert_array_equal(state["type"][b], expected["type"], err_msg=f"{where}: type")
            np.testing.assert_array_equal(state["life"][b], expected["life"], err_msg=f"{where}: life")
            np.testing.assert_array_equal(state["counts"][b], expected["counts"], err_msg=f"{where}: counts")
            np.testing.assert_array_equal(state["data"][b], expected["data"], err_msg=f"{where}: data")
            if compare_age:
                np.testing.assert_array_equal(state["age"][b], expected["age"], err_msg=f"{where}: age")
            if compare_ids:
                np.testing.assert_array_equal(state["ids"][b], expected["ids"], err_msg=f"{where}: ids")
    return steps
