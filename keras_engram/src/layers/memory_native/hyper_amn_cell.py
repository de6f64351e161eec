"""The Hyper-AMN cell: one step of the multi-head Adaptive Memory Network."""

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.between import Between
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision

# Fixed constants of the architecture (the original's).
NUM_HEADS = 3  # spatial, emotional, logical
HEAD_DECAYS = (0.990, 0.995, 0.999)  # the manifold decay gamma_j of each head
RIGIDITY_RANGES = ((0.3, 0.6), (0.5, 0.8), (0.7, 1.0))  # initial A_j ~ U(range)
FLUIDITY_RANGES = ((0.3, 0.7), (0.2, 0.5), (0.1, 0.3))  # initial B_j ~ U(range)
STATE_SHARE = 0.7  # s = 0.7 s + 0.3 tanh(manifold read)
GATE_STDDEV = 0.1  # gate kernels and off-diagonal cross-head weights ~ N(0, 0.1^2)


def _seed(seed, offset):
    return None if seed is None else seed + offset


def _normal(stddev, seed, offset):
    return keras.initializers.RandomNormal(0.0, stddev, seed=_seed(seed, offset))


def _per_head_uniform(ranges, seed, offset):
    """`(heads, units)`: row `j` drawn from `U(ranges[j])`."""

    def initializer(shape, dtype=None):
        rows = [
            keras.initializers.RandomUniform(low, high, seed=_seed(seed, offset + 17 * j))(
                (shape[1],), dtype=dtype
            )
            for j, (low, high) in enumerate(ranges)
        ]
        return ops.stack(rows)

    return initializer


def _cross_head(seed, offset):
    """`(heads, heads)`: ones on the diagonal, `N(0, 0.1^2)` elsewhere."""

    def initializer(shape, dtype=None):
        eye = ops.eye(shape[0], dtype=dtype)
        noise = _normal(GATE_STDDEV, seed, offset)(shape, dtype=dtype)
        return eye + (1.0 - eye) * noise

    return initializer


@register
class HyperAMNCell(MemoryCell):
    """Cell of the multi-head Adaptive Memory Network (Hyper-AMN): three gated manifold heads.

    Three heads (`J = 3`: "spatial", "emotional", "logical") share the input
    projection `u = x_t B_in` and the LRU eigenvalues `lambda` and differ in
    their liquid constants `A_j, B_j`, their manifold decays
    `gamma_j = 0.990, 0.995, 0.999` and their kernels `K_j, V_j, Q_j`. One
    step (row vectors, Keras orientation; all heads at once with `einsum`):

    1. The gate: `a = softmax(x_t G_x + mu G)` from the input and the
       previous merged state `mu`.
    2. Per head `j`: the LRU `s = lambda S_j + u`, one Euler step of the
       liquid ODE `s += dt (-(A_j + B_j |tanh s|) s + B_j tanh s)`, the
       Hebbian write `M_j[m, i] = gamma_j M_j[m, i] + k_m s_i V_j[i, m]` with
       `k = sigmoid(s K_j)`, then the read of the written manifold
       `rho = sigmoid(s Q_j) M_j` and `S'_j = 0.7 s + 0.3 tanh(rho)`.
    3. The cross-head mixing `S_j = sum_j' X[j, j'] S'_j'` (kept as the next
       step's head states), the merged state `mu = sum_j a_j S_j`, and the
       output `mu C + x_t D`.

    With `legacy=True` the gate is the original's `softmax(mu G)`: it sees
    only the previous step's merged state (so it is uniform on the first
    step after a reset) and there is no `G_x`. Every weight is trainable
    (`A_j, B_j` kept in [0, 1 / dt] so that the Euler step stays stable,
    `lambda` in [0, 1]); with `readout_only=True` only `C` is, as in the
    original (a fixed random reservoir with a trained linear readout of `mu`).
    `dt` and the `gamma_j` are fixed.

    States (each `(batch, size)`): `[y_hat, S, mu, M, a]`: the last output
    (masked steps in `keras.layers.RNN` repeat it), the head states
    `(3, units)` and the manifolds `(3, memory_size, units)` flattened
    row-major, the merged state, and the gate `a` of the last step (the
    head activations; zeros before the first step). Initial weights are the
    original's: `B_in ~ N(0, 2 / (inputs + units))`, `lambda ~ U(0.95, 0.99)`,
    `A_j, B_j ~ U` of the head's range (`A`: 0.3-0.6, 0.5-0.8, 0.7-1.0;
    `B`: 0.3-0.7, 0.2-0.5, 0.1-0.3), `K_j, V_j, Q_j ~ N(0, 1 / units)`,
    `G, G_x ~ N(0, 0.01)`, `X` ones on the diagonal and `N(0, 0.01)` off it,
    `C ~ N(0, 2 / (units + outputs))`, `D` 0.1 times that.

    Args:
        units: positive int, number of hidden units per head.
        output_units: positive int, width of the output.
        memory_size: positive int, number of manifold rows per head.
        dt: positive float, the liquid integration step.
        readout_only: bool, train only the readout `C`.
        legacy: bool, the original's gate timing (see above).
        seed: int or None, seeds the weight initialisers.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import HyperAMNCell
    >>> rnn = keras.layers.RNN(HyperAMNCell(units=8, output_units=1, memory_size=4))
    >>> tuple(rnn(np.ones((3, 5, 2), "float32")).shape)
    (3, 1)
    """

    def __init__(
        self,
        units,
        output_units,
        memory_size=64,
        dt=0.1,
        readout_only=False,
        legacy=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.units = validation.positive_int("units", units)
        self.output_units = validation.positive_int("output_units", output_units)
        self.memory_size = validation.positive_int("memory_size", memory_size)
        self.dt = validation.positive_float("dt", dt)
        self.readout_only = validation.boolean("readout_only", readout_only)
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        self.heads = NUM_HEADS
        self.input_dim = None

    @property
    def state_size(self):
        j, h, m = self.heads, self.units, self.memory_size
        return [self.output_units, j * h, h, j * m * h, j]

    @property
    def output_size(self):
        return self.output_units

    def heads_as_matrix(self, heads_flat):
        """The flat head states `(batch, 3 * units)` as `(batch, 3, units)`."""
        return ops.reshape(heads_flat, (-1, self.heads, self.units))

    def manifolds_as_tensor(self, manifolds_flat):
        """The flat manifolds `(batch, 3 * memory_size * units)` as `(batch, 3, memory_size, units)`."""
        return ops.reshape(manifolds_flat, (-1, self.heads, self.memory_size, self.units))

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Expected the last dimension of the input to be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        i, h, o, m, j = self.input_dim, self.units, self.output_units, self.memory_size, self.heads
        seed, inner = self.seed, not self.readout_only
        self.input_kernel = self.add_weight(
            shape=(i, h), initializer=_normal((2.0 / (i + h)) ** 0.5, seed, 0),
            trainable=inner, name="input_kernel",
        )
        self.eigenvalues = self.add_weight(
            shape=(h,), initializer=keras.initializers.RandomUniform(0.95, 0.99, _seed(seed, 1)),
            constraint=Between(0.0, 1.0), trainable=inner, name="eigenvalues",
        )
        bound = Between(0.0, 1.0 / self.dt)
        self.rigidity = self.add_weight(
            shape=(j, h), initializer=_per_head_uniform(RIGIDITY_RANGES, seed, 2),
            constraint=bound, trainable=inner, name="rigidity",
        )
        self.fluidity = self.add_weight(
            shape=(j, h), initializer=_per_head_uniform(FLUIDITY_RANGES, seed, 3),
            constraint=bound, trainable=inner, name="fluidity",
        )
        for offset, name in enumerate(("key_kernel", "value_kernel", "query_kernel")):
            setattr(self, name, self.add_weight(
                shape=(j, h, m), initializer=_normal((1.0 / h) ** 0.5, seed, 4 + offset),
                trainable=inner, name=name,
            ))
        self.gate_kernel = self.add_weight(
            shape=(h, j), initializer=_normal(GATE_STDDEV, seed, 7), trainable=inner,
            name="gate_kernel",
        )
        self.gate_input_kernel = None
        if not self.legacy:
            self.gate_input_kernel = self.add_weight(
                shape=(i, j), initializer=_normal(GATE_STDDEV, seed, 8), trainable=inner,
                name="gate_input_kernel",
            )
        self.cross_head_kernel = self.add_weight(
            shape=(j, j), initializer=_cross_head(seed, 9), trainable=inner,
            name="cross_head_kernel",
        )
        scale = (2.0 / (h + o)) ** 0.5
        self.output_kernel = self.add_weight(
            shape=(h, o), initializer=_normal(scale, seed, 10), name="output_kernel"
        )
        self.skip_kernel = self.add_weight(
            shape=(i, o), initializer=_normal(0.1 * scale, seed, 11), trainable=inner,
            name="skip_kernel",
        )
        self.built = True

    def _loop_inputs(self, sequences, training=False):
        drive = ops.matmul(sequences, self.input_kernel)
        skip = ops.matmul(sequences, self.skip_kernel)
        if self.legacy:
            return drive, skip
        return drive, skip, ops.matmul(sequences, self.gate_input_kernel)

    def _loop_constants(self, batch_size, training=False):
        names = (
            "eigenvalues", "rigidity", "fluidity", "key_kernel", "value_kernel",
            "query_kernel", "gate_kernel", "cross_head_kernel", "output_kernel",
        )
        constants = {name: ops.convert_to_tensor(getattr(self, name)) for name in names}
        constants["decay"] = ops.convert_to_tensor(HEAD_DECAYS, dtype=self.variable_dtype)
        return constants

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        c = constants
        output, heads_flat, merged, manifolds_flat, _ = carry
        heads = self.heads_as_matrix(heads_flat)
        manifolds = self.manifolds_as_tensor(manifolds_flat)
        if self.legacy:
            drive, skip = inputs
            gate_logits = ops.matmul(merged, c["gate_kernel"])
        else:
            drive, skip, gate_drive = inputs
            gate_logits = gate_drive + ops.matmul(merged, c["gate_kernel"])
        gate = ops.softmax(gate_logits, axis=-1)
        # Per head: the LRU, then one Euler step of the liquid ODE.
        s = c["eigenvalues"] * heads + ops.expand_dims(drive, 1)
        phi = ops.tanh(s)
        decay = c["rigidity"] + c["fluidity"] * ops.abs(phi)
        s = memory_native.liquid_step_euler(s, phi, decay, c["fluidity"], self.dt)
        # The manifold: write first, then read what was written.
        key = ops.sigmoid(ops.einsum("bjh,jhm->bjm", s, c["key_kernel"]))
        manifolds = memory_native.keyed_state_write(
            manifolds, key, s, c["value_kernel"], c["decay"]
        )
        query = ops.sigmoid(ops.einsum("bjh,jhm->bjm", s, c["query_kernel"]))
        read = ops.einsum("bjm,bjmh->bjh", query, manifolds)
        s = STATE_SHARE * s + (1.0 - STATE_SHARE) * ops.tanh(read)
        heads = ops.einsum("jk,bkh->bjh", c["cross_head_kernel"], s)
        merged = ops.einsum("bj,bjh->bh", gate, heads)
        new_output = ops.matmul(merged, c["output_kernel"]) + skip
        j, h, m = self.heads, self.units, self.memory_size
        new = (
            new_output, ops.reshape(heads, (-1, j * h)), merged,
            ops.reshape(manifolds, (-1, j * m * h)), gate,
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
            "dt": self.dt,
            "readout_only": self.readout_only,
            "legacy": self.legacy,
            "seed": self.seed,
        }
