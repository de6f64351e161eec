"""The Engram cell: one step of the Engram Neural Network (ENN)."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.ops import engram_math
from keras_engram.src.ops import trace_gradients
from keras_engram.src.precision import full_precision

TRACE_SCOPES = ("sample", "batch")


@register
class EngramCell(keras.layers.Layer):
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
    batch scope every row of `H` holds the same shared trace. Initial states are
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
        seed: int or None, seed of the trace noise.
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
        training: the bare cell draws no noise; on torch a training step uses
            the hand-written gradients (`hand_written_trace_gradients`, same
            values).

    Returns:
        `(h, [h, H])`, the output and the new states.

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import EngramCell
    >>> cell = EngramCell(hidden_dim=8, memory_size=4)
    >>> rnn = keras.layers.RNN(cell)
    >>> rnn(np.ones((2, 5, 3), "float32")).shape
    (2, 8)
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
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.hidden_dim = validation.positive_int("hidden_dim", hidden_dim)
        self.memory_size = validation.positive_int("memory_size", memory_size)
        self.hebbian_lr = validation.float_in_range("hebbian_lr", hebbian_lr, 0.0, 1.0)
        self.scale_factor = validation.finite_float("scale_factor", scale_factor)
        self.temperature = validation.positive_float("temperature", temperature)
        if not isinstance(use_layer_norm, bool):
            raise TypeError(
                f"Expected `use_layer_norm` to be a bool. Received: use_layer_norm={use_layer_norm!r}"
            )
        self.use_layer_norm = use_layer_norm
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
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"Expected `seed` to be an int or None. Received: seed={seed!r}")
        self.seed = seed
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
    def loop_trace_unit(self):
        """The unit of the trace inside a time loop: `trace_clip` (1.0 without a clip).

        `recurrent_step` takes and returns the trace divided by this unit, so
        the clip it applies is `clip(., -1, 1)` (`engram_math.clip_to_unit`,
        scalar bounds on every backend); `trace_to_loop` and `trace_from_loop`
        convert once per sequence. Rounding aside, the values are the same.
        """
        return 1.0 if self.trace_clip is None else self.trace_clip

    @property
    def loop_noise_stddev(self):
        """Stddev of the `noise` `recurrent_step` takes, in the loop's trace unit.

        `trace_noise_stddev * hebbian_lr / loop_trace_unit`. The step adds
        its noise to the trace as it comes, so a normal draw with this stddev
        is the `hebbian_lr * noise` of the cell's maths (`noise ~ N(0,
        trace_noise_stddev^2)`) expressed in the loop's unit. The `Engram`
        layer draws it before its time loop.
        """
        return self.trace_noise_stddev * self.hebbian_lr / self.loop_trace_unit

    def trace_to_loop(self, trace):
        """A trace (any shape) in the loop's unit, `trace / loop_trace_unit`."""
        unit = self.loop_trace_unit
        return trace if unit == 1.0 else trace / unit

    def trace_from_loop(self, trace):
        """The inverse of `trace_to_loop`."""
        unit = self.loop_trace_unit
        return trace if unit == 1.0 else trace * unit

    @property
    def trace_read_scale(self):
        """`scale_factor` in the loop's unit: `E = M + trace_read_scale * H_loop`."""
        return self.scale_factor * self.loop_trace_unit

    @property
    def reads_scaled_keys(self):
        """Whether `recurrent_step` reads `E` as `s (M / s + H_loop)`, `s = trace_read_scale`.

        For `1e-4 <= |s| <= 1e4`. Outside that range (zero included) the
        step forms `M + s H_loop` itself: `M / s` could overflow float32 in
        the keys' squared norms, and a zero scale has no reciprocal.
        """
        return 1e-4 <= abs(self.trace_read_scale) <= 1e4

    @property
    def hand_written_trace_gradients(self):
        """Whether training steps differentiate the per-sample trace by hand.

        True on torch in sample scope with the scaled keys
        (`reads_scaled_keys`): in training (`recurrent_step(...,
        training=True)`) the attention, the read and the trace's decay and
        write then go through `keras_engram.src.ops.trace_gradients`. Per
        step the backward pass then forms four tensors of the trace's size
        (three in those functions, the clip's gradient under autograd)
        where torch's autograd alone formed about nine. The same values; inference
        runs the plain ops (no backward pass to save). JAX and TensorFlow
        differentiate the maths themselves (docs/performance.md).
        """
        return (
            keras.backend.backend() == "torch"
            and self.trace_scope == "sample"
            and self.reads_scaled_keys
        )

    @property
    def effective_temperature(self):
        return engram_math.effective_temperature(self.temperature, self.sparsity_strength)

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

    # --- the maths, in pieces the Engram layer can move out of its time loop ---

    def check_input_features(self, inputs):
        features = inputs.shape[-1]
        if self.input_dim is not None and features is not None and features != self.input_dim:
            raise ValueError(
                f"Expected inputs with {self.input_dim} features (the size {self.name} "
                f"was built with). Received: inputs.shape={tuple(inputs.shape)}"
            )

    def encode(self, inputs):
        """Input encoder `z` for inputs of any rank (features last)."""
        z = self.input_encoder(inputs)
        if self.use_layer_norm:
            z = self.layer_norm1(z)
        return z

    @property
    def hoists_encoder_drive(self):
        """Whether a time loop takes the encoder's share of the integrator precomputed.

        True on TensorFlow: `encoder_drive` runs for all steps in one matmul
        before the loop and `recurrent_step` adds `drive` to its two
        recurrent matmuls. Elsewhere the step integrates `[z; m; h]` with the
        whole integrator kernel in one matmul (`drive=None`): the same FLOPs,
        one matmul per step instead of two plus the hoisted one, and no
        `(time, batch, integrator_units)` tensor whose gradient the backward
        pass must stack. Paired A/B at the paper's size, time with one
        matmul over time with the hoisted drive: JAX seed-mode training
        0.94, inference 0.90; torch seed-mode training 0.90, inference 0.84;
        TensorFlow 1.02 (its graph runs the separate matmuls concurrently),
        so it keeps the hoisted drive (docs/performance.md).
        """
        return keras.backend.backend() == "tensorflow"

    def encoder_drive(self, z):
        """The encoder's share of the integrator, `W_u[z] z + b_u`, for any rank."""
        kernel = self.hidden_integrator.kernel[: self.hidden_dim]
        return ops.matmul(z, kernel) + self.hidden_integrator.bias

    def recurrent_weights(self):
        """The weights the time loop uses, read and sliced once per sequence.

        Backend tensors, not variables: the step combines them with Python
        operators (`@`, `+`, `*`), which every backend's tensors implement
        with the same kernels as `keras.ops`. On torch, whose loop runs
        eagerly, each `keras.ops` call adds its own conversions and dtype
        checks, paid at every step (`ops.matmul` about 45 us on top of an
        85 us matmul at the paper's size; an elementwise op 4-10 us).
        """
        kernel = ops.convert_to_tensor(self.hidden_integrator.kernel)
        h = self.hidden_dim
        weights = {"memory": ops.convert_to_tensor(self.memory_bank)}
        if self.reads_scaled_keys:
            weights["memory_over_scale"] = weights["memory"] / self.trace_read_scale
        if self.hoists_encoder_drive:
            weights["read_kernel"] = kernel[h : 2 * h]
            weights["hidden_kernel"] = kernel[2 * h :]
        else:
            weights["integrator_kernel"] = kernel
            weights["integrator_bias"] = ops.convert_to_tensor(self.hidden_integrator.bias)
        weights["output_dense"] = self._loop_weights(self.output_dense)
        if self.use_layer_norm:
            weights["layer_norm2"] = self._loop_weights(self.layer_norm2)
        return weights

    def recurrent_step(self, weights, z, drive, h_prev, trace, noise=None, mask=None, training=False):
        """The part of a step that depends on the previous state.

        Args:
            weights: dict from `recurrent_weights()`.
            z: `(batch, hidden_dim)` encoded input.
            drive: `(batch, integrator_units)` from `encoder_drive(z)` where
                `hoists_encoder_drive`, else None (the step integrates
                `[z; m; h]` with the whole kernel).
            h_prev: `(batch, hidden_dim)`.
            trace: the trace as a matrix, `(batch, memory_size, hidden_dim)` in
                sample scope, `(memory_size, hidden_dim)` in batch scope (see
                `trace_as_matrix`; a time loop carries it in this form), in
                the loop's unit (`trace_to_loop`).
            noise: flat `(rows, memory_size * hidden_dim)` tensor (rows 1, or
                the batch size in sample scope) drawn with stddev
                `loop_noise_stddev` (it carries the rate and the loop's unit),
                reshaped here to the trace's matrix form; or None.
            mask: `(batch, 1)` boolean tensor or None; masked samples keep
                their state.
            training: whether a backward pass will follow: then the step
                uses the hand-written gradients where
                `hand_written_trace_gradients` says so. The values are the
                same either way.

        Returns:
            `(h, trace, attention)`, the trace in the loop's unit; attention
            is zero for masked samples.
        """
        slots, width = self.memory_size, self.hidden_dim
        per_sample = self.trace_scope == "sample"
        unit = self.loop_trace_unit
        scale = self.trace_read_scale
        scaled_keys = self.reads_scaled_keys
        bank = weights["memory_over_scale" if scaled_keys else "memory"]
        if per_sample:
            bank = ops.expand_dims(bank, 0)
        key_scale = scale if scaled_keys else 1.0
        hand_written = training and self.hand_written_trace_gradients
        if hand_written:
            # The keys `bank + trace` inside a function with its own backward.
            query = engram_math.attention_query(z, self.effective_temperature, key_scale)
            attention, recalled = trace_gradients.attend_and_read(
                query, trace, bank, engram_math.key_epsilon(key_scale)
            )
        else:
            if scaled_keys:
                # The effective memory `M + scale * H` (H in the loop's unit)
                # is used as `scale * K` with `K = M / scale + H`: the cosine
                # takes the scale as an argument and the read multiplies the
                # small result, so no full-size product of the trace is
                # formed (one pass over the per-sample trace fewer per step,
                # forward and backward; docs/performance.md).
                keys = trace + bank
            else:
                keys = trace * scale
                keys += bank
            attention = engram_math.cosine_attention(
                z, keys, self.effective_temperature, key_scale=key_scale
            )
            recalled = engram_math.attention_read(attention, keys)
        recalled = recalled * key_scale

        if drive is None:
            integrator_inputs = ops.concatenate([z, recalled, h_prev], axis=-1)
            integrated = ops.relu(
                integrator_inputs @ weights["integrator_kernel"] + weights["integrator_bias"]
            )
        else:
            integrated = ops.relu(
                drive + recalled @ weights["read_kernel"] + h_prev @ weights["hidden_kernel"]
            )
        h = self._apply_in_loop(self.output_dense, integrated, weights["output_dense"])
        if self.use_layer_norm:
            h = self._apply_in_loop(self.layer_norm2, h, weights["layer_norm2"])

        if mask is not None:
            attention = attention * ops.cast(mask, attention.dtype)
        count = None
        if not per_sample:
            if mask is None:
                count = ops.cast(ops.shape(z)[0], z.dtype)
            else:
                count = ops.maximum(ops.sum(ops.cast(mask, z.dtype)), 1.0)
        if noise is not None:
            noise = ops.reshape(noise, (-1, slots, width) if per_sample else (slots, width))
        if hand_written and self.hebbian_lr < 1.0:
            new_trace = trace_gradients.decay_and_write(
                trace, attention, z, self.hebbian_lr, self.hebbian_lr / unit, noise=noise
            )
            if self.trace_clip is not None:
                new_trace = engram_math.clip_to_unit(new_trace)
        else:
            new_trace = engram_math.hebbian_update(
                trace,
                attention,
                z,
                self.hebbian_lr,
                self.hebbian_lr / unit,
                count=count,
                noise=noise,
                unit_clip=self.trace_clip is not None,
            )

        if mask is not None:
            h = ops.where(mask, h, h_prev)
            keep = ops.expand_dims(mask, -1) if per_sample else ops.any(mask)
            new_trace = ops.where(keep, new_trace, trace)
        return h, new_trace, attention

    def _loop_weights(self, layer):
        """A sublayer's weights as tensors for `_apply_in_loop` (None: use its call)."""
        if getattr(layer, "quantization_mode", None):
            return None
        if isinstance(layer, keras.layers.LayerNormalization):
            names = ("gamma", "beta")
        else:
            names = ("kernel", "bias")  # `kernel` includes a LoRA adapter
        return {
            name: None if getattr(layer, name) is None else ops.convert_to_tensor(getattr(layer, name))
            for name in names
        }

    def _apply_in_loop(self, layer, x, weights=None):
        """`layer(x)` for a sublayer called once per time step, without `Layer.__call__`.

        The same ops as the layer's own `call` (bit-identical): `Dense` is
        matmul, bias, activation; `LayerNormalization` is
        `ops.layer_normalization` with its weights. `Layer.__call__` adds about
        0.1 ms of Python per call, which an eager (torch) loop pays every step:
        at the paper's size the pair took 506 us through `__call__` against
        272 us here. `weights` comes from `_loop_weights` (read once per
        sequence; None reads them now). A quantized layer still goes through
        its own `call`.
        """
        if weights is None:
            weights = self._loop_weights(layer)
        if weights is None:
            return layer(x)
        if isinstance(layer, keras.layers.LayerNormalization):
            y = ops.layer_normalization(
                x, weights["gamma"], weights["beta"], layer.axis, layer.epsilon,
                rms_scaling=layer.rms_scaling,
            )
            return ops.cast(y, layer.compute_dtype)
        y = x @ weights["kernel"]
        if weights["bias"] is not None:
            y = y + weights["bias"]
        return y if layer.activation is None else layer.activation(y)

    # --- the RNN cell contract ---

    def call(self, inputs, states, training=None):
        self.check_input_features(inputs)
        h_prev, trace = states[0], states[1]
        z = self.encode(inputs)
        drive = self.encoder_drive(z) if self.hoists_encoder_drive else None
        trace_matrix = self.trace_as_matrix(trace)
        if self.trace_scope == "batch":
            trace_matrix = ops.mean(trace_matrix, axis=0)
        h, trace_matrix, _ = self.recurrent_step(
            self.recurrent_weights(), z, drive, h_prev, self.trace_to_loop(trace_matrix),
            training=bool(training),
        )
        new_trace = ops.reshape(
            self.trace_from_loop(trace_matrix), (-1, self.memory_size * self.hidden_dim)
        )
        if self.trace_scope == "batch":
            new_trace = ops.broadcast_to(new_trace, ops.shape(trace))
        return h, [h, new_trace]

    def get_initial_state(self, batch_size=None):
        return [
            ops.zeros((batch_size, self.hidden_dim), dtype=self.compute_dtype),
            ops.zeros((batch_size, self.memory_size * self.hidden_dim), dtype=self.compute_dtype),
        ]

    def trace_as_matrix(self, trace):
        """Reshapes a flat trace state to `(batch, memory_size, hidden_dim)`."""
        return ops.reshape(trace, (-1, self.memory_size, self.hidden_dim))

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
            "seed": self.seed,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "memory_initializer": keras.initializers.serialize(self.memory_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "memory_regularizer": keras.regularizers.serialize(self.memory_regularizer),
        }
        return {**super().get_config(), **config}
