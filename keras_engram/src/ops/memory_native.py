"""Numerics shared by the memory-native cells (AMRC, PMRC, AMN), in `keras.ops`.

Every function works on one time step of a batch: vectors are `(batch, n)`
rows, weights are in Keras orientation (`x @ kernel`), a matrix memory is
`(batch, rows, columns)`.
"""

from keras import ops

from keras_engram.src.ops import fast_paths


def leaky_memory(memory, drive, rate):
    """`(1 - rate) * memory + rate * drive`: a leaky integrator (rate per unit or scalar)."""
    return (1.0 - rate) * memory + rate * drive


def gated_memory(memory, gate, candidate):
    """`gate * candidate + (1 - gate) * memory`: a GRU-style memory write."""
    return gate * candidate + (1.0 - gate) * memory


def strictly_upper(n, dtype):
    """`(n, n)` mask with ones where row < column (the units already updated in a sweep)."""
    rows = ops.expand_dims(ops.arange(n), 1)
    cols = ops.expand_dims(ops.arange(n), 0)
    return ops.cast(rows < cols, dtype)


def sweep_recurrence(current, previous, kernel, upper):
    """A recurrent drive in which unit `h` reads `current` from units `< h`, `previous` from the rest.

    This is one in-place (Gauss-Seidel) sweep over the units in index order,
    where `current` are the values the sweep has already written:
    `current @ (kernel * upper) + previous @ (kernel * (1 - upper))`.
    """
    return ops.matmul(current, kernel * upper) + ops.matmul(previous, kernel * (1.0 - upper))


def sweep_gated_memory(memory, gate_drive, gate_kernel, candidate, upper, units):
    """The gated memory write of a sweep over the units in index order.

    Unit `h`'s gate reads the new memory of units `< h` and the old memory
    of units `>= h`: `g_h = sigmoid(gate_drive_h + sum_j U_g[j, h] mu_j)`,
    then `m'_h = g_h c_h + (1 - g_h) m_h`. The sweep is written as `units`
    vectorised passes: after pass `k` the first `k` units hold their final
    values, so after `units` passes every unit does.

    Returns:
        `(new_memory, gate)`.
    """
    lower = ops.matmul(memory, gate_kernel * (1.0 - upper)) + gate_drive
    upper_kernel = gate_kernel * upper

    def body(_, new):
        gate = ops.sigmoid(lower + ops.matmul(new, upper_kernel))
        return gated_memory(memory, gate, candidate)

    new = ops.fori_loop(0, units, body, memory)
    gate = ops.sigmoid(lower + ops.matmul(new, upper_kernel))
    return new, gate


def liquid_step_euler(state, drive, decay, fluidity, dt):
    """One explicit Euler step of `dc/dt = -decay * c + fluidity * drive`."""
    return state + dt * (-decay * state + fluidity * drive)


def liquid_coefficients(f, rigidity, fluidity, dt):
    """The exact step of the liquid ODE `dc/dt = -d c + fluidity f`, `d = rigidity + fluidity |f|`.

    Over `dt` with `f` held constant, `c' = retention * c + drive` with
    `retention = e^{-dt d}` and `drive = (1 - e^{-dt d}) fluidity f / d`. The
    retention lies in (0, 1) for every positive `d` and `dt`, so the state
    stays within the range of `fluidity f / d`. Both depend on the input
    only, so they can be computed for all steps at once.

    Returns:
        `(retention, drive)`.
    """
    decay = rigidity + fluidity * ops.abs(f)
    retention = ops.exp(-dt * decay)
    drive = -ops.expm1(-dt * decay) / decay * fluidity * f
    return retention, drive


def soft_clip(x, bound):
    """`bound * tanh(x / bound)`: a smooth bound with slope 1 at zero."""
    return bound * ops.tanh(x / bound)


def manifold_read(query, manifold):
    """`query @ manifold` per sample: `(batch, rows)` x `(batch, rows, cols)` -> `(batch, cols)`.

    In each backend's fastest form (`fast_paths.per_sample_read`).
    """
    return fast_paths.per_sample_read(query, manifold)


def outer(a, b):
    """The outer product per sample: `(batch, m)`, `(batch, n)` -> `(batch, m, n)`, as a broadcast product."""
    return ops.expand_dims(a, 2) * ops.expand_dims(b, 1)


def manifold_write(manifold, key, value, hidden, decay, scale):
    """`decay * manifold + scale * (key * value) (outer) hidden`: a decayed rank-1 Hebbian write."""
    return decay * manifold + scale * outer(key * value, hidden)


def row_gated_write(memory, gate, content, decay):
    """`decay_m * memory[m] + gate_m * content[m]` per row: a decayed write of fixed rows.

    `memory` `(batch, rows, cols)`, `gate` `(batch, rows)`, `content`
    `(rows, cols)` (a weight: the row each gate writes), `decay` `(rows,)`.
    """
    return ops.expand_dims(decay, -1) * memory + ops.expand_dims(gate, -1) * content


def keyed_state_write(manifold, key, state, value_kernel, decay):
    """`decay * M[m, i] + key_m state_i V[i, m]` per head: a Hebbian write of the state scaled by `V`.

    Multi-head shapes: `manifold` `(batch, heads, rows, units)`, `key`
    `(batch, heads, rows)`, `state` `(batch, heads, units)`, `value_kernel`
    `(heads, units, rows)`, `decay` `(heads,)`.
    """
    written = ops.expand_dims(key, 3) * ops.expand_dims(state, 2)  # per head: key (outer) state
    decay = ops.reshape(decay, (1, -1, 1, 1))
    return decay * manifold + written * ops.expand_dims(ops.transpose(value_kernel, (0, 2, 1)), 0)


# --- fast weights, value-weighted manifold writes and sparse routing (NDM, SGW-AMN) ---


def fast_weight_matmul(x, base, delta):
    """`x (base + delta)` per sample: `x` `(batch, n)`, `base` `(n, m)`, `delta` `(batch, n, m)`."""
    return ops.matmul(x, base) + fast_paths.per_sample_read(x, delta)


def manifold_value_write(manifold, key, hidden, value_kernel, decay):
    """`decay * M[m, i] + key_m * hidden_i * V[i, m]`: a decayed write of the value-weighted state.

    `manifold` `(batch, rows, cols)`, `key` `(batch, rows)`, `hidden`
    `(batch, cols)`, `value_kernel` `(cols, rows)`.
    """
    content = ops.expand_dims(hidden, 1) * ops.expand_dims(ops.transpose(value_kernel), 0)
    return decay * manifold + ops.expand_dims(key, 2) * content


def top_k_mask(scores, k):
    """1.0 at the `k` largest entries of the last axis, 0.0 elsewhere (a piecewise-constant selection)."""
    _, indices = ops.top_k(scores, k=k)
    return ops.sum(ops.one_hot(indices, scores.shape[-1], dtype=scores.dtype), axis=-2)


def entropy(probabilities, floor=1e-10):
    """`-sum p ln p` over the last axis, counting only entries above `floor` (nats)."""
    kept = probabilities > floor
    safe = ops.where(kept, probabilities, ops.ones_like(probabilities))
    return -ops.sum(ops.where(kept, probabilities * ops.log(safe), ops.zeros_like(probabilities)), axis=-1)


def gelu_tanh(z):
    """`0.5 z (1 + tanh(0.7978845608 (z + 0.044715 z^3)))`: the originals' tanh-approximate GELU.

    `keras.ops.gelu(z, approximate=True)` up to the constant's last digits
    (`sqrt(2 / pi)` to ten places, as the originals write it).
    """
    return 0.5 * z * (1.0 + ops.tanh(0.7978845608 * (z + 0.044715 * z * z * z)))
