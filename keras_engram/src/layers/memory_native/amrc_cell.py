"""The AMRC cell: one step of the Adaptive Memory Recurrent Cell."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.between import Between
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision

OUTPUT_ACTIVATIONS = ("tanh", "linear")
# The originals clip the kernels to [-5, 5] after every update.
LEGACY_KERNEL_BOUND = 5.0


def original_uniform(seed, offset):
    """The originals' kernel initialiser, `U(-s, s)` with `s = sqrt(2 / (fan_in + fan_out))`."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_avg", distribution="uniform",
        seed=None if seed is None else seed + offset,
    )


def output_activation_fn(name):
    return ops.tanh if name == "tanh" else (lambda z: z)


@register
class AMRCCell(MemoryCell):
    """Cell of the Adaptive Memory Recurrent Cell (AMRC): a tanh layer with leaky memory and echo.

    One step, for input `x_t` (row vectors, Keras orientation):

    1. `n = tanh(x_t W + b + m)`: the memory `m` enters as an extra bias.
    2. `y = n + beta * y_prev`: the echo of the previous hidden output.
    3. `m' = (1 - alpha) * m + alpha * n`: the per-unit leaky memory.
    4. `o = tanh(y W_o + b_o)` (or linear with `output_activation="linear"`).

    `beta` and `alpha` are per-unit trainable weights, kept in [0, 1] by a
    constraint and initialised to the given values. With `legacy=True` the
    cell computes the forward step of the original C implementation
    instead: the echo reads the hidden output of two steps back
    (`y_{t-2}`), `beta` and `alpha` are fixed, and the kernels are clipped
    to [-5, 5] after each update (a constraint).

    The states are `[o, m, y_prev]` (legacy: `[o, m, y_prev, y_prev2]`),
    each `(batch, size)`; the first is the last output, so masked steps in
    `keras.layers.RNN` repeat it on every backend. The kernels start from
    the original's distribution, `U(-s, s)` with
    `s = sqrt(2 / (fan_in + fan_out))`, biases from zero.

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output layer.
        beta: float in [0, 1], echo strength (initial value when learned).
        alpha: float in [0, 1], memory update rate (initial value when learned).
        output_activation: `"tanh"` (the original's) or `"linear"`.
        legacy: bool, the original's forward step (see above).
        seed: int or None, seeds the weight initialisers.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import AMRCCell
    >>> rnn = keras.layers.RNN(AMRCCell(units=8, output_units=2), return_sequences=True)
    >>> tuple(rnn(np.ones((3, 5, 4), "float32")).shape)
    (3, 5, 2)
    """

    def __init__(
        self,
        units,
        output_units,
        beta=0.3,
        alpha=0.1,
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
        self.output_activation = validation.one_of(
            "output_activation", output_activation, OUTPUT_ACTIVATIONS
        )
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        self.input_dim = None

    @property
    def state_size(self):
        sizes = [self.output_units, self.units, self.units]
        return sizes + [self.units] if self.legacy else sizes

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
        clip = Between(-LEGACY_KERNEL_BOUND, LEGACY_KERNEL_BOUND) if self.legacy else None
        self.kernel = self.add_weight(
            shape=(self.input_dim, self.units), initializer=original_uniform(self.seed, 0),
            constraint=clip, name="kernel",
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.output_kernel = self.add_weight(
            shape=(self.units, self.output_units), initializer=original_uniform(self.seed, 1),
            constraint=clip, name="output_kernel",
        )
        self.output_bias = self.add_weight(
            shape=(self.output_units,), initializer="zeros", name="output_bias"
        )
        rate = dict(shape=(self.units,), constraint=Between(0.0, 1.0), trainable=not self.legacy)
        self.beta_weight = self.add_weight(
            initializer=keras.initializers.Constant(self.beta), name="beta", **rate
        )
        self.alpha_weight = self.add_weight(
            initializer=keras.initializers.Constant(self.alpha), name="alpha", **rate
        )
        self.built = True

    def _loop_inputs(self, sequences, training=False):
        return (ops.matmul(sequences, self.kernel) + self.bias,)

    def _loop_constants(self, batch_size, training=False):
        return {
            "output_kernel": ops.convert_to_tensor(self.output_kernel),
            "output_bias": ops.convert_to_tensor(self.output_bias),
            "beta": ops.convert_to_tensor(self.beta_weight),
            "alpha": ops.convert_to_tensor(self.alpha_weight),
        }

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        (drive,) = inputs
        if self.legacy:
            output, memory, y_prev, y_prev2 = carry
            echo = y_prev2
        else:
            output, memory, y_prev = carry
            echo = y_prev
        n = ops.tanh(drive + memory)
        y = n + constants["beta"] * echo
        new_memory = memory_native.leaky_memory(memory, n, constants["alpha"])
        activation = output_activation_fn(self.output_activation)
        new_output = activation(ops.matmul(y, constants["output_kernel"]) + constants["output_bias"])
        new = (new_output, new_memory, y, y_prev) if self.legacy else (new_output, new_memory, y)
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
            "output_activation": self.output_activation,
            "legacy": self.legacy,
            "seed": self.seed,
        }
