"""Memoria's memory as pure, fixed-shape functions over an explicit state.

The memory of one batch row lives in `capacity` slots. The alive engrams
occupy the prefix `[0, n)` in creation order (oldest first), so slot `p` of a
row is the position `p` of the reference implementation run on that row
alone, and the types always read `LONGTERM* SHORTTERM* WORKING*`. Free slots
hold zeros (data, counts, type, lifespan, age, id).

Every function is plain `keras.ops` with static shapes: no host sync, no
Python branch on a tensor value, so each compiles as one graph (`jax.jit`,
`tf.function(jit_compile=True)`, `torch.compile`). The step is
`memoria_add` -> `memoria_remind` -> `memoria_adjust`; the configuration is
a hashable `MemoriaConfig` (a static argument under `jax.jit`).

Batch rows never interact: each row follows the reference run at batch
size 1 (the per-row semantics of the specification).
"""

import collections
import contextlib

import keras
from keras import ops

from keras_engram.src.ops import fast_paths

NULL, WORKING, SHORTTERM, LONGTERM = 0, 1, 2, 3
TYPE_NAMES = {WORKING: "WORKING", SHORTTERM: "SHORTTERM", LONGTERM: "LONGTERM"}
SIMILARITIES = ("neg_sq_l2", "exp_neg_sq_l2")
TIE_BREAKS = ("random", "newest")
DISTANCES = ("difference", "matmul")
STATE_KEYS = ("data", "counts", "type", "life", "age", "ids", "n", "next_id", "evicted", "timestep")

MemoriaConfig = collections.namedtuple(
    "MemoriaConfig",
    [
        "num_reminded_stm",
        "stm_capacity",
        "ltm_search_depth",
        "initial_lifespan",
        "num_final_ltms",
        "capacity",
        "similarity",
        "tie_break",
        "distance",
    ],
    defaults=("neg_sq_l2", "random", "difference"),
)
MemoriaConfig.__doc__ = """The static settings of a Memoria memory (hashable: a static argument of `jax.jit`).

Fields: `num_reminded_stm` (K), `stm_capacity` (S), `ltm_search_depth` (D),
`initial_lifespan` (L0), `num_final_ltms` (F), `capacity` (slots per row,
N), `similarity` (`"neg_sq_l2"`: `-||x - y||^2`, memoria-pytorch 1.1.0;
`"exp_neg_sq_l2"`: `exp(-||x - y||^2)`, 1.0.0), `tie_break` (`"random"` or
`"newest"`) and `distance` (`"difference"`: `sum_h (x_h - y_h)^2`, the
reference's arithmetic; `"matmul"`: `|x|^2 + |y|^2 - 2 x.y`, faster for
large memories, equal up to rounding).
"""


def reminded_width(config):
    """Lanes of `memoria_remind`'s outputs: `min(K, S, N) + F` (at least 1)."""
    return max(1, stm_lanes(config) + config.num_final_ltms)


def stm_lanes(config):
    """The most short-term memories a row can hold at remind time: `min(K, S, N)`."""
    return min(config.num_reminded_stm, config.stm_capacity, config.capacity)


def draw_lanes(config):
    """Random long-term draws for unselected short-term memories: at most `min(S, N)`."""
    return min(config.stm_capacity, config.capacity)


def memoria_init(config, batch_size, hidden_dim):
    """An empty memory state: a dict of zero tensors (see `STATE_KEYS`).

    Args:
        config: `MemoriaConfig`.
        batch_size: int, rows of the memory.
        hidden_dim: int, features of an engram.

    Returns:
        dict: `data [B, N, H]` float32, `counts [B, N, N]` int32 (co-firing
        counts, the diagonal is the fire count), `type [B, N]` int32 (0 free,
        1 working, 2 short-term, 3 long-term), `life [B, N]` float32,
        `age [B, N]`, `ids [B, N]`, `n [B]` (alive slots), `evicted [B]`
        (engrams dropped by a capacity overflow) int32, and the int32 scalars
        `next_id` and `timestep`.
    """
    b, n, h = int(batch_size), int(config.capacity), int(hidden_dim)
    return {
        "data": ops.zeros((b, n, h), "float32"),
        "counts": ops.zeros((b, n, n), "int32"),
        "type": ops.zeros((b, n), "int32"),
        "life": ops.zeros((b, n), "float32"),
        "age": ops.zeros((b, n), "int32"),
        "ids": ops.zeros((b, n), "int32"),
        "n": ops.zeros((b,), "int32"),
        "next_id": ops.zeros((), "int32"),
        "evicted": ops.zeros((b,), "int32"),
        "timestep": ops.zeros((), "int32"),
    }


def memoria_reset(state, rows=None):
    """The empty state of the same shapes; with `rows` (bool `[B]`) only those rows.

    `next_id` and `timestep` go back to 0 only when every row is reset.
    """
    empty = {key: ops.zeros_like(value) for key, value in state.items()}
    if rows is None:
        return empty
    rows = ops.convert_to_tensor(rows, "bool")
    out = {}
    for key, value in state.items():
        if key in ("next_id", "timestep"):
            out[key] = value
            continue
        mask = ops.reshape(rows, (-1,) + (1,) * (len(value.shape) - 1))
        out[key] = ops.where(mask, empty[key], value)
    return out


def memoria_noise(config, batch_size, seed=None):
    """Uniform [0, 1) tie-break draws for one `memoria_remind` call.

    Args:
        config: `MemoriaConfig`.
        batch_size: int.
        seed: int, `keras.random.SeedGenerator` or None.

    Returns:
        dict: `seed [B, min(K, S, N)]` (ties among the long-term memories a
        reminded short-term memory is most linked to) and `draw [B, min(S, N)]`
        (the random long-term memory of each unselected short-term memory).
    """
    return {
        "seed": keras.random.uniform((batch_size, max(1, stm_lanes(config))), seed=seed),
        "draw": keras.random.uniform((batch_size, max(1, draw_lanes(config))), seed=seed),
    }


def memoria_noise_newest(config, batch_size):
    """The deterministic tie-break: the newest of the tied long-term memories wins."""
    return {
        "seed": ops.ones((batch_size, max(1, stm_lanes(config))), "float32"),
        "draw": ops.ones((batch_size, max(1, draw_lanes(config))), "float32"),
    }


# --- helpers ---------------------------------------------------------------


def _slot_range(n):
    return ops.arange(n, dtype="int32")


def _gather_rows(x, index):
    """`x[b, index[b, r], ...]` for `x [B, N, ...]`, `index [B, R]` (in range).

    One row gather over the flattened `[B * N, ...]` buffer (a `take`), not
    an element-wise `take_along_axis` over a broadcast index.
    """
    b, n = x.shape[0], x.shape[1]
    extra = tuple(x.shape[2:])
    flat = ops.reshape(x, (b * n,) + extra)
    offset = ops.expand_dims(_slot_range(b) * n, 1)
    rows = ops.take(flat, ops.reshape(index + offset, (-1,)), axis=0)
    return ops.reshape(rows, tuple(index.shape) + extra)


def _mark_slots(mask, slots):
    """`mask [B, N]` bool with the slots named in `slots [B, R]` set (negative entries ignored).

    A scatter of `B * R` entries (into a dump column for the negative ones),
    instead of a `[B, R, N]` comparison.
    """
    b, n = mask.shape
    r = slots.shape[1]
    marks = _pad_slot(ops.cast(mask, "int32"), 1)
    rows = ops.reshape(ops.broadcast_to(ops.expand_dims(_slot_range(b), 1), (b, r)), (-1, 1))
    cols = ops.reshape(ops.where(slots < 0, n, slots), (-1, 1))
    marks = ops.scatter_update(marks, ops.concatenate([rows, cols], axis=1), ops.ones((b * r,), "int32"))
    return marks[:, :n] > 0


_EAGER = {"on": False}


@contextlib.contextmanager
def _eager_branches():
    """`_shortcut` branches in Python in this scope (eager calls only; torch takes the shortcuts only here).

    The `Memoria` class enters it where it runs the operations eagerly
    (torch, TensorFlow); the pure functions outside it stay traceable by
    `torch.compile`.
    """
    previous = _EAGER["on"]
    _EAGER["on"] = True
    try:
        yield
    finally:
        _EAGER["on"] = previous


def _shortcut(pred, fast, general):
    """`fast()` where the scalar `pred()` holds, else `general()`.

    Both must give the same values where `pred()` holds: the shortcut saves
    time, never changes a result. One branch runs (`keras.ops.cond`) where
    `fast_paths.branches_memoria_steps` says so (torch: only in
    `_eager_branches()`); otherwise `general()`.
    """
    if not fast_paths.branches_memoria_steps(_EAGER["on"]):
        return general()
    if _EAGER["on"]:
        return fast() if bool(ops.convert_to_numpy(pred())) else general()
    return ops.cond(pred(), fast, general)


def _first_slots(mask, k):
    """The slots where `mask [B, N]` holds, ascending, in `k` lanes (-1 after the last).

    A `top_k` over distinct keys `N - p`: the order does not depend on how a
    backend breaks ties (the tied entries are the masked-out ones, dropped).
    """
    n = mask.shape[1]
    keys = ops.where(mask, ops.cast(n - _slot_range(n), "float32"), -1.0)
    kk = min(k, n)
    values, index = ops.top_k(keys, kk, sorted=True)
    slots = ops.where(values > 0, ops.cast(index, "int32"), -1)
    if k > n:
        slots = ops.concatenate([slots, ops.full((mask.shape[0], k - n), -1, "int32")], axis=1)
    return slots


def _pad_slot(x, axis):
    """`x` with one zero slot appended along `axis` (a concatenation: `keras.ops.pad`
    creates an operation object per call, which makes torch.compile recompile)."""
    shape = list(x.shape)
    shape[axis] = 1
    return ops.concatenate([x, ops.zeros(shape, x.dtype)], axis=axis)


def _one_hot_any(slots, n):
    """`[B, N]` bool: the slots named in `slots [B, R]` (negative entries ignored)."""
    hits = ops.expand_dims(slots, -1) == ops.reshape(_slot_range(n), (1, 1, n))
    return ops.any(hits, axis=1)


def _compact(state, keep):
    """Moves the slots where `keep [B, N]` holds to the front, in order; the rest become free."""
    b, n = keep.shape
    src = _first_slots(keep, n)
    src = ops.where(src < 0, n, src)  # the dump lane: a zero slot appended below
    out = dict(state)
    for key in ("data", "type", "life", "age", "ids"):
        out[key] = _gather_rows(_pad_slot(state[key], 1), src)
    counts = _pad_slot(_pad_slot(state["counts"], 1), 2)
    counts = _gather_rows(counts, src)  # [B, N, N + 1]
    col = ops.broadcast_to(ops.expand_dims(src, 1), (b, n, n))
    out["counts"] = ops.take_along_axis(counts, col, axis=2)
    out["n"] = ops.sum(ops.cast(keep, "int32"), axis=1)
    return out


def _evict(state, need):
    """Drops `need [B]` alive engrams per row, then compacts (the capacity policy of `memoria_add`).

    Eviction order over the alive slots: (type class, lifespan, slot)
    ascending, with the class long-term, short-term, working. The number
    dropped is added to `evicted`. With `need` all zero the state comes back
    unchanged.
    """
    n_cap = state["type"].shape[1]
    slots = _slot_range(n_cap)
    alive = ops.expand_dims(slots, 0) < ops.expand_dims(state["n"], 1)
    cls = ops.where(state["type"] == LONGTERM, 0, ops.where(state["type"] == SHORTTERM, 1, 2))
    life = state["life"]
    cq, cp = ops.expand_dims(cls, 1), ops.expand_dims(cls, 2)
    lq, lp = ops.expand_dims(life, 1), ops.expand_dims(life, 2)
    older = ops.expand_dims(slots, 0) < ops.expand_dims(slots, 1)  # [p, q]: q < p
    before = (cq < cp) | ((cq == cp) & ((lq < lp) | ((lq == lp) & ops.expand_dims(older, 0))))
    before = before & ops.expand_dims(alive, 1)
    rank = ops.sum(ops.cast(before, "int32"), axis=2)
    evict = alive & (rank < ops.expand_dims(need, 1))
    out = _compact(state, alive & ~evict)
    out["evicted"] = state["evicted"] + ops.sum(ops.cast(evict, "int32"), axis=1)
    return out


def _co_fire(counts, fire, lanes):
    """`counts [B, N, N]` plus 1 at every pair of fired slots (`fire [B, N]` bool).

    `lanes [B, M]` names distinct fired slots (-1: none). Where they cover
    every fired slot, the `B * M * M` pairs are a scatter-add (the negative
    lanes add 0) instead of the dense outer product of `fire`.
    """
    b, n, _ = counts.shape
    m = lanes.shape[1]

    def dense():
        f = ops.cast(fire, "int32")
        return counts + ops.expand_dims(f, 2) * ops.expand_dims(f, 1)

    if 4 * m * m >= n * n:
        return dense()

    def pairs():
        slot = ops.maximum(lanes, 0)
        ok = ops.cast(lanes >= 0, "int32")
        shape = (b, m, m)
        rows = ops.broadcast_to(ops.reshape(_slot_range(b), (b, 1, 1)), shape)
        index = ops.stack(
            [rows, ops.broadcast_to(ops.expand_dims(slot, 2), shape),
             ops.broadcast_to(ops.expand_dims(slot, 1), shape)],
            axis=-1,
        )
        ones = ops.expand_dims(ok, 2) * ops.expand_dims(ok, 1)
        return ops.scatter_update(counts, ops.reshape(index, (-1, 3)), ops.reshape(ones, (-1,)), reduction="add")

    def covered():
        return ops.all(_mark_slots(ops.zeros((b, n), "bool"), lanes) | ~fire)

    return _shortcut(covered, pairs, dense)


def _squared_distances(config, x, data):
    """`sum_h (x[b, i, h] - data[b, j, h])^2`, shape `[B, W, N]`."""
    if config.distance == "matmul":
        xx = ops.sum(x * x, axis=-1)
        yy = ops.sum(data * data, axis=-1)
        cross = ops.einsum("bwh,bnh->bwn", x, data)
        return ops.maximum(xx[:, :, None] + yy[:, None, :] - 2.0 * cross, 0.0)
    diff = ops.expand_dims(x, 2) - ops.expand_dims(data, 1)
    return ops.sum(diff * diff, axis=-1)


def _similarity(config, squared):
    return ops.exp(-squared) if config.similarity == "exp_neg_sq_l2" else -squared


# --- the operations --------------------------------------------------------


def memoria_add(state, x, config):
    """Appends `x [B, W, H]` to every row as working memories (lifespan `L0`, age 0, new ids).

    When a row has fewer than `W` free slots, the engrams that make room are
    evicted first (the capacity policy): long-term memories before
    short-term before working ones, within a type the smallest lifespan
    first, then the oldest. The number evicted is added to `evicted`.

    Returns:
        The new state.
    """
    x = ops.stop_gradient(ops.cast(ops.convert_to_tensor(x), "float32"))
    w = x.shape[1]
    n_cap = config.capacity
    if w > n_cap:
        raise ValueError(
            f"Expected at most `capacity` ({n_cap}) working memories per call. "
            f"Received: x.shape={tuple(x.shape)}"
        )
    slots = _slot_range(n_cap)
    need = ops.maximum(state["n"] + w - n_cap, 0)
    state = _shortcut(lambda: ops.all(need == 0), lambda: dict(state), lambda: _evict(state, need))

    pos = ops.expand_dims(slots, 0) - ops.expand_dims(state["n"], 1)  # [B, N]
    block = (pos >= 0) & (pos < w)
    fresh = _gather_rows(x, ops.clip(pos, 0, w - 1))
    next_id = state["next_id"]
    out = dict(state)
    out["data"] = ops.where(ops.expand_dims(block, -1), fresh, state["data"])
    out["type"] = ops.where(block, WORKING, state["type"])
    out["life"] = ops.where(block, float(config.initial_lifespan), state["life"])
    out["age"] = ops.where(block, 0, state["age"])
    out["ids"] = ops.where(block, next_id + pos, state["ids"])
    out["n"] = state["n"] + w
    out["next_id"] = next_id + w
    out["timestep"] = state["timestep"] + 1
    return out


def memoria_remind(state, config, num_working, noise=None):
    """Reminds short- and long-term memories for the newest `num_working` working memories.

    Per row, with `X` the working memories and `s` the similarity:
    the top `min(K, #STM)` short-term memories by `mean_i s(X_i, m)`; when
    the row has no long-term memory (and `F > 0`), also its oldest engram;
    otherwise seeds (for each reminded short-term memory the long-term
    memory it co-fired with most, ties by `noise`; for each unselected
    short-term memory a random long-term memory), a greedy walk of depth D
    from every seed to the unvisited long-term memory with the highest
    count (ties to the oldest), and of the found ones the top F by
    `sum_i s(X_i, m)`, beside a null candidate `sum_i s(X_i, 0)` when the
    walk ran out of unvisited memories. The working and reminded memories
    then fire together: `counts[p, q] += 1` for every pair.

    Args:
        state: the memory state.
        config: `MemoriaConfig`.
        num_working: int, number of working memories (the newest slots).
        noise: the dict of `memoria_noise` for `tie_break="random"`; None for `"newest"`.

    Returns:
        `(state, outputs)`: outputs is a dict of `memories [B, R, H]` (zeros
        in empty lanes), `indices [B, R]` (slots, ascending, -1 in empty
        lanes), `valid [B, R]` and `width [B]` (the reference's number of
        reminded entries: the reminded engrams plus one when it reports an
        unfilled entry, -1), with `R = reminded_width(config)`.
    """
    data, counts, types = state["data"], state["counts"], state["type"]
    b, n_cap = types.shape
    k_stm = stm_lanes(config)
    n_alive = state["n"]
    is_stm = types == SHORTTERM
    is_ltm = types == LONGTERM
    is_wm = types == WORKING
    n_stm = ops.sum(ops.cast(is_stm, "int32"), axis=1)
    n_ltm = ops.sum(ops.cast(is_ltm, "int32"), axis=1)
    if noise is None or config.tie_break == "newest":
        noise = memoria_noise_newest(config, b)

    # Working memories: the newest `num_working` slots.
    w = int(num_working)
    wm_slots = ops.expand_dims(n_alive, 1) - w + ops.expand_dims(_slot_range(w), 0)
    x = _gather_rows(data, ops.maximum(wm_slots, 0))
    null_sim = _similarity(config, ops.sum(x * x, axis=-1))  # [B, W]
    slots = _slot_range(n_cap)
    row_slots = ops.reshape(slots, (1, 1, n_cap))
    has_ltm = n_ltm > 0

    # Short-term memories: the block [n_ltm, n_ltm + n_stm) (at most min(S, N)).
    if k_stm > 0:
        q_lanes = _slot_range(draw_lanes(config))
        stm_slots = ops.minimum(ops.expand_dims(n_ltm, 1) + ops.expand_dims(q_lanes, 0), n_cap - 1)
        sim = _similarity(config, _squared_distances(config, x, _gather_rows(data, stm_slots)))
        stm_ok = ops.expand_dims(q_lanes, 0) < ops.expand_dims(n_stm, 1)
        score = ops.where(stm_ok, ops.mean(sim, axis=1), float("-inf"))
        _, top = ops.top_k(score, k_stm, sorted=True)
        top = ops.take_along_axis(stm_slots, ops.cast(top, "int32"), axis=1)
        lane_ok = ops.expand_dims(_slot_range(k_stm), 0) < ops.expand_dims(n_stm, 1)
        sel_slots = ops.where(lane_ok, top, -1)
        selected = _one_hot_any(sel_slots, n_cap)
    else:
        sel_slots = ops.full((b, 1), -1, "int32")
        lane_ok = ops.zeros((b, 1), "bool")
        selected = ops.zeros((b, n_cap), "bool")
    n_sel = ops.sum(ops.cast(selected, "int32"), axis=1)
    neg_stm = n_stm > n_sel

    # Seeds: the long-term memory each reminded short-term memory is most linked to.
    rows = _gather_rows(counts, ops.maximum(sel_slots, 0))  # [B, K', N]
    ltm_row = ops.expand_dims(is_ltm, 1)
    linked = ops.where(ltm_row, rows, -1)
    tie = ltm_row & (linked == ops.amax(linked, axis=2, keepdims=True))
    ties = ops.sum(ops.cast(tie, "int32"), axis=2)
    pick = ops.cast(ops.floor(noise["seed"] * ops.cast(ties, "float32")), "int32")
    pick = ops.minimum(pick, ties - 1)
    running = ops.cumsum(ops.cast(tie, "int32"), axis=2)
    chosen = tie & (running == ops.expand_dims(pick + 1, 2))
    seed_slots = ops.sum(ops.where(chosen, row_slots, 0), axis=2)
    seed_slots = ops.where(lane_ok & ops.expand_dims(has_ltm, 1), seed_slots, -1)

    # A uniformly random long-term memory (the prefix [0, n_ltm)) per unselected one.
    q = draw_lanes(config)
    draw = ops.cast(ops.floor(noise["draw"] * ops.cast(ops.expand_dims(n_ltm, 1), "float32")), "int32")
    draw = ops.minimum(draw, ops.expand_dims(n_ltm, 1) - 1)
    live = ops.expand_dims(_slot_range(q), 0) < ops.expand_dims(n_stm - n_sel, 1)
    draw_slots = ops.where(live & ops.expand_dims(has_ltm, 1), draw, -1)

    # The walk: one walker per seed lane (walkers on the same node move alike).
    cur = ops.concatenate([seed_slots, draw_slots], axis=1)
    visited = _mark_slots(ops.zeros((b, n_cap), "bool"), cur) & is_ltm
    exhausted = ops.zeros((b,), "bool")

    def walk(_, carry):
        cur, visited, exhausted = carry
        unvisited = is_ltm & ~visited
        open_ = ops.any(unvisited, axis=1)
        walking = cur >= 0
        exhausted = exhausted | (ops.any(walking, axis=1) & ~open_)
        unv = ops.expand_dims(unvisited, 1)
        reach = ops.where(unv, _gather_rows(counts, ops.maximum(cur, 0)), -1)
        best = unv & (reach == ops.amax(reach, axis=2, keepdims=True))
        nxt = ops.amin(ops.where(best, row_slots, n_cap), axis=2)
        cur = ops.where(walking & ops.expand_dims(open_, 1), nxt, -1)
        return cur, _mark_slots(visited, cur), exhausted

    if config.ltm_search_depth > 0:
        cur, visited, exhausted = ops.fori_loop(0, config.ltm_search_depth, walk, (cur, visited, exhausted))
    found = visited & is_ltm

    # Final long-term memories, beside the null candidate of an exhausted walk.
    f = config.num_final_ltms
    if f > 0:
        # The found ones in lanes: at most min(S, N) seeds, each adding one per depth.
        f_lanes = min(n_cap, draw_lanes(config) * (config.ltm_search_depth + 1))
        found_slots = _first_slots(found, f_lanes)
        found_sim = _similarity(
            config, _squared_distances(config, x, _gather_rows(data, ops.maximum(found_slots, 0)))
        )
        tau = ops.where(found_slots >= 0, ops.sum(found_sim, axis=1), float("-inf"))
        tau_null = ops.where(exhausted, ops.sum(null_sim, axis=1), float("-inf"))
        cand = ops.concatenate([tau, ops.expand_dims(tau_null, 1)], axis=1)
        kf = min(f, f_lanes + 1)
        _, top_f = ops.top_k(cand, kf, sorted=True)
        top_f = ops.cast(top_f, "int32")
        n_cand = ops.sum(ops.cast(found, "int32"), axis=1) + ops.cast(exhausted, "int32")
        ok_f = ops.expand_dims(_slot_range(kf), 0) < ops.expand_dims(n_cand, 1)
        real = ops.concatenate([found_slots, ops.full((b, 1), -1, "int32")], axis=1)
        final_slots = ops.take_along_axis(real, top_f, axis=1)
        final = _one_hot_any(ops.where(ok_f, final_slots, -1), n_cap)
        neg_ltm = ops.any(ok_f & (top_f == f_lanes), axis=1)
        rule_e = (n_stm > 0) & ~has_ltm
    else:
        final = ops.zeros((b, n_cap), "bool")
        neg_ltm = ops.zeros((b,), "bool")
        rule_e = ops.zeros((b,), "bool")
    first = ops.expand_dims(slots, 0) == 0
    reminded = selected | final | (first & ops.expand_dims(rule_e, 1))
    width = ops.sum(ops.cast(reminded, "int32"), axis=1) + ops.cast(neg_stm | neg_ltm, "int32")

    r = reminded_width(config)
    out_slots = _first_slots(reminded, r)

    # Fire together, wire together: the working and reminded slots.
    wm_ok = (wm_slots >= 0) & ops.take_along_axis(is_wm, ops.maximum(wm_slots, 0), axis=1)
    lanes = ops.concatenate([ops.where(wm_ok, wm_slots, -1), out_slots], axis=1)
    new_counts = _co_fire(counts, is_wm | reminded, lanes)
    valid = out_slots >= 0
    memories = _gather_rows(data, ops.maximum(out_slots, 0))
    memories = memories * ops.cast(ops.expand_dims(valid, -1), "float32")
    new_state = dict(state)
    new_state["counts"] = new_counts
    outputs = {"memories": memories, "indices": out_slots, "valid": valid, "width": width}
    return new_state, outputs


def memoria_adjust(state, indices, lifespan_delta, config):
    """Extends the lifespans of reminded engrams, ages every engram, promotes and deletes.

    Per row: `life[indices[r]] += lifespan_delta[r]` (negative indices are
    ignored; the indices must be distinct), then every alive engram loses 1
    lifespan and gains 1 age, working memories become short-term, the
    oldest `max(0, #STM - S)` short-term memories become long-term, and the
    engrams with lifespan <= 0 are deleted (the rest move to the front, in
    order).

    Returns:
        The new state.
    """
    types = state["type"]
    b, n_cap = types.shape
    indices = ops.cast(ops.convert_to_tensor(indices), "int32")
    delta = ops.cast(ops.convert_to_tensor(lifespan_delta), "float32")
    hits = ops.expand_dims(indices, -1) == ops.reshape(_slot_range(n_cap), (1, 1, n_cap))
    gain = ops.sum(ops.where(hits, ops.expand_dims(delta, -1), 0.0), axis=1)
    alive = ops.expand_dims(_slot_range(n_cap), 0) < ops.expand_dims(state["n"], 1)
    out = dict(state)
    out["life"] = ops.where(alive, (state["life"] + gain) - 1.0, state["life"])
    out["age"] = ops.where(alive, state["age"] + 1, state["age"])
    types = ops.where(types == WORKING, SHORTTERM, types)
    is_stm = types == SHORTTERM
    rank = ops.cumsum(ops.cast(is_stm, "int32"), axis=1) - 1
    excess = ops.maximum(ops.sum(ops.cast(is_stm, "int32"), axis=1) - config.stm_capacity, 0)
    out["type"] = ops.where(is_stm & (rank < ops.expand_dims(excess, 1)), LONGTERM, types)
    keep = alive & (out["life"] > 0)
    return _shortcut(lambda: ops.all(keep == alive), lambda: dict(out), lambda: _compact(out, keep))


def memoria_step(state, x, config, noise=None):
    """`memoria_add(x)` then `memoria_remind`: the per-segment step before the deltas are known.

    Returns:
        `(state, outputs)` as `memoria_remind`.
    """
    state = memoria_add(state, x, config)
    return memoria_remind(state, config, x.shape[1], noise)


# --- lifespan deltas of a model -------------------------------------------


def memoria_lifespan_delta(probabilities, width, scale):
    """The lifespan each reminded memory gains from a model's memory attention.

    `delta[b, r] = width * scale * mean_{l, h, t} P_l[b, h, t, r]`: the mean
    over layers, heads and query positions of the memory cross-attention
    probabilities, times the reminded width and `scale` (memoria-pytorch's
    `lifespan_extend_scale`). Uniform attention over `width` memories gives
    each of them `scale`. The result carries no gradient.

    Args:
        probabilities: list of `[B, heads, T, R]` tensors, one per layer.
        width: int scalar tensor or int, the reminded width of the batch
            (the largest `width` of `memoria_remind` over the rows).
        scale: float, the lifespan gained under uniform attention.

    Returns:
        float32 `[B, R]`.
    """
    if not probabilities:
        raise ValueError(
            "Expected at least one tensor of memory attention probabilities. "
            f"Received: probabilities={probabilities!r}"
        )
    stacked = ops.stack([ops.cast(p, "float32") for p in probabilities], axis=0)
    mean = ops.mean(stacked, axis=(0, 2, 3))
    factor = ops.cast(width, "float32") * float(scale)
    return ops.stop_gradient(factor * mean)
