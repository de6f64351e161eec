"""Backend-specific fast paths of the memory cells, behind one switch.

The library's numerics are written once, plainly, against `keras.ops`
(`keras_engram.src.ops.attention`, `keras_engram.src.ops.hebbian`, each
cell's plain step). Every faster form that depends on the backend, or that
changes the order of operations for speed, is decided here, with its reason
in one line; `docs/performance.md` holds the measurements behind each.
The values are the same to float32 rounding either way, which the tests
check by running both.

`enabled()` is the one switch. `disabled()` turns every fast path off in
its scope (for tests and for reading the plain maths run); it is read when a
function is traced, so a model compiled before the switch keeps the paths it
was traced with.
"""

import contextlib

import keras
from keras import ops

_state = {"enabled": True}


def enabled():
    """Whether the fast paths are on (the default)."""
    return _state["enabled"]


@contextlib.contextmanager
def disabled():
    """Runs the plain `keras.ops` forms of every step in this scope.

    Example:

    >>> from keras_engram.src.ops import fast_paths
    >>> with fast_paths.disabled():
    ...     fast_paths.enabled()
    False
    >>> fast_paths.enabled()
    True
    """
    previous = _state["enabled"]
    _state["enabled"] = False
    try:
        yield
    finally:
        _state["enabled"] = previous


def _backend():
    return keras.backend.backend() if enabled() else None


# --- decisions -------------------------------------------------------------


def hoists_encoder_drive():
    """TensorFlow: the encoder's share of the integrator as one matmul before the loop.

    Reason: TensorFlow's graph runs the separate matmuls concurrently (1.02x);
    JAX and torch are faster with one matmul of `[z; m; h]` per step.
    """
    return _backend() == "tensorflow"


def carries_trace_in_clip_units():
    """The loop carries the trace divided by its clip bound, so the clip is `clip(., -1, 1)`.

    Reason: scalar bounds reach each backend's cheapest clip (torch's
    tensor-bound clamp is about 4x slower on CPU).
    """
    return enabled()


def reads_scaled_keys(scale):
    """The effective memory `M + s H` is read as `s (M / s + H)`, the scale handed to the cosine.

    Reason: one full-size product of the per-sample trace fewer per step,
    forward and backward. Only for `1e-4 <= |s| <= 1e4`: `M / s` could
    overflow float32 in the keys' squared norms, and zero has no reciprocal.
    """
    return enabled() and 1e-4 <= abs(scale) <= 1e4


def hand_written_trace_gradients(per_sample, scaled_keys):
    """torch, per-sample trace, training: the step's trace ops have hand-written gradients.

    Reason: eager autograd forms about nine trace-size tensors per step in the
    backward pass, the hand-written one four (`trace_gradients`).
    """
    return _backend() == "torch" and per_sample and scaled_keys


def applies_sublayers_in_loop():
    """Dense and LayerNormalization inside a time loop run their ops directly, without `__call__`.

    Reason: `Layer.__call__` adds about 0.1 ms of Python per call, paid at
    every step of an eager (torch) loop.
    """
    return enabled()


def rematerializes_steps(cell):
    """JAX, for a cell that asks (`cell._loop_rematerializes`): each loop step is recomputed in the backward pass.

    Reason: on CPU the saved activations live in main memory; recomputing
    trains the ENN's per-sample trace 1.4x faster. A cell with small states
    does not ask: the AMN trains 1.25x faster without (the recomputation
    repeats its manifold's soft clip).
    """
    return _backend() == "jax" and getattr(cell, "_loop_rematerializes", False)


def rematerializes_fallback():
    """JAX: the explicit loop behind the implicit trace's clip check is recomputed in the backward pass.

    Reason: the gradient of `lax.cond` keeps the saved activations of both
    branches, zeros for the branch not taken; rematerialized, the explicit
    branch saves only its inputs (per-sample training 445 -> 763 samples/s).
    """
    return _backend() == "jax"


def unstacked_loop(steps, unroll=False):
    """Whether `scan` runs a Python loop over pre-split steps instead of `keras.ops.scan`.

    torch: always. Reason: its `ops.scan` reads step t as `x[t]`, whose
    gradient writes a full-size zero tensor per step (quadratic in time).
    TensorFlow: for static lengths of at most `TF_UNROLL_MAX_STEPS` (or
    `unroll=True`), an unrolled graph. Reason: 1.25x faster training at 28
    steps than `tf.while_loop`, and XLA can compile it.
    """
    backend = _backend()
    if backend == "torch":
        return True
    return backend == "tensorflow" and unrolls_on_tensorflow(steps, unroll)


def implicit_trace(per_sample, steps, noisy=False):
    """Per-sample trace: the exact low-rank form (`implicit_trace`) where the clip cannot bind.

    Reason: the explicit loop reads and writes a `(batch, slots, dim)` trace
    at every step and is memory-bound; the implicit form carries
    `(batch, time, slots)` and trains 1.8-3.9x faster at the paper's size
    without trace noise. Needs a length known when traced; sequences longer
    than `IMPLICIT_CHUNK_STEPS` run in chunks (its cost grows with the square
    of a chunk's length). Training with trace noise (`noisy`), whose exact
    terms cost `batch x length^2 x slots x dim`: the explicit loop on torch
    (its hand-written gradients are faster there, 843 against 777
    samples/s at the paper's size) and for sequences longer than one chunk
    (JAX, 1,000 steps: 21 samples/s explicit, 13 in chunks of 64).
    """
    # A length unknown when traced is None, or a symbolic dimension (JAX's
    # shape inference for a `None` time axis).
    if not isinstance(steps, int) or steps <= 0:
        return False
    if noisy and (_backend() == "torch" or steps > IMPLICIT_CHUNK_STEPS):
        return False
    return enabled() and per_sample


# The longest piece of a sequence the implicit trace runs at once.
IMPLICIT_CHUNK_STEPS = 64


# `keras.layers.RNN`'s TensorFlow loop (backend/tensorflow/rnn.py) uses 32.
TF_PARALLEL_ITERATIONS = 32
# On TensorFlow, a loop over at most this many (static) steps is built as an
# unrolled graph by default; tracing costs about 0.2 s per step.
TF_UNROLL_MAX_STEPS = 32


def unrolls_on_tensorflow(steps, unroll=False):
    """Whether TensorFlow's time loop is an unrolled graph (see `unstacked_loop`).

    Unrolled with `unroll=True`, and by default (`unroll=False`) for at most
    `TF_UNROLL_MAX_STEPS` steps; never for a length unknown when the graph
    is traced (`steps` None). An integer `unroll` asks for a `tf.while_loop`.
    """
    if steps is None or not isinstance(unroll, bool):
        return False
    return unroll or steps <= TF_UNROLL_MAX_STEPS


def supports_xla(steps, unroll=False):
    """Whether a time loop of `steps` steps can be compiled by XLA (`jit_compile`).

    Not a fast path but a limit of the loop forms: on TensorFlow, XLA cannot
    compile the gradient of Keras's `while_loop` ("XLA compilation requires a
    fixed tensor list size"), only the unrolled graph.
    """
    return keras.backend.backend() != "tensorflow" or unrolls_on_tensorflow(steps, unroll)


# --- backend forms ---------------------------------------------------------


def per_sample_dots(query, memory):
    """`(batch, dim)` x `(batch, slots, dim)` -> `(batch, slots)`, each sample's `E q`.

    torch: a row-vector product per sample (its batched matrix-vector path
    is about 6x slower on CPU). TensorFlow: a multiply and a sum (its oneDNN
    batched matmul corrupted the heap inside the unrolled loop). JAX and the
    plain form: a batched matrix-vector product.
    """
    backend = _backend()
    if backend == "torch":
        return ops.squeeze(ops.expand_dims(query, 1) @ ops.swapaxes(memory, 1, 2), 1)
    if backend == "tensorflow":
        return ops.sum(memory * ops.expand_dims(query, 1), axis=-1)
    return ops.squeeze(memory @ ops.expand_dims(query, -1), -1)


def per_sample_read(weights, memory):
    """`(batch, slots)` x `(batch, slots, dim)` -> `(batch, dim)`.

    TensorFlow: a weighted sum (no batched matmul, see `per_sample_dots`;
    also faster than `einsum` in a `tf.while_loop`: the AMN's manifold read,
    with the write as a broadcast product, 33.9 -> 13.1 ms per training step).
    """
    if _backend() == "tensorflow":
        return ops.sum(ops.expand_dims(weights, 2) * memory, axis=1)
    return ops.squeeze(ops.expand_dims(weights, 1) @ memory, 1)


def clip_to_unit(x):
    """`clip(x, -1, 1)` (NaN stays NaN) in each backend's cheapest form.

    JAX: one comparison and one select (`jnp.clip`'s gradient in a scan is
    several times the update's cost on CPU). torch and TensorFlow:
    `hard_tanh`, whose scalar bounds reach the fast clamp.
    """
    backend = _backend()
    if backend == "jax":
        return ops.where(ops.abs(x) > 1.0, ops.sign(x), x)
    if backend is None:
        return ops.clip(x, -1.0, 1.0)
    return ops.hard_tanh(x)


def sublayer_weights(layer):
    """A Dense or LayerNormalization sublayer's weights as tensors, for `apply_sublayer`.

    None where the layer must run its own `call` (a quantized layer, or
    the fast paths off).
    """
    if not applies_sublayers_in_loop() or getattr(layer, "quantization_mode", None):
        return None
    if isinstance(layer, keras.layers.LayerNormalization):
        names = ("gamma", "beta")
    else:
        names = ("kernel", "bias")  # `kernel` includes a LoRA adapter
    return {
        name: None if getattr(layer, name) is None else ops.convert_to_tensor(getattr(layer, name))
        for name in names
    }


def apply_sublayer(layer, x, weights):
    """`layer(x)` with the ops of the layer's own `call` (bit-identical), without `__call__`.

    `weights` comes from `sublayer_weights` (read once per sequence); None
    calls the layer.
    """
    if weights is None:
        return layer(x)
    if isinstance(layer, keras.layers.LayerNormalization):
        y = ops.layer_normalization(
            x, weights["gamma"], weights["beta"], layer.axis, layer.epsilon,
            rms_scaling=layer.rms_scaling,
        )
        return ops.cast(y, layer.compute_dtype)
    y = x @ weights["kernel"]
    if weights["bias"] is not None:
        y = y + weights["bias"]
    return y if layer.activation is None else layer.activation(y)


def branches_memoria_steps(eager):
    """Memoria: eviction, compaction and the dense co-firing update only where they change something.

    `keras.ops.cond` on the batch: `memoria_add` ranks and compacts only
    when a row overflows, `memoria_adjust` compacts only when an engram
    dies, `memoria_remind` adds the co-firing pairs of the fired slots
    instead of a `[B, N, N]` outer product. Reason: these passes over the
    `B x N x N` counts dominate large memories (the benchmark's large size:
    the JAX step takes 0.69-0.83 of the time it takes without them, the
    TensorFlow XLA step goes from 0.44x to 1.2x the speed of
    memoria-pytorch; see `docs/memoria.md`). torch only in eager calls
    (`eager`): its `keras.ops.cond` is a Python `if`, which
    `torch.compile(fullgraph=True)` cannot trace.
    """
    backend = _backend()
    return backend in ("jax", "tensorflow") or (backend == "torch" and eager)


def scans_memoria_calls():
    """JAX: each call of `keras_engram.memoria.Memoria` runs as a one-step `keras.ops.scan`.

    Reason: JAX compiles a scan's body once per shape, so a step costs one
    dispatch instead of one per op (about 20x faster on CPU; see
    `benchmarks/memoria_speed.py`).
    """
    return _backend() == "jax"
