"""The Engram recurrent layer: runs an `EngramCell` over a sequence."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.engram_cell import EngramCell
from keras_engram.src.ops.scan import scan
from keras_engram.src.ops.scan import unrolls_on_tensorflow
from keras_engram.src.precision import full_precision

_CELL_ARGS = (
    "hidden_dim",
    "memory_size",
    "hebbian_lr",
    "scale_factor",
    "temperature",
    "use_layer_norm",
    "sparsity_strength",
    "integrator_units",
    "trace_scope",
    "trace_noise_stddev",
    "trace_clip",
    "attention_l1",
    "seed",
)
_CELL_SERIALIZED_ARGS = (
    "kernel_initializer",
    "bias_initializer",
    "memory_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "memory_regularizer",
)


def _check_rank(shape):
    if len(shape) != 3:
        raise ValueError(
            "Expected `sequences` of rank 3 (batch, timesteps, features). "
            f"Received: sequences.shape={tuple(shape)}"
        )


@register
class Engram(keras.layers.RNN):
    """Engram Neural Network recurrent layer (Szelogowski, 2025).

    Runs an `EngramCell` over the time axis, like `keras.layers.LSTM` runs an
    `LSTMCell`. The input encoder and its LayerNorm do not depend on the
    previous step, so they are computed for all steps in one batched matmul
    before the loop (on TensorFlow also the encoder's share of the
    integrator; see `EngramCell.hoists_encoder_drive`); the loop
    (`keras.ops.scan`) carries the recurrent part. Trace noise (training
    only) is drawn before the loop from the cell's seeded generator, so no
    random numbers are drawn inside it: one
    `(memory_size, hidden_dim)` draw per step, added to the trace of every
    sample of the batch, as tensorflow-engram adds one per step to its trace.

    Args:
        hidden_dim, memory_size, hebbian_lr, scale_factor, temperature,
        use_layer_norm, sparsity_strength, integrator_units, trace_scope,
        trace_noise_stddev, trace_clip, attention_l1, seed, kernel_initializer,
        bias_initializer, memory_initializer, kernel_regularizer,
        bias_regularizer, memory_regularizer: the `EngramCell` arguments.
        return_sequences: bool, return the whole output sequence instead of
            the last output.
        return_state: bool, also return the final states `[h, H]`.
        go_backwards: bool, process the sequence backwards (outputs come in
            processing order, as in Keras).
        stateful: bool, the last state of each batch is the initial state of
            the next (needs a fixed batch size); reset with `reset_state()`.
        unroll: bool or positive int. JAX: the unrolling of its scan (True:
            every step). TensorFlow: True builds the time loop as an
            unrolled graph; the default does so for sequences of at most 32
            steps (a length known when the graph is traced), which trains
            about 1.25x faster at the paper's 28 steps and can be compiled
            by XLA, and uses a `tf.while_loop` above that; an int asks for
            the `tf.while_loop` (with at least 32 parallel iterations).
            torch: the loop is a Python loop either way. On TensorFlow,
            `jit_compile` (XLA) needs the unrolled graph: the layer reports
            `supports_jit=False` otherwise, and Keras's `"auto"` then leaves
            XLA off.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        sequences: `(batch, timesteps, features)` tensor.
        initial_state: optional list `[h, H]`; default zeros (or the stored
            states when stateful). In batch scope the rows of `H` are averaged.
        mask: optional `(batch, timesteps)` boolean tensor (from `Masking` or
            `mask_zero` upstream). A masked step leaves the sample's state
            unchanged, outputs the previous output and has zero attention;
            in batch scope the shared trace is updated from the unmasked
            samples only. A sample with every step masked returns its
            initial states bit for bit.
        training: bool, enables the trace noise (and, on torch in sample
            scope, the hand-written gradients of the trace's step; the
            same values).
        return_attention_scores: bool, also return the per-step attention
            weights, `(batch, timesteps, memory_size)`, last in the outputs.

    Returns:
        The output (`(batch, hidden_dim)`, or `(batch, timesteps, hidden_dim)`
        with `return_sequences`), then the states `h` `(batch, hidden_dim)` and
        `H` `(batch, memory_size * hidden_dim)` if `return_state`, then the
        attention weights if `return_attention_scores`.

    Example:

    >>> import numpy as np
    >>> from keras_engram.layers import Engram
    >>> layer = Engram(hidden_dim=16, memory_size=8, return_sequences=True)
    >>> layer(np.ones((2, 5, 3), "float32")).shape
    (2, 5, 16)
    >>> out, att = Engram(16, 8)(np.ones((2, 5, 3), "float32"),
    ...                          return_attention_scores=True)
    >>> tuple(att.shape)
    (2, 5, 8)
    """

    def __init__(
        self,
        hidden_dim,
        memory_size,
        hebbian_lr=0.05,
        scale_factor=0.5,
        temperature=1.5,
        use_layer_norm=True,
        sparsity_strength=0.1,
        integrator_units=None,
        trace_scope="sample",
        trace_noise_stddev=0.001,
        trace_clip=0.1,
        attention_l1=0.0,
        seed=None,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        memory_initializer="glorot_uniform",
        kernel_regularizer=None,
        bias_regularizer=None,
        memory_regularizer=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        **kwargs,
    ):
        kwargs = full_precision(kwargs)
        if not isinstance(unroll, bool):
            unroll = validation.positive_int("unroll", unroll)
        cell = EngramCell(
            hidden_dim=hidden_dim,
            memory_size=memory_size,
            hebbian_lr=hebbian_lr,
            scale_factor=scale_factor,
            temperature=temperature,
            use_layer_norm=use_layer_norm,
            sparsity_strength=sparsity_strength,
            integrator_units=integrator_units,
            trace_scope=trace_scope,
            trace_noise_stddev=trace_noise_stddev,
            trace_clip=trace_clip,
            attention_l1=attention_l1,
            seed=seed,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            memory_initializer=memory_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            memory_regularizer=memory_regularizer,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="engram_cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **kwargs,
        )
        self._update_supports_jit(None)

    def build(self, sequences_shape, initial_state_shape=None):
        _check_rank(sequences_shape)
        super().build(sequences_shape, initial_state_shape)
        self._update_supports_jit(sequences_shape[1])

    def _update_supports_jit(self, steps):
        """XLA on TensorFlow needs the unrolled loop (see `unroll`).

        XLA cannot compile the gradient of Keras's TensorFlow `while_loop`
        ("XLA compilation requires a fixed tensor list size"), and Keras
        turns XLA on by default on a TensorFlow GPU. Before the layer is
        built, and when it is built for sequences of unknown length, it says
        it does not support XLA.
        """
        if keras.backend.backend() == "tensorflow":
            self.supports_jit = unrolls_on_tensorflow(steps, self.unroll)

    def compute_output_spec(
        self, sequences, initial_state=None, mask=None, training=False,
        return_attention_scores=False,
    ):
        shapes = self.compute_output_shape(sequences.shape)
        dtype = self.compute_dtype
        if self.return_state:
            specs = [keras.KerasTensor(s, dtype=dtype) for s in shapes]
        else:
            specs = [keras.KerasTensor(shapes, dtype=dtype)]
        if return_attention_scores:
            specs.append(
                keras.KerasTensor(
                    (sequences.shape[0], sequences.shape[1], self.cell.memory_size),
                    dtype=dtype,
                )
            )
        return specs[0] if len(specs) == 1 else specs

    def call(
        self,
        sequences,
        initial_state=None,
        mask=None,
        training=False,
        return_attention_scores=False,
    ):
        initial_state = self._start_state(sequences, initial_state)
        if self.stateful and keras.backend.backend() == "torch":
            # Detach from the state variables before they are assigned below.
            initial_state = [ops.copy(s) for s in initial_state]

        need_attention = return_attention_scores or self.cell.attention_l1 > 0
        last_output, outputs, states, attention = self._run(
            sequences, initial_state, mask, training, need_attention
        )
        if self.cell.attention_l1 > 0:
            steps = ops.cast(ops.shape(attention)[1], attention.dtype)
            self.add_loss(
                self.cell.attention_l1 * ops.mean(ops.sum(ops.abs(attention), axis=(1, 2)) / steps)
            )
        if self.stateful:
            for variable, value in zip(self.states, states):
                variable.assign(ops.cast(value, variable.dtype))

        result = [outputs if self.return_sequences else last_output]
        if self.return_state:
            result.extend(states)
        if return_attention_scores:
            result.append(attention)
        result = [ops.cast(r, self.compute_dtype) for r in result]
        return result[0] if len(result) == 1 else result

    def _start_state(self, sequences, initial_state):
        """Checks `sequences` and returns the initial `[h, H]` in the cell's dtype.

        Default: the stored states when stateful; otherwise zeros, with `H`
        None: `_run` then starts the trace as zeros in the loop's own form.
        """
        _check_rank(sequences.shape)
        self.cell.check_input_features(sequences)
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                cell = self.cell
                return [
                    ops.zeros((ops.shape(sequences)[0], cell.hidden_dim), dtype=cell.compute_dtype),
                    None,
                ]
        elif not isinstance(initial_state, (list, tuple)) or len(initial_state) != 2:
            raise ValueError(
                "Expected `initial_state` to be a list [h, H] of two tensors. "
                f"Received: initial_state={initial_state!r}"
            )
        if self.stateful:
            expected = self._expected_batch_size
            if expected is not None and sequences.shape[0] not in (None, expected):
                raise ValueError(
                    f"Expected a batch size of {expected} for this stateful layer. "
                    f"Received: sequences.shape={tuple(sequences.shape)}"
                )
        return [ops.cast(s, self.cell.compute_dtype) for s in initial_state]

    def inspect(self, sequences, initial_state=None, mask=None):
        """Runs the layer in inference mode and returns what its memory did.

        Nothing is trained and stateful layers keep their stored states. This
        is what `keras_engram.utils` reads to monitor and plot the memory.

        Args:
            sequences: `(batch, timesteps, features)` array or tensor.
            initial_state: optional `[h, H]`, as in `call`.
            mask: optional `(batch, timesteps)` boolean mask.

        Returns:
            A dict of backend tensors: `"hidden"` `(batch, hidden_dim)` and
            `"trace"` `(batch, memory_size, hidden_dim)`, the final states
            (in batch scope every row holds the shared trace), and
            `"attention"` `(batch, timesteps, memory_size)`, the attention
            weights of each step in processing order (reversed time with
            `go_backwards`), zero at masked steps.

        Example:

        >>> import numpy as np
        >>> from keras_engram.layers import Engram
        >>> memory = Engram(16, 8).inspect(np.ones((2, 5, 3), "float32"))
        >>> tuple(memory["trace"].shape), tuple(memory["attention"].shape)
        ((2, 8, 16), (2, 5, 8))
        """
        sequences = ops.convert_to_tensor(sequences, dtype=self.cell.compute_dtype)
        if not self.built:
            self.build(sequences.shape)  # checks the rank
        initial_state = self._start_state(sequences, initial_state)
        if mask is not None:
            mask = ops.convert_to_tensor(mask, dtype="bool")
        _, _, (hidden, trace), attention = self._run(
            sequences, initial_state, mask, training=False, need_attention=True
        )
        return {
            "hidden": hidden,
            "trace": self.cell.trace_as_matrix(trace),
            "attention": attention,
        }

    def _run(self, sequences, initial_state, mask, training, need_attention):
        """The time loop. Returns `(last_output, outputs, [h, H], attention)`."""
        cell = self.cell
        batch_scope = cell.trace_scope == "batch"
        if mask is not None:
            mask = ops.cast(mask, "bool")
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
            if mask is not None:
                mask = ops.flip(mask, axis=1)

        z = cell.encode(sequences)
        hoisted = cell.hoists_encoder_drive
        h0, trace0 = initial_state
        batch_rows = ops.shape(h0)[0]
        matrix = (cell.memory_size, cell.hidden_dim)
        if trace0 is None:
            # The default zero start, formed in the loop's form and unit (zero
            # in any unit): one shared zero matrix in batch scope, a broadcast
            # of one zero matrix per sample (on torch a view, no fill). The
            # `(batch, memory_size * hidden_dim)` zeros, their batch mean and
            # their division by the unit cost 4 MB passes per call at the
            # paper's size (docs/performance.md).
            trace0 = ops.zeros(matrix, dtype=cell.compute_dtype)
            if not batch_scope:
                trace0 = ops.broadcast_to(trace0, (batch_rows, *matrix))
            start_trace = trace0
        else:
            # The loop carries the trace as a matrix, reshaped once here and
            # once after it: with a flat carry reshaped in every step, XLA on
            # CPU ran the per-sample forward pass 2.7x slower
            # (docs/performance.md).
            trace0 = cell.trace_as_matrix(trace0)
            if batch_scope:
                trace0 = ops.mean(trace0, axis=0)
            start_trace = trace0
            # In the loop the trace is in units of its clip bound (see
            # `EngramCell.loop_trace_unit`).
            trace0 = cell.trace_to_loop(trace0)

        xs = [ops.transpose(z, (1, 0, 2))]
        if hoisted:
            xs.append(ops.transpose(cell.encoder_drive(z), (1, 0, 2)))
        mask_index = len(xs)
        if mask is not None:
            xs.append(ops.expand_dims(ops.transpose(mask, (1, 0)), -1))
        use_noise = bool(training) and cell.trace_noise_stddev > 0
        if use_noise:
            # One draw of the trace's shape per step, shared by the batch (as
            # tensorflow-engram): a draw per sample was batch-size times the
            # random numbers and halved per-sample training speed on JAX.
            xs.append(
                keras.random.normal(
                    (ops.shape(sequences)[1], 1, cell.memory_size * cell.hidden_dim),
                    stddev=cell.loop_noise_stddev,
                    dtype=cell.compute_dtype,
                    seed=cell.seed_generator,
                )
            )
        weights = cell.recurrent_weights()
        collect_sequence = self.return_sequences

        def step(carry, x):
            h_prev, trace = carry
            z_t, drive_t = x[0], (x[1] if hoisted else None)
            mask_t = x[mask_index] if mask is not None else None
            noise_t = x[-1] if use_noise else None
            h, trace, attention = cell.recurrent_step(
                weights, z_t, drive_t, h_prev, trace, noise_t, mask_t, training=bool(training)
            )
            outputs = []
            if collect_sequence:
                outputs.append(h)
            if need_attention:
                outputs.append(attention)
            return (h, trace), tuple(outputs)

        templates = []
        if collect_sequence:
            templates.append(ops.zeros_like(h0))
        if need_attention:
            templates.append(ops.zeros((ops.shape(h0)[0], cell.memory_size), dtype=h0.dtype))
        if keras.backend.backend() == "jax":
            # Recomputing each step in the backward pass keeps only the carry
            # per step instead of a dozen saved activations, which on CPU live
            # in main memory: 1.4x faster training with the per-sample trace,
            # 1.15x in batch scope when it was added, 1.02x with the
            # one-matmul integrator (docs/performance.md). TF and torch gain
            # nothing from it.
            step = keras.remat(step)
        (h_last, trace_last), stacked = scan(
            step, (h0, trace0), tuple(xs), tuple(templates), unroll=self.unroll
        )
        stacked = list(stacked)
        outputs = ops.transpose(stacked.pop(0), (1, 0, 2)) if collect_sequence else None
        attention = ops.transpose(stacked.pop(0), (1, 0, 2)) if need_attention else None
        # A trace that no step updated comes back as it went in, bit for bit,
        # not as its round trip through the loop's unit (`/ unit`, `* unit`):
        # with zero steps, and for fully masked samples (in batch scope, a
        # fully masked batch), as Keras's RNN keeps their states.
        if sequences.shape[1] == 0:
            trace_last = start_trace
        else:
            trace_last = cell.trace_from_loop(trace_last)
            if mask is not None:
                updated = ops.any(mask, axis=1)
                if batch_scope:
                    updated = ops.any(updated)
                else:
                    updated = ops.reshape(updated, (-1, 1, 1))
                trace_last = ops.where(updated, trace_last, start_trace)
        trace_last = ops.reshape(trace_last, (-1, cell.memory_size * cell.hidden_dim))
        if batch_scope:
            trace_last = ops.broadcast_to(
                trace_last, (batch_rows, cell.memory_size * cell.hidden_dim)
            )
        return h_last, outputs, [h_last, trace_last], attention

    def get_config(self):
        config = {name: getattr(self.cell, name) for name in _CELL_ARGS}
        cell_config = self.cell.get_config()
        config.update({name: cell_config[name] for name in _CELL_SERIALIZED_ARGS})
        base = super().get_config()
        del base["cell"]
        del base["zero_output_for_mask"]
        return {**base, **config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _forward_to_cell(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


for _name in _CELL_ARGS + _CELL_SERIALIZED_ARGS:
    setattr(Engram, _name, _forward_to_cell(_name))
