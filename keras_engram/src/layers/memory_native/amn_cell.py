"""The AMN cell: one step of the Adaptive Memory Network."""

from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.between import Between
from keras_engram.src.layers.memory_native.initializers import seeded_normal as _normal
from keras_engram.src.layers.memory_native.initializers import seeded_uniform as _uniform
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision

# Fixed constants of the architecture (the original's).
LRU_SHARE = 0.7  # h = 0.7 r + 0.3 (manifold read)
WRITE_SCALE = 0.01  # scale of the Hebbian manifold write
MANIFOLD_BOUND = 5.0  # the manifold's bound (legacy: hard clip; otherwise soft)
LEGACY_STATE_CLIP = 10.0
LEGACY_OUTPUT_CLIP = 100.0
MIN_RIGIDITY = 1e-3  # keeps every time constant finite


@register
class AMNCell(MemoryCell):
    """Cell of the Adaptive Memory Network (AMN): liquid time constants, a diagonal LRU, a manifold.

    One step, for input `x_t` (row vectors, Keras orientation; `A`, `B_f`,
    `lambda` per unit; `M` the `(memory_size, units)` manifold):

    1. `f = tanh(x_t B_in)`, `d = A + B_f |f|` (the liquid decay rate, `tau = 1 / d`).
    2. The liquid state solves `dc/dt = -d c + B_f f` exactly over `dt`:
       `c' = e^{-dt d} c + (1 - e^{-dt d}) B_f f / d`.
    3. The diagonal linear recurrent unit: `r' = lambda r + (1 - lambda) c'`.
    4. The manifold read: `q = tanh(r' Q)`, `h = 0.7 r' + 0.3 q M`.
    5. The output: `y = h C + x_t D`.
    6. The Hebbian write: `k = sigmoid(h K)`, `v = h V`,
       `M' = 5 tanh((gamma M + 0.01 (k v) (outer) h) / 5)`.

    The liquid state integrates its own previous value and the LRU's input
    is scaled by `1 - lambda`, so every state stays bounded (`|c|` and
    `|r|` by `max |B_f f / d|`, the manifold by 5) for any weights. `A`
    (at least 1e-3), `B_f` (non-negative) and `lambda` (in [0, 1]) are
    trainable weights with those constraints, initialised to the
    original's ranges: `A ~ U(0.5, 1)`, `B_f ~ U(0.1, 0.4)`,
    `lambda ~ U(0.95, 0.99)`.

    With `legacy=True` the cell computes the forward step of the original
    C implementation instead: one explicit Euler step from the mixed state
    `h` (`c' = clip(h + dt (-d h + B_f f), -10, 10)`), `r' = clip(lambda r + c',
    -10, 10)`, the output clipped to [-100, 100], the manifold hard-clipped
    to [-5, 5], and `A`, `B_f`, `lambda` fixed. That loop has a gain above
    one per step and drives `r` to its clip within tens of steps.

    States (each `(batch, size)`): `[y, c, r, M]` (legacy: `[y, h, r, M]`,
    the state the original's liquid step reads), `M` flattened to
    `memory_size * units` (row-major, `(memory_size, units)`). The first is
    the last output, so masked steps in `keras.layers.RNN` repeat it on
    every backend. Kernels start from the original's Gaussians:
    `B_in ~ N(0, 2 / (inputs + units))`, `C ~ N(0, 2 / (units + outputs))`,
    `D` 0.1 times that, `Q, K, V ~ N(0, 1 / units)`.

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output.
        memory_size: positive int, number of manifold rows.
        dt: positive float, the liquid integration step.
        memory_decay: float in [0, 1], the manifold's decay `gamma` per step.
        legacy: bool, the original's forward step (see above).
        seed: int or None, seeds the weight initialisers.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import AMNCell
    >>> rnn = keras.layers.RNN(AMNCell(units=8, output_units=1, memory_size=4))
    >>> tuple(rnn(np.ones((3, 5, 2), "float32")).shape)
    (3, 1)
    """

    def __init__(
        self,
        units,
        output_units,
        memory_size=64,
        dt=0.1,
        memory_decay=0.995,
        legacy=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.units = validation.positive_int("units", units)
        self.output_units = validation.positive_int("output_units", output_units)
        self.memory_size = validation.positive_int("memory_size", memory_size)
        self.dt = validation.positive_float("dt", dt)
        self.memory_decay = validation.float_in_range("memory_decay", memory_decay, 0.0, 1.0)
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        self.input_dim = None

    @property
    def state_size(self):
        return [self.output_units, self.units, self.units, self.memory_size * self.units]

    @property
    def output_size(self):
        return self.output_units

    def manifold_as_matrix(self, manifold):
        """The flat manifold state `(batch, memory_size * units)` as `(batch, memory_size, units)`."""
        return ops.reshape(manifold, (-1, self.memory_size, self.units))

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                "Expected the last dimension of the input to be defined. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        i, h, o, m = self.input_dim, self.units, self.output_units, self.memory_size
        seed, learned = self.seed, not self.legacy
        self.input_kernel = self.add_weight(
            shape=(i, h), initializer=_normal(1.0, "fan_avg", seed, 0), name="input_kernel"
        )
        self.rigidity = self.add_weight(
            shape=(h,), initializer=_uniform(0.5, 1.0, seed, 1), trainable=learned,
            constraint=Between(MIN_RIGIDITY, None), name="rigidity",
        )
        self.fluidity = self.add_weight(
            shape=(h,), initializer=_uniform(0.1, 0.4, seed, 2), trainable=learned,
            constraint=Between(0.0, None), name="fluidity",
        )
        self.eigenvalues = self.add_weight(
            shape=(h,), initializer=_uniform(0.95, 0.99, seed, 3), trainable=learned,
            constraint=Between(0.0, 1.0), name="eigenvalues",
        )
        fan = 2.0 / (h + o)
        self.output_kernel = self.add_weight(
            shape=(h, o), initializer=_normal(1.0, "fan_avg", seed, 4), name="output_kernel"
        )
        # N(0, 0.1^2 * 2 / (units + outputs)): VarianceScaling over fan_in = inputs.
        self.skip_kernel = self.add_weight(
            shape=(i, o), initializer=_normal(0.01 * fan * i, "fan_in", seed, 5), name="skip_kernel"
        )
        self.query_kernel = self.add_weight(
            shape=(h, m), initializer=_normal(1.0, "fan_in", seed, 6), name="query_kernel"
        )
        self.key_kernel = self.add_weight(
            shape=(h, m), initializer=_normal(1.0, "fan_in", seed, 7), name="key_kernel"
        )
        self.value_kernel = self.add_weight(
            shape=(h, m), initializer=_normal(1.0, "fan_in", seed, 8), name="value_kernel"
        )
        self.built = True

    def _loop_inputs(self, sequences, training=False):
        f = ops.tanh(ops.matmul(sequences, self.input_kernel))
        skip = ops.matmul(sequences, self.skip_kernel)
        if self.legacy:
            return f, skip
        # The exact liquid step's coefficients depend on the input only.
        retention, drive = memory_native.liquid_coefficients(
            f, self.rigidity, self.fluidity, self.dt
        )
        return retention, drive, skip

    def _loop_constants(self, batch_size, training=False):
        names = (
            "rigidity", "fluidity", "eigenvalues", "output_kernel",
            "query_kernel", "key_kernel", "value_kernel",
        )
        return {name: ops.convert_to_tensor(getattr(self, name)) for name in names}

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        c = constants
        output, liquid, lru, manifold_flat = carry
        manifold = self.manifold_as_matrix(manifold_flat)
        if self.legacy:
            f, skip = inputs
            decay = c["rigidity"] + c["fluidity"] * ops.abs(f)
            liquid = memory_native.liquid_step_euler(liquid, f, decay, c["fluidity"], self.dt)
            liquid = ops.clip(liquid, -LEGACY_STATE_CLIP, LEGACY_STATE_CLIP)
            lru = ops.clip(c["eigenvalues"] * lru + liquid, -LEGACY_STATE_CLIP, LEGACY_STATE_CLIP)
        else:
            retention, drive, skip = inputs
            liquid = retention * liquid + drive
            lru = c["eigenvalues"] * lru + (1.0 - c["eigenvalues"]) * liquid
        query = ops.tanh(ops.matmul(lru, c["query_kernel"]))
        hidden = LRU_SHARE * lru + (1.0 - LRU_SHARE) * memory_native.manifold_read(query, manifold)
        new_output = ops.matmul(hidden, c["output_kernel"]) + skip
        key = ops.sigmoid(ops.matmul(hidden, c["key_kernel"]))
        value = ops.matmul(hidden, c["value_kernel"])
        manifold = memory_native.manifold_write(
            manifold, key, value, hidden, self.memory_decay, WRITE_SCALE
        )
        if self.legacy:
            new_output = ops.clip(new_output, -LEGACY_OUTPUT_CLIP, LEGACY_OUTPUT_CLIP)
            manifold = ops.clip(manifold, -MANIFOLD_BOUND, MANIFOLD_BOUND)
            # The original's liquid step reads the mixed state next time.
            liquid = hidden
        else:
            manifold = memory_native.soft_clip(manifold, MANIFOLD_BOUND)
        new = (
            new_output, liquid, lru,
            ops.reshape(manifold, (-1, self.memory_size * self.units)),
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
            "memory_decay": self.memory_decay,
            "legacy": self.legacy,
            "seed": self.seed,
        }
