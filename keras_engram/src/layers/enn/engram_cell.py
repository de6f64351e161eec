"""The Engram cell: one step of the Engram Neural Network (ENN)."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.ops import attention as attention_ops
from keras_engram.src.ops import fast_paths, hebbian, implicit_trace, trace_gradients
from keras_engram.src.precision import full_precision

TRACE_SCOPES = ("sample", "batch")


@register
class EngramCell(MemoryCell):
    """Cell of the Engram Neural Network: cosine recall from a memory bank plus a Hebbian trace.

    One step, for input `x_t`, hidden state `h`, trace `H` and bank `M`
    (`memory_size` slots of `hidden_dim` values):

    1. `z = ReLU(W_z x_t + b_z)`, then LayerNorm when `use_layer_norm`.
    2. `E = M + scale_factor * H` (the effective memory).
    3. `a = softmax(cos(z, E_i) / tau_eff)`, `tau_eff = temperature / (1 + 10 * sparsity_strength)`.
    4. `m = a E`, `u = ReLU(W_u [z; m; h] + b_u)`, `h' = ReLU(W_o u + b_o)` (+ LayerNorm).
    5. `H' = clip((1 - hebbian_lr) H + hebbian_lr (a^T z + noise), -trace_clip, trace_clip)`.

    This is the maths of tensorflow-engram 0.1.0 with two choices made
    explicit: the trace is kept per sample by default (`trace_scope="sample"`,
    so a sample's output never depends on the rest of its batch), or shared by
    the batch and updated with the batch mean of `a^T z` (`trace_scope="batch"`,
    the seed's behaviour). The states are 2-D, `[h, H]` with `H` flattened to
    `(batch, memory_size * hidden_dim)` (use `trace_as_matrix` to reshape); in
    batch scope every row of `H` holds the same shared trace (so masks in batch
    scope need the `Engram` layer: a bare `keras.layers.RNN(EngramCell(...))`
    keeps a masked sample's row instead of updating the shared trace from the
    unmasked samples). Initial states are
    zeros.

    Under a mixed-precision policy (`"mixed_bfloat16"`, `"mixed_float16"`) the
    cell and the `Engram` layer compute in float32 (the variable dtype): the
    trace accumulates increments of `hebbian_lr * a z` that a 16-bit float
    would round away. Layers around them keep the mixed policy.

    The cell draws no random numbers. Trace noise (`trace_noise_stddev`, training
    only) and the attention L1 loss (`attention_l1`) are applied by the `Engram`
    layer, which draws the noise before its time loop; a bare
    `keras.layers.RNN(EngramCell(...))` runs the noise-free maths. The seed's
    unused non-trainable `initial_hebbian_trace` weight and `decoder` layer are
    not created, so the parameter count is the seed's trainable count.

    Args:
        hidden_dim: positive int, size of the hidden state and of each memory slot.
        memory_size: positive int, number of memory slots.
        hebbian_lr: float in [0, 1], rate of the Hebbian trace update.
        scale_factor: float, weight of the trace in the effective memory.
        temperature: positive float, softmax temperature before sharpening.
        use_layer_norm: bool, LayerNorm (epsilon 1e-6) after the encoder and
            on the new hidden state.
        sparsity_strength: float in [0, 1], sharpens attention through
            `tau_eff`.
        integrator_units: positive int, width of the integrator layer `u`;
            None means `3 * hidden_dim` (the seed's choice).
        trace_scope: `"sample"` (default) or `"batch"` (the seed's shared trace).
        trace_noise_stddev: float >= 0, stddev of the Gaussian noise added to
            the trace update in training (applied by `Engram`: one draw per
            step, the same for every sample of the batch).
        trace_clip: positive float or None, symmetric clip of the trace.
        attention_l1: float >= 0, weight of an L1 penalty on the attention
            weights added as a layer loss by `Engram`. Softmax weights are
            non-negative and sum to one, so this term equals
            `attention_l1` times the share of unmasked steps and does not
            change the gradients; it is kept for the paper's interface. To
            sharpen attention, raise `sparsity_strength`.
        dropout: float in [0, 1), fraction of the input features dropped
            in training (one mask per sequence, the same at every step, as
            Keras's recurrent layers; applied by `Engram`).
        recurrent_dropout: float in [0, 1), fraction of the previous hidden
            state dropped where it enters the integrator, in training (one
            mask per sequence; applied by `Engram`).
        seed: int or None, seed of the trace noise and the dropout masks.
        kernel_initializer: initializer of the three dense kernels.
        bias_initializer: initializer of their biases.
        memory_initializer: initializer of the memory bank.
        kernel_regularizer: regularizer of the dense kernels.
        bias_regularizer: regularizer of the biases.
        memory_regularizer: regularizer of the memory bank.
        **kwargs: base `Layer` arguments (`name`, `dtype`, `trainable`).

    Call arguments:
        inputs: `(batch, features)` tensor.
        states: list `[h, H]` of `(batch, hidden_dim)` and
            `(batch, memory_size * hidden_dim)` tensors.
        training: the bare cell draws no noise (the same values either way).

    Returns:
        `(h, [h, H])`, the output and the new states.

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import EngramCell
    >>> cell = EngramCell(hidden_dim=8, memory_size=4)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.ones((2, 5, 3), "float32")).shape)
    (2, 8)
    """

    # The per-sample trace's saved activations cost more than recomputing them (JAX).
    _loop_rematerializes = True


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
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        memory_initializer="glorot_uniform",
        kernel_regularizer=None,
        bias_regularizer=None,
        memory_regularizer=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.hidden_dim = validation.positive_int("hidden_dim", hidden_dim)
        self.memory_size = validation.positive_int("memory_size", memory_size)
        self.hebbian_lr = validation.float_in_range("hebbian_lr", hebbian_lr, 0.0, 1.0)
        self.scale_factor = validation.finite_float("scale_factor", scale_factor)
        self.temperature = validation.positive_float("temperature", temperature)
        self.use_layer_norm = validation.boolean("use_layer_norm", use_layer_norm)
        self.sparsity_strength = validation.float_in_range(
            "sparsity_strength", sparsity_strength, 0.0, 1.0
        )
        self.integrator_units = validation.positive_int(
            "integrator_units", integrator_units, allow_none=True
        )
        self.trace_scope = validation.one_of("trace_scope", trace_scope, TRACE_SCOPES)
        self.trace_noise_stddev = validation.float_in_range(
            "trace_noise_stddev", trace_noise_stddev, 0.0, None
        )
        self.trace_clip = validation.positive_float("trace_clip", trace_clip, allow_none=True)
        self.attention_l1 = validation.float_in_range("attention_l1", attention_l1, 0.0, None)
        self.dropout = validation.rate("dropout", dropout)
        self.recurrent_dropout = validation.rate("recurrent_dropout", recurrent_dropout)
        self.seed = validation.optional_int("seed", seed)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.memory_initializer = keras.initializers.get(memory_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.memory_regularizer = keras.regularizers.get(memory_regularizer)

        self.seed_generator = keras.random.SeedGenerator(seed)
        self.input_dim = None
        dense_kwargs = dict(
            activation="relu",
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
        )
        # Sub-layer names follow tensorflow-engram, so its weight files map 1:1.
        self.input_encoder = keras.layers.Dense(
            self.hidden_dim, name="input_encoder", **dense_kwargs
        )
        self.hidden_integrator = keras.layers.Dense(
            self.units_of_integrator, name="hidden_integrator", **dense_kwargs
        )
        self.output_dense = keras.layers.Dense(
            self.hidden_dim, name="output_dense", **dense_kwargs
        )
        if self.use_layer_norm:
            self.layer_norm1 = keras.layers.LayerNormalization(
                epsilon=1e-6, name="layer_norm1", dtype=self.dtype_policy
            )
            self.layer_norm2 = keras.layers.LayerNormalization(
                epsilon=1e-6, name="layer_norm2", dtype=self.dtype_policy
            )

    @property
    def units_of_integrator(self):
        """Width of the integrator layer (`integrator_units`, or 3 x hidden_dim)."""
        return self.integrator_units or 3 * self.hidden_dim

    @property
    def state_size(self):
        return [self.hidden_dim, self.memory_size * self.hidden_dim]

    @property
    def output_size(self):
        return self.hidden_dim

    @property
    def effective_temperature(self):
        """`temperature / (1 + 10 * sparsity_strength)`, the softmax temperature of the recall."""
        return attention_ops.effective_temperature(self.temperature, self.sparsity_strength)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Expected the last dimension of the input to be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        self.memory_bank = self.add_weight(
            shape=(self.memory_size, self.hidden_dim),
            initializer=self.memory_initializer,
            regularizer=self.memory_regularizer,
            name="engram_memory",
        )
        self.input_encoder.build((None, self.input_dim))
        self.hidden_integrator.build((None, 3 * self.hidden_dim))
        self.output_dense.build((None, self.units_of_integrator))
        if self.use_layer_norm:
            self.layer_norm1.build((None, self.hidden_dim))
            self.layer_norm2.build((None, self.hidden_dim))
        self.built = True

    def encode(self, inputs):
        """The input encoder `z = LayerNorm(ReLU(W_z x + b_z))`, for inputs of any rank (features last)."""
        z = self.input_encoder(inputs)
        if self.use_layer_norm:
            z = self.layer_norm1(z)
        return z

    def trace_as_matrix(self, trace):
        """Reshapes a flat trace state to `(batch, memory_size, hidden_dim)`."""
        return ops.reshape(trace, (-1, self.memory_size, self.hidden_dim))

    # --- the plain step: the paper's equations in keras.ops ---

    def _plain_step(self, constants, carry, inputs, noise, mask, training):
        """One ENN step, as the equations read (used when the fast paths are off).

        The trace `H` is `(batch, memory_size, hidden_dim)` in sample scope,
        `(memory_size, hidden_dim)` in batch scope; `noise` is the draw
        `hebbian_lr * xi` of the trace's size, or None.
        """
        h_prev, trace = carry
        z = inputs[0]
        per_sample = self.trace_scope == "sample"
        # E = M + alpha H.
        memory = constants["memory"] + self.scale_factor * trace
        # a = softmax(cos(z, E_i) / tau_eff); m = a E.
        attention = attention_ops.cosine_attention(z, memory, self.effective_temperature)
        recalled = attention_ops.attention_read(attention, memory)
        # u = ReLU(W_u [z; m; h] + b_u); h' = LayerNorm(ReLU(W_o u + b_o)).
        h_read = self._recurrent_dropped(h_prev, constants)
        integrated = self.hidden_integrator(ops.concatenate([z, recalled, h_read], axis=-1))
        h = self.output_dense(integrated)
        if self.use_layer_norm:
            h = self.layer_norm2(h)
        # H' = clip((1 - eta) H + eta (a z^T + xi)), the write averaged over
        # the unmasked samples in batch scope.
        if mask is not None:
            attention = attention * ops.cast(mask, attention.dtype)
        count = None if per_sample else self._write_count(z, mask)
        new_trace = (1.0 - self.hebbian_lr) * trace + hebbian.hebbian_write(
            attention, z, self.hebbian_lr, count
        )
        if noise:
            new_trace = new_trace + self._noise_as_trace(noise[0])
        if self.trace_clip is not None:
            new_trace = ops.clip(new_trace, -self.trace_clip, self.trace_clip)
        return self._masked(h, h_prev, new_trace, trace, attention, mask)

    def _recurrent_dropped(self, h_prev, constants):
        """`h_prev` as the integrator reads it: times the recurrent dropout mask, if any."""
        mask = constants.get("recurrent_dropout_mask")
        return h_prev if mask is None else h_prev * mask

    def _write_count(self, z, mask):
        """The number of samples a shared (batch-scope) write is averaged over."""
        if mask is None:
            return ops.cast(ops.shape(z)[0], z.dtype)
        return ops.maximum(ops.sum(ops.cast(mask, z.dtype)), 1.0)

    def _noise_as_trace(self, noise):
        shape = (self.memory_size, self.hidden_dim)
        return ops.reshape(noise, (-1, *shape) if self.trace_scope == "sample" else shape)

    def _masked(self, h, h_prev, new_trace, trace, attention, mask):
        """Masked samples keep their states (in batch scope: a fully masked batch)."""
        if mask is not None:
            h = ops.where(mask, h, h_prev)
            keep = ops.expand_dims(mask, -1) if self.trace_scope == "sample" else ops.any(mask)
            new_trace = ops.where(keep, new_trace, trace)
        return h, (h, new_trace), {"attention": attention}

    # --- the fast step (see keras_engram.src.ops.fast_paths) ---

    def _trace_unit(self):
        """The unit the loop carries the trace in: `trace_clip` on the fast path, else 1."""
        if self.trace_clip is None or not fast_paths.carries_trace_in_clip_units():
            return 1.0
        return self.trace_clip

    def _read_scale(self):
        """`scale_factor` in the loop's unit: `E = M + scale * H_loop`."""
        return self.scale_factor * self._trace_unit()

    def _fast_step(self, constants, carry, inputs, noise, mask, training):
        """`_plain_step` with every fast path of `fast_paths` (the same values to rounding).

        The trace is carried in units of its clip bound; the effective memory
        is read as `s (M / s + H)` where `fast_paths.reads_scaled_keys`; the
        encoder's share of the integrator comes precomputed where
        `fast_paths.hoists_encoder_drive`; torch training differentiates the
        trace's step by hand where `fast_paths.hand_written_trace_gradients`.
        """
        h_prev, trace = carry
        z = inputs[0]
        per_sample = self.trace_scope == "sample"
        unit = self._trace_unit()
        scale = self._read_scale()
        scaled_keys = fast_paths.reads_scaled_keys(scale)
        bank = constants["memory_over_scale" if scaled_keys else "memory"]
        if per_sample:
            bank = ops.expand_dims(bank, 0)
        key_scale = scale if scaled_keys else 1.0
        hand_written = training and fast_paths.hand_written_trace_gradients(per_sample, scaled_keys)
        if hand_written:
            query = attention_ops.attention_query(z, self.effective_temperature, key_scale)
            attention, recalled = trace_gradients.attend_and_read(
                query, trace, bank, attention_ops.key_epsilon(key_scale)
            )
        else:
            if scaled_keys:
                keys = trace + bank
            else:
                keys = trace * scale
                keys += bank
            attention = attention_ops.cosine_attention(
                z, keys, self.effective_temperature, key_scale=key_scale
            )
            recalled = attention_ops.attention_read(attention, keys)
        recalled = recalled * key_scale

        h_read = self._recurrent_dropped(h_prev, constants)
        if len(inputs) == 1:
            integrator_inputs = ops.concatenate([z, recalled, h_read], axis=-1)
            integrated = ops.relu(
                integrator_inputs @ constants["integrator_kernel"] + constants["integrator_bias"]
            )
        else:
            integrated = ops.relu(
                inputs[1] + recalled @ constants["read_kernel"] + h_read @ constants["hidden_kernel"]
            )
        h = fast_paths.apply_sublayer(self.output_dense, integrated, constants["output_dense"])
        if self.use_layer_norm:
            h = fast_paths.apply_sublayer(self.layer_norm2, h, constants["layer_norm2"])

        if mask is not None:
            attention = attention * ops.cast(mask, attention.dtype)
        count = None if per_sample else self._write_count(z, mask)
        noise = self._noise_as_trace(noise[0]) if noise else None
        clip = fast_paths.clip_to_unit if self.trace_clip is not None else None
        if hand_written and self.hebbian_lr < 1.0:
            new_trace = trace_gradients.decay_and_write(
                trace, attention, z, self.hebbian_lr, self.hebbian_lr / unit, noise=noise
            )
            if clip is not None:
                new_trace = clip(new_trace)
        else:
            new_trace = hebbian.hebbian_update(
                trace, attention, z, self.hebbian_lr, self.hebbian_lr / unit,
                count=count, noise=noise, clip=clip,
            )
        return self._masked(h, h_prev, new_trace, trace, attention, mask)

    # --- the loop protocol (see MemoryCell) ---

    def _loop_inputs(self, sequences, training=False):
        if training and self.dropout > 0:
            # One mask per sequence, the same at every step (Keras's convention).
            kept = keras.random.dropout(
                ops.ones_like(sequences[:, 0:1, :]),
                self.dropout,
                seed=self.seed_generator,
            )
            sequences = sequences * kept
        z = self.encode(sequences)
        if not fast_paths.hoists_encoder_drive():
            return (z,)
        kernel = self.hidden_integrator.kernel[: self.hidden_dim]
        return z, ops.matmul(z, kernel) + self.hidden_integrator.bias

    def _loop_noise(self, steps, training=False):
        if not training or self.trace_noise_stddev == 0:
            return ()
        # One draw of the trace's shape per step, shared by the batch (as
        # tensorflow-engram), carrying the rate and the loop's unit.
        stddev = self.trace_noise_stddev * self.hebbian_lr / self._trace_unit()
        shape = (steps, 1, self.memory_size * self.hidden_dim)
        return (
            keras.random.normal(shape, stddev=stddev, dtype=self.compute_dtype, seed=self.seed_generator),
        )

    def _loop_constants(self, batch_size, training=False):
        weights = {"memory": ops.convert_to_tensor(self.memory_bank)}
        if training and self.recurrent_dropout > 0:
            weights["recurrent_dropout_mask"] = keras.random.dropout(
                ops.ones((batch_size, self.hidden_dim), dtype=self.compute_dtype),
                self.recurrent_dropout,
                seed=self.seed_generator,
            )
        if not fast_paths.enabled():
            return weights
        memory = weights["memory"]
        scale = self._read_scale()
        if fast_paths.reads_scaled_keys(scale):
            weights["memory_over_scale"] = memory / scale
        kernel = ops.convert_to_tensor(self.hidden_integrator.kernel)
        h = self.hidden_dim
        if fast_paths.hoists_encoder_drive():
            weights["read_kernel"] = kernel[h : 2 * h]
            weights["hidden_kernel"] = kernel[2 * h :]
        else:
            weights["integrator_kernel"] = kernel
            weights["integrator_bias"] = ops.convert_to_tensor(self.hidden_integrator.bias)
        weights["output_dense"] = fast_paths.sublayer_weights(self.output_dense)
        if self.use_layer_norm:
            weights["layer_norm2"] = fast_paths.sublayer_weights(self.layer_norm2)
        return weights

    def _loop_start(self, states, batch_size):
        """The carry `(h, H)`, `H` a matrix in the loop's unit; the context is the start trace.

        The default zero trace is formed in the loop's own form (one zero
        matrix in batch scope, a broadcast of one per sample), not as
        `(batch, memory_size * hidden_dim)` zeros reshaped and averaged.
        """
        h0, trace0 = states
        if h0 is None:
            h0 = ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype)
        matrix = (self.memory_size, self.hidden_dim)
        if trace0 is None:
            start = ops.zeros(matrix, dtype=self.compute_dtype)
            if self.trace_scope == "sample":
                start = ops.broadcast_to(start, (batch_size, *matrix))
            return (h0, start), start
        start = self.trace_as_matrix(trace0)
        if self.trace_scope == "batch":
            start = ops.mean(start, axis=0)
        unit = self._trace_unit()
        return (h0, start if unit == 1.0 else start / unit), start

    def _loop_end(self, carry, context, mask, steps):
        """`[h, H]`, `H` flat; a trace that no step updated comes back as it went in, bit for bit."""
        h, trace = carry
        if steps == 0:
            trace = context
        else:
            unit = self._trace_unit()
            trace = trace if unit == 1.0 else trace * unit
            if mask is not None:
                updated = ops.any(mask, axis=1)
                if self.trace_scope == "batch":
                    updated = ops.any(updated)
                else:
                    updated = ops.reshape(updated, (-1, 1, 1))
                trace = ops.where(updated, trace, context)
        flat = self.memory_size * self.hidden_dim
        trace = ops.reshape(trace, (-1, flat))
        if self.trace_scope == "batch":
            trace = ops.broadcast_to(trace, (ops.shape(h)[0], flat))
        return [h, trace]

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        if fast_paths.enabled():
            return self._fast_step(constants, carry, inputs, noise, mask, training)
        return self._plain_step(constants, carry, inputs, noise, mask, training)

    def _loop_sequence(self, constants, carry, inputs, noise, mask, training, states,
                       extras, return_sequences, time_loop, step_loop):
        """The per-sample trace in its exact low-rank form (`ops.implicit_trace`).

        A first loop computes every step's attention from the encodings, a
        second runs the integrator over the hidden state; the trace is
        formed once, at the end. Taken where `fast_paths.implicit_trace`
        allows it; with a clip, only for a batch whose `clip_bound` stays
        within the clip (the explicit `step_loop` runs otherwise). A
        sequence longer than `fast_paths.IMPLICIT_CHUNK_STEPS` runs in equal
        chunks (the last padded with masked steps, which write nothing),
        the trace handed from one to the next, each chunk checked on its own.
        """
        steps = inputs[0].shape[1]
        if not fast_paths.implicit_trace(self.trace_scope == "sample", steps, noisy=bool(noise)):
            return None
        piece = dict(constants=constants, extras=extras, return_sequences=return_sequences,
                     time_loop=time_loop)
        count = -(-steps // fast_paths.IMPLICIT_CHUNK_STEPS)
        if count == 1:
            return self._implicit_piece(
                carry, inputs, noise, mask, states[1] is not None, explicit=step_loop, **piece
            )
        length = -(-steps // count)
        padding = count * length - steps
        batch = ops.shape(inputs[0])[0]
        if mask is None:
            mask = ops.ones((batch, steps), dtype="bool")

        def chunked(x, axis):
            """`x` padded with zeros to `count * length` steps on `axis`, then chunk-major."""
            if padding:
                widths = [(0, 0)] * len(x.shape)
                widths[axis] = (0, padding)
                x = ops.pad(x, widths)
            shape = list(ops.shape(x))
            x = ops.reshape(x, shape[:axis] + [count, length] + shape[axis + 1 :])
            return ops.moveaxis(x, axis, 0)

        xs = [chunked(x, 1) for x in inputs] + [chunked(mask, 1)] + [chunked(n, 0) for n in noise]
        width = len(inputs)

        def chunk_step(chunk_carry, x):
            chunk_inputs, chunk_mask, chunk_noise = tuple(x[:width]), x[width], tuple(x[width + 1 :])
            final, outputs, values = self._implicit_piece(
                chunk_carry, chunk_inputs, chunk_noise, chunk_mask, True,
                explicit=lambda: step_loop(chunk_carry, chunk_inputs, chunk_noise, chunk_mask),
                **piece,
            )
            stacked = ([outputs] if return_sequences else []) + [values[name] for name in extras]
            return final, tuple(stacked)

        sizes = [self.output_size] if return_sequences else []
        sizes.extend(self._loop_extra_sizes[name] for name in extras)
        templates = tuple(ops.zeros((batch, length, size), dtype=inputs[0].dtype) for size in sizes)
        final, stacked = time_loop(chunk_step, carry, tuple(xs), templates)
        stacked = [
            ops.reshape(ops.moveaxis(s, 0, 1), (batch, count * length, s.shape[-1]))[:, :steps]
            for s in stacked
        ]
        outputs = stacked.pop(0) if return_sequences else None
        return final, outputs, dict(zip(extras, stacked))

    def _implicit_piece(self, carry, inputs, noise, mask, given, explicit, constants, extras,
                        return_sequences, time_loop):
        """One piece of the implicit form (see `_loop_sequence`); `given`: a start trace is set."""
        z = inputs[0]
        steps = z.shape[1]
        h0, trace0 = carry
        unit = self._trace_unit()
        eta, alpha = self.hebbian_lr, self.scale_factor
        initial = trace0 * unit if given else None
        writes = None
        if noise:
            writes = ops.reshape(noise[0] * unit, (steps, self.memory_size, self.hidden_dim))
        memory = constants["memory"]
        weights, start = implicit_trace.decay_weights(mask, steps, eta, z.dtype)
        attention = implicit_trace.attention_pass(
            z, memory, initial, writes, mask, weights, start, eta, alpha,
            self.effective_temperature, lambda step, init, xs: time_loop(step, init, xs)[0],
        )

        def implicit():
            recalled = implicit_trace.reads(
                attention, z, memory, initial, writes, weights, start, eta, alpha
            )
            trace = implicit_trace.final_trace(attention, z, initial, writes, weights, start, eta)
            h, outputs = self._integrate(
                constants, inputs, recalled, h0, mask, return_sequences, time_loop
            )
            values = {"attention": attention}
            return _flat((h, trace if unit == 1.0 else trace / unit), outputs, values, extras)

        if self.trace_clip is None:
            return _unflat(implicit(), return_sequences, extras)
        bound = implicit_trace.clip_bound(
            ops.stop_gradient(attention), ops.stop_gradient(z),
            None if initial is None else ops.stop_gradient(initial),
            writes, mask, weights, start, eta,
        )
        exact = ops.all(bound <= self.trace_clip)
        fallback = lambda: _flat(*explicit(), extras)  # noqa: E731
        if fast_paths.rematerializes_fallback():
            fallback = keras.remat(fallback)
        flat = ops.cond(exact, implicit, fallback)
        return _unflat(flat, return_sequences, extras)

    def _integrate(self, constants, inputs, recalled, h0, mask, return_sequences, time_loop):
        """The integrator over the hidden state, from the reads of every step (the second loop)."""
        h = self.hidden_dim
        kernel = ops.convert_to_tensor(self.hidden_integrator.kernel)
        if len(inputs) > 1:
            drive = inputs[1]
        else:
            drive = inputs[0] @ kernel[:h] + ops.convert_to_tensor(self.hidden_integrator.bias)
        drive = drive + recalled @ kernel[h : 2 * h]
        hidden_kernel = kernel[2 * h :]
        xs = [ops.swapaxes(drive, 0, 1)]
        if mask is not None:
            xs.append(ops.expand_dims(ops.transpose(mask, (1, 0)), -1))

        def step(carry, x):
            h_prev = carry[0]
            integrated = ops.relu(x[0] + self._recurrent_dropped(h_prev, constants) @ hidden_kernel)
            h_new = fast_paths.apply_sublayer(self.output_dense, integrated, constants["output_dense"])
            if self.use_layer_norm:
                h_new = fast_paths.apply_sublayer(self.layer_norm2, h_new, constants["layer_norm2"])
            if mask is not None:
                h_new = ops.where(x[1], h_new, h_prev)
            return (h_new,), ((h_new,) if return_sequences else ())

        templates = (ops.zeros_like(h0),) if return_sequences else ()
        (h_last,), stacked = time_loop(step, (h0,), tuple(xs), templates)
        return h_last, (ops.swapaxes(stacked[0], 0, 1) if return_sequences else None)

    @property
    def _loop_extra_sizes(self):
        return {"attention": self.memory_size}

    def _loop_required_extras(self):
        return ("attention",) if self.attention_l1 > 0 else ()

    def _loop_loss(self, extras):
        if self.attention_l1 == 0:
            return None
        attention = extras["attention"]
        steps = ops.cast(ops.shape(attention)[1], attention.dtype)
        return self.attention_l1 * ops.mean(ops.sum(ops.abs(attention), axis=(1, 2)) / steps)

    def get_config(self):
        config = {
            "hidden_dim": self.hidden_dim,
            "memory_size": self.memory_size,
            "hebbian_lr": self.hebbian_lr,
            "scale_factor": self.scale_factor,
            "temperature": self.temperature,
            "use_layer_norm": self.use_layer_norm,
            "sparsity_strength": self.sparsity_strength,
            "integrator_units": self.integrator_units,
            "trace_scope": self.trace_scope,
            "trace_noise_stddev": self.trace_noise_stddev,
            "trace_clip": self.trace_clip,
            "attention_l1": self.attention_l1,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "memory_initializer": keras.initializers.serialize(self.memory_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "memory_regularizer": keras.regularizers.serialize(self.memory_regularizer),
        }
        return {**super().get_config(), **config}


def _flat(carry, outputs, values, extras):
    """A loop's result as a flat tuple of tensors (the branches of `ops.cond`)."""
    flat = list(carry)
    if outputs is not None:
        flat.append(outputs)
    flat.extend(values[name] for name in extras)
    return tuple(flat)


def _unflat(flat, return_sequences, extras):
    carry, rest = tuple(flat[:2]), list(flat[2:])
    outputs = rest.pop(0) if return_sequences else None
    return carry, outputs, dict(zip(extras, rest))
