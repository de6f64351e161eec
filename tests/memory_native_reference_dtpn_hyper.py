"""Float64 NumPy references of the DTPN and Hyper-AMN steps, from the specification.

Written from `memory-native.md` only (sections 5.2 and 6a.2 for the
originals' forward steps, 11.5 and 11.6 for the corrected ones), not from any
cell of the library: one sample at a time, per-head loops written out. All
vectors are row vectors and every weight is in Keras orientation (`x @ W`).

Conventions shared by both models
---------------------------------

* `step(p, x, state) -> (y_hat, new_state)` for ONE sample: `x` is `(I,)`,
  every state entry a 1-D float64 array. The FIRST state entry is always the
  step's output `y_hat` (O,), as for the memory-native cells of the library
  (a masked step repeats it).
* `run(step, p, x, states, mask=None)` runs a step over `x` of shape
  `(batch, time, I)`; `states` is a list of `(batch, size)` arrays in the
  order of the state tuple; a masked step (mask false) keeps the sample's
  states and repeats its previous output. Returns `(outputs (batch, time,
  O), final states as a list of (batch, size))`.
* `*_zero_states(p, batch)` give all-zero initial states, `*_params(rng,
  ...)` draw parameters with the original's initialisers (spec tables 5.1,
  6a.1) for tests.
* `p["legacy"]` (bool) selects the original's forward step (True) or the
  corrected one (False).
* Matrix-valued states are flattened row-major (C order).

DTPN (spec 5.2, 11.5)
---------------------

Keys of `p`:

* `"W_in"` (I, H): input kernel.
* `"U"` (H, H): recurrent kernel, `h_{t-1} @ U` (the original stores it
  [from][to], which is already Keras orientation).
* `"K"` (H, M): key kernel, `k_t = sigmoid(y_t @ K)`.
* `"V"` (M, H): memory content; row `m` is what gate `k_m` writes into row
  `m` of the matrix memory.
* `"W_out"` (H, O), `"b_out"` (O,): linear readout.
* `"beta"` (echo strength) and `"alpha"` (memory rate): scalar or `(H,)`.
* `"gamma"` (matrix decay): scalar or `(M,)` (one decay per memory row).
* `"legacy"`: bool.
* `"Q"` (H, M), OPTIONAL (absent or None by default): a query-based read
  (see below).

State tuple, in this order:

0. `y_hat` (O,): the last output.
1. `h` (H,): the final hidden state `h_{t-1}`.
2. `e` (H,): the echo, the previous step's `y`.
3. `n` (H,): the per-neuron leaky memory.
4. `Mem` (M*H,): the matrix memory `M_t` of shape (M, H), flattened.

Step (identical for `legacy` True and False):

    z   = x W_in + h U
    y   = tanh(z) + beta * e
    n'  = (1 - alpha) n + alpha y
    k   = sigmoid(y K)                          # (M,)
    Mem'[m, :] = gamma_m Mem[m, :] + k_m V[m, :]
    rho = (1/M) sum_m Mem'[m, :]                # row average, read after write
    h'  = tanh(y + n' + rho)
    e'  = y
    y_hat = h' W_out + b_out

Choice for the corrected form: section 11.5 says "5.2 verbatim (its echo is
already one step)", so the corrected and legacy steps are the SAME function;
`p["legacy"]` is accepted and changes nothing for DTPN. The query read that
11.5 suggests ("consider") is optional: when `p["Q"]` is given, the read
becomes `rho = (1/M) sigmoid(y Q) Mem'` (weights `q_m = sigmoid(y Q)_m` in
place of 1 in the row average; `y` is the current step's echo-augmented
pre-state, the same vector that makes the key). Without `"Q"` it is the
original's row average.

Hyper-AMN (spec 6a.2, 11.6)
---------------------------

`J` heads (J = 3 in the original; any J works here). Keys of `p`:

* `"B_in"` (I, H): shared input projection, `u_t = x B_in`.
* `"lam"` (H,) or (J, H): the LRU eigenvalues `lambda` (shared by the heads in
  the original; a `(J, H)` array gives each head its own).
* `"A"` (J, H), `"B"` (J, H): liquid rigidity and fluidity per head
  (`A_j`, `B_j` of the spec).
* `"gamma"` (J,) or (J, M): manifold decay per head (or per head and row).
* `"K"`, `"V"`, `"Q"` (J, H, M): per-head key, value and query kernels
  (`K_j = p["K"][j]`, ...).
* `"G"` (H, J): gate kernel applied to the previous merged state `mu_{t-1}`.
* `"G_x"` (I, J): gate kernel applied to the input `x_t`; used only in the
  corrected form (ignored, and may be absent, when `legacy` is True).
* `"X"` (J, J): cross-head mixing, `S_t[j] = sum_j' X[j, j'] S'[j']`, i.e.
  `S_t = X @ S'` with `S'` of shape (J, H): ROW index = receiving head,
  COLUMN index = sending head. (In Keras orientation, `S_t^T = S'^T @ X^T`.)
* `"C"` (H, O): readout of `mu`; `"D"` (I, O): skip readout of `x` (no bias).
* `"dt"`: scalar, the liquid step `Delta t` (0.1 in the original).
* `"legacy"`: bool.

State tuple, in this order:

0. `y_hat` (O,): the last output.
1. `S` (J*H,): per-head hidden states `S_{j,t}` of shape (J, H), flattened.
2. `mu` (H,): the merged state `mu_t`.
3. `Mem` (J*M*H,): the per-head manifolds `M_j` of shape (J, M, H), flattened.

Step:

    a   = softmax(mu G)                     # legacy: gate from the PREVIOUS merged state
    a   = softmax(x G_x + mu G)             # corrected (11.6): the gate also sees the input
    u   = x B_in
    for each head j:
        s   = lam * S[j] + u                                    # LRU
        phi = tanh(s)
        s   = s + dt * (-(A_j + B_j * |phi|) * s + B_j * phi)    # one Euler LC step
        k   = sigmoid(s K_j)                                     # (M,)
        Mem_j[m, i] = gamma_j Mem_j[m, i] + k_m s_i V_j[i, m]    # write first ...
        q   = sigmoid(s Q_j);  rho = q Mem_j                     # ... then read
        S'_j = 0.7 s + 0.3 tanh(rho)
    S_new = X @ S'                          # cross-head mixing (rows = receiving head)
    mu'   = sum_j a_j S_new[j]
    y_hat = mu' C + x D

Choice for the corrected form: 11.6 names only the gate timing as a forward
difference, so the corrected step is the legacy step with the gate
`softmax(x_t G_x + mu_{t-1} G)` (11.6's own example, with `G_mu = G`);
everything else (no state clip, the 0.7/0.3 mix, write before read) is the
same. With `G_x = 0` the two forms coincide.
"""

import numpy as np

MIX = 0.7  # Hyper-AMN: s = 0.7 s + 0.3 tanh(rho)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softmax(z):
    z = z - np.max(z)
    e = np.exp(z)
    return e / np.sum(e)


# --- DTPN (spec 5.2, 11.5) ----------------------------------------------------------


def dtpn_step(p, x, state):
    """One DTPN step for one sample. `state`: (y_hat, h, e, n, Mem flat (M*H,))."""
    H = p["W_in"].shape[1]
    M = p["K"].shape[1]
    _, h, e, n, mem = state
    mem = mem.reshape(M, H)
    gamma = np.asarray(p["gamma"], np.float64)
    gamma = np.broadcast_to(gamma.reshape(-1) if gamma.ndim else gamma, (M,))  # per memory row
    z = x @ p["W_in"] + h @ p["U"]
    y = np.tanh(z) + p["beta"] * e
    n_new = (1.0 - p["alpha"]) * n + p["alpha"] * y
    k = _sigmoid(y @ p["K"])
    mem_new = np.empty_like(mem)
    for m in range(M):
        mem_new[m, :] = gamma[m] * mem[m, :] + k[m] * p["V"][m, :]
    if p.get("Q") is not None:
        q = _sigmoid(y @ p["Q"])
        rho = sum(q[m] * mem_new[m, :] for m in range(M)) / M
    else:
        rho = sum(mem_new[m, :] for m in range(M)) / M
    h_new = np.tanh(y + n_new + rho)
    y_hat = h_new @ p["W_out"] + p["b_out"]
    return y_hat, (y_hat, h_new, y, n_new, mem_new.reshape(-1))


def dtpn_zero_states(p, batch):
    H = p["W_in"].shape[1]
    M = p["K"].shape[1]
    O = p["W_out"].shape[1]
    return [np.zeros((batch, size)) for size in (O, H, H, H, M * H)]


def dtpn_params(rng, I, H, O, M, legacy=False, beta=0.3, alpha=0.1, gamma=0.99, query=False):
    """DTPN parameters drawn with the original's initialisers (spec 5.1)."""
    p = dict(
        legacy=legacy,
        W_in=rng.normal(0.0, np.sqrt(2.0 / (I + H)), (I, H)),
        U=rng.normal(0.0, np.sqrt(1.0 / H), (H, H)),
        K=rng.normal(0.0, np.sqrt(1.0 / H), (H, M)),
        V=rng.normal(0.0, np.sqrt(1.0 / H), (M, H)),
        W_out=rng.normal(0.0, np.sqrt(2.0 / (H + O)), (H, O)),
        b_out=np.zeros(O),
        beta=beta, alpha=alpha, gamma=gamma,
    )
    if query:
        p["Q"] = rng.normal(0.0, np.sqrt(1.0 / H), (H, M))
    return p


# --- Hyper-AMN (spec 6a.2, 11.6) ----------------------------------------------------


def hyper_amn_step(p, x, state):
    """One Hyper-AMN step for one sample. `state`: (y_hat, S flat (J*H,), mu (H,), Mem flat (J*M*H,))."""
    J, H, M = p["K"].shape
    _, S, mu, mem = state
    S = S.reshape(J, H)
    mem = mem.reshape(J, M, H).copy()
    lam = np.broadcast_to(np.asarray(p["lam"], np.float64), (J, H))
    gamma = np.asarray(p["gamma"], np.float64)
    if p["legacy"]:
        a = _softmax(mu @ p["G"])
    else:
        a = _softmax(x @ p["G_x"] + mu @ p["G"])
    u = x @ p["B_in"]
    S_prime = np.zeros((J, H))
    for j in range(J):
        A_j, B_j = p["A"][j], p["B"][j]
        s = lam[j] * S[j] + u
        phi = np.tanh(s)
        s = s + p["dt"] * (-(A_j + B_j * np.abs(phi)) * s + B_j * phi)
        k = _sigmoid(s @ p["K"][j])
        g_j = gamma[j]
        for m in range(M):
            g_jm = g_j[m] if np.ndim(g_j) == 1 else g_j
            for i in range(H):
                mem[j, m, i] = g_jm * mem[j, m, i] + k[m] * s[i] * p["V"][j][i, m]
        q = _sigmoid(s @ p["Q"][j])
        rho = q @ mem[j]
        S_prime[j] = MIX * s + (1.0 - MIX) * np.tanh(rho)
    S_new = np.zeros((J, H))
    for j in range(J):
        for jp in range(J):
            S_new[j] += p["X"][j, jp] * S_prime[jp]
    mu_new = sum(a[j] * S_new[j] for j in range(J))
    y_hat = mu_new @ p["C"] + x @ p["D"]
    return y_hat, (y_hat, S_new.reshape(-1), mu_new, mem.reshape(-1))


def hyper_amn_zero_states(p, batch):
    J, H, M = p["K"].shape
    O = p["C"].shape[1]
    return [np.zeros((batch, size)) for size in (O, J * H, H, J * M * H)]


HYPER_INIT_RANGES = (  # (A range, B range) per head, spec 6a.1
    ((0.3, 0.6), (0.3, 0.7)),
    ((0.5, 0.8), (0.2, 0.5)),
    ((0.7, 1.0), (0.1, 0.3)),
)
HYPER_DECAYS = (0.990, 0.995, 0.999)


def hyper_amn_params(rng, I, H, O, M, legacy=False, J=3, dt=0.1):
    """Hyper-AMN parameters drawn with the original's initialisers (spec 6a.1).

    Heads beyond the third reuse the third head's ranges and decay. The
    corrected form's `G_x` is drawn like `G`, `N(0.1)`.
    """
    ranges = [HYPER_INIT_RANGES[min(j, 2)] for j in range(J)]
    X = rng.normal(0.0, 0.1, (J, J))
    np.fill_diagonal(X, 1.0)
    p = dict(
        legacy=legacy, dt=dt,
        B_in=rng.normal(0.0, np.sqrt(2.0 / (I + H)), (I, H)),
        lam=rng.uniform(0.95, 0.99, H),
        A=np.stack([rng.uniform(*ra, H) for ra, _ in ranges]),
        B=np.stack([rng.uniform(*rb, H) for _, rb in ranges]),
        gamma=np.array([HYPER_DECAYS[min(j, 2)] for j in range(J)]),
        K=rng.normal(0.0, np.sqrt(1.0 / H), (J, H, M)),
        V=rng.normal(0.0, np.sqrt(1.0 / H), (J, H, M)),
        Q=rng.normal(0.0, np.sqrt(1.0 / H), (J, H, M)),
        G=rng.normal(0.0, 0.1, (H, J)),
        X=X,
        C=rng.normal(0.0, np.sqrt(2.0 / (H + O)), (H, O)),
        D=rng.normal(0.0, 0.1 * np.sqrt(2.0 / (H + O)), (I, O)),
    )
    if not legacy:
        p["G_x"] = rng.normal(0.0, 0.1, (I, J))
    return p


def hyper_amn_head_activations(p, x, mu_prev):
    """The gate `a_t` (J,) of a step (the original's `get_head_activations`): a diagnostic."""
    if p["legacy"]:
        return _softmax(mu_prev @ p["G"])
    return _softmax(x @ p["G_x"] + mu_prev @ p["G"])


# --- running ------------------------------------------------------------------------


def run(step, p, x, states, mask=None):
    """Runs `step` over `x` (batch, time, features), one sample at a time.

    Returns `(outputs (batch, time, out), final states (list of (batch, size)))`;
    a masked step keeps the sample's states and repeats its previous output
    (the first state entry).
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
