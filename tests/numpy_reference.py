"""Independent float64 NumPy implementation of the ENN cell, written from the spec.

Used as the golden reference for every backend. It shares no code with
`keras_engram`: parameters come in as plain arrays.
"""

import numpy as np


def relu(x):
    return np.maximum(x, 0.0)


def layer_norm(x, gamma, beta, eps=1e-6):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def unit(x):
    return x / np.sqrt(np.maximum((x**2).sum(-1, keepdims=True), 1e-12))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def cell_params(cell):
    """Reads an EngramCell's weights into float64 arrays (by role, not by order)."""
    import keras

    def g(variable):
        return keras.ops.convert_to_numpy(variable).astype(np.float64)

    p = {
        "Wz": g(cell.input_encoder.kernel),
        "bz": g(cell.input_encoder.bias),
        "M": g(cell.memory_bank),
        "Wu": g(cell.hidden_integrator.kernel),
        "bu": g(cell.hidden_integrator.bias),
        "Wo": g(cell.output_dense.kernel),
        "bo": g(cell.output_dense.bias),
        "layer_norm": cell.use_layer_norm,
        "alpha": cell.scale_factor,
        "tau": cell.temperature / (1.0 + 10.0 * cell.sparsity_strength),
        "eta": cell.hebbian_lr,
        "clip": cell.trace_clip,
        "scope": cell.trace_scope,
    }
    if cell.use_layer_norm:
        p.update(
            g1=g(cell.layer_norm1.gamma),
            b1=g(cell.layer_norm1.beta),
            g2=g(cell.layer_norm2.gamma),
            b2=g(cell.layer_norm2.beta),
        )
    return p


def step(p, x, h, H, mask=None, noise=None, h_dropout=None):
    """One step. H: (B, N, d) in sample scope, (N, d) in batch scope; mask: (B,) bool.

    h_dropout: (B, d) recurrent dropout mask (already scaled), applied to the
    previous hidden state where the integrator reads it.
    """
    x, h, H = (np.asarray(v, np.float64) for v in (x, h, H))
    z = relu(x @ p["Wz"] + p["bz"])
    if p["layer_norm"]:
        z = layer_norm(z, p["g1"], p["b1"])
    E = p["M"] + p["alpha"] * H
    if p["scope"] == "sample":
        sim = np.einsum("bd,bnd->bn", unit(z), unit(E))
    else:
        sim = unit(z) @ unit(E).T
    a = softmax(sim / p["tau"])
    m = np.einsum("bn,bnd->bd", a, E) if p["scope"] == "sample" else a @ E
    h_read = h if h_dropout is None else h * h_dropout
    u = relu(np.concatenate([z, m, h_read], -1) @ p["Wu"] + p["bu"])
    h_new = relu(u @ p["Wo"] + p["bo"])
    if p["layer_norm"]:
        h_new = layer_norm(h_new, p["g2"], p["b2"])
    active = np.ones(x.shape[0], bool) if mask is None else np.asarray(mask, bool)
    a = a * active[:, None]
    if p["scope"] == "sample":
        D = a[:, :, None] * z[:, None, :]
    else:
        D = (a.T @ z) / max(active.sum(), 1)
    drive = D if noise is None else D + noise
    H_new = (1 - p["eta"]) * H + p["eta"] * drive
    if p["clip"] is not None:
        H_new = np.clip(H_new, -p["clip"], p["clip"])
    h_new = np.where(active[:, None], h_new, h)
    if p["scope"] == "sample":
        H_new = np.where(active[:, None, None], H_new, H)
    elif not active.any():
        H_new = H
    return h_new, H_new, a


def sequence(p, X, h0=None, H0=None, mask=None, go_backwards=False, h_dropout=None):
    """Runs a whole sequence X (B, T, F).

    H0 is (B, N, d) in sample scope and (N, d) in batch scope. Returns
    (outputs (B, T, d) in processing order, h, H, attention (B, T, N)).
    """
    X = np.asarray(X, np.float64)
    B, T, _ = X.shape
    N, d = p["M"].shape
    h = np.zeros((B, d)) if h0 is None else np.asarray(h0, np.float64)
    if H0 is None:
        H = np.zeros((B, N, d)) if p["scope"] == "sample" else np.zeros((N, d))
    else:
        H = np.asarray(H0, np.float64)
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    outputs, attention = [], []
    for t in order:
        m_t = None if mask is None else mask[:, t]
        h, H, a = step(p, X[:, t], h, H, m_t, h_dropout=h_dropout)
        outputs.append(h)
        attention.append(a)
    return np.stack(outputs, 1), h, H, np.stack(attention, 1)


def dense(x, kernel, bias, activation=None):
    y = x @ kernel + bias
    if activation == "softmax":
        return softmax(y)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-y))
    return y


def attention_pooling(outputs, kernel, bias, mask=None):
    """tanh scores over time, softmax over time (masked steps excluded), weighted sum."""
    scores = np.tanh(outputs @ kernel + bias)[..., 0]
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(1, keepdims=True))
    weights = weights / weights.sum(1, keepdims=True)
    return (outputs * weights[..., None]).sum(1)
