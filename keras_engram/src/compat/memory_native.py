"""Reading the binary files written by the original memory-native C implementations' `save`.

The originals (AMRC, PMRC, AMN, DTPN) write native-endian int32 / float32 values
with no header or version; the layouts are those of the specification's
Appendix A. A file's kind is recognised from its size, which each layout
fixes from the sizes at its start. The weights come back in Keras
orientation (`x @ kernel`) under the names of the legacy cells' weights,
and the states as the legacy cell's states for one sample, as a freshly
built original holds them after loading the file (the values a file does
not hold are zeros).
"""

import os

import numpy as np

from keras_engram.src import validation

KINDS = ("amrc", "pmrc", "amn", "dtpn")
INT = np.dtype("=i4")
FLOAT = np.dtype("=f4")


class _Reader:
    def __init__(self, data):
        self.data = data
        self.offset = 0

    def ints(self, n):
        return self._take(INT, n).astype(np.int64)

    def floats(self, n):
        return self._take(FLOAT, n)

    def bools(self, n):
        values = self.data[self.offset : self.offset + n]
        self.offset += n
        return [bool(v) for v in values]

    def _take(self, dtype, n):
        size = dtype.itemsize * n
        values = np.frombuffer(self.data, dtype, n, self.offset).copy()
        self.offset += size
        return values


def _expected_size(kind, header):
    """The byte size a file of `kind` has, given its leading ints (or None if they are not sizes)."""
    if kind == "dtpn":
        return _dtpn_size(header)
    if kind == "amn":
        if len(header) < 4:
            return None
        i, h, o, m = header[:4]
        if min(i, h, o, m) <= 0:
            return None
        floats = 3 * h + i * h + h * o + i * o + m * h + 3 * h * m + 2 * h
        return 4 * (4 + 3 + 1) + 4 * floats
    i, h, o = header[:3]
    if min(i, h, o) <= 0:
        return None
    if kind == "amrc":
        return 4 * (3 + 3 + 1) + 4 * (i * h + h * o + h + o + 2 * h)
    floats = 2 * i * h + h * o + 2 * h * h + i * h + 3 * h + o + 3 * h + o + h
    return 4 * (3 + 4 + 1) + 3 + 4 * floats


def detect_kind(data):
    """The kind of original file `data` (bytes) is: "amrc", "pmrc", "amn" or "dtpn".

    Raises:
        ValueError: when no layout or more than one matches the file's size.
    """
    if len(data) < 16:
        raise ValueError(
            "Expected a file saved by an original AMRC, PMRC, AMN or DTPN `save` (at least 16 bytes). "
            f"Received: {len(data)} bytes"
        )
    header = [int(v) for v in np.frombuffer(data, INT, 4)]
    matches = [
        kind for kind in KINDS
        if _expected_size(kind, header) == len(data) and _plausible(kind, data)
    ]
    if len(matches) != 1:
        raise ValueError(
            "Expected a file saved by an original AMRC, PMRC, AMN or DTPN `save`: its size fixes its "
            f"layout. Received: {len(data)} bytes with leading ints {header}, matching "
            f"{matches or 'no layout'}"
        )
    return matches[0]


def _out_major(values, rows, cols):
    """A matrix stored `[out][in]` (rows = outputs) as a Keras `(in, out)` kernel."""
    return values.reshape(rows, cols).T.copy()


def read_memory_native_file(path, kind=None):
    """Reads a file written by an original AMRC, PMRC, AMN or DTPN `save`.

    Args:
        path: str or path-like, the file.
        kind: None (recognised from the file's size), or "amrc", "pmrc", "amn",
            "dtpn" (needed where two layouts give the file's size).

    Returns:
        A dict with `kind`, `config` (the legacy cell's constructor arguments
        and `input_dim`), `weights` (name -> array, Keras orientation),
        `states` (the legacy cell's states for one sample, `(1, size)` each)
        and `training_steps`.

    Raises:
        TypeError: `path` is not a path.
        ValueError: the file is not such a file, or not of `kind`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"Expected `path` to be a str or path-like. Received: path={path!r}")
    with open(path, "rb") as f:
        data = f.read()
    if kind is not None and len(data) >= 16:
        validation.one_of("kind", kind, KINDS)
        header = [int(v) for v in np.frombuffer(data, INT, 4)]
        found = kind if _expected_size(kind, header) == len(data) else detect_kind(data)
    else:
        found = detect_kind(data)
    if kind is not None and validation.one_of("kind", kind, KINDS) != found:
        raise ValueError(f"Expected a file of kind {kind!r}. Received: a {found} file ({path})")
    reader = _Reader(data)
    readers = {"amrc": _read_amrc, "pmrc": _read_pmrc, "amn": _read_amn, "dtpn": _read_dtpn}
    return readers[found](reader)


def _row(*values):
    return [np.asarray(v, np.float32).reshape(1, -1) for v in values]


def _read_amrc(r):
    i, h, o = (int(v) for v in r.ints(3))
    beta, alpha, lr = (float(v) for v in r.floats(3))
    steps = int(r.ints(1)[0])
    w = _out_major(r.floats(h * i), h, i)
    w_o = _out_major(r.floats(o * h), o, h)
    b, b_o, m, p = r.floats(h), r.floats(o), r.floats(h), r.floats(h)
    weights = {
        "kernel": w, "bias": b, "output_kernel": w_o, "output_bias": b_o,
        "beta": np.full(h, beta, np.float32), "alpha": np.full(h, alpha, np.float32),
    }
    config = dict(units=h, output_units=o, beta=beta, alpha=alpha, input_dim=i, learning_rate=lr)
    states = _row(np.zeros(o), m, np.zeros(h), p)  # [o, m, y_prev (not saved), y_prev2]
    return {"kind": "amrc", "config": config, "weights": weights, "states": states,
            "training_steps": steps}


def _read_pmrc(r):
    i, h, o = (int(v) for v in r.ints(3))
    beta, alpha, output_beta, lr = (float(v) for v in r.floats(4))
    steps = int(r.ints(1)[0])
    use_recurrent, use_gates, use_output_memory = r.bools(3)
    w = _out_major(r.floats(h * i), h, i)
    w_o = _out_major(r.floats(o * h), o, h)
    u = _out_major(r.floats(h * h), h, h)  # stored [to][from]
    b, b_o = r.floats(h), r.floats(o)
    w_g = _out_major(r.floats(h * i), h, i)
    u_g = _out_major(r.floats(h * h), h, h)
    b_g = r.floats(h)
    w_c = _out_major(r.floats(h * i), h, i)
    b_c = r.floats(h)
    m, p, prev_state, q, g = r.floats(h), r.floats(h), r.floats(h), r.floats(o), r.floats(h)
    if not np.array_equal(p, prev_state):
        raise ValueError(
            "Expected the PMRC file's two copies of the hidden output two steps back to agree "
            "(the original keeps them equal). Received: different values"
        )
    weights = {"kernel": w, "bias": b, "output_kernel": w_o, "output_bias": b_o,
               "beta": np.full(h, beta, np.float32)}
    if use_recurrent:
        weights["recurrent_kernel"] = u
    if use_gates:
        weights.update(gate_kernel=w_g, gate_recurrent_kernel=u_g, gate_bias=b_g,
                       candidate_kernel=w_c, candidate_bias=b_c)
    else:
        weights["alpha"] = np.full(h, alpha, np.float32)
    if use_output_memory:
        weights["output_beta"] = np.full(o, output_beta, np.float32)
    config = dict(
        units=h, output_units=o, beta=beta, alpha=alpha, output_beta=output_beta,
        use_recurrent=use_recurrent, use_learnable_gates=use_gates,
        use_output_memory=use_output_memory, input_dim=i, learning_rate=lr,
    )
    # [o, m, y_prev (not saved), y_prev2, o_prev2] (+ g)
    states = _row(np.zeros(o), m, np.zeros(h), p, q)
    if use_gates:
        states += _row(g)
    return {"kind": "pmrc", "config": config, "weights": weights, "states": states,
            "training_steps": steps}


def _read_amn(r):
    i, h, o, m = (int(v) for v in r.ints(4))
    lr, dt, decay = (float(v) for v in r.floats(3))
    steps = int(r.ints(1)[0])
    a, b_f, lam = r.floats(h), r.floats(h), r.floats(h)
    b_in = r.floats(i * h).reshape(i, h)
    c = r.floats(h * o).reshape(h, o)
    d = r.floats(i * o).reshape(i, o)
    manifold = r.floats(m * h)
    k = r.floats(h * m).reshape(h, m)
    v = r.floats(h * m).reshape(h, m)
    q = r.floats(h * m).reshape(h, m)
    hidden, lru = r.floats(h), r.floats(h)
    weights = {
        "input_kernel": b_in, "rigidity": a, "fluidity": b_f, "eigenvalues": lam,
        "output_kernel": c, "skip_kernel": d, "query_kernel": q, "key_kernel": k,
        "value_kernel": v,
    }
    config = dict(units=h, output_units=o, memory_size=m, dt=dt, memory_decay=decay,
                  input_dim=i, learning_rate=lr)
    states = _row(np.zeros(o), hidden, lru, manifold)  # [y, h, r, M]
    return {"kind": "amn", "config": config, "weights": weights, "states": states,
            "training_steps": steps}


# --- DTPN (Appendix A) ----------------------------------------------------------------


def _dtpn_size(header):
    if len(header) < 4:
        return None
    i, h, o, m = header[:4]
    if min(i, h, o, m) <= 0:
        return None
    floats = i * h + h * h + h * o + o + h * m + m * h + 2 * h + m * h + h
    return 4 * (4 + 4 + 1) + 4 * floats


def _plausible(kind, data):
    """Whether the scalars after the sizes can be a `kind` file's (checked for DTPN only).

    A DTPN file holds `beta, alpha, gamma` in [0, 1] (the original's setters
    clip them) and a float learning rate; where another layout stores an int
    (a step count), that int's bits read as a float are subnormal. Two
    layouts can give one size (a truncated AMN file can have a DTPN file's
    size), so the size alone does not decide.
    """
    if kind != "dtpn":
        return True
    beta, alpha, gamma, lr = np.frombuffer(data, FLOAT, 4, 16).astype(np.float64)
    rates_ok = all(0.0 <= v <= 1.0 for v in (beta, alpha, gamma))
    lr_ok = np.isfinite(lr) and (lr == 0.0 or abs(lr) >= np.finfo(np.float32).tiny)
    return bool(rates_ok and lr_ok)


def _read_dtpn(r):
    i, h, o, m = (int(v) for v in r.ints(4))
    beta, alpha, decay, lr = (float(v) for v in r.floats(4))
    steps = int(r.ints(1)[0])
    # Every matrix is stored in Keras orientation (U as [from][to]).
    w_in = r.floats(i * h).reshape(i, h)
    u = r.floats(h * h).reshape(h, h)
    w_out = r.floats(h * o).reshape(h, o)
    b_out = r.floats(o)
    k = r.floats(h * m).reshape(h, m)
    v = r.floats(m * h).reshape(m, h)
    echo, neuron, matrix, hidden = r.floats(h), r.floats(h), r.floats(m * h), r.floats(h)
    weights = {
        "input_kernel": w_in, "recurrent_kernel": u, "output_kernel": w_out,
        "output_bias": b_out, "key_kernel": k, "value_kernel": v,
        "beta": np.full(h, beta, np.float32), "alpha": np.full(h, alpha, np.float32),
        "memory_decay": np.full(m, decay, np.float32),
    }
    config = dict(units=h, output_units=o, memory_size=m, beta=beta, alpha=alpha,
                  memory_decay=decay, input_dim=i, learning_rate=lr)
    states = _row(np.zeros(o), hidden, echo, neuron, matrix)  # [y_hat (not saved), h, e, n, Mem]
    return {"kind": "dtpn", "config": config, "weights": weights, "states": states,
            "training_steps": steps}


def legacy_layer(contents, **layer_kwargs):
    """A built `legacy=True` layer (AMRC, PMRC, AMN or DTPN) holding the weights of a read file.

    Args:
        contents: what `read_memory_native_file` returns.
        **layer_kwargs: further layer arguments (`return_sequences`,
            `stateful`, ...); with `stateful=True` the layer is built for a
            batch of one and its memory is the file's.

    Returns:
        The layer.
    """
    from keras_engram.src.layers.memory_native.amn import AMN
    from keras_engram.src.layers.memory_native.amrc import AMRC
    from keras_engram.src.layers.memory_native.dtpn import DTPN
    from keras_engram.src.layers.memory_native.pmrc import PMRC

    cls = {"amrc": AMRC, "pmrc": PMRC, "amn": AMN, "dtpn": DTPN}[contents["kind"]]
    config = dict(contents["config"])
    input_dim = config.pop("input_dim")
    config.pop("learning_rate")
    layer = cls(legacy=True, **config, **layer_kwargs)
    layer.build((1 if layer.stateful else None, None, input_dim))
    by_name = {w.name: w for w in layer.cell.weights}
    for name, value in contents["weights"].items():
        by_name[name].assign(value)
    if layer.stateful:
        layer.set_memory_state(contents["states"])
    return layer


def load_memory_native(path, kind=None):
    """Loads a file saved by an original AMRC, PMRC, AMN or DTPN (`save`) as a `legacy=True` model.

    The original C implementations (hejhdiss/MEMORY-NATIVE-NEURAL_NETWORK)
    save native-endian binary files without a header; the kind is
    recognised from the file's size. The returned model
    (`keras_engram.memory_native.AMRC`, `PMRC`, `AMN` or
    `DualTrackPersistenceNetwork`) computes the
    original's forward step with the file's weights and memory, so
    `predict` continues from that memory as the original's does after
    `load` (the values the originals do not save, such as the last hidden
    output, start from zero, as in a freshly loaded original). Its
    `learning_rate` is the file's (Adam's rate from then on).

    Args:
        path: str or path-like, a file written by the original's `save`.
        kind: None, or "amrc", "pmrc", "amn", "dtpn": the original that
            wrote the file (needed only where two layouts give its size).

    Returns:
        The model.

    Raises:
        TypeError: `path` is not a path.
        ValueError: the file is not such a file (wrong kind or size).

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_engram.compat import load_memory_native
    >>> header = np.array([2, 3, 1], "i4").tobytes() + np.array([0.3, 0.1, 0.01], "f4").tobytes()
    >>> body = np.zeros(2 * 3 + 3 * 1 + 3 + 1 + 3 + 3, "f4").tobytes()
    >>> path = os.path.join(tempfile.mkdtemp(), "amrc.bin")
    >>> _ = open(path, "wb").write(header + np.array([0], "i4").tobytes() + body)
    >>> model = load_memory_native(path)
    >>> type(model).__name__, model.legacy, model.predict(np.ones((4, 2))).shape
    ('AMRC', True, (4, 1))
    """
    from keras_engram.src.memory_native.amn import AMN
    from keras_engram.src.memory_native.amrc import AMRC
    from keras_engram.src.memory_native.dual_track_persistence_network import (
        DualTrackPersistenceNetwork,
    )
    from keras_engram.src.memory_native.pmrc import PMRC

    contents = read_memory_native_file(path, kind)
    config = dict(contents["config"])
    kind = contents["kind"]
    cls = {"amrc": AMRC, "pmrc": PMRC, "amn": AMN, "dtpn": DualTrackPersistenceNetwork}[kind]
    sizes = dict(
        input_size=config.pop("input_dim"), hidden_size=config.pop("units"),
        output_size=config.pop("output_units"),
    )
    if kind == "dtpn":
        config["memory_matrix_size"] = config.pop("memory_size")
    learning_rate = config.pop("learning_rate")
    if not learning_rate > 0:
        learning_rate = 0.01
    model = cls(**sizes, learning_rate=learning_rate, legacy=True, **config)
    by_name = {w.name: w for w in model.cell.weights}
    for name, value in contents["weights"].items():
        by_name[name].assign(value)
    model.set_memory_state([s[0] for s in contents["states"]])
    return model
