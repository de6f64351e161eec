"""The cross-backend parity battery: one registered case per public layer/model mode.

A case builds a functional `keras.Model` whose named inputs are NumPy arrays
and whose outputs are a list of float tensors, fixes every weight from a NumPy
RNG (so the weights do not depend on the backend's RNG), and may give golden
outputs from the float64 NumPy reference. New systems add cases with
`@register_case`.
"""

import dataclasses
import os
import sys

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import memory_native_reference as mn_ref  # noqa: E402
import memory_native_reference_sgw_ndm as sgw_ndm_ref  # noqa: E402
import numpy_reference as ref  # noqa: E402

from keras_engram.layers import AMN, AMRC, PMRC, Engram, EngramAttentionPooling, EngramCell  # noqa: E402
from keras_engram.layers import NDM, SGWAMN  # noqa: E402
from keras_engram.models import EngramClassifier, EngramNetwork, EngramRegressor  # noqa: E402

CASES = {}


@dataclasses.dataclass
class Case:
    name: str
    build: callable  # () -> keras.Model
    inputs: dict  # name -> np.ndarray
    golden: callable = None  # (model, inputs) -> list of float64 arrays, or None
    stateful: bool = False  # forward runs twice (continuation); states reset between phases
    # Outputs and gradients with training=True: the step torch trains with
    # (hand-written gradients of the per-sample trace); for noise-free cases only.
    training: bool = False


def register_case(name, inputs, golden=None, stateful=False, training=False):
    def decorator(build):
        CASES[name] = Case(name, build, inputs, golden, stateful, training)
        return build

    return decorator


def set_seeded_weights(model, seed):
    """Every float weight from one NumPy stream: kernels ~ N(0, 1/fan_in), gammas ~ 1.

    Biases are drawn around +0.1 so that no case starts with a layer whose
    ReLU units are all (nearly) zero: there LayerNorm (epsilon 1e-6) divides
    by a vanishing spread and float32 rounding at the ReLU kink is amplified
    ~1000x on every backend, float64 NumPy aside, which measures that
    degenerate point rather than the backends' arithmetic.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape = tuple(variable.shape)
        if "rnn_state" in variable.path:
            value = np.zeros(shape)
        elif _is_memory_native_rate(variable):
            value = rng.uniform(0.2, 0.9, shape)  # rates, eigenvalues, time constants: in range
        elif "gamma" in variable.path:
            value = rng.uniform(0.7, 1.3, shape)
        elif len(shape) >= 2:
            value = rng.normal(0.0, (1.0 / shape[0]) ** 0.5, shape)
        else:
            value = rng.normal(0.1, 0.1, shape)
        # Rounded to float32 first, so the float64 reference has the same weights.
        variable.assign(value.astype("float32").astype(variable.dtype))


MEMORY_NATIVE_CELLS = ("amrc_cell", "pmrc_cell", "amn_cell")
MEMORY_NATIVE_RATES = ("beta", "alpha", "output_beta", "rigidity", "fluidity", "eigenvalues")


def _is_memory_native_rate(variable):
    return variable.name in MEMORY_NATIVE_RATES and any(
        cell in variable.path for cell in MEMORY_NATIVE_CELLS
    )


# --- inputs -------------------------------------------------------------------

_rng = np.random.default_rng(2024)
B, T, F, HID, SLOTS = 4, 6, 5, 8, 6
X = _rng.normal(size=(B, T, F)).astype("float32")
MASK = _rng.uniform(size=(B, T)) > 0.3
MASK[0] = False  # one fully padded sample
MASK[1, :2] = True
X_SQUARE = _rng.normal(size=(SLOTS, T, F)).astype("float32")  # batch == memory_size
H0 = _rng.normal(0, 0.5, (B, HID)).astype("float32")
TRACE0 = _rng.uniform(-0.1, 0.1, (B, SLOTS * HID)).astype("float32")
CELL_X = _rng.normal(size=(B, F)).astype("float32")
MASK_SQUARE = _rng.uniform(size=(SLOTS, T)) > 0.25
MASK_SQUARE[0] = False

ENGRAM = dict(hidden_dim=HID, memory_size=SLOTS, hebbian_lr=0.3, trace_noise_stddev=0.0)


def walk_layers(layer):
    """`layer` and every layer inside it, through public attributes only.

    Follows `Model.layers`, an RNN's `cell` (and a stacked cell's `cells`),
    a `Bidirectional`'s `forward_layer` / `backward_layer` and a wrapper's
    `layer`; each layer once, parents before their children.
    """
    found, stack, seen = [], [layer], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        children = list(current.layers) if isinstance(current, keras.Model) else []
        for name in ("cell", "forward_layer", "backward_layer", "layer"):
            child = getattr(current, name, None)
            if isinstance(child, keras.layers.Layer):
                children.append(child)
        children += [c for c in getattr(current, "cells", None) or [] if isinstance(c, keras.layers.Layer)]
        stack.extend(reversed(children))
    return found


def _cell_params(model):
    return ref.cell_params(next(layer for layer in walk_layers(model) if isinstance(layer, EngramCell)))


def _ref_trace(p, H, batch):
    return H.reshape(batch, -1) if p["scope"] == "sample" else np.broadcast_to(H.reshape(1, -1), (batch, H.size))


def _engram_golden(go_backwards=False, masked=False, with_state=False):
    def golden(model, inputs):
        p = _cell_params(model)
        x = inputs["x"]
        batch = x.shape[0]
        H0 = None
        if with_state:
            H0 = inputs["trace"].astype(np.float64).reshape(batch, SLOTS, HID)
            if p["scope"] == "batch":
                H0 = H0.mean(0)
        out, h, H, att = ref.sequence(
            p, x, inputs.get("h") if with_state else None, H0,
            mask=inputs.get("mask") if masked else None, go_backwards=go_backwards,
        )
        return [out, h, _ref_trace(p, H, batch), att]

    return golden


def _engram_model(inputs, with_mask=False, with_state=False, **layer_kwargs):
    x = keras.Input(inputs["x"].shape[1:], name="x")
    feeds = {"x": x}
    kwargs = {}
    if with_mask:
        feeds["mask"] = keras.Input(inputs["mask"].shape[1:], dtype="bool", name="mask")
        kwargs["mask"] = feeds["mask"]
    if with_state:
        feeds["h"] = keras.Input((HID,), name="h")
        feeds["trace"] = keras.Input((SLOTS * HID,), name="trace")
        kwargs["initial_state"] = [feeds["h"], feeds["trace"]]
    layer = Engram(**{**ENGRAM, **layer_kwargs}, return_sequences=True, return_state=True)
    outputs = layer(x, return_attention_scores=True, **kwargs)
    return keras.Model(feeds, list(outputs))


# --- the ENN cases --------------------------------------------------------------

for _scope in ("sample", "batch"):
    for _variant in ("plain", "masked", "backwards_masked", "square_masked", "initial_state"):
        _masked = "masked" in _variant
        _x = X_SQUARE if _variant.startswith("square") else X
        _inputs = {"x": _x}
        if _masked:
            _inputs["mask"] = MASK if _x is X else MASK_SQUARE
        if _variant == "initial_state":
            _inputs.update(h=H0, trace=TRACE0)

        def _build(inputs=_inputs, scope=_scope, variant=_variant, masked=_masked):
            return _engram_model(
                inputs, with_mask=masked, with_state=variant == "initial_state",
                trace_scope=scope, go_backwards=variant.startswith("backwards"),
            )

        register_case(
            f"engram_{_scope}_{_variant}", _inputs,
            golden=_engram_golden(
                go_backwards=_variant.startswith("backwards"), masked=_masked,
                with_state=_variant == "initial_state",
            ),
        )(_build)


# The same layer in training mode (noise off): on torch its gradients come from
# the library's hand-written backward passes of the trace (its trace_gradients ops).
# hebbian_lr 0.6 drives the trace into its clip bound.
for _variant in ("masked", "initial_state"):
    _inputs = {"x": X}
    if _variant == "masked":
        _inputs["mask"] = MASK
    else:
        _inputs.update(h=H0, trace=TRACE0)

    def _build_training(inputs=_inputs, variant=_variant):
        return _engram_model(
            inputs, with_mask=variant == "masked", with_state=variant == "initial_state",
            trace_scope="sample", hebbian_lr=0.6,
        )

    register_case(
        f"engram_sample_training_{_variant}", _inputs, training=True,
        golden=_engram_golden(masked=_variant == "masked", with_state=_variant == "initial_state"),
    )(_build_training)


@register_case("engram_stateful", {"x": X}, stateful=True)
def _stateful():
    x = keras.Input(batch_shape=(B, None, F), name="x")
    out = Engram(**ENGRAM, stateful=True, return_sequences=True)(x)
    return keras.Model({"x": x}, [out])


def _cell_golden(model, inputs):
    p = _cell_params(model)
    H = inputs["trace"].reshape(B, SLOTS, HID)
    h, H_new, _ = ref.step(p, inputs["x"], inputs["h"], H)
    return [h, h, H_new.reshape(B, -1)]


@register_case("cell_step", {"x": CELL_X, "h": H0, "trace": TRACE0}, golden=_cell_golden)
def _cell():
    x = keras.Input((F,), name="x")
    h = keras.Input((HID,), name="h")
    trace = keras.Input((SLOTS * HID,), name="trace")
    cell = EngramCell(**ENGRAM)
    out, (h_new, trace_new) = cell(x, [h, trace])
    return keras.Model({"x": x, "h": h, "trace": trace}, [out, h_new, trace_new])


def _pool_golden(model, inputs):
    dense = model.get_layer("attention").attention_dense
    k = keras.ops.convert_to_numpy(dense.kernel).astype(np.float64)
    b = keras.ops.convert_to_numpy(dense.bias).astype(np.float64)
    return [ref.attention_pooling(inputs["x"].astype(np.float64), k, b, inputs["mask"])]


@register_case("attention_pooling_masked", {"x": X, "mask": MASK | np.eye(B, T, dtype=bool)},
               golden=_pool_golden)
def _pooling():
    x = keras.Input((T, F), name="x")
    mask = keras.Input((T,), dtype="bool", name="mask")
    return keras.Model({"x": x, "mask": mask}, [EngramAttentionPooling(name="attention")(x, mask=mask)])


def _wrap(model):
    x = keras.Input(X.shape[1:], name="x")
    return keras.Model({"x": x}, [model(x)])


def _classifier_golden(model, inputs):
    clf = model.layers[-1]
    p = _cell_params(clf)
    out, *_ = ref.sequence(p, inputs["x"])
    head = clf.layers[-1]
    k, b = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in head.weights)
    return [ref.dense(out[:, -1], k, b, "softmax")]


@register_case("classifier", {"x": X}, golden=_classifier_golden)
def _classifier():
    return _wrap(EngramClassifier(input_shape=(T, F), num_classes=3, **ENGRAM))


@register_case("classifier_seed_mode", {"x": X})
def _classifier_seed():
    return _wrap(EngramClassifier(input_shape=(T, F), num_classes=3, trace_scope="batch", **ENGRAM))


@register_case("regressor_sequences", {"x": X})
def _regressor():
    return _wrap(EngramRegressor(input_shape=(T, F), output_dim=2, **ENGRAM))


def _network_golden(model, inputs):
    net = model.layers[-1]
    p = _cell_params(net)
    out, *_ = ref.sequence(p, inputs["x"])
    k, b = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in net.attention.weights)
    pooled = ref.attention_pooling(out, k, b)
    k, b = (keras.ops.convert_to_numpy(w).astype(np.float64) for w in net.output_layer.weights)
    return [ref.dense(pooled, k, b, "sigmoid")]


@register_case("network_attention_head", {"x": X}, golden=_network_golden)
def _network():
    net = EngramNetwork(output_units=2, output_activation="sigmoid", use_attention=True, **ENGRAM)
    return _wrap(net)


# --- the memory-native cells (AMRC, PMRC, AMN) ------------------------------------

MEMORY_NATIVE = {
    "amrc": (AMRC, {}),
    "pmrc": (PMRC, {"use_learnable_gates": True, "use_output_memory": True}),
    "amn": (AMN, {"memory_size": SLOTS, "dt": 0.3, "memory_decay": 0.9}),
}


def _memory_native_golden(masked, with_state):
    def golden(model, inputs):
        cell = next(layer for layer in walk_layers(model) if layer.name.endswith("_cell"))
        states = [inputs[f"state_{i}"] for i in range(len(cell.state_size))] if with_state else None
        out, finals = mn_ref.sequence(cell, inputs["x"], states, inputs.get("mask") if masked else None)
        return [out, *finals]

    return golden


def _memory_native_model(system, legacy, inputs, masked, with_state):
    cls, kwargs = MEMORY_NATIVE[system]
    layer = cls(HID, 3, legacy=legacy, return_sequences=True, return_state=True, **kwargs)
    x = keras.Input(inputs["x"].shape[1:], name="x")
    feeds, call = {"x": x}, {}
    if masked:
        feeds["mask"] = call["mask"] = keras.Input(inputs["mask"].shape[1:], dtype="bool", name="mask")
    if with_state:
        states = [keras.Input(inputs[f"state_{i}"].shape[1:], name=f"state_{i}")
                  for i in range(len(layer.cell.state_size))]
        feeds.update({f"state_{i}": s for i, s in enumerate(states)})
        call["initial_state"] = states
    return keras.Model(feeds, list(layer(x, **call)))


def _memory_native_states(system, legacy):
    cls, kwargs = MEMORY_NATIVE[system]
    cell = cls(HID, 3, legacy=legacy, **kwargs).cell
    rng = np.random.default_rng([len(system), int(legacy)])
    states = [rng.normal(0, 0.5, (B, size)).astype("float32") for size in cell.state_size]
    if system == "pmrc":
        states[-1] = rng.uniform(0, 1, states[-1].shape).astype("float32")  # the gate
    return {f"state_{i}": s for i, s in enumerate(states)}


for _system in MEMORY_NATIVE:
    for _legacy in (False, True):
        # Corrected steps with a mask, legacy steps from explicit initial states.
        _inputs = {"x": X}
        if _legacy:
            _inputs.update(_memory_native_states(_system, _legacy))
        else:
            _inputs["mask"] = MASK

        def _build_memory_native(system=_system, legacy=_legacy, inputs=_inputs):
            return _memory_native_model(system, legacy, inputs, not legacy, legacy)

        register_case(
            f"{_system}_legacy_initial_state" if _legacy else f"{_system}_masked", _inputs,
            golden=_memory_native_golden(not _legacy, _legacy),
        )(_build_memory_native)


# --- the memory-native cells DTPN and Hyper-AMN ----------------------------------------

import test_memory_native_dtpn as dtpn_tests  # noqa: E402
import test_memory_native_hyper_amn as hyper_tests  # noqa: E402

from keras_engram.layers import DTPN, HyperAMN  # noqa: E402

MEMORY_NATIVE_CELLS = MEMORY_NATIVE_CELLS + ("dtpn_cell", "hyper_amn_cell")
MEMORY_NATIVE_RATES = MEMORY_NATIVE_RATES + ("memory_decay",)
DTPN_HYPER = {
    "dtpn": (DTPN, {"memory_size": SLOTS}, dtpn_tests.reference_sequence),
    "hyper_amn": (HyperAMN, {"memory_size": 3}, hyper_tests.reference_sequence),
}


def _dtpn_hyper_golden(system):
    def golden(model, inputs):
        cell = next(layer for layer in walk_layers(model) if layer.name.endswith("_cell"))
        out, finals = DTPN_HYPER[system][2](cell, inputs["x"], mask=inputs["mask"])
        return [out, *finals]
# --- the memory-native cells SGW-AMN and NDM ------------------------------------------
# Goldens from tests/memory_native_reference_sgw_ndm.py (another author's reference).
# Its corrected "clamped" and "momentum" steps do not write the manifold, which the
# library's corrected steps do: that case has no golden. The models return the output
# sequence and the states the reference also has, in the reference's order.

SGW_NDM = {
    "sgw_amn": (SGWAMN, {"pre_units": 8, "workspace_units": 3, "memory_size": 4}),
    "ndm": (NDM, {"memory_size": 4, "variant": "ndm"}),
    "ndm_clamped": (NDM, {"memory_size": 4, "variant": "clamped"}),
    "ndm_momentum": (NDM, {"memory_size": 4, "variant": "momentum"}),
}


def _f64(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float64)


def _sgw_ndm_names(cell):
    """The cell's states that the reference has, in the reference's order (its last, `c`, aside)."""
    if not hasattr(cell, "variant"):
        return ["output", "workspace_matrix", "manifold"] + ([] if cell.legacy else ["workspace"])
    names = ["output", "hidden", "pre_trace", "post_trace", "input_fast_weights",
             "recurrent_fast_weights"]
    return names + {"ndm": ["manifold"], "clamped": [],
                    "momentum": ["input_velocity", "recurrent_velocity"]}[cell.variant]


def _sgw_ndm_reference(cell):
    """`(step, params)` of the reference for a built SGW-AMN or NDM cell."""
    if not hasattr(cell, "variant"):
        p = dict(
            legacy=cell.legacy, W_pre=_f64(cell.pre_kernel), W_c=_f64(cell.competition_kernel),
            A=_f64(cell.rigidity), B=_f64(cell.fluidity), W_post=_f64(cell.post_kernel),
            K=_f64(cell.key_kernel), V=_f64(cell.value_kernel), Q=_f64(cell.query_kernel),
            W_out=_f64(cell.output_kernel), T=cell.temperature, dt=cell.dt,
            gamma=cell.memory_decay, wm_decay=cell.workspace_decay, mix=0.7,
            routing="weighted" if cell.routing == "weighted" and not cell.legacy else "hard",
        )
        return sgw_ndm_ref.sgw_step, p
    p = dict(
        variant=cell.variant, legacy=cell.legacy, W_in=_f64(cell.input_kernel),
        W_h=_f64(cell.recurrent_kernel), W_out=_f64(cell.output_kernel), K=_f64(cell.key_kernel),
        V=_f64(cell.value_kernel), Q=_f64(cell.query_kernel), P_in=_f64(cell.input_plasticity),
        P_h=_f64(cell.recurrent_plasticity), dt=cell.dt, lam=cell.weight_decay,
        eta=cell.hebbian_strength, kappa=cell.trace_decay, gamma=cell.memory_decay,
        delta=cell.plasticity_decay,
    )
    if cell.variant == "momentum":
        p.update(mu=cell.momentum, base_plasticity=cell.base_plasticity)
    return sgw_ndm_ref.ndm_step, p


def _sgw_ndm_golden(masked, with_state):
    def golden(model, inputs):
        cell = next(layer for layer in walk_layers(model) if layer.name.endswith("_cell"))
        step, p = _sgw_ndm_reference(cell)
        batch = inputs["x"].shape[0]
        if with_state:
            start = [inputs[f"state_{i}"] for i in range(len(cell.state_size))]
        else:
            start = [np.zeros((batch, n)) for n in cell.state_size]
        ours = dict(zip(cell.state_names, (np.asarray(v, np.float64) for v in start)))
        names = _sgw_ndm_names(cell)
        states = [ours[n] for n in names]
        if hasattr(cell, "variant"):
            states.append(cell.plasticity_decay ** ours["steps"])  # the decay factor c
        out, finals = sgw_ndm_ref.run(step, p, inputs["x"], states, inputs.get("mask") if masked else None)
        return [out, *finals[: len(names)]]

    return golden


def _dtpn_hyper_model(system):
    cls, kwargs, _ = DTPN_HYPER[system]
    layer = cls(HID, 3, return_sequences=True, return_state=True, **kwargs)
    x = keras.Input(X.shape[1:], name="x")
    mask = keras.Input(MASK.shape[1:], dtype="bool", name="mask")
    return keras.Model({"x": x, "mask": mask}, list(layer(x, mask=mask)))


for _system in DTPN_HYPER:
    register_case(
        f"{_system}_masked", {"x": X, "mask": MASK}, golden=_dtpn_hyper_golden(_system)
    )(lambda system=_system: _dtpn_hyper_model(system))
def _sgw_ndm_model(system, legacy, inputs, masked, with_state):
    cls, kwargs = SGW_NDM[system]
    layer = cls(HID, 3, legacy=legacy, return_sequences=True, return_state=True, **kwargs)
    layer.build((None, None, inputs["x"].shape[-1]))
    x = keras.Input(inputs["x"].shape[1:], name="x")
    feeds, call = {"x": x}, {}
    if masked:
        feeds["mask"] = call["mask"] = keras.Input(inputs["mask"].shape[1:], dtype="bool", name="mask")
    if with_state:
        states = [keras.Input(inputs[f"state_{i}"].shape[1:], name=f"state_{i}")
                  for i in range(len(layer.cell.state_size))]
        feeds.update({f"state_{i}": s for i, s in enumerate(states)})
        call["initial_state"] = states
    out, *finals = layer(x, **call)
    final = dict(zip(layer.cell.state_names, finals))
    return keras.Model(feeds, [out, *(final[n] for n in _sgw_ndm_names(layer.cell))])


def _sgw_ndm_states(system, legacy):
    cls, kwargs = SGW_NDM[system]
    layer = cls(HID, 3, legacy=legacy, **kwargs)
    layer.build((None, None, F))
    rng = np.random.default_rng([len(system), 7, int(legacy)])
    states = {}
    for i, (name, size) in enumerate(zip(layer.cell.state_names, layer.cell.state_size)):
        if name == "steps":
            value = rng.integers(0, 20, (B, 1))
        elif name in ("pre_trace", "post_trace"):
            value = rng.uniform(0, 1, (B, size))
        elif name == "manifold" and system != "ndm" and system != "sgw_amn":
            value = np.zeros((B, size))  # never written by the legacy clamped / momentum step
        else:
            value = rng.normal(0, 0.4, (B, size))
        if name == "workspace_matrix":  # symmetric, as every written one
            square = value.reshape(B, 3, 3)
            value = (0.5 * (square + square.transpose(0, 2, 1))).reshape(B, -1)
        states[f"state_{i}"] = value.astype("float32")
    return states


# (case name, system, legacy, masked, from explicit initial states, with a golden)
for _name, _system, _legacy, _masked, _with_state, _has_golden in (
    ("sgw_amn_masked", "sgw_amn", False, True, False, True),
    ("sgw_amn_legacy_initial_state", "sgw_amn", True, False, True, True),
    ("ndm_masked", "ndm", False, True, False, True),
    ("ndm_clamped_masked", "ndm_clamped", False, True, False, False),
    ("ndm_momentum_legacy_initial_state", "ndm_momentum", True, False, True, True),
):
    _inputs = {"x": X}
    if _masked:
        _inputs["mask"] = MASK
    if _with_state:
        _inputs.update(_sgw_ndm_states(_system, _legacy))

    def _build_sgw_ndm(system=_system, legacy=_legacy, inputs=_inputs, masked=_masked,
                       with_state=_with_state):
        return _sgw_ndm_model(system, legacy, inputs, masked, with_state)

    register_case(
        _name, _inputs, golden=_sgw_ndm_golden(_masked, _with_state) if _has_golden else None,
    )(_build_sgw_ndm)


# --- Memoria: the Abstractor and the GPT-2 block with Memoria's cross-attention -------

import memoria_block_reference as memoria_ref  # noqa: E402

from keras_engram.memoria import Abstractor, MemoriaTransformerBlock  # noqa: E402

MEMORIA_HEADS, MEMORIA_INNER, MEMORIA_NW, MEMORIA_R = 2, 12, 3, 5
_memoria_rng = np.random.default_rng(2025)
MEMORIA_H = _memoria_rng.normal(size=(B, T, HID)).astype("float32")
MEMORIA_WM = _memoria_rng.normal(size=(B, MEMORIA_NW, HID)).astype("float32")
MEMORIA_MEMORIES = _memoria_rng.normal(size=(B, MEMORIA_R, HID)).astype("float32")
MEMORIA_MASK = np.array([[1, 1, 0, 1, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 0, 0, 0, 0]], bool)
MEMORIA_MEMORIES[~MEMORIA_MASK] = 0.0  # null lanes are zero vectors, as Memoria returns them


def _memoria_params(layer, names):
    """{sublayer name: {"kernel", "bias"} or {"gamma", "beta"}} in float64, from a built layer."""
    params = {}
    for name in names:
        sub = getattr(layer, name)
        keys = ("gamma", "beta") if isinstance(sub, keras.layers.LayerNormalization) else ("kernel", "bias")
        params[name] = {k: keras.ops.convert_to_numpy(getattr(sub, k)).astype(np.float64) for k in keys}
    return params


def _freeze_key_biases(model):
    """Attention key biases out of the trained weights.

    A key bias adds the same `q . b` to every score of a query, which the
    softmax cancels: its gradient is zero, so its computed value is rounding
    noise (~1e-8) and a comparison relative to it measures nothing.
    """
    for variable in model.weights:
        if variable.path.endswith("key/bias"):
            variable.trainable = False
    return model


def _abstractor_golden(model, inputs):
    layer = model.get_layer("abstractor")
    params = {"queries": keras.ops.convert_to_numpy(layer.queries).astype(np.float64)}
    for name, sub in (("key", layer.key_dense), ("value", layer.value_dense),
                      ("feedforward", layer.feedforward_dense), ("output", layer.output_dense)):
        params[name] = {k: keras.ops.convert_to_numpy(getattr(sub, k)).astype(np.float64)
                        for k in ("kernel", "bias")}
    return [memoria_ref.abstractor_forward(params, inputs["h"])]


@register_case("memoria_abstractor", {"h": MEMORIA_H}, golden=_abstractor_golden)
def _memoria_abstractor():
    h = keras.Input(MEMORIA_H.shape[1:], name="h")
    layer = Abstractor(num_memories=MEMORIA_NW, hidden_dim=HID, feedforward_dim=6, name="abstractor")
    return _freeze_key_biases(keras.Model({"h": h}, [layer(h)]))


MEMORIA_BLOCK_SUBLAYERS = (
    "ln_1", "self_query", "self_key", "self_value", "self_output", "ln_wm", "ln_mem",
    "cross_query", "cross_key", "cross_value", "cross_output", "ln_2", "mlp_inner", "mlp_output",
)


def _memoria_block_golden(model, inputs):
    params = _memoria_params(model.get_layer("block"), MEMORIA_BLOCK_SUBLAYERS)
    out, probs = memoria_ref.block_forward(
        params, inputs["h"], working_memory=inputs["working_memory"], memories=inputs["memories"],
        memory_mask=inputs["memory_mask"], memory_width=inputs["memory_width"],
        cross_attention_gate=inputs.get("gate"), num_heads=MEMORIA_HEADS,
    )
    return [out, probs]


def _memoria_block_model(gated):
    feeds = {
        "h": keras.Input(MEMORIA_H.shape[1:], name="h"),
        "working_memory": keras.Input(MEMORIA_WM.shape[1:], name="working_memory"),
        "memories": keras.Input(MEMORIA_MEMORIES.shape[1:], name="memories"),
        "memory_mask": keras.Input(MEMORIA_MASK.shape[1:], dtype="bool", name="memory_mask"),
        "memory_width": keras.Input((), dtype="int32", name="memory_width"),
    }
    call = {k: v for k, v in feeds.items() if k != "h"}
    if gated:
        feeds["gate"] = call["cross_attention_gate"] = keras.Input((), name="gate")
    block = MemoriaTransformerBlock(MEMORIA_HEADS, MEMORIA_INNER, name="block")
    out, probs = block(feeds["h"], return_attention_scores=True, **call)
    return _freeze_key_biases(keras.Model(feeds, [out, probs]))


_memoria_block_inputs = {
    "h": MEMORIA_H, "working_memory": MEMORIA_WM, "memories": MEMORIA_MEMORIES,
    "memory_mask": MEMORIA_MASK, "memory_width": MEMORIA_MASK.sum(axis=1).astype("int32"),
}
register_case("memoria_block_memories_masked", _memoria_block_inputs, golden=_memoria_block_golden)(
    lambda: _memoria_block_model(gated=False)
)
register_case(
    "memoria_block_gated_width_zero",
    {**_memoria_block_inputs, "memory_mask": np.zeros_like(MEMORIA_MASK),
     "memory_width": np.zeros((B,), "int32"), "gate": np.array([1, 0, 1, 1], "float32")},
    golden=_memoria_block_golden,
)(lambda: _memoria_block_model(gated=True))


# --- Memoria: the language model -----------------------------------------------------

from keras_engram.memoria import MemoriaTransformer  # noqa: E402

# Three segments of 4 tokens, 2 working memories per segment. The memory's
# choices do not depend on rounding here: every short-term memory is reminded
# (K >= their count), no long-term memory forms (S = 16) and none dies
# (lifespan 6 over 3 segments), so the backends compare continuous outputs.
MEMORIA_LM = dict(vocabulary_size=11, num_layers=1, num_heads=2, hidden_dim=HID, intermediate_dim=12,
                  segment_size=4, num_memories=2, num_reminded_stm=16, stm_capacity=16,
                  ltm_search_depth=2, initial_lifespan=6, num_final_ltms=2, tie_break="newest")
MEMORIA_TOKENS = np.random.default_rng(2026).integers(0, 11, size=(B, 12)).astype("int32")


def _memoria_lm_golden(model, inputs):
    lm = model.get_layer("lm")
    numpy = keras.ops.convert_to_numpy
    params = {
        "token_embedding": numpy(lm.token_embedding).astype(np.float64),
        "position_embedding": numpy(lm.position_embedding).astype(np.float64),
        "blocks": [_memoria_params(block, MEMORIA_BLOCK_SUBLAYERS) for block in lm.blocks],
        "ln_f": _memoria_params(lm, ("final_norm",))["final_norm"],
    }
    a = lm.abstractor
    params["abstractor"] = {"queries": numpy(a.queries).astype(np.float64)}
    for name, sub in (("key", a.key_dense), ("value", a.value_dense),
                      ("feedforward", a.feedforward_dense), ("output", a.output_dense)):
        params["abstractor"][name] = {k: numpy(getattr(sub, k)).astype(np.float64) for k in ("kernel", "bias")}
    config = {**lm.get_config(), "capacity": lm.memoria_config.capacity}
    logits, _ = memoria_ref.model_forward(params, inputs["tokens"], config)
    return [logits]


@register_case("memoria_transformer", {"tokens": MEMORIA_TOKENS}, golden=_memoria_lm_golden)
def _memoria_transformer():
    tokens = keras.Input((MEMORIA_TOKENS.shape[1],), batch_size=B, dtype="int32", name="tokens")
    lm = MemoriaTransformer(**MEMORIA_LM, name="lm")
    return _freeze_key_biases(keras.Model({"tokens": tokens}, [lm(tokens)]))
