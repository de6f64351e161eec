"""Memoria against memoria-pytorch (run by `nox -s memoria_reference`).

Needs the `memoria` package of memoria-pytorch 1.1.0 or 1.0.0 (and torch).
Without it every test here skips; with KERAS_ENGRAM_MEMORIA_TESTS set (the
nox session sets it to the version it installed) a missing or different
package is an error instead.

* T1: exact per-row parity: one reference instance at batch size 1 per row,
  its random tie-break replaced by "newest wins", dyadic lifespan deltas.
  The port and the NumPy per-row reference both run beside it.
* T3: the unpatched reference's random tie-break is uniform, like ours.
* T4: the README tutorial (1.0.0, seed 42) on our API, as sets.
"""

import contextlib
import os

import keras
import numpy as np
import pytest

from memoria_harness import draw_inputs, random_configs, run_lockstep
from memoria_numpy_reference import RowMemoria
from keras_engram.memoria import Memoria

REQUIRED = os.environ.get("KERAS_ENGRAM_MEMORIA_TESTS")
try:
    import torch

    import memoria as reference
except ImportError as error:  # pragma: no cover - depends on the environment
    if REQUIRED:
        raise
    pytest.skip(
        f"memoria-pytorch is not importable ({error}); `nox -s memoria_reference` runs these tests",
        allow_module_level=True,
    )

VERSION = "1.1.0" if hasattr(reference, "HistoryManager") else "1.0.0"
SIMILARITY = "neg_sq_l2" if VERSION == "1.1.0" else "exp_neg_sq_l2"
if REQUIRED:
    assert REQUIRED == VERSION, f"installed memoria-pytorch looks like {VERSION}, expected {REQUIRED}"


@contextlib.contextmanager
def newest_wins():
    """Replaces torch.rand_like by (j + 1) / (M + 1) along the last axis: ties go to the newest."""
    original = torch.rand_like

    def ramp(t, *args, **kwargs):
        m = t.shape[-1]
        values = (torch.arange(m, dtype=torch.float32) + 1) / (m + 1)
        return values.expand(t.shape).to(kwargs.get("dtype") or t.dtype).clone()

    torch.rand_like = ramp
    try:
        yield
    finally:
        torch.rand_like = original


class ReferenceRow:
    """memoria-pytorch at batch size 1, with the interface of the NumPy `RowMemoria`."""

    def __init__(self, K, S, D, L0, F):
        kwargs = {"track_age": True, "track_id": True} if VERSION == "1.1.0" else {}
        self.memoria = reference.Memoria(
            num_reminded_stm=K, stm_capacity=S, ltm_search_depth=D, initial_lifespan=L0,
            num_final_ltms=F, **kwargs,
        )
        self.indices = None

    def add(self, x):
        self.memoria.add_working_memory(torch.from_numpy(np.asarray(x, np.float32)[None]))

    def remind(self):
        with newest_wins():
            _, indices = self.memoria.remind()
        self.indices = indices
        values = indices[0].tolist()
        return sorted(v for v in values if v >= 0), len(values)

    def adjust(self, gains):
        delta = torch.tensor([[gains.get(v, 0.0) if v >= 0 else 0.0 for v in self.indices[0].tolist()]])
        self.memoria.adjust_lifespan_and_memories(self.indices, delta)

    def slots(self, capacity, hidden):
        e = self.memoria.engrams
        n = int(e.data.shape[1]) if e.data.dim() == 3 else 0
        out = {
            "data": np.zeros((capacity, hidden), np.float32), "counts": np.zeros((capacity, capacity), np.int64),
            "type": np.zeros(capacity, np.int64), "life": np.zeros(capacity, np.float32),
            "age": np.zeros(capacity, np.int64), "ids": np.zeros(capacity, np.int64), "n": n,
        }
        if n:
            out["data"][:n] = e.data[0].numpy()
            out["counts"][:n, :n] = e.induce_counts[0].numpy()
            out["type"][:n] = e.engrams_types[0].numpy()
            out["life"][:n] = e.lifespan[0].numpy()
            if VERSION == "1.1.0":
                out["age"][:n] = e.age[0].numpy()
                out["ids"][:n] = e.engram_ids[0].numpy()
        return out


class Both:
    """Steps the reference row and the NumPy row together and checks that they agree."""

    def __init__(self, K, S, D, L0, F):
        self.ref, self.np_row = ReferenceRow(K, S, D, L0, F), RowMemoria(K, S, D, L0, F, SIMILARITY)

    def add(self, x):
        self.ref.add(x)
        self.np_row.add(x)

    def remind(self):
        got, expected = self.ref.remind(), self.np_row.remind()
        assert got == expected, f"NumPy reference {expected}, memoria-pytorch {got}"
        return got

    def adjust(self, gains):
        self.ref.adjust(gains)
        self.np_row.adjust(gains)

    def slots(self, capacity, hidden):
        return self.ref.slots(capacity, hidden)


@pytest.mark.parametrize("config_seed", [0, 1])
def test_t1_exact_per_row_parity(config_seed):
    rng = np.random.default_rng(100 + config_seed)
    coverage = {}
    for K, S, D, L0, F, W in random_configs(6, seed=config_seed):
        capacity, batch, steps = 96, 2, 25
        port = Memoria(K, S, D, L0, F, capacity, similarity=SIMILARITY, tie_break="newest")
        rows = [Both(K, S, D, L0, F) for _ in range(batch)]
        run_lockstep(port, rows, draw_inputs(rng, steps, batch, W, 3, SIMILARITY), capacity,
                     compare_ids=VERSION == "1.1.0", compare_age=VERSION == "1.1.0")
        for row in rows:
            for key, value in row.np_row.coverage.items():
                coverage[key] = coverage.get(key, 0) + value
    assert all(value > 0 for value in coverage.values()), coverage


def _t3_layout(linked):
    """4 LTMs (slots 0-3), STMs at 4 (nearest to the working memory) and 5, the working memory at 6.

    `linked`: STM 4 co-fired 5 times with LTM 0 (its seed is then fixed) or never.
    """
    types = [3, 3, 3, 3, 2, 2, 1] if linked else [3, 3, 3, 3, 2, 1]
    n = len(types)
    data = np.zeros((n, 2), "float32")
    data[:4, 0] = 9.0
    data[5:n - 1, 0] = 3.0
    counts = np.zeros((n, n), "int32")
    if linked:
        counts[4, 0] = counts[0, 4] = 5
    return data, counts, types


def _drawn_ltm(reminded):
    """The random LTM of a trial: the one LTM reminded (`linked=False`), or the one besides 0."""
    ltms = sorted(v for v in reminded if v < 4)
    return ltms[-1] if ltms else None


@pytest.mark.parametrize("linked", [False, True], ids=["tied_seed", "unselected_draw"])
def test_t3_random_tie_break_is_uniform_on_both_sides(linked):
    """The long-term memory chosen at random is uniform over the 4, here and in memoria-pytorch.

    `tied_seed`: the reminded STM has no link to any LTM (a 4-way tie).
    `unselected_draw`: the reminded STM's seed is LTM 0; the unselected STM
    draws any of the 4 (0 included, then only 0 is reminded).
    D = 0, so the reminded LTMs are the seeds. Chi-square against uniform.
    """
    from scipy import stats

    from test_memoria import state_with

    trials = 300
    data, counts, types = _t3_layout(linked)
    ours = Memoria(1, 8, 0, 5, 8, 16, similarity=SIMILARITY, tie_break="random", seed=0)
    state = state_with(types, 16, counts=counts, data=data)
    ours_draws = []
    for _ in range(trials):
        ours.set_memory_state(state)
        _, idx = ours.remind()
        ours_draws.append(_drawn_ltm([int(v) for v in np.asarray(idx)[0] if v >= 0]))

    torch.manual_seed(0)
    ref_draws = []
    for _ in range(trials):
        m = reference.Memoria(num_reminded_stm=1, stm_capacity=8, ltm_search_depth=0,
                              initial_lifespan=5, num_final_ltms=8)
        m.engrams = _reference_engrams(data, counts, types)
        _, idx = m.remind()
        ref_draws.append(_drawn_ltm([int(v) for v in idx[0].tolist() if v >= 0]))
    for draws in (ours_draws, ref_draws):
        freq = [sum(d == k for d in draws) for k in (0, 1, 2, 3)]
        assert sum(freq) == trials, freq
        assert stats.chisquare(freq).pvalue > 1e-3, freq


def _reference_engrams(data, counts, types):
    n = len(types)
    return reference.Engrams(
        torch.from_numpy(data[None]),
        induce_counts=torch.from_numpy(counts[None].astype("int32")),
        engrams_types=torch.tensor([types], dtype=torch.uint8),
        lifespan=torch.full((1, n), 5.0),
    )


def test_t4_readme_tutorial_as_sets():
    if VERSION != "1.0.0":
        pytest.skip("the README outputs come from memoria-pytorch 1.0.0")
    torch.manual_seed(42)
    data = torch.rand(2, 8, 64)
    ours = Memoria(4, 16, 5, 3, 4, capacity=64, similarity="exp_neg_sq_l2")
    ours.add_working_memory(data.numpy())
    memories, idx = ours.remind()
    assert (np.asarray(idx) == -1).all() and ours.reminded_width.tolist() == [0, 0]
    ours.adjust_lifespan_and_memories(idx, np.zeros(np.asarray(idx).shape, "float32"))
    state = ours.get_memory_state()
    assert (state["life"][:, :8] == 2).all() and (state["type"][:, :8] == 2).all()
    ours.add_working_memory(torch.rand(2, 8, 64).numpy())
    memories, idx = ours.remind()
    idx = np.asarray(idx)
    assert [sorted(v for v in row if v >= 0) for row in idx.tolist()] == [[0, 2, 3, 4, 6], [0, 4, 5, 6, 7]]
    assert ours.reminded_width.tolist() == [6, 6]
    ours.adjust_lifespan_and_memories(idx, np.where(idx >= 0, 5.0, 0.0).astype("float32"))
    life = ours.get_memory_state()["life"][:, :16]
    assert life.tolist() == [[6, 1, 6, 6, 6, 1, 6, 1] + [2] * 8, [6, 1, 1, 1, 6, 6, 6, 6] + [2] * 8]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(memories)[0, 0], data[0, 0].numpy())
