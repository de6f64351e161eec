"""The PMRC cell: one step of the Persistent Memory Recurrent Cell."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.amrc_cell import (
    OUTPUT_ACTIVATIONS,
    original_uniform,
    output_activation_fn,
)
from keras_engram.src.layers.memory_native.between import Between
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision


def original_recurrent(seed, offset):
    """The originals' recurrent initialiser, `U(-s, s)` with `s = sqrt(1 / units)`."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform",
        seed=None if seed is None else seed + offset,
    )


@register
class PMRCCell(MemoryCell):
    """Cell of the Persistent Memory Recurrent Cell (PMRC): AMRC with recurrence, gates, output echo.

    One step, for input `x_t` (row vectors, Keras orientation):

    1. `n = tanh(x_t W + b + m + y_prev U)` (the `U` term with `use_recurrent`).
    2. The memory: with `use_learnable_gates`, `g = sigmoid(x_t W_g + b_g + m U_g)`,
       `c = tanh(x_t W_c + b_c)`, `m' = g c + (1 - g) m`; otherwise
       `m' = (1 - alpha) m + alpha n`.
    3. `y = n + beta * y_prev`: the echo of the previous hidden output.
    4. `o = tanh(y W_o + b_o) + output_beta * o_prev` (the echo term with
       `use_output_memory`; the activation is linear with
       `output_activation="linear"`).

    Every unit is updated from the previous step's values at once (a
    vectorised step). `beta`, `alpha` (per hidden unit) and `output_beta`
    (per output) are trainable weights kept in [0, 1] by a constraint and
    initialised to the given values. With `legacy=True` the cell computes
    the forward step of the original C implementation instead, which
    updates the units one after another in index order, in place: unit
    `h`'s recurrent drive reads `y_{t-1}` of the units before it and
    `y_{t-2}` of the others, its gate reads the new memory of the units
    before it and the old memory of the others, the hidden and output
    echoes read the values of two steps back (`y_{t-2}`, `o_{t-2}`), and
    `beta`, `alpha`, `output_beta` are fixed. The legacy gated memory takes
    `units` vectorised passes per step.

    States (each `(batch, size)`): `[o, m, y_prev]`, plus `[y_prev2, o_prev2]`
    in legacy mode, plus the gate `g` of the last step with
    `use_learnable_gates`. The first is the last output, so masked steps in
    `keras.layers.RNN` repeat it on every backend. Kernels start from the
    original's distributions (`U(-s, s)`, `s = sqrt(2 / (fan_in + fan_out))`
    for input and output kernels, `s = sqrt(1 / units)` for `U` and `U_g`),
    biases from zero.

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output layer.
        beta: float in [0, 1], hidden echo strength (initial value when learned).
        alpha: float in [0, 1], memory update rate without gates.
        output_beta: float in [0, 1], output echo strength.
        use_recurrent: bool, the recurrent kernel `U`.
        use_learnable_gates: bool, the gated memory (otherwise the leaky one).
        use_output_memory: bool, the output echo.
        output_activation: `"tanh"` (the original's) or `"linear"`.
        legacy: bool, the original's forward step (see above).
        seed: int or None, seeds the weight initialisers.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import PMRCCell
    >>> cell = PMRCCell(units=8, output_units=2, use_learnable_gates=True)
    >>> rnn = keras.layers.RNN(cell, return_sequences=True)
    >>> tuple(rnn(np.ones((3, 5, 4), "float32")).shape)
    (3, 5, 2)
    """

    def __init__(
        self,
        units,
        output_units,
        beta=0.3,
        alpha=0.1,
        output_beta=0.2,
        use_recurrent=True,
        use_learnable_gates=False,
        use_output_memory=False,
        output_activation="tanh",
        legacy=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.units = validation.positive_int("units", units)
        self.output_units = validation.positive_int("output_units", output_units)
        self.beta = validation.float_in_range("beta", beta, 0.0, 1.0)
        self.alpha = validation.float_in_range("alpha", alpha, 0.0, 1.0)
        self.output_beta = validation.float_in_range("output_beta", output_beta, 0.0, 1.0)
        self.use_recurrent = validation.boolean("use_recurrent", use_recurrent)
        self.use_learnable_gates = validation.boolean("use_learnable_gates", use_learnable_gates)
        self.use_output_memory = validation.boolean("use_output_memory", use_output_memory)
        self.output_activation = validation.one_of(
            "output_activation", output_activation, OUTPUT_ACTIVATIONS
        )
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        self.input_dim = None

    @property
    def state_size(self):
        sizes = [self.output_units, self.units, self.units]
        if self.legacy:
            sizes += [self.units, self.output_units]
        if self.use_learnable_gates:
            sizes += [self.units]
        return sizes

    @property
    def output_size(self):
        return self.output_units

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Expected the last dimension of the input to be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        i, h, o = self.input_dim, self.units, self.output_units
        self.kernel = self.add_weight(
            shape=(i, h), initializer=original_uniform(self.seed, 0), name="kernel"
        )
        self.bias = self.add_weight(shape=(h,), initializer="zeros", name="bias")
        if self.use_recurrent:
            self.recurrent_kernel = self.add_weight(
                shape=(h, h), initializer=original_recurrent(self.seed, 1), name="recurrent_kernel"
            )
        if self.use_learnable_gates:
            self.gate_kernel = self.add_weight(
                shape=(i, h), initializer=original_uniform(self.seed, 2), name="gate_kernel"
            )
            self.gate_recurrent_kernel = self.add_weight(
                shape=(h, h), initializer=original_recurrent(self.seed, 3),
                name="gate_recurrent_kernel",
            )
            self.gate_bias = self.add_weight(shape=(h,), initializer="zeros", name="gate_bias")
            self.candidate_kernel = self.add_weight(
                shape=(i, h), initializer=original_uniform(self.seed, 4), name="candidate_kernel"
            )
            self.candidate_bias = self.add_weight(
                shape=(h,), initializer="zeros", name="candidate_bias"
            )
        self.output_kernel = self.add_weight(
            shape=(h, o), initializer=original_uniform(self.seed, 5), name="output_kernel"
        )
        self.output_bias = self.add_weight(shape=(o,), initializer="zeros", name="output_bias")
        rate = dict(constraint=Between(0.0, 1.0), trainable=not self.legacy)
        self.beta_weight = self.add_weight(
            shape=(h,), initializer=keras.initializers.Constant(self.beta), name="beta", **rate
        )
        if not self.use_learnable_gates:
            self.alpha_weight = self.add_weight(
                shape=(h,), initializer=keras.initializers.Constant(self.alpha), name="alpha",
                **rate,
            )
        if self.use_output_memory:
            self.output_beta_weight = self.add_weight(
                shape=(o,), initializer=keras.initializers.Constant(self.output_beta),
                name="output_beta", **rate,
            )
        self.built = True

    def _loop_inputs(self, sequences, training=False):
        drives = [ops.matmul(sequences, self.kernel) + self.bias]
        if self.use_learnable_gates:
            drives.append(ops.matmul(sequences, self.gate_kernel) + self.gate_bias)
            drives.append(ops.tanh(ops.matmul(sequences, self.candidate_kernel) + self.candidate_bias))
        return tuple(drives)

    def _loop_constants(self, batch_size, training=False):
        names = ["output_kernel", "output_bias", "beta_weight"]
        if self.use_recurrent:
            names.append("recurrent_kernel")
        if self.use_learnable_gates:
            names.append("gate_recurrent_kernel")
        else:
            names.append("alpha_weight")
        if self.use_output_memory:
            names.append("output_beta_weight")
        constants = {name: ops.convert_to_tensor(getattr(self, name)) for name in names}
        if self.legacy and (self.use_recurrent or self.use_learnable_gates):
            constants["upper"] = memory_native.strictly_upper(self.units, self.compute_dtype)
        return constants

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        c = constants
        output, memory, y_prev = carry[:3]
        if self.legacy:
            y_prev2, output_prev2 = carry[3:5]
        drive = inputs[0] + memory
        if self.use_recurrent:
            if self.legacy:
                drive = drive + memory_native.sweep_recurrence(
                    y_prev, y_prev2, c["recurrent_kernel"], c["upper"]
                )
            else:
                drive = drive + ops.matmul(y_prev, c["recurrent_kernel"])
        n = ops.tanh(drive)
        if self.use_learnable_gates:
            gate_drive, candidate = inputs[1], inputs[2]
            if self.legacy:
                new_memory, gate = memory_native.sweep_gated_memory(
                    memory, gate_drive, c["gate_recurrent_kernel"], candidate, c["upper"], self.units
                )
            else:
                gate = ops.sigmoid(gate_drive + ops.matmul(memory, c["gate_recurrent_kernel"]))
                new_memory = memory_native.gated_memory(memory, gate, candidate)
        else:
            new_memory = memory_native.leaky_memory(memory, n, c["alpha_weight"])
        y = n + c["beta_weight"] * (y_prev2 if self.legacy else y_prev)
        activation = output_activation_fn(self.output_activation)
        new_output = activation(ops.matmul(y, c["output_kernel"]) + c["output_bias"])
        if self.use_output_memory:
            new_output = new_output + c["output_beta_weight"] * (
                output_prev2 if self.legacy else output
            )
        new = [new_output, new_memory, y]
        if self.legacy:
            # The original shifts the output echo register only when it uses it.
            new += [y_prev, output if self.use_output_memory else output_prev2]
        if self.use_learnable_gates:
            new.append(gate)
        new = tuple(new)
        if mask is not None:
            new = tuple(ops.where(mask, a, b) for a, b in zip(new, carry))
        return new[0], new, {}

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "output_units": self.output_units,
            "beta": self.beta,
            "alpha": self.alpha,
            "output_beta": self.output_beta,
            "use_recurrent": self.use_recurrent,
            "use_learnable_gates": self.use_learnable_gates,
            "use_output_memory": self.use_output_memory,
            "output_activation": self.output_activation,
            "legacy": self.legacy,
            "seed": self.seed,
        }
