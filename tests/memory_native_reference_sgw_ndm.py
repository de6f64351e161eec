"""Float64 NumPy references of the SGW-AMN and NDM forward steps, from the specification.

Written from `memory-native.md` sections 6b (SGW-AMN), 7 (NDM and its
"clamped" and "momentum" variants), 11.7, 11.8 and 11.1 only, without
looking at any cell of the library. Every function computes one step for
one sample (row vectors, weights in Keras orientation: `x @ W`); `run`
loops it over a `(batch, time, features)` sequence with an optional mask,
like `memory_native_reference.run`. Each step returns `(output, new_state)`
and takes `p["legacy"]`: `True` is the originals' forward step, `False`
the corrected one. Matrix-valued states are flattened row-major.

SGW-AMN (`sgw_step`)
--------------------

Keys of `p` (widths: `I` inputs, `PRE`, `WS` workspace, `POST`, `M`
manifold rows, `O` outputs):

* `W_pre` (I, PRE): expansion, `p = gelu_t(x W_pre)` (no bias).
* `W_c` (PRE, WS): competition; the scores are `|p_i| * sum_j |W_c[i, j]|`
  and the winners' rows of `W_c` form the workspace input `z`.
* `A` (WS,), `B` (WS,): the workspace's liquid-time-constant coefficients.
* `W_post` (WS, POST): expansion after the bottleneck, `g = tanh(s W_post)`.
* `K` (POST, M), `V` (POST, M), `Q` (POST, M): manifold key, value, query.
* `W_out` (POST, O): linear readout (no bias).
* `T` (float, default 0.5): softmax temperature of the routing `pi`.
* `dt` (float, default 0.1): the workspace's Euler step.
* `gamma` (float, default 0.995): manifold decay.
* `wm_decay` (float, default 0.98): decay of the Hebbian workspace matrix;
  the write weight is `1 - wm_decay` (0.02).
* `mix` (float, default 0.7): `g = mix g + (1 - mix) tanh(q Mf)`.
* `routing` (str, default "hard"): "hard" is the spec's hard top-k mask,
  `z = (p * mask) W_c` (pi does not weight `z`; a straight-through
  estimator has this same forward value). "weighted" (corrected form only,
  11.7's option of weighting by pi): `z = (p * mask * w) W_c` with
  `w = n_winners * pi / sum_{winners} pi`, the routing probabilities
  renormalised over the winners to mean 1, so `z` keeps the hard form's scale.
* `legacy` (bool).

State (in this order; shapes are per sample):

0. `y` (O,): the last output (first, as every memory-native cell carries it).
1. `W_m` (WS*WS,): the Hebbian workspace matrix `(WS, WS)`, row-major.
2. `Mf` (M*POST,): the manifold `(M, POST)`, row-major.
3. corrected form only: `s` (WS,): the workspace state carried across steps.

Forward step: `p = gelu_t(x W_pre)`; `score`, `pi = softmax(score / T)`;
winners = the WS largest `pi`. Legacy: greedy selection, ties to the
lowest index, and when `WS > PRE` index 0 fills the remaining picks (so its
row of `W_c` counts several times). Corrected: the top `min(WS, PRE)`
indices, each at most once. `z` per `routing`. Then, with `a` the
workspace state the liquid step starts from:

* legacy: `a = z` (the original zeroes the workspace every step);
* corrected (CHOICE, 11.7 leaves it open): `a = s_{t-1} + z`, the bottleneck
  input added to the carried workspace instead of to a zeroed one. From a
  zero state the corrected step equals the legacy one.

`omega = a W_m^T`, `phi = tanh(a + omega)`,
`s = a + dt * (-(A + B |phi|) a + B phi)` (explicit Euler, as the original),
`W_m = wm_decay W_m + (1 - wm_decay) s (outer) s` (after `omega` is read),
`g = tanh(s W_post)`, `k = sigmoid(g K)`,
`Mf[m, i] = gamma Mf[m, i] + k_m g_i V[i, m]` (write, unscaled, in both forms),
`q = sigmoid(g Q)`, `rho = q Mf` (read after write),
`g = mix g + (1 - mix) tanh(rho)`, `y = g W_out`.

NDM (`ndm_step`), fast-weight formulation of 11.8
-------------------------------------------------

`p["variant"]` is "ndm" (ndm.c), "clamped" (ndm_.c) or "momentum"
(ndm_momentum.c). Keys of `p` (`I` inputs, `H` hidden, `M` manifold rows,
`O` outputs):

* `W_in` (I, H): base input weights `W_in^0` (the value at the start of
  the sequence); the effective weights are `W_in + dW_in`.
* `W_h` (H, H): base recurrent weights `W_h^0`, `[from][to]` (`h W_h`).
* `W_out` (H, O): linear readout (no bias); never changed by the step.
* `K` (H, M), `V` (H, M), `Q` (H, M): manifold key, value, query. Only
  "ndm" writes the manifold; the other variants never write it (spec 7.4,
  7.5), so their read is zero, they carry no manifold state and `K, V, Q`
  are not needed (`Q` is accepted and unused).
* `P_in` (I, H), `P_h` (H, H): plasticity masks at the start of the
  sequence. The step uses `P * c` with `c` the decay state below and then
  multiplies `c` by `delta` (the original's `P *= delta` after every
  forward call, 11.8's closed form `P(t) = P_start delta^t`). A cell that
  keeps `P` fixed within a call matches this with `delta = 1`.
* hyper-parameters (defaults per variant, spec 7.1, 7.4, 7.5):
  `dt` (0.1; clamped 0.05), `lam` weight decay (1e-4; clamped 1e-3),
  `eta` Hebbian strength (0.1; clamped 0.05), `kappa` trace decay (0.95),
  `gamma` manifold decay (0.995), `delta` plasticity decay (0.999),
  `mu` momentum of the weight velocity (momentum variant, 0.9),
  `base_plasticity` (momentum variant, 0.01),
  `write_scale` (ndm only; default 1 in legacy, `1 - gamma` corrected, see below).
* `variant`, `legacy` (bool).

State (in this order; shapes per sample):

0. `y` (O,): the last output.
1. `h` (H,): hidden state.
2. `pre` (H,): presynaptic trace of `|h|`.
3. `post` (H,): postsynaptic trace of `|h_dot|`.
4. `dW_in` (I*H,): fast change of the input weights, `(I, H)` row-major.
5. `dW_h` (H*H,): fast change of the recurrent weights, `(H, H)` row-major.
6. "ndm" only: `Mf` (M*H,): the manifold `(M, H)`, row-major.
   "momentum" only: `V_in` (I*H,) and `V_h` (H*H,): weight velocities.
last. `c` (1,): the plasticity decay factor accumulated since the sequence
   start (1.0 in a fresh state, see `ndm_initial_state`).

So "ndm": `(y, h, pre, post, dW_in, dW_h, Mf, c)`; "clamped":
`(y, h, pre, post, dW_in, dW_h, c)`; "momentum":
`(y, h, pre, post, dW_in, dW_h, V_in, V_h, c)`. `h_dot` is recomputed each
step (the original stores it only for its diagnostics), so it is no state.

Forward step (ndm.c, spec 7.2), with `W_in = W_in^0 + dW_in`, `W_h = ...`:
`u = x W_in`, `v = h W_h`; "ndm": `k = sigmoid(h K)`,
`Mf[m, i] = gamma Mf[m, i] + write_scale k_m h_i V[i, m]`, `q = sigmoid(h Q)`,
`rho = q Mf` (all from `h_{t-1}`, read after write), others `rho = 0`;
`h_dot = -h + tanh(u + v + rho)`, `h = h + dt h_dot`,
`pre = kappa pre + (1 - kappa) |h|`, `post = kappa post + (1 - kappa) |h_dot|`,
`Wdot_in = P_in (eta x (outer) post - lam W_in)`,
`Wdot_h = P_h (eta pre (outer) post - lam W_h)`; then
"ndm"/"clamped": `W += dt Wdot`; "momentum": `V = mu V + dt base_plasticity Wdot`,
`W += V`; `c *= delta`; `y = h W_out` (with the updated `h`, the readout
weights unchanged).

Clamped variant (spec 7.4), legacy: `u`, `v`, `rho` and their sum clipped
to +-20, `h_dot` to +-5, the new `h` to +-5, `|h|` and `|h_dot|` to [0, 5]
before the traces, the traces to [0, 2], each Hebbian term
(`eta x (outer) post`, `eta pre (outer) post`) and each `Wdot` to +-5, the
effective weights after the update to +-10, the output to +-20, the
arguments of sigmoid and tanh to +-20.

Corrected forms (CHOICES, 11.8 and 11.1 leave them open):

* "ndm": the manifold write is scaled by `write_scale = 1 - gamma`, so the
  manifold is an exponential moving average of `(k (outer) h) V^T` and stays
  within `max |h V|` instead of growing to ~200 times that and saturating
  the tanh (spec 7.2, 10.3). Everything else as legacy.
* "clamped": every clip `c` of the list above becomes the soft bound
  `c tanh(z / c)` (11.1), on `u`, `v`, `rho`, their sum, `h_dot`, the new
  `h`, the traces (`2 tanh(trace / 2)`), the Hebbian terms, each `Wdot` and
  the output. The effective weights after the update keep the hard clip to
  +-10 (11.1 treats weight clipping as a clip; a soft bound applied at every
  step would shrink every weight towards zero without any Hebbian change).
  The clips that are no-ops in legacy (`|h|`, `|h_dot|` to
  [0, 5] when `h`, `h_dot` are already within +-5; the sigmoid and tanh
  arguments after the +-20 sum clip) are dropped.
* "momentum": the same forward step as legacy (the corrections of 11.8,
  trainable base weights and no persistent drift, live outside the step).

`aux`: pass a dict as `sgw_step(p, x, state, aux)` / `ndm_step(...)` to
receive the step's intermediate values and the spec's diagnostics of that
step (see each function).
"""

import numpy as np

SGW_DEFAULTS = dict(T=0.5, dt=0.1, gamma=0.995, wm_decay=0.98, mix=0.7, routing="hard")

NDM_DEFAULTS = {
    "ndm": dict(dt=0.1, lam=1e-4, eta=0.1, kappa=0.95, gamma=0.995, delta=0.999),
    "clamped": dict(dt=0.05, lam=1e-3, eta=0.05, kappa=0.95, gamma=0.995, delta=0.999),
    "momentum": dict(
        dt=0.1, lam=1e-4, eta=0.1, kappa=0.95, gamma=0.995, delta=0.999,
        mu=0.9, base_plasticity=0.01,
    ),
}

VARIANTS = tuple(NDM_DEFAULTS)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def gelu_t(z):
    """The tanh-approximate GELU of spec section 0."""
    return 0.5 * z * (1.0 + np.tanh(0.7978845608 * (z + 0.044715 * z**3)))


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def _soft(z, bound):
    return bound * np.tanh(z / bound)


def _get(p, key, defaults):
    return p[key] if key in p else defaults[key]


# --- SGW-AMN (spec 6b.2, 11.7) ------------------------------------------------------


def sgw_winners(pi, ws, legacy):
    """Indices of the winners (with repeats in legacy when `ws > len(pi)`)."""
    order = np.argsort(-pi, kind="stable")  # descending, ties -> lowest index
    pre = len(pi)
    if ws <= pre:
        return order[:ws]
    if legacy:
        return np.concatenate([order, np.zeros(ws - pre, dtype=order.dtype)])
    return order


def sgw_step(p, x, state, aux=None):
    """One SGW-AMN step for one sample.

    `state`: legacy `(y, W_m, Mf)`, corrected `(y, W_m, Mf, s)` (see the
    module docstring). `aux` (optional dict) receives `p`, `score`, `pi`,
    `winners`, `z`, `s`, `g`, and the diagnostics `entropy`
    (`-sum pi ln pi` over `pi > 1e-10`), `sparsity` (fraction of
    `|s| > 0.1`), `penalty` (`sum |s|`), `energy` (`mean(Mf^2)`).
    """
    x = np.asarray(x, np.float64)
    legacy = bool(p["legacy"])
    ws = p["W_c"].shape[1]
    post_width = p["W_post"].shape[1]
    msz = p["K"].shape[1]
    T = _get(p, "T", SGW_DEFAULTS)
    dt = _get(p, "dt", SGW_DEFAULTS)
    gamma = _get(p, "gamma", SGW_DEFAULTS)
    wm_decay = _get(p, "wm_decay", SGW_DEFAULTS)
    mix = _get(p, "mix", SGW_DEFAULTS)
    routing = _get(p, "routing", SGW_DEFAULTS)
    if legacy:
        _, wm, mf = state
        s_prev = None
    else:
        _, wm, mf, s_prev = state
    wm = np.asarray(wm, np.float64).reshape(ws, ws)
    mf = np.asarray(mf, np.float64).reshape(msz, post_width)

    pre = gelu_t(x @ p["W_pre"])
    score = np.abs(pre) * np.abs(p["W_c"]).sum(axis=1)
    pi = _softmax(score / T)
    winners = sgw_winners(pi, ws, legacy)
    counts = np.bincount(winners, minlength=len(pi)).astype(np.float64)
    if routing == "hard":
        weight = counts
    elif routing == "weighted":
        if legacy:
            raise ValueError("routing='weighted' exists only in the corrected form")
        chosen = counts > 0
        weight = chosen * chosen.sum() * pi / pi[chosen].sum()
    else:
        raise ValueError(f"unknown routing {routing!r}")
    z = (pre * weight) @ p["W_c"]

    a = z if legacy else s_prev + z
    omega = a @ wm.T
    phi = np.tanh(a + omega)
    s = a + dt * (-(p["A"] + p["B"] * np.abs(phi)) * a + p["B"] * phi)
    wm = wm_decay * wm + (1.0 - wm_decay) * np.outer(s, s)

    g = np.tanh(s @ p["W_post"])
    k = _sigmoid(g @ p["K"])
    mf = gamma * mf + np.outer(k, g) * p["V"].T
    q = _sigmoid(g @ p["Q"])
    rho = q @ mf
    g = mix * g + (1.0 - mix) * np.tanh(rho)
    y = g @ p["W_out"]

    if aux is not None:
        nz = pi[pi > 1e-10]
        aux.update(
            p=pre, score=score, pi=pi, winners=winners, z=z, s=s, g=g,
            entropy=float(-(nz * np.log(nz)).sum()),
            sparsity=float(np.mean(np.abs(s) > 0.1)),
            penalty=float(np.abs(s).sum()),
            energy=float(np.mean(mf**2)),
        )
    new = [y, wm.reshape(-1), mf.reshape(-1)]
    if not legacy:
        new.append(s)
    return y, tuple(new)


def sgw_initial_state(p, batch=None):
    """The zero state of `sgw_step` (per sample, or `(batch, size)` arrays)."""
    ws = p["W_c"].shape[1]
    sizes = [p["W_out"].shape[1], ws * ws, p["K"].shape[1] * p["W_post"].shape[1]]
    if not p["legacy"]:
        sizes.append(ws)
    return tuple(np.zeros(n if batch is None else (batch, n)) for n in sizes)


# --- NDM (spec 7.2, 7.4, 7.5, 11.8) ---------------------------------------------------


def ndm_hyper(p):
    """The hyper-parameters of `p` with the variant's defaults filled in."""
    variant = p["variant"]
    if variant not in NDM_DEFAULTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    hyper = dict(NDM_DEFAULTS[variant])
    hyper.update({key: p[key] for key in hyper if key in p})
    if variant == "ndm":
        hyper["write_scale"] = p.get(
            "write_scale", 1.0 if p["legacy"] else 1.0 - hyper["gamma"]
        )
    return hyper


def ndm_step(p, x, state, aux=None):
    """One NDM step for one sample, variant `p["variant"]`.

    `state` per the module docstring. `aux` (optional dict) receives
    `u`, `v`, `rho`, `h_dot`, `W_in` and `W_h` (the effective weights after
    the step), `Wdot_in`, `Wdot_h`, and the diagnostics `velocity`
    (`mean` of `|Wdot_in|` and `|Wdot_h|` over all `I*H + H*H` entries; momentum:
    of `|V_in|` and `|V_h|`), `plasticity` (`mean` of the plasticity used this
    step, `P_in * c` and `P_h * c`), `energy` (`mean(Mf^2)`, 0 without a manifold).
    """
    x = np.asarray(x, np.float64)
    variant = p["variant"]
    legacy = bool(p["legacy"])
    hp = ndm_hyper(p)
    n_in, hidden = p["W_in"].shape
    clamped = variant == "clamped"
    if variant == "ndm":
        _, h, pre, post, dw_in, dw_h, mf, c = state
        mf = np.asarray(mf, np.float64).reshape(p["K"].shape[1], hidden)
    elif variant == "momentum":
        _, h, pre, post, dw_in, dw_h, v_in, v_h, c = state
        v_in = np.asarray(v_in, np.float64).reshape(n_in, hidden)
        v_h = np.asarray(v_h, np.float64).reshape(hidden, hidden)
    else:
        _, h, pre, post, dw_in, dw_h, c = state
    h, pre, post = (np.asarray(a, np.float64) for a in (h, pre, post))
    c = float(np.asarray(c).reshape(-1)[0])
    w_in = p["W_in"] + np.asarray(dw_in, np.float64).reshape(n_in, hidden)
    w_h = p["W_h"] + np.asarray(dw_h, np.float64).reshape(hidden, hidden)

    def bound(z, b):  # a clip of the clamped variant: hard (legacy) or soft
        if not clamped:
            return z
        return np.clip(z, -b, b) if legacy else _soft(z, b)

    u = bound(x @ w_in, 20.0)
    v = bound(h @ w_h, 20.0)
    if variant == "ndm":
        k = _sigmoid(h @ p["K"])
        mf = hp["gamma"] * mf + hp["write_scale"] * np.outer(k, h) * p["V"].T
        q = _sigmoid(h @ p["Q"])
        rho = q @ mf
    else:
        # No manifold write: the manifold stays zero and so does the read.
        rho = np.zeros(hidden)
    rho = bound(rho, 20.0)
    total = bound(u + v + rho, 20.0)
    if clamped and legacy:
        total = np.clip(total, -20.0, 20.0)  # tanh argument clip (a no-op here)
    h_dot = bound(-h + np.tanh(total), 5.0)
    h = bound(h + hp["dt"] * h_dot, 5.0)
    abs_h, abs_h_dot = np.abs(h), np.abs(h_dot)
    if clamped and legacy:
        abs_h, abs_h_dot = np.clip(abs_h, 0.0, 5.0), np.clip(abs_h_dot, 0.0, 5.0)
    kappa = hp["kappa"]
    pre = kappa * pre + (1.0 - kappa) * abs_h
    post = kappa * post + (1.0 - kappa) * abs_h_dot
    if clamped:
        pre = np.clip(pre, 0.0, 2.0) if legacy else _soft(pre, 2.0)
        post = np.clip(post, 0.0, 2.0) if legacy else _soft(post, 2.0)

    p_in, p_h = p["P_in"] * c, p["P_h"] * c
    hebb_in = bound(hp["eta"] * np.outer(x, post), 5.0)
    hebb_h = bound(hp["eta"] * np.outer(pre, post), 5.0)
    wdot_in = bound(p_in * (hebb_in - hp["lam"] * w_in), 5.0)
    wdot_h = bound(p_h * (hebb_h - hp["lam"] * w_h), 5.0)
    if variant == "momentum":
        step = hp["dt"] * hp["base_plasticity"]
        v_in = hp["mu"] * v_in + step * wdot_in
        v_h = hp["mu"] * v_h + step * wdot_h
        step_in, step_h = v_in, v_h
    else:
        step_in, step_h = hp["dt"] * wdot_in, hp["dt"] * wdot_h
    # The fast changes are accumulated as such (not recovered as W - W^0, which
    # loses their low digits to cancellation).
    dw_in = np.asarray(dw_in, np.float64).reshape(n_in, hidden) + step_in
    dw_h = np.asarray(dw_h, np.float64).reshape(hidden, hidden) + step_h
    w_in, w_h = w_in + step_in, w_h + step_h
    if clamped:  # a weight clip (11.1: weight clipping with ops.clip), in both forms
        dw_in = dw_in - (w_in - np.clip(w_in, -10.0, 10.0))
        dw_h = dw_h - (w_h - np.clip(w_h, -10.0, 10.0))
        w_in, w_h = np.clip(w_in, -10.0, 10.0), np.clip(w_h, -10.0, 10.0)
    c_new = c * hp["delta"]

    y = bound(h @ p["W_out"], 20.0)

    if aux is not None:
        if variant == "momentum":
            velocity = np.concatenate([np.abs(v_in).ravel(), np.abs(v_h).ravel()]).mean()
        else:
            velocity = np.concatenate([np.abs(wdot_in).ravel(), np.abs(wdot_h).ravel()]).mean()
        aux.update(
            u=u, v=v, rho=rho, h_dot=h_dot, W_in=w_in, W_h=w_h,
            Wdot_in=wdot_in, Wdot_h=wdot_h, velocity=float(velocity),
            plasticity=float(np.concatenate([p_in.ravel(), p_h.ravel()]).mean()),
            energy=float(np.mean(mf**2)) if variant == "ndm" else 0.0,
        )
    new = [y, h, pre, post, dw_in.reshape(-1), dw_h.reshape(-1)]
    if variant == "ndm":
        new.append(mf.reshape(-1))
    elif variant == "momentum":
        new += [v_in.reshape(-1), v_h.reshape(-1)]
    new.append(np.array([c_new]))
    return y, tuple(new)


def ndm_initial_state(p, batch=None):
    """The fresh state of `ndm_step`: zeros, and the decay factor `c = 1`."""
    n_in, hidden = p["W_in"].shape
    sizes = [p["W_out"].shape[1], hidden, hidden, hidden, n_in * hidden, hidden * hidden]
    if p["variant"] == "ndm":
        sizes.append(p["K"].shape[1] * hidden)
    elif p["variant"] == "momentum":
        sizes += [n_in * hidden, hidden * hidden]
    shape = (lambda n: n) if batch is None else (lambda n: (batch, n))
    return tuple(np.zeros(shape(n)) for n in sizes) + (np.ones(shape(1)),)


# --- running ------------------------------------------------------------------------


def run(step, p, x, states, mask=None):
    """Runs `step` over `x` (batch, time, features), one sample at a time.

    `states`: a sequence of `(batch, size)` arrays in the step's state order.
    Returns `(outputs (batch, time, O), final states (list of (batch, size)))`;
    a masked step (`mask[b, t]` false) keeps the sample's states and repeats
    its previous output (`states[0]`).
    """
    x = np.asarray(x, np.float64)
    batch, steps, _ = x.shape
    outputs, finals = [], []
    for b in range(batch):
        state = tuple(np.asarray(s[b], np.float64).copy() for s in states)
        outs = []
        for t in range(steps):
            if mask is None or mask[b, t]:
                _, state = step(p, x[b, t], state)
            outs.append(state[0])
        outputs.append(np.stack(outs))
        finals.append(state)
    return np.stack(outputs), [np.stack([f[i] for f in finals]) for i in range(len(finals[0]))]
