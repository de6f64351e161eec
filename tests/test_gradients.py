"""Each backend's ENN gradients match float64 finite differences of the NumPy reference.

The backends differentiate the same maths differently: JAX and TensorFlow
with their own autodiff, torch (per-sample trace) through the hand-written
backward passes of `keras_engram.src.ops.trace_gradients`. The reference
(tests/numpy_reference.py) shares no code with the package.
"""

import numpy as np
import pytest
from keras import ops

import numpy_reference as ref
from helpers import autodiff_gradients, central_differences, make_engram, to_numpy

FEATURES, HIDDEN, SLOTS, BATCH, STEPS = 4, 6, 5, 3, 5

CASES = {
    # hebbian_lr 0.6 drives the trace into its clip bound at some entries.
    "sample, clipped, masked": dict(trace_scope="sample", hebbian_lr=0.6, masked=True),
    "sample, no clip": dict(trace_scope="sample", hebbian_lr=0.3, trace_clip=None, masked=False),
    "sample, negative scale": dict(trace_scope="sample", hebbian_lr=0.6, scale_factor=-0.7, masked=False),
    "batch, clipped, masked": dict(trace_scope="batch", hebbian_lr=0.6, masked=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_finite_differences_of_numpy_reference(case):
    kwargs = dict(CASES[case])
    masked = kwargs.pop("masked")
    batch_scope = kwargs["trace_scope"] == "batch"
    rng = np.random.default_rng(11)
    layer = make_engram(
        FEATURES, rng, hidden_dim=HIDDEN, memory_size=SLOTS, return_sequences=True,
        return_state=True, **kwargs,
    )
    cell = layer.cell
    x = rng.normal(0, 1, (BATCH, STEPS, FEATURES)).astype("float32")
    h0 = rng.normal(0, 0.5, (BATCH, HIDDEN)).astype("float32")
    trace_shape = (SLOTS, HIDDEN) if batch_scope else (BATCH, SLOTS, HIDDEN)
    H0 = rng.uniform(-0.05, 0.05, trace_shape).astype("float32")
    mask = None
    if masked:
        mask = np.ones((BATCH, STEPS), bool)
        mask[1, 3:] = False
        mask[2, 0] = False
    # A random linear read-out of everything the layer returns.
    w_out = rng.normal(size=(BATCH, STEPS, HIDDEN))
    w_h = rng.normal(size=(BATCH, HIDDEN))
    w_H = rng.normal(size=trace_shape)
    w_att = rng.normal(size=(BATCH, STEPS, SLOTS))

    def flat_trace(H0):
        flat = ops.reshape(H0, (-1, SLOTS * HIDDEN))
        return ops.broadcast_to(flat, (BATCH, SLOTS * HIDDEN)) if batch_scope else flat

    def keras_loss(x, h0, H0):
        flat = flat_trace(H0)
        # training=True: the step torch trains with (noise is off).
        out, h, H, att = layer(
            x, initial_state=[h0, flat], mask=mask, return_attention_scores=True, training=True
        )
        H = ops.reshape(H[:1] if batch_scope else H, trace_shape)
        terms = [(out, w_out), (h, w_h), (H, w_H), (att, w_att)]
        return sum(ops.sum(t * ops.convert_to_tensor(w.astype("float32"))) for t, w in terms)

    variables = [cell.memory_bank, cell.input_encoder.kernel, cell.hidden_integrator.kernel]
    grad_weights, grad_inputs = autodiff_gradients(keras_loss, variables, [x, h0, H0])

    params = ref.cell_params(cell)

    def reference_loss(x, h0, H0, M, Wz, Wu):
        p = dict(params, M=M, Wz=Wz, Wu=Wu)
        out, h, H, att = ref.sequence(p, x, h0, H0, mask=mask)
        return sum(np.sum(t * w) for t, w in [(out, w_out), (h, w_h), (H, w_H), (att, w_att)])

    expected = central_differences(reference_loss, [x, h0, H0, params["M"], params["Wz"], params["Wu"]])
    names = ["x", "h0", "H0", "memory_bank", "encoder kernel", "integrator kernel"]
    for name, got, want in zip(names, grad_inputs + grad_weights, expected):
        scale = np.abs(want).max()
        assert scale > 1e-3, name  # the loss depends on it
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * scale, err_msg=name)

    # The forward values of the same call.
    out = to_numpy(layer(x, initial_state=[h0, flat_trace(H0)], mask=mask, training=True)[0])
    want = ref.sequence(params, x, h0, H0, mask=mask)[0]
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

    if kwargs.get("trace_clip", 0.1) is not None:
        # The case exercises the clip: some entries of the reference trace sit at the bound.
        _, _, H, _ = ref.sequence(params, x, h0, H0, mask=mask)
        assert np.isclose(np.abs(H), cell.trace_clip).any()
