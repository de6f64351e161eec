"""The DTPN cell: one step of the Dual-Track Persistence Network."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.between import Between
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision


def _normal(stddev, seed, offset):
    return keras.initializers.RandomNormal(
        0.0, stddev, seed=None if seed is None else seed + offset
    )


@register
class DTPNCell(MemoryCell):
    """Cell of the Dual-Track Persistence Network (DTPN): an echo, a leaky memory, a memory matrix.

    One step, for input `x_t` (row vectors, Keras orientation; `beta`,
    `alpha` per unit, `gamma` per memory row, `Mem` the
    `(memory_size, units)` memory matrix):

    1. `y = tanh(x_t W_in + h U) + beta * e`: the activation plus the echo
       `e` of the previous step's `y`.
    2. `n' = (1 - alpha) n + alpha y`: the per-unit leaky memory.
    3. `k = sigmoid(y K)`, `Mem'[m] = gamma_m Mem[m] + k_m V[m]`: each memory
       row decays and gains its fixed content row `V[m]`, gated by the key.
    4. The read, after the write: `rho = (1 / M) sum_m Mem'[m]` (the row
       average), or with `query_read=True` `rho = (1 / M) sigmoid(y Q) Mem'`.
    5. `h' = tanh(y + n' + rho)`, `e' = y`, the output `h' W_out + b_out`.

    The original's step is already causal (its echo is one step old), so
    `legacy=True` computes the same step; it keeps `beta`, `alpha` and
    `gamma` fixed at their initial values, as the original does, and rules
    out the query read. Otherwise `beta`, `alpha` (per unit) and `gamma`
    (per memory row) are trainable weights kept in [0, 1]. With
    `readout_only=True` only `W_out` and `b_out` are trainable (a reservoir
    with a trained linear readout).

    States (each `(batch, size)`): `[y_hat, h, e, n, Mem]`, the first the
    last output (masked steps in `keras.layers.RNN` repeat it), `Mem`
    flattened row-major to `memory_size * units`. Kernels start from the
    original's Gaussians: `W_in ~ N(0, 2 / (inputs + units))`,
    `U, K, V (and Q) ~ N(0, 1 / units)`, `W_out ~ N(0, 2 / (units + outputs))`,
    `b_out = 0`.

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output.
        memory_size: positive int, rows of the memory matrix.
        beta: float in [0, 1], echo strength (initial value unless legacy).
        alpha: float in [0, 1], rate of the leaky memory (initial value unless legacy).
        memory_decay: float in [0, 1], the memory matrix's decay `gamma` per
            step (initial value unless legacy).
        query_read: bool, read the memory matrix with a learned query instead
            of the row average.
        readout_only: bool, train only the readout (`W_out`, `b_out`).
        legacy: bool, the original's fixed `beta`, `alpha`, `gamma`.
        seed: int or None, seeds the weight initialisers.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import DTPNCell
    >>> rnn = keras.layers.RNN(DTPNCell(units=8, output_units=1, memory_size=4))
    >>> tuple(rnn(np.ones((3, 5, 2), "float32")).shape)
    (3, 1)
    """

    def __init__(
        self,
        units,
        output_units,
        memory_size=32,
        beta=0.3,
        alpha=0.1,
        memory_decay=0.99,
        query_read=False,
        readout_only=False,
        legacy=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.units = validation.positive_int("units", units)
        self.output_units = validation.positive_int("output_units", output_units)
        self.memory_size = validation.positive_int("memory_size", memory_size)
        self.beta = validation.float_in_range("beta", beta, 0.0, 1.0)
        self.alpha = validation.float_in_range("alpha", alpha, 0.0, 1.0)
        self.memory_decay = validation.float_in_range("memory_decay", memory_decay, 0.0, 1.0)
        self.query_read = validation.boolean("query_read", query_read)
        self.readout_only = validation.boolean("readout_only", readout_only)
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        if self.legacy and self.query_read:
            raise ValueError(
                "Expected `query_read=False` with `legacy=True` (the original reads the row "
                f"average). Received: query_read={query_read}"
            )
        self.input_dim = None

    @property
    def state_size(self):
        h = self.units
        return [self.output_units, h, h, h, self.memory_size * h]

    @property
    def output_size(self):
        return self.output_units

    def memory_as_matrix(self, memory):
        """The flat memory state `(batch, memory_size * units)` as `(batch, memory_size, units)`."""
        return ops.reshape(memory, (-1, self.memory_size, self.units))

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Expected the last dimension of the input to be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        i, h, o, m = self.input_dim, self.units, self.output_units, self.memory_size
        seed, inner = self.seed, not self.readout_only
        self.input_kernel = self.add_weight(
            shape=(i, h), initializer=_normal((2.0 / (i + h)) ** 0.5, seed, 0),
            trainable=inner, name="input_kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(h, h), initializer=_normal((1.0 / h) ** 0.5, seed, 1),
            trainable=inner, name="recurrent_kernel",
        )
        self.key_kernel = self.add_weight(
            shape=(h, m), initializer=_normal((1.0 / h) ** 0.5, seed, 2),
            trainable=inner, name="key_kernel",
        )
        self.value_kernel = self.add_weight(
            shape=(m, h), initializer=_normal((1.0 / h) ** 0.5, seed, 3),
            trainable=inner, name="value_kernel",
        )
        self.query_kernel = None
        if self.query_read:
            self.query_kernel = self.add_weight(
                shape=(h, m), initializer=_normal((1.0 / h) ** 0.5, seed, 4),
                trainable=inner, name="query_kernel",
            )
        self.output_kernel = self.add_weight(
            shape=(h, o), initializer=_normal((2.0 / (h + o)) ** 0.5, seed, 5),
            name="output_kernel",
        )
        self.output_bias = self.add_weight(shape=(o,), initializer="zeros", name="output_bias")
        learned = inner and not self.legacy
        rate = dict(constraint=Between(0.0, 1.0), trainable=learned)
        self.beta_weight = self.add_weight(
            shape=(h,), initializer=keras.initializers.Constant(self.beta), name="beta", **rate
        )
        self.alpha_weight = self.add_weight(
            shape=(h,), initializer=keras.initializers.Constant(self.alpha), name="alpha", **rate
        )
        self.decay_weight = self.add_weight(
            shape=(m,), initializer=keras.initializers.Constant(self.memory_decay),
            name="memory_decay", **rate,
        )
        self.built = True

    def _loop_inputs(self, sequences, training=False):
        return (ops.matmul(sequences, self.input_kernel),)

    def _loop_constants(self, batch_size, training=False):
        names = {
            "recurrent_kernel": self.recurrent_kernel, "key_kernel": self.key_kernel,
            "value_kernel": self.value_kernel, "output_kernel": self.output_kernel,
            "output_bias": self.output_bias, "beta": self.beta_weight,
            "alpha": self.alpha_weight, "memory_decay": self.decay_weight,
        }
        if self.query_read:
            names["query_kernel"] = self.query_kernel
        return {name: ops.convert_to_tensor(w) for name, w in names.items()}

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        c = constants
        (drive,) = inputs
        output, hidden, echo, neuron, memory_flat = carry
        memory = self.memory_as_matrix(memory_flat)
        y = ops.tanh(drive + ops.matmul(hidden, c["recurrent_kernel"])) + c["beta"] * echo
        neuron = memory_native.leaky_memory(neuron, y, c["alpha"])
        key = ops.sigmoid(ops.matmul(y, c["key_kernel"]))
        memory = memory_native.row_gated_write(memory, key, c["value_kernel"], c["memory_decay"])
        if self.query_read:
            query = ops.sigmoid(ops.matmul(y, c["query_kernel"]))
            read = memory_native.manifold_read(query, memory) / self.memory_size
        else:
            read = ops.mean(memory, axis=1)
        hidden = ops.tanh(y + neuron + read)
        new_output = ops.matmul(hidden, c["output_kernel"]) + c["output_bias"]
        new = (
            new_output, hidden, y, neuron,
            ops.reshape(memory, (-1, self.memory_size * self.units)),
        )
        if mask is not None:
            new = tuple(ops.where(mask, a, b) for a, b in zip(new, carry))
        return new[0], new, {}

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "output_units": self.output_units,
            "memory_size": self.memory_size,
            "beta": self.beta,
            "alpha": self.alpha,
            "memory_decay": self.memory_decay,
            "query_read": self.query_read,
            "readout_only": self.readout_only,
            "legacy": self.legacy,
            "seed": self.seed,
        }
