"""Memoria on every backend: the per-row NumPy reference, the reference's unit expectations, capacity, errors.

The live comparison with memoria-pytorch is in tests/test_memoria_reference.py.
"""

import contextlib

import keras
import numpy as np
import pytest

from memoria_harness import draw_inputs, random_configs, run_lockstep
from memoria_numpy_reference import LONGTERM, SHORTTERM, WORKING, RowMemoria
from keras_engram.memoria import (
    EngramsInfo,
    HistoryManager,
    Memoria,
    MemoriaConfig,
    memoria_add,
    memoria_adjust,
    memoria_init,
    memoria_remind,
    memoria_reset,
)
from keras_engram.src.memoria.engram_info import EngramInfo
from keras_engram.src.memoria.engrams_info import summarize


def make(K=2, S=4, D=2, L0=3, F=2, capacity=32, **kwargs):
    return Memoria(num_reminded_stm=K, stm_capacity=S, ltm_search_depth=D, initial_lifespan=L0,
                   num_final_ltms=F, capacity=capacity, **kwargs)


def state_with(types, capacity, hidden=2, counts=None, life=None, data=None, batch=1):
    """A one-row state dict with the given alive types (in slot order)."""
    n = len(types)
    state = {
        "data": np.zeros((batch, capacity, hidden), "float32"),
        "counts": np.zeros((batch, capacity, capacity), "int32"),
        "type": np.zeros((batch, capacity), "int32"),
        "life": np.zeros((batch, capacity), "float32"),
        "age": np.zeros((batch, capacity), "int32"),
        "ids": np.zeros((batch, capacity), "int32"),
        "n": np.full((batch,), n, "int32"),
        "next_id": np.array(n, "int32"),
        "evicted": np.zeros((batch,), "int32"),
        "timestep": np.array(1, "int32"),
        "num_working": np.array(sum(t == WORKING for t in types), "int32"),
    }
    state["type"][:, :n] = types
    state["life"][:, :n] = 5.0 if life is None else life
    state["ids"][:, :n] = np.arange(n)
    if counts is not None:
        state["counts"][:, :n, :n] = counts
    if data is not None:
        state["data"][:, :n] = data
    return state


# --- per-row parity with the NumPy reference (newest-wins tie-break) ---


def test_matches_numpy_reference_per_row():
    """Four corner configurations and one random in `neg_sq_l2`, three random in `exp_neg_sq_l2`."""
    rng = np.random.default_rng(7)
    coverage = {}
    runs = [("neg_sq_l2", c) for c in random_configs(5, seed=3)]
    runs += [("exp_neg_sq_l2", c) for c in random_configs(7, seed=4)[4:]]
    for similarity, (K, S, D, L0, F, W) in runs:
        capacity, batch, steps = 96, 2, 12
        port = make(K, S, D, L0, F, capacity, similarity=similarity, tie_break="newest")
        rows = [RowMemoria(K, S, D, L0, F, similarity) for _ in range(batch)]
        run_lockstep(port, rows, draw_inputs(rng, steps, batch, W, 3, similarity), capacity)
        for row in rows:
            for key, value in row.coverage.items():
                coverage[key] = coverage.get(key, 0) + value
    # Every rare branch ran at least once.
    assert all(value > 0 for value in coverage.values()), coverage


def test_plain_ops_equal_the_fast_path():
    """The scan-wrapped calls (JAX) and the plain eager calls give the same memory."""
    from keras_engram.src.ops import fast_paths

    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 2, 2, 3)).astype("float32")
    states = []
    for plain in (False, True):
        memoria = make(tie_break="newest")
        with fast_paths.disabled() if plain else contextlib.nullcontext():
            for t in range(3):
                memoria.add_working_memory(x[t])
                idx, delta = _remind_zero(memoria)
                memoria.adjust_lifespan_and_memories(idx, delta + 2.0)
        states.append(memoria.get_memory_state())
    for key in states[0]:
        np.testing.assert_array_equal(states[0][key], states[1][key], err_msg=key)


def test_shortcuts_equal_the_general_step():
    """Skipped eviction and compaction, and the pairwise co-firing update, equal the general forms.

    Pure functions, eager, over rows that overflow, steps where nothing dies
    and a second addition before `memoria_remind` (working memories outside
    its lanes: the dense co-firing update).
    """
    from keras_engram.src.ops import fast_paths
    from keras_engram.src.ops import memoria as memoria_ops

    config = MemoriaConfig(2, 3, 2, 3, 2, 16, "neg_sq_l2", "newest")
    rng = np.random.default_rng(12)
    xs = rng.normal(size=(8, 2, 3, 4)).astype("float32")
    runs = []
    for general in (False, True):
        with fast_paths.disabled() if general else memoria_ops._eager_branches():
            state = memoria_init(config, 2, 4)
            record = []
            for t in range(8):
                state = memoria_add(state, xs[t], config)
                if t % 3 == 1:
                    state = memoria_add(state, xs[t, :, :1], config)
                state, out = memoria_remind(state, config, 3)
                idx = keras.ops.convert_to_numpy(out["indices"])
                delta = np.where(idx >= 0, 2.0 + (t % 2), 0.0).astype("float32")
                state = memoria_adjust(state, idx, delta, config)
                record.append({k: keras.ops.convert_to_numpy(v) for k, v in state.items()})
            runs.append(record)
    for fast, general in zip(*runs):
        for key in fast:
            np.testing.assert_array_equal(fast[key], general[key], err_msg=key)
    assert runs[0][-1]["evicted"].min() > 0 and runs[0][-1]["counts"].max() > 1


def test_rows_are_independent():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 3, 2, 4)).astype("float32")
    together = make(K=2, S=3, D=2, L0=2, F=2, tie_break="newest")
    alone = make(K=2, S=3, D=2, L0=2, F=2, tie_break="newest")
    for t in range(6):
        together.add_working_memory(x[t])
        alone.add_working_memory(x[t, 1:2])
        _, idx = together.remind()
        _, idx1 = alone.remind()
        np.testing.assert_array_equal(np.asarray(idx)[1:2], np.asarray(idx1))
        delta = np.where(np.asarray(idx) >= 0, 2.0, 0.0).astype("float32")
        together.adjust_lifespan_and_memories(idx, delta)
        alone.adjust_lifespan_and_memories(idx1, delta[1:2])
    a, b = together.get_memory_state(), alone.get_memory_state()
    for key in ("data", "counts", "type", "life", "n"):
        np.testing.assert_array_equal(a[key][1:2], b[key], err_msg=key)


# --- the reference's unit expectations (specification section 5), in slot form ---


def test_add_gives_working_memories_with_ids():
    memoria = make(capacity=16)
    memoria.add_working_memory(np.ones((3, 10, 32), "float32"))
    state = memoria.get_memory_state()
    assert state["n"].tolist() == [10, 10, 10]
    assert (state["type"][:, :10] == WORKING).all() and (state["life"][:, :10] == 3).all()
    assert state["ids"][:, :10].tolist() == [list(range(10))] * 3
    assert (state["counts"] == 0).all()
    memoria.adjust_lifespan_and_memories(*_remind_zero(memoria))
    memoria.add_working_memory(np.ones((3, 4, 32), "float32"))
    assert memoria.get_memory_state()["ids"][0, 10:14].tolist() == [10, 11, 12, 13]


def _remind_zero(memoria):
    _, idx = memoria.remind()
    return idx, np.zeros(np.asarray(idx).shape, "float32")


def test_stm_remind_takes_the_top_k_by_similarity():
    # exp(-d) weights 0.51, 0.2, 0.2, 0.8 for four short-term memories; K = 2.
    weights = np.array([0.51, 0.2, 0.2, 0.8])
    data = np.zeros((5, 2), "float32")
    data[:4, 0] = np.sqrt(-np.log(weights))
    memoria = make(K=2, S=8, D=0, F=0, capacity=8, similarity="exp_neg_sq_l2")
    memoria.set_memory_state(state_with([SHORTTERM] * 4 + [WORKING], 8, data=data))
    _, idx = memoria.remind()
    assert sorted(v for v in np.asarray(idx)[0] if v >= 0) == [0, 3]
    assert memoria.reminded_width.tolist() == [3]  # two reminded and the unselected entry


def test_seeds_follow_the_strongest_links():
    # Four long-term memories (slots 0-3) and five short-term ones (4-8).
    links = np.array([[1, 1, 2, 1], [1, 1, 1, 2], [1, 10, 1, 1], [1, 1, 2, 1], [1, 5, 1, 1]])
    counts = np.zeros((10, 10), "int32")
    counts[4:9, 0:4] = links
    counts[0:4, 4:9] = links.T
    counts[4:9, 4:9] = 999
    data = np.zeros((10, 2), "float32")
    data[4:9, 0] = [0.0, 5.0, 0.1, 0.2, 5.0]  # short-term memories 0, 2, 3 are nearest
    data[:4, 0] = 9.0
    memoria = make(K=3, S=8, D=0, F=4, capacity=12, tie_break="newest")
    memoria.set_memory_state(
        state_with([LONGTERM] * 4 + [SHORTTERM] * 5 + [WORKING], 12, counts=counts, data=data)
    )
    _, idx = memoria.remind()
    named = sorted(v for v in np.asarray(idx)[0] if v >= 0)
    # Seeds 1 and 2 from the reminded ones; the two unselected draw the newest (3).
    assert named == [1, 2, 3, 4, 6, 7]


def test_search_walks_to_the_oldest_unvisited_and_exhausts():
    # Four long-term memories with zero counts, seeds at slots 0 and 2, depth 3:
    # both walkers go to 1, then 3; then nothing is left (the null candidate joins).
    counts = np.zeros((7, 7), "int32")
    counts[4, 0] = counts[0, 4] = 1
    counts[5, 2] = counts[2, 5] = 1
    data = np.zeros((7, 2), "float32")
    data[4, 0], data[5, 0] = 0.1, 0.2
    data[:4, 0] = 3.0
    memoria = make(K=2, S=8, D=3, F=10, capacity=8, tie_break="newest")
    memoria.set_memory_state(
        state_with([LONGTERM] * 4 + [SHORTTERM] * 2 + [WORKING], 8, counts=counts, data=data)
    )
    _, idx = memoria.remind()
    assert sorted(v for v in np.asarray(idx)[0] if v >= 0) == [0, 1, 2, 3, 4, 5]
    assert memoria.reminded_width.tolist() == [7]  # the null entry counts
    memoria2 = make(K=2, S=8, D=2, F=10, capacity=8, tie_break="newest")
    memoria2.set_memory_state(
        state_with([LONGTERM] * 4 + [SHORTTERM] * 2 + [WORKING], 8, counts=counts, data=data)
    )
    memoria2.remind()
    assert memoria2.reminded_width.tolist() == [6]  # depth 2 ends with 1 and 3 found, not exhausted


def test_adjust_extends_decays_and_ignores_minus_one():
    config = MemoriaConfig(2, 16, 1, 3, 2, 8)
    state = state_with([SHORTTERM] * 5, 8, batch=2)
    state["life"][:, :5] = [[1, 2, 3, 4, 5], [2, 3, 4, 5, 6]]
    state.pop("num_working")
    state = {k: keras.ops.convert_to_tensor(v) for k, v in state.items()}
    out = memoria_adjust(state, np.array([[4, -1, 0], [-1, 2, -1]]),
                         np.array([[1, 2, 3], [2, 3, 4]], "float32"), config)
    life = keras.ops.convert_to_numpy(out["life"])[:, :5]
    np.testing.assert_array_equal(life, [[3, 1, 2, 3, 5], [1, 2, 6, 4, 5]])


def test_working_become_short_term_and_overflow_is_promoted():
    # 3 long-term, 2 short-term and 3 working memories with S = 2: the 3 oldest
    # of the 5 short-term memories are promoted, none deleted.
    memoria = make(S=2, capacity=16)
    memoria.set_memory_state(state_with([LONGTERM] * 3 + [SHORTTERM] * 2 + [WORKING] * 3, 16))
    memoria._reminded = np.full((1, 4), -1)
    memoria.adjust_lifespan_and_memories(np.full((1, 4), -1), np.zeros((1, 4), "float32"))
    state = memoria.get_memory_state()
    assert state["n"].tolist() == [8]
    assert state["type"][0, :8].tolist() == [LONGTERM] * 6 + [SHORTTERM] * 2
    memoria = make(S=100, capacity=16)
    memoria.set_memory_state(state_with([LONGTERM] * 2 + [SHORTTERM] * 4 + [WORKING] * 5, 16))  # B = 1
    memoria._reminded = np.full((1, 4), -1)
    memoria.adjust_lifespan_and_memories(np.full((1, 4), -1), np.zeros((1, 4), "float32"))
    assert (memoria.get_memory_state()["type"][0] == SHORTTERM).sum() == 9


def test_remind_cycle_totals():
    rng = np.random.default_rng(0)
    memoria = make(K=2, S=100, D=3, L0=100, F=100, capacity=224)
    totals, reminded = [], []
    for _ in range(3):
        memoria.add_working_memory(rng.normal(size=(3, 50, 32)).astype("float32"))
        _, idx = memoria.remind()
        idx = np.asarray(idx)
        reminded.append(int((idx >= 0).sum()))
        memoria.adjust_lifespan_and_memories(idx, np.ones(idx.shape, "float32"))
        totals.append(int((memoria.get_memory_state()["type"] == SHORTTERM).sum()))
    assert totals == [150, 300, 300]
    assert reminded[0] == 0 and reminded[1] > 0 and reminded[2] > 0
    assert ((memoria.get_memory_state()["type"] == LONGTERM).sum(axis=1) == 50).all()


def test_reset_empties():
    memoria = make()
    memoria.add_working_memory(np.ones((2, 3, 4), "float32"))
    memoria.reset_memory()
    assert memoria.get_memory_state() is None and memoria.batch_size is None
    memoria.add_working_memory(np.ones((5, 1, 2), "float32"))  # a new batch size after reset
    assert memoria.get_memory_state()["n"].tolist() == [1] * 5


def test_pure_reset_of_some_rows():
    config = MemoriaConfig(2, 4, 1, 3, 2, 8)
    state = memoria_add(memoria_init(config, 2, 3), np.ones((2, 2, 3), "float32"), config)
    out = memoria_reset(state, rows=np.array([True, False]))
    assert keras.ops.convert_to_numpy(out["n"]).tolist() == [0, 2]
    assert float(keras.ops.convert_to_numpy(out["data"])[0].sum()) == 0.0
    assert keras.ops.convert_to_numpy(memoria_reset(state)["n"]).tolist() == [0, 0]


# --- status summary and history ---


def test_status_summary_matches_the_reference_example():
    # The reference's example without its null engram: types W, W, L, S.
    counts = np.array([[5, 1, 1, 1], [1, 4, 1, 4], [1, 0, 3, 3], [1, 2, 3, 7]])
    state = {"n": np.array([4]), "counts": counts[None], "ids": np.array([[0, 1, 2, 4]]),
             "type": np.array([[WORKING, WORKING, LONGTERM, SHORTTERM]]),
             "life": np.array([[1.0, 2.0, 3.0, 5.0]], "float32"), "age": np.array([[0, 1, 2, 4]])}
    info = summarize(state, 0)
    assert (info.working, info.shortterm, info.longterm) == ((0, 1), (4,), (2,))
    assert len(info.edges) == 11 and len(info.engrams) == 4
    assert info.engrams[2].lifespan == 3.0 and info.engrams[0].type == "WORKING"
    assert info.engrams[1].age == 1 and info.engrams[4].fire_count == 7
    assert [e.weight for e in info.engrams[4].outgoings] == [1 / 7, 2 / 7, 3 / 7]
    assert [e.weight for e in info.engrams[1].incoming] == [1 / 5, 2 / 7]
    assert info.engrams[0].outgoings[2].cofire_count == 1
    assert info.engrams[1].outgoings[2].cofire_count == 4


def _summary(fires, lifespans):
    engrams = {i: EngramInfo(i, "SHORTTERM", lifespans.get(i, 5.0), 0, f, (), ()) for i, f in fires.items()}
    return EngramsInfo(engrams, {}, (), tuple(engrams), ())


def test_history_manager_matches_the_reference_example():
    history = HistoryManager()
    assert len(history) == 0 and history.timestep == 0 and history.engram_ids == []
    history.add_summary(_summary({1: 0, 2: 0, 3: 0}, {3: 6.0}))
    assert len(history) == 1 and history.engram_ids == [1, 2, 3]
    assert history.alive_engram_ids == [1, 2, 3] and history.deleted_engram_ids == []
    assert history.engram_fire_counts == {}
    assert history.engram_lastest_alive_timestep == {1: 0, 2: 0, 3: 0}
    history.add_summary(_summary({2: 0, 3: 1, 4: 0}, {3: 8.0}))
    assert history.engram_ids == [1, 2, 3, 4] and history.alive_engram_ids == [2, 3, 4]
    assert history.deleted_engram_ids == [1]
    assert history.engram_firing_times == {3: [1]}
    assert [(f.timestep, f.engram_id, f.lifespan_gain) for f in history.engram_firings[3]] == [(1, 3, 3.0)]
    assert history.engram_fire_counts == {3: 1}
    assert history.engram_lastest_alive_timestep == {1: 0, 2: 1, 3: 1, 4: 1}
    record = history.inspect(1)
    assert (record.creation_timestep, record.deletion_timestep, record.duration) == (0, 1, 1)
    assert record.firings == []


def test_keep_history_records_every_adjustment():
    memoria = make(keep_history=True, tie_break="newest")
    rng = np.random.default_rng(1)
    for _ in range(3):
        memoria.add_working_memory(rng.normal(size=(2, 2, 3)).astype("float32"))
        idx, delta = _remind_zero(memoria)
        memoria.adjust_lifespan_and_memories(idx, delta + 1)
    assert memoria.track_age and memoria.track_id
    assert [len(h) for h in memoria.history] == [3, 3]
    last = memoria.history[0][-1]
    assert tuple(last.engrams) == tuple(memoria.get_memory_state()["ids"][0, : memoria.get_memory_state()["n"][0]])
    assert memoria.history[0].engram_firings  # something fired


# --- capacity ---


def test_overflow_evicts_shortest_lived_long_term_first_and_counts():
    memoria = make(S=2, capacity=8, tie_break="newest")
    life = [4, 1, 3, 1, 2, 2, 2]
    memoria.set_memory_state(state_with([LONGTERM] * 4 + [SHORTTERM] * 2, 8, life=life[:6]))
    memoria.add_working_memory(np.ones((1, 4, 2), "float32"))  # 6 + 4 > 8: two must go
    state = memoria.get_memory_state()
    assert state["evicted"].tolist() == [2] and state["n"].tolist() == [8]
    # The two long-term memories with lifespan 1 (ids 1 and 3) are gone, order kept.
    assert state["ids"][0].tolist() == [0, 2, 4, 5, 6, 7, 8, 9]
    assert state["type"][0].tolist() == [LONGTERM] * 2 + [SHORTTERM] * 2 + [WORKING] * 4
    _check_invariants(state)


def _check_invariants(state):
    n_cap = state["type"].shape[1]
    for b in range(state["type"].shape[0]):
        n = int(state["n"][b])
        types = state["type"][b]
        assert (types[:n] > 0).all() and (types[n:] == 0).all()
        assert (np.diff(4 - types[:n]) >= 0).all(), types  # LONGTERM* SHORTTERM* WORKING*
        counts = state["counts"][b]
        np.testing.assert_array_equal(counts, counts.T)
        assert (counts[n:] == 0).all() and (counts[:, n:] == 0).all()
        assert (state["data"][b, n:] == 0).all() and (state["life"][b, n:] == 0).all()
        assert n <= n_cap


def test_small_capacity_keeps_the_invariants():
    rng = np.random.default_rng(2)
    memoria = make(K=2, S=3, D=2, L0=4, F=2, capacity=7)
    for _ in range(12):
        memoria.add_working_memory(rng.normal(size=(2, 3, 3)).astype("float32"))
        _, idx = memoria.remind()
        idx = np.asarray(idx)
        memoria.adjust_lifespan_and_memories(idx, np.where(idx >= 0, 3.0, 0.0).astype("float32"))
        _check_invariants(memoria.get_memory_state())
    assert (memoria.evicted > 0).all()


# --- random tie-break ---


def test_random_tie_break_is_seeded_and_reaches_every_long_term_memory():
    def run(seed):
        memoria = make(K=1, S=8, D=0, F=4, capacity=12, seed=seed)
        data = np.zeros((9, 2), "float32")
        data[4:8, 0] = [0.0, 4.0, 5.0, 6.0]
        picks = []
        for _ in range(25):
            memoria.set_memory_state(state_with([LONGTERM] * 4 + [SHORTTERM] * 4 + [WORKING], 12, data=data))
            _, idx = memoria.remind()
            picks.append(tuple(sorted(v for v in np.asarray(idx)[0] if 0 <= v < 4)))
        return picks

    first = run(3)
    assert first == run(3)
    assert {p for picks in first for p in picks} == {0, 1, 2, 3}


# --- config, state round trip, errors ---


def test_config_and_state_round_trip():
    memoria = make(similarity="exp_neg_sq_l2", tie_break="newest", seed=4, distance="matmul")
    clone = Memoria.from_config(memoria.get_config())
    assert clone.get_config() == memoria.get_config()
    serialized = keras.saving.serialize_keras_object(memoria)
    assert keras.saving.deserialize_keras_object(serialized).get_config() == memoria.get_config()
    memoria.add_working_memory(np.random.default_rng(0).normal(size=(2, 2, 3)).astype("float32"))
    memoria.adjust_lifespan_and_memories(*_remind_zero(memoria))
    memoria.add_working_memory(np.ones((2, 2, 3), "float32"))
    clone.set_memory_state(memoria.get_memory_state())
    for key, value in memoria.get_memory_state().items():
        np.testing.assert_array_equal(clone.get_memory_state()[key], value)
    a, b = memoria.remind()[1], clone.remind()[1]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_matmul_distance_gives_the_same_selection():
    rng = np.random.default_rng(9)
    x = rng.normal(size=(8, 2, 2, 3)).astype("float32")
    plain, fast = make(tie_break="newest"), make(tie_break="newest", distance="matmul")
    for t in range(8):
        for m in (plain, fast):
            m.add_working_memory(x[t])
        i1, i2 = np.asarray(plain.remind()[1]), np.asarray(fast.remind()[1])
        np.testing.assert_array_equal(i1, i2)
        for m in (plain, fast):
            m.adjust_lifespan_and_memories(i1, np.where(i1 >= 0, 2.0, 0.0).astype("float32"))


@pytest.mark.parametrize(
    "kwargs, error, text",
    [
        ({"capacity": -1}, ValueError, "capacity"),
        ({"capacity": 0}, ValueError, "capacity"),
        ({"K": -2}, ValueError, "num_reminded_stm"),
        ({"S": 0}, ValueError, "stm_capacity"),
        ({"D": -1}, ValueError, "ltm_search_depth"),
        ({"F": 1.5}, TypeError, "num_final_ltms"),
        ({"similarity": "cosine"}, ValueError, "similarity"),
        ({"tie_break": "first"}, ValueError, "tie_break"),
        ({"seed": "x"}, TypeError, "seed"),
    ],
)
def test_bad_arguments(kwargs, error, text):
    with pytest.raises(error, match=text):
        make(**kwargs)


def test_bad_calls():
    memoria = make(capacity=8)
    with pytest.raises(RuntimeError, match="add_working_memory"):
        memoria.remind()
    with pytest.raises(ValueError, match="data.shape"):
        memoria.add_working_memory(np.ones((2, 3), "float32"))
    with pytest.raises(TypeError, match="data"):
        memoria.add_working_memory("abc")
    memoria.add_working_memory(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match=r"\(2, num_working, 4\)"):
        memoria.add_working_memory(np.ones((2, 3, 5), "float32"))
    with pytest.raises(ValueError, match="capacity"):
        memoria.add_working_memory(np.ones((2, 6, 4), "float32"))
    with pytest.raises(RuntimeError, match="remind"):
        memoria.adjust_lifespan_and_memories(np.full((2, 4), -1), np.zeros((2, 4), "float32"))
    memoria.remind()
    with pytest.raises(ValueError, match="reminded"):
        memoria.adjust_lifespan_and_memories(np.array([[0, -1, -1, -1]] * 2), np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="lifespan_delta"):
        memoria.adjust_lifespan_and_memories(np.full((2, 4), -1), np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="indices"):
        memoria.adjust_lifespan_and_memories(np.full((3, 4), -1), np.zeros((3, 4), "float32"))
    with pytest.raises(ValueError, match="type"):
        bad = memoria.get_memory_state()
        bad["type"][0, 0] = 0
        memoria.set_memory_state(bad)
    with pytest.raises(ValueError, match="stm_capacity"):
        memoria.set_memory_state(state_with([SHORTTERM] * 5, 8, batch=2))
