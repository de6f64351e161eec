"""Float64 NumPy references of the memory-native steps (AMRC, PMRC, AMN), from the specification.

Written from `memory-native.md` (sections 2.2, 3.2, 4.2 for the originals'
forward steps, 11.2-11.4 for the corrected ones), not from the library's
cells: one sample at a time with explicit loops where the specification
describes them (the legacy PMRC's in-place sweep over neurons). Weights are
in Keras orientation (`x @ W`). `cell_params(cell)` reads a built cell's
weights into the dicts these functions take; `run(step, ...)` runs a step
over a `(batch, time, features)` sequence with an optional mask.
"""

import keras
import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _act(name, z):
    return np.tanh(z) if name == "tanh" else z


# --- AMRC (spec 2.2, 11.2) ---------------------------------------------------------


def amrc_step(p, x, state):
    """One AMRC step for one sample. `state`: (o, m, s) or legacy (o, m, s, p2)."""
    if p["legacy"]:
        _, m, s, p2 = state
        echo = p2  # y_{t-2}
    else:
        _, m, s = state
        echo = s  # y_{t-1}
    n = np.tanh(x @ p["W"] + p["b"] + m)
    y = n + p["beta"] * echo
    m_new = (1 - p["alpha"]) * m + p["alpha"] * n
    o = _act(p["act"], y @ p["W_o"] + p["b_o"])
    if p["legacy"]:
        return o, (o, m_new, y, s)  # p <- s ; s <- y
    return o, (o, m_new, y)


# --- PMRC (spec 3.2, 11.3) ---------------------------------------------------------


def pmrc_step(p, x, state):
    """One PMRC step for one sample.

    `state`: (o, m, s[, p2, q][, g]); legacy mode follows 3.2's in-place
    sweep over neurons in index order.
    """
    H = p["W"].shape[1]
    gates = p["gates"]
    o_prev, m, s = state[0], state[1].copy(), state[2]
    if p["legacy"]:
        p2, q = state[3], state[4]
    if not p["legacy"]:
        a = x @ p["W"] + p["b"] + m
        if p["recurrent"]:
            a = a + s @ p["U"]
        n = np.tanh(a)
        if gates:
            g = _sigmoid(x @ p["W_g"] + p["b_g"] + m @ p["U_g"])
            c = np.tanh(x @ p["W_c"] + p["b_c"])
            m_new = g * c + (1 - g) * m
        else:
            m_new = (1 - p["alpha"]) * m + p["alpha"] * n
        y = n + p["beta"] * s
        o = _act(p["act"], y @ p["W_o"] + p["b_o"])
        if p["out_mem"]:
            o = o + p["beta_o"] * o_prev
        new = [o, m_new, y]
        if gates:
            new.append(g)
        return o, tuple(new)

    # Legacy: neurons one after another, state arrays updated in place.
    prev_state = p2.copy()  # "r": holds y_{t-2} at the start of the step
    y_now = s.copy()  # "s": y_{t-1}
    mem = m.copy()
    g = np.zeros(H) if not gates else state[5].copy()
    y_new = np.zeros(H)
    for h in range(H):
        a = x @ p["W"][:, h] + p["b"][h]
        if p["recurrent"]:
            a += sum(p["U"][j, h] * prev_state[j] for j in range(H))
        a += mem[h]
        n = np.tanh(a)
        if gates:
            gi = x @ p["W_g"][:, h] + p["b_g"][h] + sum(p["U_g"][j, h] * mem[j] for j in range(H))
            g[h] = _sigmoid(gi)
            c = np.tanh(x @ p["W_c"][:, h] + p["b_c"][h])
            contribution = g[h] * c + (1 - g[h]) * mem[h]
        y_h = n + p["beta"][h] * p2[h]
        prev_state[h] = y_now[h]  # r_h <- s_h
        y_new[h] = y_h
        mem[h] = contribution if gates else (1 - p["alpha"][h]) * mem[h] + p["alpha"][h] * n
    o = _act(p["act"], y_new @ p["W_o"] + p["b_o"])
    q_new = q
    if p["out_mem"]:
        o = o + p["beta_o"] * q
        q_new = o_prev  # q <- o_{t-1}
    new = [o, mem, y_new, s, q_new]  # p <- s
    if gates:
        new.append(g)
    return o, tuple(new)


# --- AMN (spec 4.2, 11.4) ----------------------------------------------------------


def amn_step(p, x, state):
    """One AMN step for one sample. `state`: (y, h_or_c, r, M flat (M*H,))."""
    H = p["B_in"].shape[1]
    Msz = p["Q"].shape[1]
    _, h_prev, r, M = state
    M = M.reshape(Msz, H)
    f = np.tanh(x @ p["B_in"])
    d = p["A"] + p["B_f"] * np.abs(f)
    if p["legacy"]:
        c = np.clip(h_prev + p["dt"] * (-d * h_prev + p["B_f"] * f), -10, 10)
        r = np.clip(p["lam"] * r + c, -10, 10)
    else:
        a = np.exp(-p["dt"] * d)
        c = a * h_prev + (1 - a) * p["B_f"] * f / d
        r = p["lam"] * r + (1 - p["lam"]) * c
    q = np.tanh(r @ p["Q"])
    rho = q @ M  # read before write
    h = 0.7 * r + 0.3 * rho
    y = h @ p["C"] + x @ p["D"]
    k = _sigmoid(h @ p["K"])
    v = h @ p["V"]
    M = p["gamma"] * M + 0.01 * np.outer(k * v, h)
    if p["legacy"]:
        y = np.clip(y, -100, 100)
        M = np.clip(M, -5, 5)
        return y, (y, h, r, M.reshape(-1))
    M = 5.0 * np.tanh(M / 5.0)
    return y, (y, c, r, M.reshape(-1))


# --- running ------------------------------------------------------------------------


def run(step, p, x, states=None, mask=None):
    """Runs `step` over `x` (batch, time, features), one sample at a time.

    Returns `(outputs (batch, time, out), final states (list of (batch, size)))`;
    a masked step keeps the sample's states and repeats its previous output.
    """
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    outputs, finals = [], []
    for b in range(batch):
        state = tuple(np.asarray(s[b], np.float64).copy() for s in states)
        outs = []
        for t in range(steps):
            if mask is not None and not mask[b, t]:
                outs.append(state[0])
                continue
            _, state = step(p, x[b, t], state)
            outs.append(state[0])
        outputs.append(np.stack(outs))
        finals.append(state)
    return np.stack(outputs), [np.stack([f[i] for f in finals]) for i in range(len(finals[0]))]


def zero_states(cell, batch):
    sizes = cell.state_size
    return [np.zeros((batch, size)) for size in sizes]


def _w(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def cell_params(cell):
    """The weights of a built memory-native cell as the dict its reference step takes."""
    name = type(cell).__name__
    if name == "AMRCCell":
        return dict(
            legacy=cell.legacy, act=cell.output_activation, W=_w(cell.kernel), b=_w(cell.bias),
            W_o=_w(cell.output_kernel), b_o=_w(cell.output_bias),
            beta=_w(cell.beta_weight), alpha=_w(cell.alpha_weight),
        )
    if name == "PMRCCell":
        p = dict(
            legacy=cell.legacy, act=cell.output_activation, recurrent=cell.use_recurrent,
            gates=cell.use_learnable_gates, out_mem=cell.use_output_memory,
            W=_w(cell.kernel), b=_w(cell.bias), W_o=_w(cell.output_kernel),
            b_o=_w(cell.output_bias), beta=_w(cell.beta_weight),
        )
        if cell.use_recurrent:
            p["U"] = _w(cell.recurrent_kernel)
        if cell.use_learnable_gates:
            p.update(
                W_g=_w(cell.gate_kernel), U_g=_w(cell.gate_recurrent_kernel),
                b_g=_w(cell.gate_bias), W_c=_w(cell.candidate_kernel), b_c=_w(cell.candidate_bias),
            )
        else:
            p["alpha"] = _w(cell.alpha_weight)
        if cell.use_output_memory:
            p["beta_o"] = _w(cell.output_beta_weight)
        return p
    if name == "AMNCell":
        return dict(
            legacy=cell.legacy, dt=cell.dt, gamma=cell.memory_decay,
            B_in=_w(cell.input_kernel), A=_w(cell.rigidity), B_f=_w(cell.fluidity),
            lam=_w(cell.eigenvalues), C=_w(cell.output_kernel), D=_w(cell.skip_kernel),
            Q=_w(cell.query_kernel), K=_w(cell.key_kernel), V=_w(cell.value_kernel),
        )
    raise TypeError(f"Expected a memory-native cell. Received: {name}")


STEPS = {"AMRCCell": amrc_step, "PMRCCell": pmrc_step, "AMNCell": amn_step}


def sequence(cell, x, states=None, mask=None):
    """The reference run of `cell`'s step over `x`, from `states` (default zeros)."""
    if states is None:
        states = zero_states(cell, x.shape[0])
    return run(STEPS[type(cell).__name__], cell_params(cell), x, states, mask)
