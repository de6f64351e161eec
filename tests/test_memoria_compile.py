"""Memoria's pure step compiled (jax.jit, tf.function with XLA, torch.compile) equals the eager step.

Bit-for-bit over several steps, one trace for all of them (the shapes never change).
"""

import keras
import numpy as np
import pytest

from keras_engram.memoria import (
    MemoriaConfig,
    memoria_add,
    memoria_adjust,
    memoria_init,
    memoria_remind,
)

BACKEND = keras.backend.backend()
CONFIG = MemoriaConfig(2, 3, 2, 3, 2, 24, "neg_sq_l2", "newest")
B, W, H, STEPS = 2, 2, 3, 8


def full_step(state, x, t, config=CONFIG, traces=None):
    if traces is not None:
        traces.append(1)
    state = memoria_add(state, x, config)
    state, out = memoria_remind(state, config, x.shape[1])
    idx = out["indices"]
    delta = keras.ops.where(idx >= 0, keras.ops.cast((3 * idx + t) % 5, "float32"), 0.0)
    state = memoria_adjust(state, idx, delta, config)
    return state, out["indices"], out["width"]


def run(step):
    rng = np.random.default_rng(11)
    xs = rng.normal(size=(STEPS, B, W, H)).astype("float32")
    state = memoria_init(CONFIG, B, H)
    record = []
    for t in range(STEPS):
        state, idx, width = step(state, keras.ops.convert_to_tensor(xs[t]),
                                 keras.ops.convert_to_tensor(np.int32(t)))
        record.append((keras.ops.convert_to_numpy(idx), keras.ops.convert_to_numpy(width)))
    final = {k: keras.ops.convert_to_numpy(v) for k, v in state.items()}
    return record, final


def assert_same(a, b):
    (rec_a, fin_a), (rec_b, fin_b) = a, b
    for (ia, wa), (ib, wb) in zip(rec_a, rec_b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(wa, wb)
    for key in fin_a:
        np.testing.assert_array_equal(fin_a[key], fin_b[key], err_msg=key)
    assert fin_a["n"].sum() > 0 and (fin_a["type"] == 3).any()  # the run reached long-term memory


@pytest.mark.skipif(BACKEND != "jax", reason="jax.jit: JAX backend only")
def test_jax_jit_equals_eager_with_one_trace():
    import jax

    traces = []
    compiled = jax.jit(lambda s, x, t: full_step(s, x, t, traces=traces))
    assert_same(run(full_step), run(compiled))
    assert len(traces) == 1


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.function: TensorFlow backend only")
def test_tensorflow_xla_equals_eager_with_one_trace():
    import tensorflow as tf

    compiled = tf.function(full_step, jit_compile=True, reduce_retracing=True)
    assert_same(run(full_step), run(compiled))
    assert compiled.experimental_get_tracing_count() == 1


@pytest.mark.large
@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile: torch backend only")
def test_torch_compile_equals_eager_without_graph_breaks():
    import torch

    torch._dynamo.reset()
    compiled = torch.compile(full_step, fullgraph=True, dynamic=False)
    assert_same(run(full_step), run(compiled))
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == 1
