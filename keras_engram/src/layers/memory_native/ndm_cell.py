"""The NDM cell: one step of the Neural Differential Manifold (three variants)."""

import math

import keras
from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.initializers import seeded_normal as _normal
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision

VARIANTS = ("ndm", "clamped", "momentum")
# Per variant: the liquid step dt, the Hebbian strength eta, the weight decay lambda.
VARIANT_DEFAULTS = {
    "ndm": {"dt": 0.1, "hebbian_strength": 0.1, "weight_decay": 1e-4},
    "clamped": {"dt": 0.05, "hebbian_strength": 0.05, "weight_decay": 1e-3},
    "momentum": {"dt": 0.1, "hebbian_strength": 0.1, "weight_decay": 1e-4},
}
# The clamped variant's bounds: drives and sigmoid/tanh arguments, the state
# and its derivative, the traces, the Hebbian terms and weight derivatives,
# the plastic weights, the output.
DRIVE_BOUND = 20.0
STATE_BOUND = 5.0
TRACE_BOUND = 2.0
DERIVATIVE_BOUND = 5.0
WEIGHT_BOUND = 10.0
OUTPUT_BOUND = 20.0


def _excess(w, bound):
    """`w - clip(w, -bound, bound)`: zero within the bound."""
    return w - ops.clip(w, -bound, bound)


@register
class NDMCell(MemoryCell):
    """Cell of the Neural Differential Manifold (NDM): a leaky RNN with Hebbian fast weights and a manifold.

    The input and recurrent weights are `W_in = W_in0 + dW_in` and
    `W_h = W_h0 + dW_h`: trainable base weights plus per-sample fast weights
    `dW` that the Hebbian rule changes at every step and that live in the
    state (zero at the start), so a call never changes a weight of the
    layer. One step, for input `x_t` (row vectors, Keras orientation):

    1. The manifold write, then read: `k = sigmoid(h K)`,
       `M[m, i] <- gamma M[m, i] + (1 - gamma) k_m h_i V[i, m]` (an
       average of the writes, bounded by `max |h V|`), `q = sigmoid(h Q)`,
       `rho = q M`.
    2. `hdot = -h + tanh(x_t W_in + h W_h + rho)`, `h' = h + dt hdot`.
    3. The traces: `pre' = kappa pre + (1 - kappa) |h'|`,
       `post' = kappa post + (1 - kappa) |hdot|`.
    4. The weight derivatives, with the plasticity `P` decayed by
       `delta^n` after `n` steps since the memory was last reset:
       `Wdot_in = P_in delta^n (eta x_t (outer) post' - lambda W_in)`,
       `Wdot_h = P_h delta^n (eta pre' (outer) post' - lambda W_h)`.
    5. `variant="ndm"`: `dW <- dW + dt Wdot`. `variant="momentum"`:
       `U <- mu U + dt base_plasticity Wdot`, `dW <- dW + U` (velocities `U`
       in the state). `variant="clamped"`: as `"ndm"`, with the bounds of
       the original's clamped file as smooth bounds `b tanh(z / b)`: the
       input and recurrent drives, the read and their sum (20), `hdot` and
       `h'` (5), the traces (2), the Hebbian terms and `Wdot` (5) and the
       output (20); the plastic weights `W0 + dW` are clipped to [-10, 10]
       (a weight clip: a smooth bound applied at every step would shrink
       every weight towards zero).
    6. The output `y = h' W_out` (no bias).

    The plasticity `P_in (inputs, units)`, `P_h (units, units)` are
    non-trainable weights (the original's masks: `U(0.5, 1)` for `"ndm"`,
    0.01 for `"clamped"`, 1.0 for `"momentum"`); inside the memory they only
    decay. The estimator `keras_engram.memory_native.NeuralDifferentialManifold`
    adds the original's loss-driven boost during `fit` and, on request,
    folds the fast weights into the base weights.

    By default the Hebbian increments are a local rule: `Wdot` is wrapped in
    `stop_gradient`, and backpropagation through time reaches `W_in0`,
    `W_h0`, `K`, `V`, `Q` and `W_out` through the forward computation only.
    With `differentiable_plasticity=True` the gradient also flows through
    the fast weights' updates. With `readout_only=True` only `W_out` is
    trainable (the originals' training regime).

    `legacy=True` gives the originals' forward step: the manifold write is
    not scaled (`k_m h_i V[i, m]`: ~`1 / (1 - gamma)` times larger, which
    saturates the tanh), `"clamped"` and `"momentum"` never write their
    manifold (it stays zero), and the clamped variant's bounds are hard
    clips (zero gradient where they act).

    States (each `(batch, size)`), in order: `[y, h, pre, post, dW_in
    (inputs * units), dW_h (units * units)]`, then for `"momentum"` the
    velocities `[U_in (inputs * units), U_h (units * units)]`, then
    `[M (memory_size * units), n (1), v (1)]`: the manifold, the step count
    since the memory was reset and the mean weight velocity of the last
    step (`mean |Wdot|` over both matrices; `"momentum"`: `mean |U|`).
    Matrices are flattened row-major. The first state is the last output,
    so masked steps in `keras.layers.RNN` repeat it.

    Args:
        units: positive int, number of hidden units.
        output_units: positive int, width of the output.
        memory_size: positive int, number of manifold rows.
        variant: `"ndm"`, `"clamped"` or `"momentum"`.
        dt: positive float or None (the variant's: 0.1, 0.05, 0.1), the
            integration step of the state and of the weights.
        hebbian_strength: float >= 0 or None (0.1, 0.05, 0.1), `eta`.
        weight_decay: float >= 0 or None (1e-4, 1e-3, 1e-4), `lambda`.
        trace_decay: float in [0, 1], `kappa`.
        memory_decay: float in [0, 1], the manifold's decay `gamma`.
        plasticity_decay: float in [0, 1], `delta`.
        momentum: float in [0, 1), `mu` of `"momentum"`.
        base_plasticity: float >= 0, the weight step of `"momentum"`
            (`dt * base_plasticity` scales `Wdot`).
        differentiable_plasticity: bool, let gradients flow through the
            Hebbian updates.
        readout_only: bool, only `W_out` is trainable.
        legacy: bool, the originals' forward step (see above).
        seed: int or None, seeds the weight initialisers.
        input_units: positive int or None, the input width. The state sizes
            depend on it, so `keras.layers.RNN(NDMCell(...))` needs it; the
            `NDM` layer finds it when it is built.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import NDMCell
    >>> cell = NDMCell(units=4, output_units=1, memory_size=3, input_units=2)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.ones((2, 5, 2), "float32")).shape)
    (2, 1)
    """

    def __init__(
        self,
        units,
        output_units,
        memory_size=64,
        variant="ndm",
        dt=None,
        hebbian_strength=None,
        weight_decay=None,
        trace_decay=0.95,
        memory_decay=0.995,
        plasticity_decay=0.999,
        momentum=0.9,
        base_plasticity=0.01,
        differentiable_plasticity=False,
        readout_only=False,
        legacy=False,
        seed=None,
        input_units=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.units = validation.positive_int("units", units)
        self.output_units = validation.positive_int("output_units", output_units)
        self.memory_size = validation.positive_int("memory_size", memory_size)
        if not isinstance(variant, str):
            raise TypeError(f"Expected `variant` to be a str. Received: variant={variant!r}")
        self.variant = validation.one_of("variant", variant, VARIANTS)
        defaults = VARIANT_DEFAULTS[self.variant]
        self.dt = validation.positive_float("dt", defaults["dt"] if dt is None else dt)
        self.hebbian_strength = validation.float_in_range(
            "hebbian_strength",
            defaults["hebbian_strength"] if hebbian_strength is None else hebbian_strength, 0.0, None,
        )
        self.weight_decay = validation.float_in_range(
            "weight_decay", defaults["weight_decay"] if weight_decay is None else weight_decay,
            0.0, None,
        )
        self.trace_decay = validation.float_in_range("trace_decay", trace_decay, 0.0, 1.0)
        self.memory_decay = validation.float_in_range("memory_decay", memory_decay, 0.0, 1.0)
        self.plasticity_decay = validation.float_in_range(
            "plasticity_decay", plasticity_decay, 0.0, 1.0
        )
        self.momentum = validation.rate("momentum", momentum)
        self.base_plasticity = validation.float_in_range("base_plasticity", base_plasticity, 0.0, None)
        self.differentiable_plasticity = validation.boolean(
            "differentiable_plasticity", differentiable_plasticity
        )
        self.readout_only = validation.boolean("readout_only", readout_only)
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        self.input_units = validation.positive_int("input_units", input_units, allow_none=True)
        self.input_dim = self.input_units
        self._sizes_deferred = False  # set by the `NDM` layer, which sizes the states when built

    # --- shapes ---

    @property
    def write_scale(self):
        """The manifold write's scale: `1 - gamma` (an average of the writes), legacy 1."""
        return 1.0 if self.legacy else 1.0 - self.memory_decay

    @property
    def writes_manifold(self):
        """Whether the step writes the manifold (every variant, except two in legacy mode)."""
        return not (self.legacy and self.variant != "ndm")

    @property
    def state_names(self):
        """The names of the states, in `state_size` order."""
        names = ["output", "hidden", "pre_trace", "post_trace", "input_fast_weights",
                 "recurrent_fast_weights"]
        if self.variant == "momentum":
            names += ["input_velocity", "recurrent_velocity"]
        return names + ["manifold", "steps", "weight_velocity"]

    @property
    def state_size(self):
        if self.input_dim is None and not self._sizes_deferred:
            raise ValueError(
                "Expected `input_units` (or a built cell): the sizes of the NDM cell's fast "
                "weights depend on the input width. Received: input_units=None"
            )
        i, h = self.input_dim or 0, self.units
        sizes = {
            "output": self.output_units, "hidden": h, "pre_trace": h, "post_trace": h,
            "input_fast_weights": i * h, "recurrent_fast_weights": h * h,
            "input_velocity": i * h, "recurrent_velocity": h * h,
            "manifold": self.memory_size * h, "steps": 1, "weight_velocity": 1,
        }
        return [sizes[name] for name in self.state_names]

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
        if self.input_units is not None and int(input_dim) != self.input_units:
            raise ValueError(
                f"Expected inputs with {self.input_units} features (`input_units`). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        self.input_dim = int(input_dim)
        i, h, o, m = self.input_dim, self.units, self.output_units, self.memory_size
        seed, learned = self.seed, not self.readout_only
        self.input_kernel = self.add_weight(
            shape=(i, h), initializer=_normal(1.0, "fan_avg", seed, 0), trainable=learned,
            name="input_kernel",
        )
        self.recurrent_kernel = self.add_weight(
            shape=(h, h), initializer=_normal(1.0, "fan_in", seed, 1), trainable=learned,
            name="recurrent_kernel",
        )
        self.output_kernel = self.add_weight(
            shape=(h, o), initializer=_normal(1.0, "fan_avg", seed, 2), name="output_kernel"
        )
        # K, V, Q ~ N(0, 1/units) ("ndm"), N(0, 1/(units + rows)) ("clamped"), N(0, 2/(units + rows)).
        memory_init = {"ndm": (1.0, "fan_in"), "clamped": (0.5, "fan_avg"),
                       "momentum": (1.0, "fan_avg")}[self.variant]
        for offset, name in enumerate(("query_kernel", "key_kernel", "value_kernel"), start=3):
            setattr(self, name, self.add_weight(
                shape=(h, m), initializer=_normal(*memory_init, seed, offset), trainable=learned,
                name=name,
            ))
        if self.variant == "ndm":
            plasticity = lambda offset: keras.initializers.RandomUniform(  # noqa: E731
                0.5, 1.0, seed=None if seed is None else seed + offset
            )
        else:
            value = 0.01 if self.variant == "clamped" else 1.0
            plasticity = lambda offset: keras.initializers.Constant(value)  # noqa: E731
        self.input_plasticity = self.add_weight(
            shape=(i, h), initializer=plasticity(6), trainable=False, name="input_plasticity"
        )
        self.recurrent_plasticity = self.add_weight(
            shape=(h, h), initializer=plasticity(7), trainable=False, name="recurrent_plasticity"
        )
        self.built = True

    # --- the step ---

    def _loop_constants(self, batch_size, training=False):
        names = (
            "input_kernel", "recurrent_kernel", "output_kernel", "query_kernel", "key_kernel",
            "value_kernel", "input_plasticity", "recurrent_plasticity",
        )
        return {name: ops.convert_to_tensor(getattr(self, name)) for name in names}

    def _bound(self, z, bound):
        """A bound of the clamped variant: a hard clip (legacy) or `bound tanh(z / bound)`."""
        if self.variant != "clamped":
            return z
        if self.legacy:
            return ops.clip(z, -bound, bound)
        return memory_native.soft_clip(z, bound)

    def _trace_bound(self, trace):
        if self.variant != "clamped":
            return trace
        if self.legacy:
            return ops.clip(trace, 0.0, TRACE_BOUND)
        return memory_native.soft_clip(trace, TRACE_BOUND)

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        c = constants
        (x,) = inputs
        state = dict(zip(self.state_names, carry))
        i, h_units, m = self.input_dim, self.units, self.memory_size
        h = state["hidden"]
        d_in = ops.reshape(state["input_fast_weights"], (-1, i, h_units))
        d_h = ops.reshape(state["recurrent_fast_weights"], (-1, h_units, h_units))
        manifold = ops.reshape(state["manifold"], (-1, m, h_units))

        u = self._bound(memory_native.fast_weight_matmul(x, c["input_kernel"], d_in), DRIVE_BOUND)
        v = self._bound(
            memory_native.fast_weight_matmul(h, c["recurrent_kernel"], d_h), DRIVE_BOUND
        )
        if self.writes_manifold:
            key = ops.sigmoid(ops.matmul(h, c["key_kernel"]))
            value_kernel = c["value_kernel"] * self.write_scale
            manifold = memory_native.manifold_value_write(
                manifold, key, h, value_kernel, self.memory_decay
            )
        query = ops.sigmoid(ops.matmul(h, c["query_kernel"]))
        read = self._bound(memory_native.manifold_read(query, manifold), DRIVE_BOUND)
        hdot = -h + ops.tanh(self._bound(u + v + read, DRIVE_BOUND))
        hdot = self._bound(hdot, DERIVATIVE_BOUND)
        h_new = self._bound(h + self.dt * hdot, STATE_BOUND)

        # Traces of |h| and |hdot| (within [0, 5] already in the clamped variant).
        kappa = self.trace_decay
        pre = self._trace_bound(kappa * state["pre_trace"] + (1.0 - kappa) * ops.abs(h_new))
        post = self._trace_bound(kappa * state["post_trace"] + (1.0 - kappa) * ops.abs(hdot))

        # The plasticity after n steps: P delta^n.
        steps = state["steps"]
        if self.plasticity_decay > 0:
            fade = ops.exp(steps * math.log(self.plasticity_decay))
        else:
            fade = ops.cast(steps == 0, steps.dtype)
        fade = ops.expand_dims(fade, 2)
        w_in = c["input_kernel"] + d_in
        w_h = c["recurrent_kernel"] + d_h
        eta, lam = self.hebbian_strength, self.weight_decay
        hebb_in = self._bound(eta * memory_native.outer(x, post), DERIVATIVE_BOUND)
        hebb_h = self._bound(eta * memory_native.outer(pre, post), DERIVATIVE_BOUND)
        rate_in = self._bound(c["input_plasticity"] * fade * (hebb_in - lam * w_in), DERIVATIVE_BOUND)
        rate_h = self._bound(
            c["recurrent_plasticity"] * fade * (hebb_h - lam * w_h), DERIVATIVE_BOUND
        )
        if not self.differentiable_plasticity:
            rate_in, rate_h = ops.stop_gradient(rate_in), ops.stop_gradient(rate_h)

        count = float(i * h_units + h_units * h_units)
        new = dict(state)
        if self.variant == "momentum":
            step = self.dt * self.base_plasticity
            vel_in = self.momentum * ops.reshape(state["input_velocity"], (-1, i, h_units))
            vel_h = self.momentum * ops.reshape(state["recurrent_velocity"], (-1, h_units, h_units))
            vel_in, vel_h = vel_in + step * rate_in, vel_h + step * rate_h
            d_in, d_h = d_in + vel_in, d_h + vel_h
            new["input_velocity"] = ops.reshape(vel_in, (-1, i * h_units))
            new["recurrent_velocity"] = ops.reshape(vel_h, (-1, h_units * h_units))
            moved = (vel_in, vel_h)
        else:
            d_in, d_h = d_in + self.dt * rate_in, d_h + self.dt * rate_h
            if self.variant == "clamped":
                # The plastic weights W0 + dW clipped to [-10, 10] (a weight clip in both
                # forms), written as the excess removed from dW: exact within the bound.
                d_in = d_in - _excess(c["input_kernel"] + d_in, WEIGHT_BOUND)
                d_h = d_h - _excess(c["recurrent_kernel"] + d_h, WEIGHT_BOUND)
            moved = (rate_in, rate_h)
        velocity = (ops.sum(ops.abs(moved[0]), axis=(1, 2))
                    + ops.sum(ops.abs(moved[1]), axis=(1, 2))) / count

        output = self._bound(ops.matmul(h_new, c["output_kernel"]), OUTPUT_BOUND)
        new.update(
            output=output, hidden=h_new, pre_trace=pre, post_trace=post,
            input_fast_weights=ops.reshape(d_in, (-1, i * h_units)),
            recurrent_fast_weights=ops.reshape(d_h, (-1, h_units * h_units)),
            manifold=ops.reshape(manifold, (-1, m * h_units)),
            steps=steps + 1.0, weight_velocity=ops.expand_dims(velocity, 1),
        )
        new = tuple(new[name] for name in self.state_names)
        if mask is not None:
            new = tuple(ops.where(mask, a, b) for a, b in zip(new, carry))
        return new[0], new, {}

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "output_units": self.output_units,
            "memory_size": self.memory_size,
            "variant": self.variant,
            "dt": self.dt,
            "hebbian_strength": self.hebbian_strength,
            "weight_decay": self.weight_decay,
            "trace_decay": self.trace_decay,
            "memory_decay": self.memory_decay,
            "plasticity_decay": self.plasticity_decay,
            "momentum": self.momentum,
            "base_plasticity": self.base_plasticity,
            "differentiable_plasticity": self.differentiable_plasticity,
            "readout_only": self.readout_only,
            "legacy": self.legacy,
            "seed": self.seed,
            "input_units": self.input_units,
        }
