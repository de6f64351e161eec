"""The SGW-AMN cell: one step of the Sparse Global Workspace network."""

from keras import ops

from keras_engram.src import validation
from keras_engram.src.api_export import register
from keras_engram.src.layers.memory_cell import MemoryCell
from keras_engram.src.layers.memory_native.between import Between
from keras_engram.src.layers.memory_native.initializers import seeded_normal as _normal
from keras_engram.src.layers.memory_native.initializers import seeded_uniform as _uniform
from keras_engram.src.ops import memory_native
from keras_engram.src.precision import full_precision

POST_SHARE = 0.7  # g = 0.7 g + 0.3 tanh(read)
ACTIVE_THRESHOLD = 0.1  # a workspace unit counts as active above this magnitude
ENTROPY_FLOOR = 1e-10
MIN_RIGIDITY = 1e-3  # keeps the workspace's leak positive
ROUTINGS = ("straight_through", "weighted")


@register
class SGWAMNCell(MemoryCell):
    """Cell of the Sparse Global Workspace network (SGW-AMN): a top-k bottleneck with a Hebbian workspace.

    One step, for input `x_t` (row vectors, Keras orientation; `PRE`, `WS`,
    `POST` the widths before, in and after the bottleneck):

    1. `p = gelu(x_t W_pre)` (tanh-approximate GELU, no bias).
    2. Competition: `score_i = |p_i| sum_j |W_c[i, j]|`,
       `pi = softmax(score / T)`; the `WS` largest scores win (`ops.top_k`),
       `mask` is 1 at the winners.
    3. Routing: `z = (p * mask) W_c` (see "How the routing learns").
    4. The workspace: `a = s + z` (`s` the workspace carried from the last
       step; `legacy=True`: `s = 0`, the original zeroes it every step),
       `omega = a W_m^T`, `phi = tanh(a + omega)`,
       `s' = a + dt (-(A + B |phi|) a + B phi)` (one liquid step),
       `W_m' = 0.98 W_m + 0.02 s' (outer) s'` (`workspace_decay`).
    5. `g = tanh(s' W_post)`; the manifold write then read:
       `k = sigmoid(g K)`, `M[m, i] <- gamma M[m, i] + k_m g_i V[i, m]`,
       `q = sigmoid(g Q)`, `g' = 0.7 g + 0.3 tanh(q M)`.
    6. The output `y = g' W_out` (no bias).

    How the routing learns: the selection of winners is piecewise constant
    in the scores, so no gradient passes through it. With
    `routing="straight_through"` (default) the forward value is exactly the
    hard top-k of step 3, and the backward pass treats each winner's weight
    as `1 + pi_i - stop_gradient(pi_i)`: the gradient reaches the scores
    (hence `W_c` through `sum_j |W_c[i, j]|`, and `W_pre` through `|p|`) as
    if each winner's input were scaled by its routing probability. With
    `routing="weighted"` the winners are weighted by their probabilities in
    the forward pass too, renormalised to mean 1 over the winners:
    `z = (p * mask * w) W_c`, `w = WS pi / sum_winners pi`. A unit that
    loses gets a gradient only through the softmax's normalisation, in the
    straight-through form (in the weighted form it cancels). `legacy=True`
    routes with the plain hard mask (any `routing`).

    The sparsity penalty `sparsity_penalty * sum_i |s'_i|` (averaged over
    the batch and the steps) is added as a layer loss by `MemoryRNN` (a
    `keras.layers.RNN` running the bare cell does not add it).

    Trainable: `W_pre`, `W_c`, `A`, `B`, `W_post`, `K`, `V`, `Q`, `W_out`;
    with `readout_only=True` only `W_out` (the originals' training regime).
    `A` (at least 1e-3) and `B` (non-negative) are kept in range by
    constraints. Initialisation as the original: `W_pre ~ N(0, 2/(I+PRE))`,
    `W_c ~ N(0, 2/(PRE+WS))`, `W_post ~ N(0, 2/(WS+POST))`,
    `K, V, Q ~ N(0, 1/POST)`, `W_out ~ N(0, 2/(POST+O))`,
    `A ~ U(0.5, 0.8)`, `B ~ U(0.2, 0.5)`.

    States (each `(batch, size)`), in order: `[y, s (WS), W_m (WS*WS),
    M (memory_size*POST), density (1), entropy (1)]` (legacy: without `s`):
    the last output, the workspace, the workspace matrix, the manifold
    (row-major), and the last step's diagnostics: the fraction of
    workspace units with `|s'_i| > 0.1` and the competition entropy
    `-sum_i pi_i ln pi_i` (over `pi_i > 1e-10`, in nats).

    Args:
        units: positive int, `POST`, the width after the bottleneck.
        output_units: positive int, width of the output.
        pre_units: positive int, `PRE`, the width before the bottleneck.
        workspace_units: positive int, `WS` (at most `pre_units`).
        memory_size: positive int, number of manifold rows.
        temperature: positive float, `T` of the routing softmax.
        sparsity_penalty: float >= 0, weight of the workspace's L1 loss.
        dt: positive float, the workspace's liquid step.
        memory_decay: float in [0, 1], the manifold's decay `gamma`.
        workspace_decay: float in [0, 1], the workspace matrix's decay.
        routing: `"straight_through"` or `"weighted"` (see above).
        readout_only: bool, only `W_out` is trainable.
        legacy: bool, the original's forward step (see above).
        seed: int or None, seeds the weight initialisers.
        **kwargs: base layer arguments (`name`, `dtype`, `trainable`).

    Example:

    >>> import numpy as np, keras
    >>> from keras_engram.layers import SGWAMNCell
    >>> cell = SGWAMNCell(units=6, output_units=1, pre_units=8, workspace_units=3, memory_size=2)
    >>> tuple(keras.layers.RNN(cell)(np.ones((2, 4, 3), "float32")).shape)
    (2, 1)
    """

    def __init__(
        self,
        units,
        output_units,
        pre_units=256,
        workspace_units=16,
        memory_size=64,
        temperature=0.5,
        sparsity_penalty=0.01,
        dt=0.1,
        memory_decay=0.995,
        workspace_decay=0.98,
        routing="straight_through",
        readout_only=False,
        legacy=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**full_precision(kwargs))
        self.units = validation.positive_int("units", units)
        self.output_units = validation.positive_int("output_units", output_units)
        self.pre_units = validation.positive_int("pre_units", pre_units)
        self.workspace_units = validation.positive_int("workspace_units", workspace_units)
        if self.workspace_units > self.pre_units:
            raise ValueError(
                "Expected `workspace_units` <= `pre_units` (the winners are distinct units). "
                f"Received: workspace_units={workspace_units}, pre_units={pre_units}"
            )
        self.memory_size = validation.positive_int("memory_size", memory_size)
        self.temperature = validation.positive_float("temperature", temperature)
        self.sparsity_penalty = validation.float_in_range("sparsity_penalty", sparsity_penalty, 0.0, None)
        self.dt = validation.positive_float("dt", dt)
        self.memory_decay = validation.float_in_range("memory_decay", memory_decay, 0.0, 1.0)
        self.workspace_decay = validation.float_in_range("workspace_decay", workspace_decay, 0.0, 1.0)
        if not isinstance(routing, str):
            raise TypeError(f"Expected `routing` to be a str. Received: routing={routing!r}")
        self.routing = validation.one_of("routing", routing, ROUTINGS)
        self.readout_only = validation.boolean("readout_only", readout_only)
        self.legacy = validation.boolean("legacy", legacy)
        self.seed = validation.optional_int("seed", seed)
        self.input_dim = None

    @property
    def state_names(self):
        """The names of the states, in `state_size` order."""
        names = ["output"] + ([] if self.legacy else ["workspace"])
        return names + ["workspace_matrix", "manifold", "density", "entropy"]

    @property
    def state_size(self):
        ws = self.workspace_units
        sizes = {
            "output": self.output_units, "workspace": ws, "workspace_matrix": ws * ws,
            "manifold": self.memory_size * self.units, "density": 1, "entropy": 1,
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
        self.input_dim = int(input_dim)
        i, pre, ws = self.input_dim, self.pre_units, self.workspace_units
        post, o, m = self.units, self.output_units, self.memory_size
        seed, learned = self.seed, not self.readout_only

        def weight(name, shape, initializer, **kwargs):
            return self.add_weight(shape=shape, initializer=initializer, name=name, **kwargs)

        self.pre_kernel = weight("pre_kernel", (i, pre), _normal(1.0, "fan_avg", seed, 0),
                                 trainable=learned)
        self.competition_kernel = weight("competition_kernel", (pre, ws),
                                         _normal(1.0, "fan_avg", seed, 1), trainable=learned)
        self.rigidity = weight("rigidity", (ws,), _uniform(0.5, 0.8, seed, 2), trainable=learned,
                               constraint=Between(MIN_RIGIDITY, None))
        self.fluidity = weight("fluidity", (ws,), _uniform(0.2, 0.5, seed, 3), trainable=learned,
                               constraint=Between(0.0, None))
        self.post_kernel = weight("post_kernel", (ws, post), _normal(1.0, "fan_avg", seed, 4),
                                  trainable=learned)
        self.key_kernel = weight("key_kernel", (post, m), _normal(1.0, "fan_in", seed, 5),
                                 trainable=learned)
        self.value_kernel = weight("value_kernel", (post, m), _normal(1.0, "fan_in", seed, 6),
                                   trainable=learned)
        self.query_kernel = weight("query_kernel", (post, m), _normal(1.0, "fan_in", seed, 7),
                                   trainable=learned)
        self.output_kernel = weight("output_kernel", (post, o), _normal(1.0, "fan_avg", seed, 8))
        self.built = True

    # --- the loop ---

    def _loop_inputs(self, sequences, training=False):
        # The competition and the routing depend on the input only.
        competition = ops.convert_to_tensor(self.competition_kernel)
        p = memory_native.gelu_tanh(ops.matmul(sequences, self.pre_kernel))
        score = ops.abs(p) * ops.sum(ops.abs(competition), axis=1)
        pi = ops.softmax(score / self.temperature, axis=-1)
        mask = ops.stop_gradient(memory_native.top_k_mask(score, self.workspace_units))
        if self.legacy:
            weight = mask
        elif self.routing == "weighted":
            # The winners' probabilities renormalised to mean 1 over the winners.
            chosen = mask * pi
            weight = chosen * (self.workspace_units / ops.sum(chosen, axis=-1, keepdims=True))
        else:
            weight = mask * (1.0 + pi - ops.stop_gradient(pi))
        routed = ops.matmul(p * weight, competition)
        entropy = ops.expand_dims(ops.stop_gradient(memory_native.entropy(pi, ENTROPY_FLOOR)), -1)
        return routed, entropy

    def _loop_constants(self, batch_size, training=False):
        names = ("rigidity", "fluidity", "post_kernel", "key_kernel", "value_kernel",
                 "query_kernel", "output_kernel")
        return {name: ops.convert_to_tensor(getattr(self, name)) for name in names}

    @property
    def _loop_extra_sizes(self):
        return {"workspace_l1": 1}

    def _loop_required_extras(self):
        return ("workspace_l1",) if self.sparsity_penalty > 0 else ()

    def _loop_loss(self, extras):
        if self.sparsity_penalty == 0:
            return None
        return self.sparsity_penalty * ops.mean(extras["workspace_l1"])

    def _loop_step(self, constants, carry, inputs, noise, mask, training):
        c = constants
        routed, entropy = inputs
        state = dict(zip(self.state_names, carry))
        ws, m, post = self.workspace_units, self.memory_size, self.units
        matrix = ops.reshape(state["workspace_matrix"], (-1, ws, ws))
        manifold = ops.reshape(state["manifold"], (-1, m, post))

        a = routed if self.legacy else state["workspace"] + routed
        omega = ops.einsum("bj,bij->bi", a, matrix)  # a W_m^T
        phi = ops.tanh(a + omega)
        workspace = a + self.dt * (-(c["rigidity"] + c["fluidity"] * ops.abs(phi)) * a
                                   + c["fluidity"] * phi)
        decay = self.workspace_decay
        matrix = decay * matrix + (1.0 - decay) * memory_native.outer(workspace, workspace)

        g = ops.tanh(ops.matmul(workspace, c["post_kernel"]))
        key = ops.sigmoid(ops.matmul(g, c["key_kernel"]))
        manifold = memory_native.manifold_value_write(
            manifold, key, g, c["value_kernel"], self.memory_decay
        )
        query = ops.sigmoid(ops.matmul(g, c["query_kernel"]))
        g = POST_SHARE * g + (1.0 - POST_SHARE) * ops.tanh(memory_native.manifold_read(query, manifold))
        output = ops.matmul(g, c["output_kernel"])

        active = ops.cast(ops.abs(workspace) > ACTIVE_THRESHOLD, workspace.dtype)
        new = dict(
            output=output, workspace=workspace,
            workspace_matrix=ops.reshape(matrix, (-1, ws * ws)),
            manifold=ops.reshape(manifold, (-1, m * post)),
            density=ops.mean(active, axis=1, keepdims=True), entropy=entropy,
        )
        new = tuple(new[name] for name in self.state_names)
        l1 = ops.sum(ops.abs(workspace), axis=1, keepdims=True)
        if mask is not None:
            new = tuple(ops.where(mask, a_, b_) for a_, b_ in zip(new, carry))
            l1 = ops.where(mask, l1, ops.zeros_like(l1))
        return new[0], new, {"workspace_l1": l1}

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "output_units": self.output_units,
            "pre_units": self.pre_units,
            "workspace_units": self.workspace_units,
            "memory_size": self.memory_size,
            "temperature": self.temperature,
            "sparsity_penalty": self.sparsity_penalty,
            "dt": self.dt,
            "memory_decay": self.memory_decay,
            "workspace_decay": self.workspace_decay,
            "routing": self.routing,
            "readout_only": self.readout_only,
            "legacy": self.legacy,
            "seed": self.seed,
        }
