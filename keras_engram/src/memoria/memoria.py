"""Memoria: a Hebbian memory of working, short-term and long-term engrams in fixed-capacity slots."""

import keras
import numpy as np

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.memoria.engrams_info import summarize
from keras_engram.src.memoria.history_manager import HistoryManager
from keras_engram.src.ops import fast_paths
from keras_engram.src.ops import memoria as memoria_ops


@register
class Memoria:
    """Hebbian memory with working, short-term and long-term engrams (memoria-pytorch's API).

    Each step adds working memories, reminds short-term memories similar to
    them and long-term memories linked to those by co-firing counts, and then
    adjusts lifespans: reminded engrams gain the deltas the caller gives,
    every engram loses 1, working memories become short-term, the oldest
    short-term memories beyond `stm_capacity` become long-term, and engrams
    whose lifespan reaches 0 are deleted. Engrams that fire together
    (the working memories and everything reminded with them) get their
    co-firing counts raised by 1.

    The memory of every batch row lives in `capacity` slots (fixed-shape
    buffers, see `get_memory_state`), and the rows never interact: each row
    follows memoria-pytorch run on that row alone, and slot `p` of a row is
    that run's position `p` (alive engrams fill the slots from 0 in creation
    order). When a row has no room for new working memories, engrams are
    evicted (long-term before short-term before working ones, the smallest
    lifespan first, then the oldest) and counted in `evicted`.

    The methods run the pure functions of `keras_engram.memoria`
    (`memoria_add`, `memoria_remind`, `memoria_adjust`), which compile as
    one graph on every backend; this class checks the arguments and keeps
    the state between calls.

    Args:
        num_reminded_stm: non-negative int, short-term memories reminded per step (K).
        stm_capacity: positive int, short-term memories kept per row before
            the oldest become long-term (S).
        ltm_search_depth: non-negative int, steps of the long-term search (D).
        initial_lifespan: positive int, lifespan of a new working memory.
        num_final_ltms: non-negative int, long-term memories reminded per step (F).
        capacity: positive int, engram slots per row.
        similarity: `"neg_sq_l2"` (`-||x - y||^2`, as memoria-pytorch 1.1.0)
            or `"exp_neg_sq_l2"` (`exp(-||x - y||^2)`, as 1.0.0 and the paper).
        tie_break: `"random"` (ties among the long-term memories linked to
            a reminded short-term memory, and the long-term memory of an
            unselected one, are drawn uniformly) or `"newest"` (the newest
            wins: deterministic).
        track_age: bool, report ages (`status_summary`); ages are always kept.
        track_id: bool, report engram ids; ids are always kept.
        keep_history: bool, record a `status_summary` after every adjustment
            (`history`); turns on `track_age` and `track_id`.
        seed: int or None, seed of the random tie-break.
        distance: `"difference"` (`sum_h (x_h - y_h)^2`, the reference's
            arithmetic) or `"matmul"` (`|x|^2 + |y|^2 - 2 x.y`: less memory
            for large memories, equal up to float rounding).

    Example:

    >>> import numpy as np
    >>> from keras_engram.memoria import Memoria
    >>> memoria = Memoria(num_reminded_stm=2, stm_capacity=4, ltm_search_depth=2,
    ...                   initial_lifespan=3, num_final_ltms=2, capacity=16)
    >>> rng = np.random.default_rng(0)
    >>> memoria.add_working_memory(rng.normal(size=(1, 2, 3)).astype("float32"))
    >>> memories, indices = memoria.remind()
    >>> np.asarray(indices).tolist()  # nothing to remind yet: 4 empty lanes
    [[-1, -1, -1, -1]]
    >>> memoria.adjust_lifespan_and_memories(indices, np.zeros((1, 4), "float32"))
    >>> memoria.add_working_memory(rng.normal(size=(1, 2, 3)).astype("float32"))
    >>> memories, indices = memoria.remind()
    >>> np.asarray(indices).tolist()  # both short-term memories
    [[0, 1, -1, -1]]
    >>> tuple(memories.shape)
    (1, 4, 3)
    >>> memoria.get_memory_state()["type"].tolist()  # 2 short-term, 2 working
    [[2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    """

    def __init__(
        self,
        num_reminded_stm,
        stm_capacity,
        ltm_search_depth,
        initial_lifespan,
        num_final_ltms,
        capacity,
        similarity="neg_sq_l2",
        tie_break="random",
        track_age=False,
        track_id=False,
        keep_history=False,
        seed=None,
        distance="difference",
    ):
        self.num_reminded_stm = validation.non_negative_int("num_reminded_stm", num_reminded_stm)
        self.stm_capacity = validation.positive_int("stm_capacity", stm_capacity)
        self.ltm_search_depth = validation.non_negative_int("ltm_search_depth", ltm_search_depth)
        self.initial_lifespan = validation.positive_int("initial_lifespan", initial_lifespan)
        self.num_final_ltms = validation.non_negative_int("num_final_ltms", num_final_ltms)
        self.capacity = validation.positive_int("capacity", capacity)
        self.similarity = validation.one_of("similarity", similarity, memoria_ops.SIMILARITIES)
        self.tie_break = validation.one_of("tie_break", tie_break, memoria_ops.TIE_BREAKS)
        self.keep_history = validation.boolean("keep_history", keep_history)
        self.track_age = validation.boolean("track_age", track_age) or self.keep_history
        self.track_id = validation.boolean("track_id", track_id) or self.keep_history
        self.seed = validation.optional_int("seed", seed)
        self.distance = validation.one_of("distance", distance, memoria_ops.DISTANCES)
        self.config = memoria_ops.MemoriaConfig(
            self.num_reminded_stm, self.stm_capacity, self.ltm_search_depth,
            self.initial_lifespan, self.num_final_ltms, self.capacity,
            self.similarity, self.tie_break, self.distance,
        )
        self._seed_generator = keras.random.SeedGenerator(self.seed)
        self.reset_memory()

    def _call(self, name, state, *args, static=None):
        return run_operation(self.config, name, state, *args, static=static, eager=True)

    # --- the reference's operations ---

    def reset_memory(self):
        """Empties the memory; the next `add_working_memory` fixes the batch size and width again."""
        self.state = None
        self.num_working = 0
        self.history = None
        self._reminded = None
        self.reminded_width = None

    def add_working_memory(self, data):
        """Adds `data [batch, num_working, hidden]` to every row as working memories.

        Raises:
            ValueError: `data` is not 3-D, its batch size or feature size
                differs from the memory's, or the working memories since the
                last adjustment would exceed `capacity`.
        """
        data = _as_float_array("data", data)
        if len(data.shape) != 3 or 0 in tuple(data.shape):
            raise ValueError(
                "Expected `data` of shape (batch, num_working, hidden) with no zero "
                f"dimension. Received: data.shape={tuple(data.shape)}"
            )
        batch, num_working, hidden = (int(d) for d in data.shape)
        if self.state is None:
            self.state = memoria_ops.memoria_init(self.config, batch, hidden)
        elif (batch, hidden) != (self.batch_size, self.hidden_dim):
            raise ValueError(
                f"Expected `data` of shape ({self.batch_size}, num_working, {self.hidden_dim}) "
                "(the batch size and features of the memory; `reset_memory()` frees them). "
                f"Received: data.shape={tuple(data.shape)}"
            )
        if self.num_working + num_working > self.capacity:
            raise ValueError(
                f"Expected at most `capacity`={self.capacity} working memories between two "
                f"adjustments. Received: {num_working} more after {self.num_working}"
            )
        self.state, _ = self._call("add", self.state, data)
        self.num_working += num_working

    def remind(self):
        """Reminds memories for the current working memories and links everything that fired.

        Returns:
            `(memories, indices)`: `[batch, R, hidden]` and `[batch, R]` with
            `R = min(K, S, capacity) + F`: the reminded slots in ascending
            order, then -1 (and zero vectors) in the unused lanes.
            `reminded_width` (NumPy `[batch]`) holds, per row, the number
            of entries memoria-pytorch reports (its width at batch size 1).

        Raises:
            RuntimeError: no working memories (call `add_working_memory` first).
        """
        if self.state is None or self.num_working == 0:
            raise RuntimeError(
                "Expected working memories before `remind()`: call `add_working_memory(data)` "
                "first. Received: no working memories since the last adjustment"
            )
        if self.tie_break == "random":
            noise = memoria_ops.memoria_noise(self.config, self.batch_size, self._seed_generator)
        else:
            noise = memoria_ops.memoria_noise_newest(self.config, self.batch_size)
        self.state, out = self._call("remind", self.state, noise, static=self.num_working)
        self._reminded = keras.ops.convert_to_numpy(out["indices"])
        self.reminded_width = keras.ops.convert_to_numpy(out["width"])
        return out["memories"], out["indices"]

    def adjust_lifespan_and_memories(self, indices, lifespan_delta):
        """Adds `lifespan_delta` to the reminded engrams, then ages, promotes and deletes.

        Args:
            indices: int `[batch, R]`, reminded slots (from `remind`; -1 is ignored).
            lifespan_delta: float `[batch, R]`, the lifespan gained by each.

        Raises:
            RuntimeError: no `remind()` since the last adjustment.
            ValueError: shapes differ, or an index is not one of the slots
                reminded by the last `remind()` (or appears twice in a row).
        """
        if self._reminded is None:
            raise RuntimeError(
                "Expected `remind()` before `adjust_lifespan_and_memories`. "
                "Received: no reminded memories since the last adjustment"
            )
        index = np.asarray(keras.ops.convert_to_numpy(indices))
        delta = _as_float_array("lifespan_delta", lifespan_delta)
        if index.ndim != 2 or index.shape[0] != self.batch_size:
            raise ValueError(
                f"Expected `indices` of shape ({self.batch_size}, R). "
                f"Received: indices.shape={index.shape}"
            )
        if tuple(delta.shape) != index.shape:
            raise ValueError(
                f"Expected `lifespan_delta` of the shape of `indices`, {index.shape}. "
                f"Received: lifespan_delta.shape={tuple(delta.shape)}"
            )
        if not np.issubdtype(index.dtype, np.integer):
            raise TypeError(f"Expected integer `indices`. Received: indices.dtype={index.dtype}")
        for row in range(index.shape[0]):
            named = index[row][index[row] >= 0]
            allowed = set(self._reminded[row][self._reminded[row] >= 0].tolist())
            if not set(named.tolist()) <= allowed or len(set(named.tolist())) != len(named):
                raise ValueError(
                    "Expected `indices` to name distinct slots reminded by the last `remind()` "
                    f"(row {row}: {sorted(allowed)}) or -1. Received: indices[{row}]={index[row].tolist()}"
                )
        self.state, _ = self._call(
            "adjust", self.state, keras.ops.convert_to_tensor(index.astype("int32")), delta
        )
        self.num_working = 0
        self._reminded = None
        if self.keep_history:
            if self.history is None:
                self.history = [HistoryManager() for _ in range(self.batch_size)]
            for manager, summary in zip(self.history, self.status_summary()):
                manager.add_summary(summary)

    # --- state ---

    @property
    def batch_size(self):
        """Rows of the memory (None before the first `add_working_memory`)."""
        return None if self.state is None else int(self.state["data"].shape[0])

    @property
    def hidden_dim(self):
        """Features of an engram (None before the first `add_working_memory`)."""
        return None if self.state is None else int(self.state["data"].shape[2])

    @property
    def evicted(self):
        """NumPy `[batch]`: engrams evicted by capacity overflows per row (None when empty)."""
        return None if self.state is None else keras.ops.convert_to_numpy(self.state["evicted"])

    def get_memory_state(self):
        """The slot buffers as NumPy arrays (a copy), or None when the memory is empty.

        Returns:
            dict: `data [B, N, H]` float32, `counts [B, N, N]` int32
            (co-firing counts; the diagonal is the fire count), `type [B, N]`
            int32 (0 free, 1 working, 2 short-term, 3 long-term),
            `life [B, N]` float32, `age [B, N]`, `ids [B, N]`, `n [B]` (alive
            slots: `[0, n)`), `evicted [B]`, and the scalars `next_id`,
            `timestep` and `num_working` (working memories added since the
            last adjustment).
        """
        if self.state is None:
            return None
        out = {key: np.array(keras.ops.convert_to_numpy(value)) for key, value in self.state.items()}
        out["num_working"] = np.array(self.num_working, "int32")
        return out

    def set_memory_state(self, state):
        """Restores a state from `get_memory_state` (None empties the memory).

        Raises:
            ValueError: a buffer is missing, has the wrong shape, or breaks
                the slot invariants (alive slots first, typed, free slots zero).
        """
        if state is None:
            self.reset_memory()
            return
        missing = [key for key in memoria_ops.STATE_KEYS + ("num_working",) if key not in state]
        if missing:
            raise ValueError(f"Expected every memory buffer. Received: state without {missing}")
        arrays = {key: np.asarray(state[key]) for key in memoria_ops.STATE_KEYS}
        data = arrays["data"]
        if data.ndim != 3 or data.shape[1] != self.capacity:
            raise ValueError(
                f"Expected `state['data']` of shape (batch, {self.capacity}, hidden). "
                f"Received: shape={data.shape}"
            )
        b, n, _ = data.shape
        shapes = {"counts": (b, n, n), "type": (b, n), "life": (b, n), "age": (b, n),
                  "ids": (b, n), "n": (b,), "evicted": (b,), "next_id": (), "timestep": ()}
        for key, shape in shapes.items():
            if arrays[key].shape != shape:
                raise ValueError(
                    f"Expected `state['{key}']` of shape {shape}. Received: shape={arrays[key].shape}"
                )
        alive = np.arange(n)[None, :] < arrays["n"][:, None]
        types = arrays["type"]
        if np.any(alive & (types == 0)) or np.any(~alive & (types != 0)) or np.any(
            np.diff(np.where(alive, 4 - types, 4), axis=1) < 0
        ):
            raise ValueError(
                "Expected alive slots [0, n) typed LONGTERM* SHORTTERM* WORKING*, free slots 0. "
                f"Received: type={types.tolist()}, n={arrays['n'].tolist()}"
            )
        n_stm = (types == memoria_ops.SHORTTERM).sum(axis=1)
        n_wm = (types == memoria_ops.WORKING).sum(axis=1)
        num_working = int(np.asarray(state["num_working"]))
        if np.any(n_stm > self.stm_capacity) or np.any(n_wm != num_working):
            raise ValueError(
                f"Expected at most `stm_capacity`={self.stm_capacity} short-term memories and "
                f"`num_working`={num_working} working memories per row. Received: "
                f"{n_stm.tolist()} short-term, {n_wm.tolist()} working"
            )
        dtypes = {"data": "float32", "life": "float32"}
        self.state = {
            key: keras.ops.convert_to_tensor(arrays[key].astype(dtypes.get(key, "int32")))
            for key in memoria_ops.STATE_KEYS
        }
        self.num_working = num_working
        self._reminded = None

    def status_summary(self):
        """One `EngramsInfo` per row: the alive engrams, their links and types (memoria-pytorch 1.1.0).

        Returns:
            list of `EngramsInfo` (empty when the memory is empty).
        """
        state = self.get_memory_state()
        if state is None:
            return []
        return [summarize(state, row, self.track_age) for row in range(state["data"].shape[0])]

    # --- config ---

    def get_config(self):
        """The constructor arguments."""
        return {
            "num_reminded_stm": self.num_reminded_stm,
            "stm_capacity": self.stm_capacity,
            "ltm_search_depth": self.ltm_search_depth,
            "initial_lifespan": self.initial_lifespan,
            "num_final_ltms": self.num_final_ltms,
            "capacity": self.capacity,
            "similarity": self.similarity,
            "tie_break": self.tie_break,
            "track_age": self.track_age,
            "track_id": self.track_id,
            "keep_history": self.keep_history,
            "seed": self.seed,
            "distance": self.distance,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


_STEPS = {}


def run_operation(config, name, state, *args, static=None, eager=False):
    """`memoria_<name>(state, *args)` (`name`: "add", "remind" or "adjust"): `(state, outputs)`.

    On JAX the operation runs as a one-step `keras.ops.scan`, compiled once
    per configuration and shape (`fast_paths.scans_memoria_calls`). `eager`:
    the call runs outside any traced function, so on torch and TensorFlow
    the operation may decide its shortcuts on the host
    (`fast_paths.branches_memoria_steps`).
    """
    step = _step_function(config, name, static)
    if not fast_paths.scans_memoria_calls():
        if eager:
            with memoria_ops._eager_branches():
                return step(state, args)
        return step(state, args)
    xs = keras.tree.map_structure(lambda a: keras.ops.expand_dims(a, 0), tuple(args))
    state, out = keras.ops.scan(step, state, xs)
    return state, keras.tree.map_structure(lambda a: a[0], out)


def _step_function(config, name, static):
    """`(state, args) -> (state, outputs)` for one operation; one function object per key.

    JAX caches a scan's trace by its function object, so every `Memoria` with
    the same configuration shares the compiled operation.
    """
    key = (config, name, static)
    if key not in _STEPS:
        if name == "add":
            def step(state, args):
                return memoria_ops.memoria_add(state, args[0], config), ()
        elif name == "remind":
            def step(state, args):
                return memoria_ops.memoria_remind(state, config, static, args[0])
        else:
            def step(state, args):
                return memoria_ops.memoria_adjust(state, args[0], args[1], config), ()
        _STEPS[key] = step
    return _STEPS[key]


def _as_float_array(name, value):
    if isinstance(value, (str, bytes)) or not (
        hasattr(value, "shape") or isinstance(value, (list, tuple, np.ndarray))
    ):
        raise TypeError(f"Expected `{name}` to be an array. Received: {name}={type(value).__name__}")
    if not hasattr(value, "shape"):
        value = np.asarray(value, "float32")
    return keras.ops.cast(keras.ops.convert_to_tensor(value), "float32")
