"""Each backend's ENN matches the float64 NumPy reference (tests/numpy_reference.py)."""

import numpy as np
import pytest

import numpy_reference as ref
from helpers import make_engram, to_numpy
from keras_engram.layers import EngramCell
from keras_engram.src.ops import fast_paths
from keras_engram.src.ops.fast_paths import TF_UNROLL_MAX_STEPS

TOL = 1e-5


def assert_close(actual, expected, what):
    actual = np.asarray(actual, np.float64)
    np.testing.assert_allclose(actual, expected, rtol=TOL, atol=TOL * np.abs(expected).max(), err_msg=what)


def random_states(rng, batch, memory_size, hidden_dim, scope):
    h0 = rng.normal(0, 0.5, (batch, hidden_dim))
    shape = (batch, memory_size, hidden_dim) if scope == "sample" else (memory_size, hidden_dim)
    H0 = rng.uniform(-0.1, 0.1, shape)
    return h0, H0


def flat_trace(H0, batch):
    if H0.ndim == 2:  # batch scope: every row holds the shared trace
        H0 = np.broadcast_to(H0, (batch,) + H0.shape)
    return H0.reshape(batch, -1).astype("float32")


CASES = {
    "plain": dict(batch=3, steps=7, mask=False),
    "masked": dict(batch=4, steps=6, mask=True),
    "batch_equals_memory": dict(batch=6, steps=5, mask=True),
}


def check_sequence_against_reference(scope, batch, steps, mask, go_backwards=False, **layer_kwargs):
    rng = np.random.default_rng(7)
    features, hidden, slots = 5, 8, 6
    layer_kwargs.setdefault("hebbian_lr", 0.3)
    layer = make_engram(
        features, rng, hidden_dim=hidden, memory_size=slots, trace_scope=scope,
        return_sequences=True, return_state=True, go_backwards=go_backwards, **layer_kwargs,
    )
    x = rng.normal(0, 1, (batch, steps, features)).astype("float32")
    if mask:
        mask = rng.uniform(size=(batch, steps)) > 0.3
        mask[0, :] = False  # one fully padded sample
        mask[1, 0] = True
    else:
        mask = None
    h0, H0 = random_states(rng, batch, slots, hidden, scope)

    out, h, H, att = layer(
        x, initial_state=[h0.astype("float32"), flat_trace(H0, batch)], mask=mask,
        return_attention_scores=True,
    )
    p = ref.cell_params(layer.cell)
    r_out, r_h, r_H, r_att = ref.sequence(p, x, h0, H0, mask=mask, go_backwards=go_backwards)

    assert_close(to_numpy(out), r_out, "outputs")
    assert_close(to_numpy(h), r_h, "final hidden state")
    assert_close(to_numpy(H), flat_trace(r_H, batch).astype(np.float64) if scope == "batch"
                 else r_H.reshape(batch, -1), "final trace")
    assert_close(to_numpy(att), r_att, "attention")
    # The trace moved away from its start (the test exercises the Hebbian path).
    assert np.abs(r_H - H0).max() > 1e-3


@pytest.mark.parametrize("scope", ["sample", "batch"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_sequence_matches_numpy_reference(scope, case, go_backwards):
    check_sequence_against_reference(scope, go_backwards=go_backwards, **CASES[case])


# The plain `keras.ops` step (every fast path off) against the same reference:
# both forms of the step are checked independently of each other.
@pytest.mark.parametrize("scope", ["sample", "batch"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(
    "kwargs", [{}, {"trace_clip": None, "scale_factor": -0.7}, {"hebbian_lr": 1.0}],
    ids=["defaults", "no_clip_negative_scale", "rate_one"],
)
def test_plain_step_matches_numpy_reference(scope, case, kwargs):
    with fast_paths.disabled():
        check_sequence_against_reference(scope, **CASES[case], **kwargs)


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_default_start_is_zero_states_as_in_the_reference(scope):
    """No `initial_state`: zero states (the trace formed inside the loop, in its own form)."""
    rng = np.random.default_rng(21)
    batch, hidden, slots = 4, 8, 6
    layer = make_engram(5, rng, hidden_dim=hidden, memory_size=slots, trace_scope=scope,
                        hebbian_lr=0.3, return_sequences=True, return_state=True)
    x = rng.normal(0, 1, (batch, 7, 5)).astype("float32")
    mask = rng.uniform(size=(batch, 7)) > 0.3
    mask[0, :] = False
    out, h, H = layer(x, mask=mask)
    r_out, r_h, r_H, _ = ref.sequence(ref.cell_params(layer.cell), x, mask=mask)
    assert_close(to_numpy(out), r_out, "outputs")
    assert_close(to_numpy(h), r_h, "final hidden state")
    assert_close(to_numpy(H), flat_trace(r_H, batch).astype(np.float64) if scope == "batch"
                 else r_H.reshape(batch, -1), "final trace")
    assert np.abs(r_H).max() > 1e-3
    # A fully masked batch and an empty sequence return zero states of the full shape.
    for x_none, mask_none in ((x, np.zeros((batch, 7), bool)), (x[:, :0], None)):
        _, h, H = layer(x_none, mask=mask_none)
        assert to_numpy(h).shape == (batch, hidden) and to_numpy(H).shape == (batch, slots * hidden)
        np.testing.assert_array_equal(to_numpy(h), 0.0)
        np.testing.assert_array_equal(to_numpy(H), 0.0)


# Each form of the time loop. TensorFlow: an unrolled graph by default up to
# TF_UNROLL_MAX_STEPS steps and with unroll=True, a tf.while_loop above that
# and with an int. JAX: its scan without and with unrolling. torch: one loop.
LONG = TF_UNROLL_MAX_STEPS + 8
LOOPS = {
    "default_short": (False, 6),
    "default_long": (False, LONG),
    "unrolled_long": (True, LONG),
    "int_short": (2, 6),
}


@pytest.mark.parametrize("scope", ["sample", "batch"])
@pytest.mark.parametrize("loop", sorted(LOOPS))
def test_every_time_loop_matches_numpy_reference(scope, loop):
    unroll, steps = LOOPS[loop]
    check_sequence_against_reference(scope, batch=4, steps=steps, mask=True, unroll=unroll)


# Both forms of the integrator on every backend: the encoder's share hoisted
# out of the loop (TensorFlow's default) and `[z; m; h]` in one matmul (JAX's
# and torch's; fast_paths.hoists_encoder_drive).
@pytest.mark.parametrize("scope", ["sample", "batch"])
@pytest.mark.parametrize("hoisted", [False, True])
def test_both_integrator_forms_match_numpy_reference(scope, hoisted, monkeypatch):
    monkeypatch.setattr(fast_paths, "hoists_encoder_drive", lambda: hoisted)
    check_sequence_against_reference(scope, batch=4, steps=6, mask=True)
    check_sequence_against_reference(scope, batch=3, steps=5, mask=False, integrator_units=11)


# `hebbian.hebbian_update` forms the write with `rate / (1 - rate)` and
# scales the sum by `1 - rate`; at rate 1 it takes the write alone.
@pytest.mark.parametrize("scope", ["sample", "batch"])
@pytest.mark.parametrize("hebbian_lr", [0.97, 1.0])
def test_hebbian_rate_near_and_at_one_matches_numpy_reference(scope, hebbian_lr):
    check_sequence_against_reference(scope, batch=4, steps=6, mask=True, hebbian_lr=hebbian_lr)


# The step reads the effective memory `M + s H` as `s (M / s + H)` and hands
# the scale to the cosine (`attention.cosine_attention`'s `key_scale`); a
# negative scale flips the cosine's sign; zero and tiny scales take the
# plain form (`fast_paths.reads_scaled_keys`): at 1e-19 the keys `M / s`
# would overflow float32 in their squared norms.
@pytest.mark.parametrize("scope", ["sample", "batch"])
@pytest.mark.parametrize("scale_factor", [0.0, 1e-19, -0.7, 3.0])
def test_zero_negative_and_large_scale_factor_match_numpy_reference(scope, scale_factor):
    check_sequence_against_reference(scope, batch=4, steps=6, mask=True, scale_factor=scale_factor)


def check_cell_step_against_reference(scope, seed, bank_std=None):
    """One cell step against `ref.step`; `bank_std`: a fresh bank of that scale and a zero trace."""
    rng = np.random.default_rng(seed)
    batch, features, hidden, slots = 4, 5, 8, 4
    layer = make_engram(features, rng, hidden_dim=hidden, memory_size=slots, trace_scope=scope,
                        hebbian_lr=0.5)
    cell = layer.cell
    if bank_std is not None:
        cell.memory_bank.assign(rng.normal(0, bank_std, (slots, hidden)).astype("float32"))
    x = rng.normal(0, 1, (batch, features)).astype("float32")
    h0, H0 = random_states(rng, batch, slots, hidden, scope)
    if bank_std is not None:
        H0 = np.zeros_like(H0)
    h, (h_state, H) = cell(x, [h0.astype("float32"), flat_trace(H0, batch)])
    r_h, r_H, _ = ref.step(ref.cell_params(cell), x, h0, H0)
    assert_close(to_numpy(h), r_h, "hidden")
    assert_close(to_numpy(h_state), r_h, "hidden state")
    expected_H = flat_trace(r_H, batch) if scope == "batch" else r_H.reshape(batch, -1)
    assert_close(to_numpy(H), expected_H.astype(np.float64), "trace")
    return cell


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_near_zero_memory_rows_keep_the_reference_epsilon(scope):
    # Keys shorter than 1e-6 (a tiny bank, a zero trace): the cosine's
    # `max(|E|^2, 1e-12)` binds, so the key is scaled by 1e6 rather than
    # normalised. The step's keys are `E / s`; its epsilon must scale with
    # them for the attention (and so the trace's write) to match.
    cell = check_cell_step_against_reference(scope, seed=4, bank_std=1.5e-7)
    bank = to_numpy(cell.memory_bank).astype(np.float64)
    assert (bank**2).sum(-1).max() < 1e-12


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_single_cell_step_matches_numpy_reference(scope):
    check_cell_step_against_reference(scope, seed=3)


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_cell_inside_keras_rnn_matches_numpy_reference(scope):
    """`keras.layers.RNN(EngramCell)` runs Keras's own loop over `EngramCell.call`.

    Masked in sample scope only: Keras's loop keeps a masked sample's row of
    the state, which in batch scope is the shared trace, so masks there need
    the `Engram` layer (the cell's docstring says so).
    """
    import keras

    rng = np.random.default_rng(11)
    layer = make_engram(3, rng, hidden_dim=8, memory_size=5, trace_scope=scope, hebbian_lr=0.3)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    mask = np.ones((2, 6), bool)
    mask[1, 4:] = scope == "batch"
    rnn = keras.layers.RNN(layer.cell, return_sequences=True, return_state=True)
    out, h, H = rnn(x, mask=mask)
    r_out, r_h, r_H, _ = ref.sequence(ref.cell_params(layer.cell), x, mask=mask)
    assert_close(to_numpy(out), r_out, "outputs")
    assert_close(to_numpy(h), r_h, "final hidden state")
    assert_close(to_numpy(H), flat_trace(r_H, 2).astype(np.float64) if scope == "batch"
                 else r_H.reshape(2, -1), "final trace")


def test_no_layer_norm_and_custom_integrator_match_reference():
    rng = np.random.default_rng(5)
    layer = make_engram(4, rng, hidden_dim=6, memory_size=3, use_layer_norm=False,
                        integrator_units=10, trace_clip=None, hebbian_lr=0.9,
                        return_sequences=True)
    assert layer.cell.hidden_integrator.kernel.shape == (18, 10)
    x = rng.normal(0, 2, (3, 5, 4)).astype("float32")
    r_out, *_ = ref.sequence(ref.cell_params(layer.cell), x)
    assert_close(to_numpy(layer(x)), r_out, "outputs")


def test_effective_temperature_is_sharpened_by_sparsity():
    cell = EngramCell(4, 2, temperature=1.5, sparsity_strength=0.1)
    assert cell.effective_temperature == pytest.approx(0.75)
