"""The per-sample Hebbian trace without the trace: its exact low-rank form.

A per-sample trace that starts at `H_0` and takes, at each unmasked step,
`H <- (1 - eta) H + V_s` with the write `V_s = eta a_s z_s^T + n_s` (`n_s`
the step's noise, shared by the batch) is, as long as no clip binds,

    H_t = d_t H_0 + sum_{s < t} D_{t,s} V_s,

with `d_t = (1 - eta)^(n_t)` and `D_{t,s} = (1 - eta)^(n_t - n_s - 1)` for
unmasked `s` (zero otherwise), `n_t` the number of unmasked steps before
`t`. Everything the attention needs from `E_t = M + alpha H_t` then follows
from products of the encodings, the bank, the noise and `H_0` formed before
the time loop (the Gram matrix `z_t . z_s` above all), and from two
`(batch, slots)` recurrences: `M_i . H_t,i` and `|H_t,i|^2`. The loop
carries the past attentions `(batch, time, slots)` instead of the
`(batch, slots, dim)` trace; the reads `a_t E_t` and the final trace are
formed after it, in a few batched products. The memory pathway does not
depend on the hidden state, so the integrator runs afterwards, as a second
loop over the hidden state alone.

The cost grows with the square of the sequence length (the caller cuts
long sequences into chunks, handing the trace from one to the next as
`H_0`), and the form is exact only where no clip binds (`clip_bound` is
the check). docs/performance.md has the measurements.

All tensors here are in the trace's own unit (not the clip unit of the
explicit loop). Python operators and `ops.einsum` are used as in
`keras_engram.src.ops.attention`.
"""

from keras import ops

from keras_engram.src.ops.attention import L2_EPSILON


def decay_weights(mask, steps, rate, dtype):
    """The decay weights `(D, d)` of a trace updated at the unmasked steps.

    Args:
        mask: `(batch, steps)` boolean tensor, or None (every step unmasked).
        steps: static number of steps `T`.
        rate: Python float in [0, 1], the trace's rate `eta`.
        dtype: float dtype.

    Returns:
        `D`, `(rows, T + 1, T)`: row `t` holds the weights of the writes
        `V_s` in the trace seen by step `t` (row `T`: the final trace);
        `d`, `(rows, T + 1)`: the weight of the initial trace. `rows` is the
        batch size with a mask, else 1.
    """
    keep = ops.convert_to_tensor(1.0 - rate, dtype=dtype)
    if mask is None:
        used = ops.ones((1, steps), dtype=dtype)
    else:
        used = ops.cast(mask, dtype)
    # n_t, the unmasked steps before t, for t = 0..T.
    before = ops.concatenate([ops.zeros_like(used[:, :1]), ops.cumsum(used, axis=1)], axis=1)
    exponent = ops.expand_dims(before, 2) - ops.expand_dims(before[:, :steps], 1) - 1.0
    later = ops.arange(steps + 1)[:, None] > ops.arange(steps)[None, :]
    valid = ops.logical_and(ops.expand_dims(later, 0), ops.expand_dims(used > 0.5, 1))
    weights = ops.where(valid, ops.power(keep, ops.maximum(exponent, 0.0)), 0.0)
    return weights, ops.power(keep, before)


def summed_noise(noise, before):
    """`sum_s D_ts n_s`, `(T, slots, dim)`: the noise in the trace each step reads (one decay)."""
    steps, slots, dim = noise.shape
    flat = before[0] @ ops.reshape(noise, (steps, slots * dim))
    return ops.reshape(flat, (steps, slots, dim))


def attention_pass(encodings, memory, initial_trace, noise, mask, weights, start_weights,
                   rate, scale, temperature, loop):
    """The attention of every step, from the encodings alone (the first pass).

    Args:
        encodings: `z`, `(batch, T, dim)`.
        memory: the bank `M`, `(slots, dim)`.
        initial_trace: `H_0`, `(batch, slots, dim)`, or None (zeros).
        noise: `(T, slots, dim)` writes `n_s` (already times `eta`), or None.
        mask: `(batch, T)` boolean tensor or None.
        weights, start_weights: `decay_weights(...)`.
        rate: `eta`; scale: `alpha`; temperature: the softmax's `tau_eff`.
        loop: callable `(step, init, xs) -> final_carry` running `step`
            over the leading axis of the time-major `xs`.

    Returns:
        `(batch, T, slots)` attention weights, zero at masked steps.
    """
    batch, steps, slots = ops.shape(encodings)[0], encodings.shape[1], memory.shape[0]
    dtype = encodings.dtype
    keep = 1.0 - rate
    before = weights[:, :steps]  # D: the writes in the trace each step reads
    start = ops.expand_dims(start_weights[:, :steps], 2)
    bank_squared = ops.sum(memory * memory, axis=-1)
    squared = ops.sum(encodings * encodings, axis=-1, keepdims=True)
    # Per step: the weight of each past a_s[i] in H_t,i . z_t (the Gram matrix),
    # the a-free part of H_t,i . z_t, M_i . z_t, the query's scale, |z_t|^2.
    history_dots = before * ops.einsum("bth,bsh->bts", encodings, encodings) * rate
    trace_dots = ops.zeros((batch, steps, slots), dtype=dtype)
    bank_dots = ops.einsum("bth,nh->btn", encodings, memory)
    query_scale = ops.rsqrt(ops.maximum(squared, L2_EPSILON)) / temperature
    # Start values of M_i . H_i and |H_i|^2.
    bank_trace = ops.zeros((batch, slots), dtype=dtype)
    trace_squared = ops.zeros((batch, slots), dtype=dtype)
    if initial_trace is not None:
        trace_dots += start * ops.einsum("bth,bnh->btn", encodings, initial_trace)
        bank_trace += ops.einsum("bnh,nh->bn", initial_trace, memory)
        trace_squared += ops.sum(initial_trace * initial_trace, axis=-1)
    extra = []
    if noise is not None:
        # z_s . n_t,i for every (t, s): the cost of exact training noise
        # (the weight of a_s[i] in H_t,i . n_t,i below).
        pairs = ops.einsum("bsh,tih->btsi", encodings, noise)
        weights4 = ops.expand_dims(before, 3)
        own = ops.einsum("bth,tih->bti", encodings, noise)  # z_t . n_t,i
        if before.shape[0] == 1:
            # One decay for the batch: the summed noise in the trace at each step.
            summed = summed_noise(noise, before)
            trace_dots += ops.einsum("bth,tih->bti", encodings, summed)
            noise_read = ops.sum(summed * noise, axis=-1)[None]
        else:
            trace_dots += ops.sum(weights4 * ops.swapaxes(pairs, 1, 2), axis=2)
            noise_read = ops.sum(weights4 * ops.einsum("tih,sih->tsi", noise, noise)[None], axis=2)
        if initial_trace is not None:
            noise_read += start * ops.einsum("bnh,tnh->btn", initial_trace, noise)
        extra = [
            pairs * (weights4 * rate),
            noise_read,
            own,
            ops.einsum("nh,tnh->tn", memory, noise)[None],  # M_i . n_t,i
            ops.sum(noise * noise, axis=-1)[None],  # |n_t,i|^2
        ]
    if mask is None:
        used = ops.ones((1, steps, 1), dtype=dtype)
    else:
        used = ops.expand_dims(ops.cast(mask, dtype), 2)
    onehot = ops.expand_dims(ops.eye(steps, dtype=dtype), 0)  # step t's row of the history
    xs = [history_dots, trace_dots, bank_dots, query_scale, squared, used, onehot, *extra]
    xs = tuple(ops.swapaxes(x, 0, 1) for x in xs)
    has_noise = noise is not None
    masked = mask is not None

    def step(carry, x):
        history, bank_trace, trace_squared = carry
        history_dots_t, trace_dots_t, bank_dots_t, query_scale_t, squared_t, used_t, onehot_t = x[:7]
        # E_t = M + alpha H_t: its dot products with z_t and its squared norms.
        trace_z = trace_dots_t + ops.squeeze(ops.expand_dims(history_dots_t, 1) @ history, 1)
        dots = bank_dots_t + scale * trace_z
        norms = bank_squared + (2.0 * scale) * bank_trace + (scale * scale) * trace_squared
        logits = dots * query_scale_t * ops.rsqrt(ops.maximum(norms, L2_EPSILON))
        attention = ops.softmax(logits, axis=-1) * used_t
        # With V_t = eta a_t z_t^T + n_t: M.H' = keep M.H + M.V and
        # |H'|^2 = keep^2 |H|^2 + 2 keep H.V + |V|^2, per slot.
        bank_write = rate * attention * bank_dots_t
        trace_write = rate * attention * trace_z
        write_squared = (rate * rate) * attention * attention * squared_t
        if has_noise:
            history_noise_t, noise_read_t, own_t, bank_noise_t, noise_squared_t = x[7:]
            bank_write += bank_noise_t
            trace_write += noise_read_t + ops.sum(history_noise_t * history, axis=1)
            write_squared += (2.0 * rate) * attention * own_t + noise_squared_t
        new_bank_trace = keep * bank_trace + bank_write
        new_squared = (keep * keep) * trace_squared + (2.0 * keep) * trace_write + write_squared
        if masked:
            kept = used_t > 0.5
            new_bank_trace = ops.where(kept, new_bank_trace, bank_trace)
            new_squared = ops.where(kept, new_squared, trace_squared)
        history = history + ops.expand_dims(onehot_t[0], -1) * ops.expand_dims(attention, 1)
        return (history, new_bank_trace, new_squared), ()

    init = (ops.zeros((batch, steps, slots), dtype=dtype), bank_trace, trace_squared)
    history, _, _ = loop(step, init, xs)
    return history


def reads(attention, encodings, memory, initial_trace, noise, weights, start_weights, rate, scale):
    """Every step's read `m_t = a_t E_t`, `(batch, T, dim)`, from the attentions (after the loop)."""
    steps = encodings.shape[1]
    before = weights[:, :steps]
    recalled = attention @ memory
    # sum_i a_t[i] H_t,i = eta sum_s D_ts (a_t . a_s) z_s + d_t a_t H_0 + sum_s D_ts a_t n_s.
    overlap = ops.einsum("bti,bsi->bts", attention, attention) * before * rate
    trace_read = overlap @ encodings
    if initial_trace is not None:
        trace_read += ops.expand_dims(start_weights[:, :steps], 2) * (attention @ initial_trace)
    if noise is not None:
        slots, dim = memory.shape
        if before.shape[0] == 1:
            trace_read += ops.einsum("bti,tih->bth", attention, summed_noise(noise, before))
        else:
            pairs = ops.expand_dims(before, 3) * ops.expand_dims(attention, 2)
            pairs = ops.reshape(pairs, (-1, steps, steps * slots))
            trace_read += pairs @ ops.reshape(noise, (steps * slots, dim))
    return recalled + scale * trace_read


def final_trace(attention, encodings, initial_trace, noise, weights, start_weights, rate):
    """The trace after the last step, `(batch, slots, dim)`: formed once, at the end."""
    steps = encodings.shape[1]
    last = ops.expand_dims(weights[:, steps], 2)  # (rows, T, 1)
    trace = ops.swapaxes(attention * (last * rate), 1, 2) @ encodings
    if noise is not None:
        trace += ops.einsum("bs,sih->bih", weights[:, steps], noise)
    if initial_trace is not None:
        trace += ops.reshape(start_weights[:, steps], (-1, 1, 1)) * initial_trace
    return trace


def clip_bound(attention, encodings, initial_trace, noise, mask, weights, start_weights, rate):
    """An upper bound of every trace entry the explicit loop would clip, per sample.

    Each entry of the trace after step `t` is at most
    `d |H_0,ij| + eta sum_s D_ts a_s[i] |z_s,j| + |sum_s D_ts n_s,ij|`,
    bounded per slot by `d max_j |H_0,ij| + w_t,i max_s,j |z_s,j| + sum_s D_ts max_j |n_s,ij|`
    with `w_t,i = eta sum_s D_ts a_s[i]`. Where this stays within the clip
    for every step, the clip never binds and the implicit form is exact.

    Returns:
        `(batch,)`, the largest bound over the unmasked steps and the slots.
    """
    batch, steps = ops.shape(attention)[0], encodings.shape[1]
    after = ops.broadcast_to(weights[:, 1:], (batch, steps, steps))  # the trace after step t
    written = ops.einsum("bts,bsi->bti", after, attention)
    largest = ops.max(ops.abs(encodings), axis=(1, 2))
    bound = written * rate * ops.reshape(largest, (-1, 1, 1))
    if initial_trace is not None:
        bound += ops.expand_dims(start_weights[:, 1:], 2) * ops.expand_dims(
            ops.max(ops.abs(initial_trace), axis=-1), 1
        )
    if noise is not None:
        bound += ops.einsum("bts,si->bti", after, ops.max(ops.abs(noise), axis=-1))
    if mask is not None:
        bound = bound * ops.expand_dims(ops.cast(mask, bound.dtype), 2)
    return ops.max(bound, axis=(1, 2))
