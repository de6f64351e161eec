"""Each backend's gradients of the memory-native layers match finite differences of the reference.

Backpropagation through time runs through every state (the echo, the
memory, the gates, the liquid state, the LRU and the manifold's Hebbian
write), so the autodiff gradients of a loss on the outputs and final states
must equal float64 central differences of the NumPy reference
(tests/memory_native_reference.py, which shares no code with the package).
"""

import numpy as np
import pytest
from keras import ops

import memory_native_reference as ref
from helpers import autodiff_gradients, central_differences, to_numpy
from keras_engram.layers import AMN, AMRC, PMRC
from test_memory_native import randomize

F, H, O, B, T = 3, 4, 2, 2, 4

CASES = {
    "amrc": (AMRC, {}, ["kernel", "beta", "alpha", "output_kernel"]),
    "pmrc_gates": (PMRC, {"use_learnable_gates": True, "use_output_memory": True},
                   ["recurrent_kernel", "gate_recurrent_kernel", "candidate_kernel", "output_beta"]),
    "pmrc_legacy": (PMRC, {"use_learnable_gates": True, "legacy": True},
                    ["recurrent_kernel", "gate_recurrent_kernel", "gate_kernel"]),
    "amn": (AMN, {"memory_size": 3, "dt": 0.5, "memory_decay": 0.9},
            ["input_kernel", "rigidity", "fluidity", "eigenvalues", "key_kernel", "value_kernel"]),
}
# The reference's parameter name for each weight.
REF_NAMES = {
    "kernel": "W", "beta": "beta", "alpha": "alpha", "output_kernel": "W_o",
    "recurrent_kernel": "U", "gate_recurrent_kernel": "U_g", "candidate_kernel": "W_c",
    "gate_kernel": "W_g", "output_beta": "beta_o", "input_kernel": "B_in", "rigidity": "A",
    "fluidity": "B_f", "eigenvalues": "lam", "key_kernel": "K", "value_kernel": "V",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_finite_differences_of_the_reference(case):
    cls, kwargs, names = CASES[case]
    rng = np.random.default_rng(21)
    layer = cls(H, O, return_sequences=True, return_state=True, **kwargs)
    layer.build((None, None, F))
    randomize(layer.cell, rng)
    cell = layer.cell
    x = rng.normal(size=(B, T, F)).astype("float32")
    mask = np.ones((B, T), bool)
    mask[1, 2] = False
    sizes = cell.state_size
    weights_out = rng.normal(size=(B, T, O))
    weights_states = [rng.normal(size=(B, size)) for size in sizes]

    def keras_loss(x):
        out, *states = layer(x, mask=mask)
        terms = [(out, weights_out)] + list(zip(states, weights_states))
        return sum(ops.sum(t * ops.convert_to_tensor(w.astype("float32"))) for t, w in terms)

    variables = [next(w for w in cell.weights if w.name == name) for name in names]
    grad_weights, (grad_x,) = autodiff_gradients(keras_loss, variables, [x])

    params = ref.cell_params(cell)
    step = ref.STEPS[type(cell).__name__]
    zeros = [np.zeros((B, size)) for size in sizes]

    def reference_loss(x, *values):
        p = dict(params, **{REF_NAMES[n]: v for n, v in zip(names, values)})
        out, states = ref.run(step, p, x, zeros, mask)
        terms = [(out, weights_out)] + list(zip(states, weights_states))
        return sum(np.sum(t * w) for t, w in terms)

    expected = central_differences(reference_loss, [x] + [to_numpy(v) for v in variables])
    for name, got, want in zip(["x"] + names, [grad_x] + grad_weights, expected):
        scale = max(np.abs(want).max(), 1e-3)
        assert np.abs(got - want).max() <= 2e-5 * scale, (name, np.abs(got - want).max(), scale)
