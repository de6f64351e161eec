"""MemoriaTransformer: a GPT-2 language model that reads and writes a Memoria memory per segment."""

import math

import keras
import numpy as np
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.memoria.abstractor import Abstractor
from keras_engram.src.memoria.memoria import run_operation
from keras_engram.src.memoria.memoria_transformer_block import MemoriaTransformerBlock
from keras_engram.src.ops import memoria as memoria_ops

_STATE_DTYPES = {"data": "float32", "life": "float32"}


@register
class MemoriaTransformer(keras.Model):
    """GPT-2 over segments, with Memoria's working, short-term and long-term memories.

    The tokens are cut into segments of `segment_size` (the last may be
    shorter). Each segment runs GPT-2 pre-LN blocks (`MemoriaTransformerBlock`)
    over its token and position embeddings (positions restart at 0 in every
    segment), and the logits are the final hidden states times the token
    embedding (a tied head). From the second segment on, with
    `use_memory=True`, the final hidden states of the previous segment
    (compressed by an `Abstractor` to `num_memories` vectors when
    `num_memories` is set) are the working memory: they are added to the
    Memoria memory, which reminds short- and long-term memories of earlier
    segments; every block attends to the working memory and to the reminded
    memories with one shared cross-attention, and the memory attention
    extends the lifespans of the reminded memories by
    `width * lifespan_extend_scale * mean attention` before the memory ages
    (`memoria_adjust`). So segment `t` reads a summary of segment `t - 1`
    and memories of segments up to `t - 2`.

    No gradient crosses segments: the previous hidden states and the memory
    contents are constants (the Abstractor, the cross-attentions and the
    blocks are trained through the current segment).

    By default every call starts with an empty memory. With `stateful=True`
    (a fixed `batch_size`, and lengths that are multiples of `segment_size`)
    the memory, the last segment's hidden states and whether there is one
    are non-trainable weights, carried from call to call and saved with the
    model: `reset_memory()` empties them, `get_memory_state()` /
    `set_memory_state()` read and write them as NumPy arrays, and a model
    saved with `model.save()` continues exactly where it stopped.

    Args:
        vocabulary_size: positive int, number of tokens (V).
        num_layers: positive int, number of blocks.
        num_heads: positive int, attention heads (divides `hidden_dim`).
        hidden_dim: positive int, width of the hidden states (H).
        intermediate_dim: positive int, width of the blocks' MLP.
        segment_size: positive int, tokens per segment (also the number of
            position embeddings).
        num_memories: positive int or None, working memories per segment
            made by an `Abstractor`; None stores the previous segment's
            hidden states themselves (`segment_size` per segment).
        abstractor_dim: positive int or None, width of the Abstractor's inner
            dense layer (default `intermediate_dim`).
        num_reminded_stm: non-negative int, short-term memories reminded per
            segment (K).
        stm_capacity: positive int, short-term memories kept per row before the
            oldest become long-term (S).
        ltm_search_depth: non-negative int, steps of the long-term search (D).
        initial_lifespan: positive int, lifespan of a new working memory (L0).
        num_final_ltms: non-negative int, long-term memories reminded per
            segment (F).
        capacity: positive int or None, memory slots per row; None takes
            `S + W (L0 + 1) + ceil(lifespan_extend_scale (min(K, S) + F + 1))`
            (with W the working memories per segment), rounded up to a
            multiple of 8. Engrams beyond it are evicted (see `Memoria`).
        similarity: `"neg_sq_l2"` or `"exp_neg_sq_l2"` (see `Memoria`).
        tie_break: `"random"` (seeded by `seed`) or `"newest"` (deterministic).
        lifespan_extend_scale: non-negative float, lifespan a reminded memory
            gains under uniform attention.
        dropout: float in [0, 1), dropout of the embeddings, the attention
            probabilities and the residual branches (training only).
        layer_norm_epsilon: positive float.
        use_memory: bool; False gives plain GPT-2 over independent segments
            (no cross-attention weights, no Abstractor, no memory).
        stateful: bool, carry the memory across calls (needs `batch_size`).
        batch_size: positive int or None, the fixed batch size of a stateful model.
        seed: int or None, seed of the random tie-break.
        **kwargs: `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        token_ids: int `[batch, T]`, with a static batch size (on
            TensorFlow, `fit` and `predict` need a number of samples
            divisible by the batch size).
        training: bool, dropout on.

    Returns:
        logits `[batch, T, vocabulary_size]`.

    Example:

    >>> import numpy as np
    >>> from keras_engram.memoria import MemoriaTransformer
    >>> model = MemoriaTransformer(vocabulary_size=11, num_layers=1, num_heads=2,
    ...                            hidden_dim=8, intermediate_dim=16, segment_size=4,
    ...                            tie_break="newest")
    >>> tokens = np.random.default_rng(0).integers(0, 11, size=(2, 8))
    >>> tuple(model(tokens).shape)  # two segments: the second reads the memory
    (2, 8, 11)
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        segment_size,
        num_memories=None,
        abstractor_dim=None,
        num_reminded_stm=8,
        stm_capacity=32,
        ltm_search_depth=10,
        initial_lifespan=5,
        num_final_ltms=8,
        capacity=None,
        similarity="neg_sq_l2",
        tie_break="random",
        lifespan_extend_scale=8.0,
        dropout=0.0,
        layer_norm_epsilon=1e-5,
        use_memory=True,
        stateful=False,
        batch_size=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = validation.positive_int("vocabulary_size", vocabulary_size)
        self.num_layers = validation.positive_int("num_layers", num_layers)
        self.num_heads = validation.positive_int("num_heads", num_heads)
        self.hidden_dim = validation.positive_int("hidden_dim", hidden_dim)
        self.intermediate_dim = validation.positive_int("intermediate_dim", intermediate_dim)
        self.segment_size = validation.positive_int("segment_size", segment_size)
        self.num_memories = validation.positive_int("num_memories", num_memories, allow_none=True)
        self.abstractor_dim = validation.positive_int("abstractor_dim", abstractor_dim, allow_none=True)
        self.num_reminded_stm = validation.non_negative_int("num_reminded_stm", num_reminded_stm)
        self.stm_capacity = validation.positive_int("stm_capacity", stm_capacity)
        self.ltm_search_depth = validation.non_negative_int("ltm_search_depth", ltm_search_depth)
        self.initial_lifespan = validation.positive_int("initial_lifespan", initial_lifespan)
        self.num_final_ltms = validation.non_negative_int("num_final_ltms", num_final_ltms)
        self.capacity = validation.positive_int("capacity", capacity, allow_none=True)
        self.similarity = validation.one_of("similarity", similarity, memoria_ops.SIMILARITIES)
        self.tie_break = validation.one_of("tie_break", tie_break, memoria_ops.TIE_BREAKS)
        self.lifespan_extend_scale = validation.float_in_range(
            "lifespan_extend_scale", lifespan_extend_scale, 0.0, None
        )
        self.dropout = validation.rate("dropout", dropout)
        self.layer_norm_epsilon = validation.positive_float("layer_norm_epsilon", layer_norm_epsilon)
        self.use_memory = validation.boolean("use_memory", use_memory)
        self.stateful = validation.boolean("stateful", stateful)
        self.batch_size = validation.positive_int("batch_size", batch_size, allow_none=True)
        self.seed = validation.optional_int("seed", seed)
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"Expected `hidden_dim` to be a multiple of `num_heads` ({self.num_heads}). "
                f"Received: hidden_dim={self.hidden_dim}"
            )
        if self.stateful and self.batch_size is None:
            raise ValueError(
                "Expected a `batch_size` for a stateful model (its memory has one row per "
                "batch row). Received: batch_size=None"
            )
        if self.stateful and not self.use_memory:
            raise ValueError(
                "Expected `use_memory=True` with `stateful=True`: only the memory is carried "
                "across calls. Received: use_memory=False"
            )

        num_working = self.num_memories or self.segment_size
        if self.capacity is None:
            reminded = min(self.num_reminded_stm, self.stm_capacity) + self.num_final_ltms + 1
            auto = (
                self.stm_capacity
                + num_working * (self.initial_lifespan + 1)
                + math.ceil(self.lifespan_extend_scale * reminded)
            )
            memory_capacity = 8 * math.ceil(auto / 8)
        else:
            memory_capacity = self.capacity
        if num_working > memory_capacity:
            raise ValueError(
                f"Expected a `capacity` of at least the working memories per segment "
                f"({num_working}). Received: capacity={memory_capacity}"
            )
        self.memoria_config = memoria_ops.MemoriaConfig(
            self.num_reminded_stm, self.stm_capacity, self.ltm_search_depth,
            self.initial_lifespan, self.num_final_ltms, memory_capacity,
            self.similarity, self.tie_break,
        )

        # === Layers ===
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        self.blocks = [
            MemoriaTransformerBlock(
                num_heads=self.num_heads,
                intermediate_dim=self.intermediate_dim,
                dropout=self.dropout,
                layer_norm_epsilon=self.layer_norm_epsilon,
                kernel_initializer=initializer,
                cross_attention=self.use_memory,
                dtype=self.dtype_policy,
                name=f"block_{index}",
            )
            for index in range(self.num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="ln_f"
        )
        self.abstractor = None
        if self.use_memory and self.num_memories is not None:
            self.abstractor = Abstractor(
                self.num_memories, self.hidden_dim, self.abstractor_dim or self.intermediate_dim,
                kernel_initializer=initializer, dtype=self.dtype_policy, name="abstractor",
            )
        self._seed_generator = (
            keras.random.SeedGenerator(self.seed, name="tie_break_seed")
            if self.use_memory and self.tie_break == "random"
            else None
        )

        # === Weights ===
        self.token_embedding = self.add_weight(
            shape=(self.vocabulary_size, self.hidden_dim), initializer=initializer,
            name="token_embedding",
        )
        self.position_embedding = self.add_weight(
            shape=(self.segment_size, self.hidden_dim), initializer=initializer,
            name="position_embedding",
        )
        hidden_shape = (None, self.segment_size, self.hidden_dim)
        for block in self.blocks:
            block.build(hidden_shape)
        self.final_norm.build(hidden_shape)
        if self.abstractor is not None:
            self.abstractor.build(hidden_shape)
        self._memory = None
        if self.stateful:
            self._memory = self._memory_variables()
        self.built = True

    # --- stored memory (stateful) ---

    def _memory_variables(self):
        empty = memoria_ops.memoria_init(self.memoria_config, self.batch_size, self.hidden_dim)
        variables = {}
        for key in memoria_ops.STATE_KEYS:
            variables[key] = self.add_weight(
                shape=tuple(empty[key].shape), initializer="zeros", trainable=False,
                dtype=_STATE_DTYPES.get(key, "int32"), name=f"memory_{key}",
            )
        variables["previous"] = self.add_weight(
            shape=(self.batch_size, self.segment_size, self.hidden_dim), initializer="zeros",
            trainable=False, dtype="float32", name="memory_previous",
        )
        variables["has_previous"] = self.add_weight(
            shape=(), initializer="zeros", trainable=False, dtype="int32",
            name="memory_has_previous",
        )
        return variables

    def _check_stateful(self, method):
        if not self.stateful:
            raise ValueError(
                f"Expected a stateful model for `{method}()`: a model keeps its memory across "
                f"calls only with `stateful=True`. Received: stateful={self.stateful}"
            )

    def reset_memory(self):
        """Empties the stored memory of a stateful model (the next call starts afresh)."""
        self._check_stateful("reset_memory")
        for variable in self._memory.values():
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def get_memory_state(self):
        """The stored memory of a stateful model, as NumPy arrays (copies).

        Returns:
            dict: the buffers of `Memoria.get_memory_state` (`data`,
            `counts`, `type`, `life`, `age`, `ids`, `n`, `next_id`,
            `evicted`, `timestep`, and `num_working`, always 0 between
            calls), `previous` (float32 `[batch, segment_size, hidden_dim]`,
            the final hidden states of the last segment) and `has_previous`
            (int32 scalar, 1 when `previous` holds a segment).
        """
        self._check_stateful("get_memory_state")
        out = {key: np.array(ops.convert_to_numpy(v)) for key, v in self._memory.items()}
        out["num_working"] = np.array(0, "int32")
        return out

    def set_memory_state(self, state):
        """Assigns the stored memory of a stateful model (bit for bit); None empties it.

        Args:
            state: a dict shaped as `get_memory_state()` returns it
                (`num_working` may be left out; it must be 0).

        Raises:
            ValueError: a buffer is missing or has the wrong shape.
        """
        self._check_stateful("set_memory_state")
        if state is None:
            self.reset_memory()
            return
        if not isinstance(state, dict):
            raise TypeError(f"Expected `state` to be a dict. Received: state={type(state).__name__}")
        missing = [key for key in self._memory if key not in state]
        if missing:
            raise ValueError(f"Expected every memory buffer. Received: state without {missing}")
        if int(np.asarray(state.get("num_working", 0))) != 0:
            raise ValueError(
                "Expected no working memories between calls. "
                f"Received: num_working={state['num_working']}"
            )
        arrays = {key: np.asarray(state[key]) for key in self._memory}
        for key, variable in self._memory.items():
            if arrays[key].shape != tuple(variable.shape):
                raise ValueError(
                    f"Expected `state['{key}']` of shape {tuple(variable.shape)}. "
                    f"Received: shape={arrays[key].shape}"
                )
        for key, variable in self._memory.items():
            variable.assign(arrays[key].astype(variable.dtype))

    # --- running ---

    def build(self, input_shape=None):
        self.built = True

    def _check_tokens(self, token_ids):
        shape = tuple(token_ids.shape)
        if len(shape) != 2:
            raise ValueError(
                f"Expected `token_ids` of shape (batch, T). Received: token_ids.shape={shape}"
            )
        dtype = keras.backend.standardize_dtype(token_ids.dtype)
        if "int" not in dtype:
            raise TypeError(
                f"Expected integer `token_ids`. Received: token_ids.dtype={dtype}"
            )
        if shape[1] is None:
            raise ValueError(
                "Expected a static number of tokens (the segments form a Python loop). "
                f"Received: token_ids.shape={shape}"
            )
        if self.stateful:
            if shape[0] not in (None, self.batch_size):
                raise ValueError(
                    f"Expected a batch size of {self.batch_size} for this stateful model. "
                    f"Received: token_ids.shape={shape}"
                )
            if shape[1] % self.segment_size:
                raise ValueError(
                    f"Expected a number of tokens that is a multiple of `segment_size` "
                    f"({self.segment_size}) for a stateful model. Received: token_ids.shape={shape}"
                )
        elif shape[0] is None and self.use_memory:
            raise ValueError(
                "Expected a static batch size (the memory has one row per batch row; on "
                "TensorFlow, give `fit` / `predict` a number of samples divisible by the batch "
                f"size). Received: token_ids.shape={shape}"
            )

    def _blocks(self, hidden, training, memory=None):
        """Runs every block; with `memory` also returns each layer's memory attention."""
        probabilities = []
        for block in self.blocks:
            if memory is None:
                hidden = block(hidden, training=training)
                continue
            hidden, probs = block(
                hidden,
                working_memory=memory["working"],
                memories=memory["memories"],
                memory_mask=memory["valid"],
                memory_width=memory["width"],
                cross_attention_gate=memory["gate"],
                training=training,
                return_attention_scores=True,
            )
            probabilities.append(probs)
        return hidden, probabilities

    def _memory_step(self, state, previous, hidden, batch, training, gate=None):
        """One segment with memory: add, remind, the blocks, adjust. Returns `(state, hidden)`."""
        config = self.memoria_config
        previous = ops.stop_gradient(previous)
        working = self.abstractor(previous) if self.abstractor is not None else previous
        if self._seed_generator is not None:
            noise = memoria_ops.memoria_noise(config, batch, seed=self._seed_generator)
        else:
            noise = memoria_ops.memoria_noise_newest(config, batch)
        stored = ops.stop_gradient(ops.cast(working, "float32"))
        new, _ = run_operation(config, "add", state, stored)
        new, out = run_operation(config, "remind", new, noise, static=int(working.shape[1]))
        width = ops.max(out["width"])
        memory = {
            "working": ops.cast(working, self.compute_dtype),
            "memories": ops.cast(ops.stop_gradient(out["memories"]), self.compute_dtype),
            "valid": out["valid"],
            "width": width,
            "gate": gate,
        }
        hidden, probabilities = self._blocks(hidden, training, memory)
        delta = memoria_ops.memoria_lifespan_delta(probabilities, width, self.lifespan_extend_scale)
        new, _ = run_operation(config, "adjust", new, out["indices"], delta)
        if gate is not None:
            keep = gate > 0
            new = {key: ops.where(keep, new[key], state[key]) for key in state}
        return new, hidden

    def call(self, token_ids, training=None):
        token_ids = ops.convert_to_tensor(token_ids)
        self._check_tokens(token_ids)
        training = bool(training)
        tokens = ops.cast(token_ids, "int32")
        batch = self.batch_size if self.stateful else tokens.shape[0]
        if self.stateful:
            tokens = ops.reshape(tokens, (batch, tokens.shape[1]))
        length = tokens.shape[1]
        embedding = ops.cast(self.token_embedding, self.compute_dtype)
        positions = ops.cast(self.position_embedding, self.compute_dtype)

        state, previous, has_previous = None, None, None
        if self.use_memory:
            if self.stateful:
                # Copies: assigning the variables below must not change a
                # tensor a backward pass still needs (torch's autograd).
                state = {key: ops.copy(self._memory[key].value) for key in memoria_ops.STATE_KEYS}
                previous = ops.cast(ops.copy(self._memory["previous"].value), self.compute_dtype)
                has_previous = ops.cast(self._memory["has_previous"].value, "float32")
            else:
                state = memoria_ops.memoria_init(self.memoria_config, batch, self.hidden_dim)

        logits = []
        for start in range(0, length, self.segment_size):
            stop = min(start + self.segment_size, length)
            hidden = ops.take(embedding, tokens[:, start:stop], axis=0) + positions[: stop - start]
            hidden = self.embedding_dropout(hidden, training=training)
            if self.use_memory and (start > 0 or has_previous is not None):
                gate = has_previous if start == 0 else None
                state, hidden = self._memory_step(state, previous, hidden, batch, training, gate)
            else:
                hidden, _ = self._blocks(hidden, training)
            hidden = self.final_norm(hidden)
            previous = ops.stop_gradient(hidden)
            logits.append(ops.matmul(hidden, ops.transpose(embedding)))

        if self.stateful:
            for key in memoria_ops.STATE_KEYS:
                self._memory[key].assign(ops.cast(state[key], self._memory[key].dtype))
            self._memory["previous"].assign(ops.cast(previous, "float32"))
            self._memory["has_previous"].assign(ops.ones((), "int32"))
        return logits[0] if len(logits) == 1 else ops.concatenate(logits, axis=1)

    def compute_output_spec(self, token_ids, training=None):
        self._check_tokens(token_ids)
        return keras.KerasTensor(
            (token_ids.shape[0], token_ids.shape[1], self.vocabulary_size), dtype=self.compute_dtype
        )

    # --- config ---

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "segment_size": self.segment_size,
            "num_memories": self.num_memories,
            "abstractor_dim": self.abstractor_dim,
            "num_reminded_stm": self.num_reminded_stm,
            "stm_capacity": self.stm_capacity,
            "ltm_search_depth": self.ltm_search_depth,
            "initial_lifespan": self.initial_lifespan,
            "num_final_ltms": self.num_final_ltms,
            "capacity": self.capacity,
            "similarity": self.similarity,
            "tie_break": self.tie_break,
            "lifespan_extend_scale": self.lifespan_extend_scale,
            "dropout": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "use_memory": self.use_memory,
            "stateful": self.stateful,
            "batch_size": self.batch_size,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

