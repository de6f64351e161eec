"""The per-sample trace's implicit (low-rank) form against the explicit loop and the reference.

`Engram` runs a per-sample trace in its implicit form where the clip
cannot bind (`keras_engram.src.ops.implicit_trace`), and the explicit
step loop otherwise. These tests hold the implicit form to the float64
NumPy reference (tests/numpy_reference.py, which shares no code with the
package) and to the explicit loop, with masks, initial states,
`go_backwards`, training noise and stateful chunks, and check which of the
two ran.
"""

import contextlib

import keras
import numpy as np
import pytest
from keras import ops

import numpy_reference as ref
from helpers import autodiff_gradients, make_engram, to_numpy
from keras_engram.layers import Engram, EngramCell
from keras_engram.src.ops import fast_paths

FEATURES, HIDDEN, SLOTS = 5, 8, 6
TOL = 1e-5


def assert_close(actual, expected, what, tol=TOL):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    np.testing.assert_allclose(
        actual, expected, rtol=tol, atol=tol * max(np.abs(expected).max(), 1e-6), err_msg=what
    )


@contextlib.contextmanager
def explicit_loop():
    """Runs the explicit step loop (the fast paths otherwise on)."""
    saved = fast_paths.implicit_trace
    fast_paths.implicit_trace = lambda per_sample, steps, noisy=False: False
    try:
        yield
    finally:
        fast_paths.implicit_trace = saved


@contextlib.contextmanager
def branch_spy(monkeypatch):
    """Counts the implicit form's runs: eager, so `ops.cond` runs one branch only.

    torch and eager TensorFlow run the chosen branch alone; JAX does so
    under `jax.disable_jit()`.
    """
    calls = []
    original = EngramCell._integrate

    def counted(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EngramCell, "_integrate", counted)
    if keras.backend.backend() == "jax":
        import jax

        with jax.disable_jit():
            yield calls
    else:
        yield calls


def inject_noise(layer, xi):
    """Makes `layer` draw the given trace noise `xi` `(steps, slots, dim)` (before the rate)."""
    cell = layer.cell
    unit = cell._trace_unit()
    value = (cell.hebbian_lr * xi / unit).reshape(xi.shape[0], 1, -1).astype("float32")
    cell._loop_noise = lambda steps, training=False: (ops.convert_to_tensor(value),) if training else ()


def reference_sequence(p, x, h0, H0, mask, go_backwards, xi):
    """numpy_reference.sequence with the given per-step trace noise (processing order)."""
    X = np.asarray(x, np.float64)
    order = range(X.shape[1] - 1, -1, -1) if go_backwards else range(X.shape[1])
    h, H = h0, H0
    outputs, attention = [], []
    for k, t in enumerate(order):
        noise = None if xi is None else xi[k]
        h, H, a = ref.step(p, X[:, t], h, H, None if mask is None else mask[:, t], noise=noise)
        outputs.append(h)
        attention.append(a)
    return np.stack(outputs, 1), h, H, np.stack(attention, 1)


CASES = {
    "plain": dict(),
    "masked": dict(masked=True),
    "initial states": dict(initial=True),
    "masked, initial states, backwards": dict(masked=True, initial=True, go_backwards=True),
    "noise": dict(noise=True),
    "noise, masked, initial states": dict(noise=True, masked=True, initial=True),
    "no clip, rate 0.6, negative scale": dict(trace_clip=None, hebbian_lr=0.6, scale_factor=-0.7),
    "rate one": dict(hebbian_lr=1.0, trace_clip=None, masked=True),
}


def run_case(case, monkeypatch, batch=4, steps=7):
    kwargs = dict(CASES[case])
    masked = kwargs.pop("masked", False)
    initial = kwargs.pop("initial", False)
    noisy = kwargs.pop("noise", False)
    go_backwards = kwargs.pop("go_backwards", False)
    kwargs.setdefault("hebbian_lr", 0.3)
    kwargs.setdefault("trace_clip", 2.0)  # within reach of the trace, out of reach of its bound
    rng = np.random.default_rng(5)
    layer = make_engram(
        FEATURES, rng, hidden_dim=HIDDEN, memory_size=SLOTS, return_sequences=True,
        return_state=True, go_backwards=go_backwards, **kwargs,
    )
    x = rng.normal(0, 1, (batch, steps, FEATURES)).astype("float32")
    mask = None
    if masked:
        mask = rng.uniform(size=(batch, steps)) > 0.3
        mask[0] = False  # a fully padded sample
        mask[1, 0] = True
    h0 = rng.normal(0, 0.5, (batch, HIDDEN)) if initial else np.zeros((batch, HIDDEN))
    H0 = rng.uniform(-0.05, 0.05, (batch, SLOTS, HIDDEN)) if initial else np.zeros((batch, SLOTS, HIDDEN))
    xi = rng.normal(0, 0.1, (steps, SLOTS, HIDDEN)) if noisy else None
    if noisy:
        inject_noise(layer, xi)
        # The implicit form with noise on every backend (torch trains noisy
        # batches with its explicit loop by default, see the last test).
        original = fast_paths.implicit_trace
        monkeypatch.setattr(fast_paths, "implicit_trace", lambda p, s, noisy=False: original(p, s))
    state = [h0.astype("float32"), H0.reshape(batch, -1).astype("float32")] if initial else None

    def call():
        return layer(x, initial_state=state, mask=mask, training=noisy, return_attention_scores=True)

    with branch_spy(monkeypatch) as calls:
        implicit = [to_numpy(v) for v in call()]
    assert calls, "the implicit form did not run"
    with explicit_loop():
        explicit = [to_numpy(v) for v in call()]
    p = ref.cell_params(layer.cell)
    expected = reference_sequence(p, x, h0, H0, mask, go_backwards, xi)
    expected = [expected[0], expected[1], expected[2].reshape(batch, -1), expected[3]]
    if noisy:  # the noise changes the numbers
        quiet = reference_sequence(p, x, h0, H0, mask, go_backwards, None)[0]
        assert np.abs(quiet - expected[0]).max() > 1e-4
    return implicit, explicit, expected, H0


@pytest.mark.parametrize("case", sorted(CASES))
def test_implicit_trace_matches_reference_and_explicit_loop(case, monkeypatch):
    implicit, explicit, expected, H0 = run_case(case, monkeypatch)
    names = ["outputs", "final hidden state", "final trace", "attention"]
    for name, got, via_loop, want in zip(names, implicit, explicit, expected):
        assert_close(got, want, f"{name}: implicit vs reference")
        assert_close(got, via_loop, f"{name}: implicit vs explicit loop")
    # The trace moved (the case exercises the Hebbian path).
    assert np.abs(expected[2] - H0.reshape(H0.shape[0], -1)).max() > 1e-2


def test_fully_masked_sample_returns_its_initial_states_bit_for_bit(monkeypatch):
    implicit, _, _, H0 = run_case("masked, initial states, backwards", monkeypatch)
    np.testing.assert_array_equal(implicit[2][0], H0[0].reshape(-1).astype("float32"))


@pytest.mark.parametrize("case", ["masked, initial states, backwards", "noise, masked, initial states"])
def test_implicit_gradients_match_explicit_loop(case, monkeypatch):
    kwargs = dict(CASES[case])
    rng = np.random.default_rng(9)
    batch, steps = 3, 6
    layer = make_engram(
        FEATURES, rng, hidden_dim=HIDDEN, memory_size=SLOTS, return_sequences=True,
        return_state=True, hebbian_lr=0.3, trace_clip=2.0,
        go_backwards=kwargs.get("go_backwards", False),
    )
    if kwargs.get("noise"):
        inject_noise(layer, rng.normal(0, 0.1, (steps, SLOTS, HIDDEN)))
        original = fast_paths.implicit_trace
        monkeypatch.setattr(fast_paths, "implicit_trace", lambda p, s, noisy=False: original(p, s))
    mask = np.ones((batch, steps), bool)
    mask[1, 4:] = False
    mask[2, 0] = False
    x = rng.normal(0, 1, (batch, steps, FEATURES)).astype("float32")
    h0 = rng.normal(0, 0.5, (batch, HIDDEN)).astype("float32")
    H0 = rng.uniform(-0.05, 0.05, (batch, SLOTS * HIDDEN)).astype("float32")
    weights = [rng.normal(size=s).astype("float32") for s in
               [(batch, steps, HIDDEN), (batch, HIDDEN), (batch, SLOTS * HIDDEN), (batch, steps, SLOTS)]]

    def loss(x, h0, H0):
        values = layer(x, initial_state=[h0, H0], mask=mask, training=True, return_attention_scores=True)
        return sum(ops.sum(v * ops.convert_to_tensor(w)) for v, w in zip(values, weights))

    cell = layer.cell
    variables = [cell.memory_bank, cell.input_encoder.kernel, cell.hidden_integrator.kernel,
                 cell.output_dense.kernel, cell.layer_norm1.gamma]
    implicit = autodiff_gradients(loss, variables, [x, h0, H0])
    with explicit_loop():
        explicit = autodiff_gradients(loss, variables, [x, h0, H0])
    for got, want in zip(implicit[0] + implicit[1], explicit[0] + explicit[1]):
        assert np.abs(want).max() > 1e-3
        assert_close(got, want, "gradient", tol=2e-5)


def test_clip_that_binds_takes_the_explicit_loop(monkeypatch):
    """Small memory, a long drifting input: the trace reaches its clip, the explicit loop runs."""
    rng = np.random.default_rng(3)
    batch, steps = 2, 30
    layer = make_engram(
        FEATURES, rng, hidden_dim=HIDDEN, memory_size=2, return_sequences=True,
        return_state=True, hebbian_lr=0.2, trace_clip=0.1,
    )
    drift = np.linspace(0, 4, steps)[None, :, None]
    x = (rng.normal(0, 0.3, (batch, steps, FEATURES)) + drift).astype("float32")
    with branch_spy(monkeypatch) as calls:
        clipped = [to_numpy(v) for v in layer(x)]
    assert not calls, "the implicit form ran although the clip binds"
    p = ref.cell_params(layer.cell)
    out, h, H, _ = ref.sequence(p, x)
    assert np.isclose(np.abs(H), 0.1).any()  # the clip binds in the reference
    assert_close(clipped[0], out, "outputs")
    assert_close(clipped[2], H.reshape(batch, -1), "final trace")
    # Without the clip the same layer gives other numbers.
    unclipped = ref.sequence(dict(p, clip=None), x)[0]
    assert np.abs(unclipped - out).max() > 1e-3


def test_each_chunk_is_checked_on_its_own(monkeypatch):
    """A start trace near the clip: the first chunk runs the explicit loop, the later ones implicitly."""
    monkeypatch.setattr(fast_paths, "IMPLICIT_CHUNK_STEPS", 10)
    rng = np.random.default_rng(8)
    batch, steps = 3, 30
    layer = make_engram(
        FEATURES, rng, hidden_dim=HIDDEN, memory_size=SLOTS, return_sequences=True,
        return_state=True, hebbian_lr=0.2, trace_clip=1.0,
    )
    x = rng.normal(0, 1, (batch, steps, FEATURES)).astype("float32")
    h0 = np.zeros((batch, HIDDEN))
    H0 = np.where(rng.uniform(size=(batch, SLOTS, HIDDEN)) > 0.5, 0.99, -0.99)
    state = [h0.astype("float32"), H0.reshape(batch, -1).astype("float32")]
    with branch_spy(monkeypatch) as calls:
        got = [to_numpy(v) for v in layer(x, initial_state=state)]
    assert len(calls) == 2
    out, h, H, _ = ref.sequence(ref.cell_params(layer.cell), x, h0, H0)
    assert_close(got[0], out, "outputs")
    assert_close(got[1], h, "final hidden state")
    assert_close(got[2], H.reshape(batch, -1), "final trace")


def test_stateful_chunks_continue_the_trace(monkeypatch):
    """Two stateful calls on halves equal one call on the whole sequence (implicit both times)."""
    rng = np.random.default_rng(4)
    batch, steps = 3, 10
    x = rng.normal(0, 1, (batch, steps, FEATURES)).astype("float32")
    whole = make_engram(FEATURES, rng, hidden_dim=HIDDEN, memory_size=SLOTS,
                        return_sequences=True, hebbian_lr=0.3, trace_clip=1.0)
    chunked = Engram(hidden_dim=HIDDEN, memory_size=SLOTS, return_sequences=True, hebbian_lr=0.3,
                     trace_clip=1.0, trace_noise_stddev=0.0, stateful=True)
    chunked.build((batch, None, FEATURES))
    chunked.set_weights(whole.get_weights())
    expected = to_numpy(whole(x))
    with branch_spy(monkeypatch) as calls:
        first = to_numpy(chunked(x[:, :4]))
        second = to_numpy(chunked(x[:, 4:]))
    assert len(calls) == 2
    assert_close(np.concatenate([first, second], axis=1), expected, "outputs")
    p = ref.cell_params(chunked.cell)
    _, h, H, _ = ref.sequence(p, x)
    state = chunked.get_memory_state()
    assert_close(state[0], h, "stored hidden state")
    assert_close(state[1], H.reshape(batch, -1), "stored trace")


@pytest.mark.parametrize("case", ["plain", "masked, initial states, backwards", "noise, masked, initial states"])
def test_long_sequence_runs_in_chunks(case, monkeypatch):
    """10 steps in chunks of at most 4: three chunks of 4 steps, the last padded by 2."""
    monkeypatch.setattr(fast_paths, "IMPLICIT_CHUNK_STEPS", 4)
    spied = []
    original = EngramCell._implicit_piece

    def counted(self, carry, inputs, *args, **kwargs):
        spied.append(inputs[0].shape[1])
        return original(self, carry, inputs, *args, **kwargs)

    monkeypatch.setattr(EngramCell, "_implicit_piece", counted)
    implicit, explicit, expected, _ = run_case(case, monkeypatch, steps=10)
    assert spied[:3] == [4, 4, 4]
    names = ["outputs", "final hidden state", "final trace", "attention"]
    for name, got, via_loop, want in zip(names, implicit, explicit, expected):
        assert got.shape == want.shape, name
        assert_close(got, want, f"{name}: chunked vs reference")
        assert_close(got, via_loop, f"{name}: chunked vs explicit loop")


def test_noisy_training_picks_the_measured_faster_form(monkeypatch):
    """With trace noise in training, torch runs its explicit loop, JAX and TensorFlow the implicit form."""
    rng = np.random.default_rng(6)
    layer = make_engram(FEATURES, rng, hidden_dim=HIDDEN, memory_size=SLOTS, hebbian_lr=0.3,
                        trace_clip=2.0)
    inject_noise(layer, rng.normal(0, 0.1, (5, SLOTS, HIDDEN)))
    x = rng.normal(0, 1, (2, 5, FEATURES)).astype("float32")
    with branch_spy(monkeypatch) as calls:
        layer(x, training=True)
        noisy = len(calls)
        layer(x, training=False)
    assert noisy == (0 if keras.backend.backend() == "torch" else 1)
    assert len(calls) == noisy + 1  # inference (no noise): the implicit form everywhere
    # Noisy training of a sequence longer than one chunk: the explicit loop everywhere.
    monkeypatch.setattr(fast_paths, "IMPLICIT_CHUNK_STEPS", 4)
    with branch_spy(monkeypatch) as calls:
        layer(x, training=True)
    assert not calls
