"""MemoriaTransformerBlock against the float64 NumPy reference (tests/memoria_block_reference.py).

Forward outputs and memory attention probabilities in every mode of the
call (working memory, masked memories, an all-masked row, memory width 0,
the per-row cross-attention gate, no cross-attention), gradients against
float64 central differences of the reference, dropout, saving and errors.
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

import memoria_block_reference as ref
from helpers import autodiff_gradients, central_differences, to_numpy
from keras_engram.memoria import MemoriaTransformerBlock

B, T, H, HEADS, INNER, NW, R = 3, 4, 4, 2, 6, 2, 3
TOL = 2e-5

SUBLAYERS = (
    "ln_1", "self_query", "self_key", "self_value", "self_output",
    "ln_wm", "ln_mem", "cross_query", "cross_key", "cross_value", "cross_output",
    "ln_2", "mlp_inner", "mlp_output",
)
PLAIN_SUBLAYERS = ("ln_1", "self_query", "self_key", "self_value", "self_output",
                   "ln_2", "mlp_inner", "mlp_output")


def _f32(x):
    return np.asarray(x, np.float64).astype("float32")


def reference_params(seed, cross_attention=True):
    """Random reference parameters, rounded to float32 so that both sides use the same numbers."""
    params = ref.random_block_params(np.random.default_rng(seed), H, INNER, cross_attention, std=0.4)
    return {name: {k: _f32(v).astype(np.float64) for k, v in p.items()} for name, p in params.items()}


def block_with(params, cross_attention=True, **kwargs):
    block = MemoriaTransformerBlock(HEADS, INNER, cross_attention=cross_attention, **kwargs)
    block.build((None, None, H))
    for name, p in params.items():
        layer = getattr(block, name)
        for key, value in p.items():
            getattr(layer, key).assign(_f32(value))
    return block


def data(seed):
    rng = np.random.default_rng(seed)
    return {
        "h": _f32(rng.normal(size=(B, T, H))),
        "wm": _f32(rng.normal(size=(B, NW, H))),
        "memories": _f32(rng.normal(size=(B, R, H))),
    }


# Row 0 partly masked, row 1 all valid, row 2 all masked (uniform attention over its lanes).
MASK = np.array([[1, 0, 1], [1, 1, 1], [0, 0, 0]], bool)

# name -> (call keyword arguments built from `data`, cross_attention)
MODES = {
    "plain": (lambda d: {}, True),
    "working_memory": (lambda d: {"working_memory": d["wm"]}, True),
    "memories_unmasked": (lambda d: {"memories": d["memories"]}, True),
    "masked_with_all_masked_row": (
        lambda d: {"working_memory": d["wm"], "memories": d["memories"], "memory_mask": MASK,
                   "memory_width": np.array([2, 3, 0])}, True),
    "float_mask": (
        lambda d: {"working_memory": d["wm"], "memories": d["memories"],
                   "memory_mask": MASK.astype("float32")}, True),
    "memory_width_zero": (
        lambda d: {"working_memory": d["wm"], "memories": np.zeros((B, R, H), "float32"),
                   "memory_mask": np.zeros((B, R), bool), "memory_width": np.int32(0)}, True),
    "gate_per_row": (
        lambda d: {"working_memory": d["wm"], "memories": d["memories"], "memory_mask": MASK,
                   "memory_width": np.array([2, 3, 0]),
                   "cross_attention_gate": np.array([1.0, 0.0, 1.0], "float32")}, True),
    "gate_scalar_zero": (
        lambda d: {"working_memory": d["wm"], "memories": d["memories"],
                   "cross_attention_gate": np.float32(0.0)}, True),
    "no_cross_attention": (lambda d: {}, False),
}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_forward_matches_reference(mode):
    make_kwargs, cross = MODES[mode]
    params = reference_params(0, cross)
    block = block_with(params, cross_attention=cross)
    d = data(1)
    kwargs = make_kwargs(d)
    out, probs = block(d["h"], return_attention_scores=True, **kwargs)
    want, want_probs = ref.block_forward(params, d["h"], num_heads=HEADS, cross_attention=cross, **kwargs)
    np.testing.assert_allclose(to_numpy(out), want, rtol=TOL, atol=TOL)
    if want_probs is None:
        assert probs is None
    else:
        assert tuple(probs.shape) == (B, HEADS, T, R)
        np.testing.assert_allclose(to_numpy(probs), want_probs, rtol=TOL, atol=TOL)
    # Without return_attention_scores: the same outputs alone.
    np.testing.assert_array_equal(to_numpy(block(d["h"], **kwargs)), to_numpy(out))


def test_masking_properties():
    """Masked lanes get probability 0; an all-masked row attends uniformly (spec 3.2, 6.6)."""
    block = block_with(reference_params(2))
    d = data(3)
    _, probs = block(d["h"], memories=d["memories"], memory_mask=MASK, return_attention_scores=True)
    probs = to_numpy(probs)
    assert np.all(probs[0, :, :, 1] == 0.0) and np.all(probs[0, :, :, [0, 2]] > 0.0)
    np.testing.assert_allclose(probs[2], np.full((HEADS, T, R), 1.0 / R), rtol=1e-6)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-6)


def test_memory_width_zero_adds_only_the_output_bias():
    params = reference_params(4)
    block = block_with(params)
    d = data(5)
    base = block(d["h"], working_memory=d["wm"])
    with_zero_width = block(d["h"], working_memory=d["wm"], memories=d["memories"],
                            memory_mask=MASK, memory_width=np.zeros((B,), "int32"))
    want, _ = ref.block_forward(params, d["h"], working_memory=d["wm"], memories=d["memories"],
                                memory_mask=MASK, memory_width=np.zeros((B,)), num_heads=HEADS)
    np.testing.assert_allclose(to_numpy(with_zero_width), want, rtol=TOL, atol=TOL)
    assert not np.allclose(to_numpy(with_zero_width), to_numpy(base))
    # With a zero cross_output bias the memory step adds nothing at all.
    block.cross_output.bias.assign(np.zeros((H,), "float32"))
    np.testing.assert_allclose(
        to_numpy(block(d["h"], working_memory=d["wm"], memories=d["memories"], memory_mask=MASK,
                       memory_width=np.zeros((B,), "int32"))),
        to_numpy(block(d["h"], working_memory=d["wm"])), rtol=1e-6, atol=1e-6)


def test_gate_zero_row_equals_block_without_memory():
    block = block_with(reference_params(6))
    d = data(7)
    gated = to_numpy(block(d["h"], working_memory=d["wm"], memories=d["memories"], memory_mask=MASK,
                           cross_attention_gate=np.array([0.0, 1.0, 0.0], "float32")))
    plain = to_numpy(block(d["h"]))
    np.testing.assert_allclose(gated[[0, 2]], plain[[0, 2]], rtol=1e-6, atol=1e-6)
    assert not np.allclose(gated[1], plain[1])


# Gradients. No all-masked row here: its scores are absorbed by the float32
# minimum, so central differences see a constant while autodiff (of every
# framework, the reference's included) differentiates softmax(s + c).
GRAD_MASK = np.array([[1, 0, 1], [1, 1, 1], [0, 1, 0]], bool)
GRAD_WEIGHTS = (("cross_query", "kernel"), ("ln_wm", "gamma"), ("ln_mem", "beta"), ("mlp_inner", "bias"))


def test_gradients_match_central_differences():
    params = reference_params(8)
    block = block_with(params)
    d = data(9)
    target = np.random.default_rng(10).normal(size=(B, T, H))
    target32 = target.astype("float32")
    gate = np.array([1.0, 1.0, 1.0], "float32")

    def keras_loss(h, wm, memories):
        out = block(h, working_memory=wm, memories=memories, memory_mask=GRAD_MASK,
                    memory_width=np.array([2, 3, 1]), cross_attention_gate=gate)
        return ops.sum(out * ops.convert_to_tensor(target32))

    variables = [getattr(getattr(block, layer), key) for layer, key in GRAD_WEIGHTS]
    grad_w, grad_x = autodiff_gradients(keras_loss, variables, [d["h"], d["wm"], d["memories"]])

    def ref_loss(h, wm, memories, *weights):
        p = {name: dict(v) for name, v in params.items()}
        for (layer, key), value in zip(GRAD_WEIGHTS, weights):
            p[layer][key] = value
        out, _ = ref.block_forward(p, h, working_memory=wm, memories=memories, memory_mask=GRAD_MASK,
                                   memory_width=np.array([2, 3, 1]), cross_attention_gate=gate,
                                   num_heads=HEADS)
        return float(np.sum(out * target))

    expected = central_differences(
        ref_loss, [d["h"], d["wm"], d["memories"]] + [params[layer][key] for layer, key in GRAD_WEIGHTS]
    )
    for got, want in zip(grad_x + grad_w, expected):
        scale = max(np.abs(want).max(), 1e-3)
        assert np.abs(got - want).max() <= 2e-5 * scale, (np.abs(got - want).max(), scale)
    # The masked lanes of the memories get no gradient.
    assert np.all(grad_x[2][~GRAD_MASK] == 0.0)
    assert np.all(np.abs(grad_x[2][GRAD_MASK]).max(axis=-1) > 0.0)


def test_every_weight_gets_a_gradient():
    block = block_with(reference_params(11))
    d = data(12)

    def loss(h, wm, memories):
        out, probs = block(h, working_memory=wm, memories=memories, memory_mask=GRAD_MASK,
                           memory_width=np.array([2, 3, 1]), return_attention_scores=True)
        return ops.sum(ops.square(out)) + ops.sum(probs * probs)

    grads, _ = autodiff_gradients(loss, block.trainable_weights, [d["h"], d["wm"], d["memories"]])
    assert len(grads) == len(block.trainable_weights) == 28
    scale = max(np.abs(g).max() for g in grads)
    for variable, grad in zip(block.trainable_weights, grads):
        if variable.path.endswith("key/bias"):
            # A key bias shifts all scores of a query equally; the softmax cancels it.
            assert np.abs(grad).max() <= 1e-5 * scale, variable.path
        else:
            assert np.abs(grad).max() > 1e-4 * scale, variable.path


def test_weights_and_names():
    block = MemoriaTransformerBlock(HEADS, INNER)
    block.build((None, T, H))
    expected = []
    for name in SUBLAYERS:
        keys = ("gamma", "beta") if name.startswith("ln_") else ("kernel", "bias")
        expected += [f"{block.name}/{name}/{key}" for key in keys]
    assert [w.path for w in block.weights] == expected
    assert tuple(block.mlp_inner.kernel.shape) == (H, INNER)
    assert tuple(block.mlp_output.kernel.shape) == (INNER, H)
    plain = MemoriaTransformerBlock(HEADS, INNER, cross_attention=False)
    plain.build((None, T, H))
    assert [w.path.split("/")[1] for w in plain.weights[::2]] == list(PLAIN_SUBLAYERS)
    assert block.compute_output_shape((B, T, H)) == (B, T, H)


def test_dropout_only_in_training():
    params = reference_params(13)
    d = data(14)
    kwargs = {"working_memory": d["wm"], "memories": d["memories"], "memory_mask": GRAD_MASK}
    block = block_with(params, dropout=0.5)
    want, want_probs = ref.block_forward(params, d["h"], num_heads=HEADS, **kwargs)
    for training in (None, False):
        out, probs = block(d["h"], training=training, return_attention_scores=True, **kwargs)
        np.testing.assert_allclose(to_numpy(out), want, rtol=TOL, atol=TOL)
        np.testing.assert_allclose(to_numpy(probs), want_probs, rtol=TOL, atol=TOL)
    out, probs = block(d["h"], training=True, return_attention_scores=True, **kwargs)
    assert not np.allclose(to_numpy(out), want, atol=1e-3)
    assert not np.allclose(to_numpy(probs), want_probs, atol=1e-3)

    # Attention dropout acts on the returned probabilities: kept ones are scaled by
    # 1 / (1 - rate). Isolated here: no self-attention output, no residual dropout.
    params["self_output"] = {"kernel": np.zeros((H, H)), "bias": np.zeros((H,))}
    block = block_with(params, dropout=0.5)
    block.residual_dropout.rate = 0.0
    kwargs = {"memories": d["memories"], "memory_mask": GRAD_MASK}
    _, want_probs = ref.block_forward(params, d["h"], num_heads=HEADS, **kwargs)
    _, probs = block(d["h"], training=True, return_attention_scores=True, **kwargs)
    probs = to_numpy(probs)
    kept = probs != 0.0
    assert kept.any() and (~kept & (want_probs > 0)).any()
    np.testing.assert_allclose(probs[kept], 2.0 * want_probs[kept], rtol=1e-5, atol=1e-6)


def _functional_model(mask_dtype="bool"):
    h = keras.Input((T, H), name="h")
    wm = keras.Input((NW, H), name="wm")
    memories = keras.Input((R, H), name="memories")
    mask = keras.Input((R,), dtype=mask_dtype, name="mask")
    width = keras.Input((), dtype="int32", name="width")
    gate = keras.Input((), name="gate")
    block = MemoriaTransformerBlock(HEADS, INNER, dropout=0.1, name="block")
    out, probs = block(h, working_memory=wm, memories=memories, memory_mask=mask, memory_width=width,
                       cross_attention_gate=gate, return_attention_scores=True)
    assert tuple(probs.shape) == (None, HEADS, T, R)
    return keras.Model({"h": h, "wm": wm, "memories": memories, "mask": mask, "width": width,
                        "gate": gate}, [out, probs])


def test_functional_model_and_keras_round_trip(tmp_dir):
    d = data(15)
    feeds = {"h": d["h"], "wm": d["wm"], "memories": d["memories"], "mask": MASK,
             "width": np.array([2, 3, 0], "int32"), "gate": np.array([1.0, 0.0, 1.0], "float32")}
    model = _functional_model()
    params = reference_params(16)
    block = model.get_layer("block")
    for name, p in params.items():
        for key, value in p.items():
            getattr(getattr(block, name), key).assign(_f32(value))
    out, probs = model(feeds)
    want, want_probs = ref.block_forward(
        params, d["h"], working_memory=d["wm"], memories=d["memories"], memory_mask=MASK,
        memory_width=feeds["width"], cross_attention_gate=feeds["gate"], num_heads=HEADS)
    np.testing.assert_allclose(to_numpy(out), want, rtol=TOL, atol=TOL)
    np.testing.assert_allclose(to_numpy(probs), want_probs, rtol=TOL, atol=TOL)

    path = os.path.join(tmp_dir, "block.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(loaded(feeds), (out, probs)):
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    assert loaded.get_layer("block").get_config() == block.get_config()

    # A training step runs (dropout on) and moves the weights.
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=["mse", None])
    before = to_numpy(block.cross_key.kernel).copy()
    model.train_on_batch(feeds, [np.zeros((B, T, H), "float32")])
    assert not np.allclose(to_numpy(block.cross_key.kernel), before)


def test_float_mask_input_in_functional_model():
    d = data(17)
    model = _functional_model(mask_dtype="float32")
    feeds = {"h": d["h"], "wm": d["wm"], "memories": d["memories"], "width": np.array([1, 1, 1], "int32"),
             "gate": np.ones((B,), "float32")}
    by_float = model({**feeds, "mask": MASK.astype("float32")})
    _, probs = by_float
    assert np.all(to_numpy(probs)[0, :, :, 1] == 0.0)
    np.testing.assert_allclose(to_numpy(probs)[2], 1.0 / R, rtol=1e-6)


def test_config_round_trip():
    block = MemoriaTransformerBlock(
        3, 7, dropout=0.2, layer_norm_epsilon=1e-6, activation="relu",
        kernel_initializer="glorot_uniform", cross_attention=False, name="b")
    config = block.get_config()
    for key, value in {"num_heads": 3, "intermediate_dim": 7, "dropout": 0.2, "layer_norm_epsilon": 1e-6,
                       "activation": "relu", "cross_attention": False}.items():
        assert config[key] == value
    again = MemoriaTransformerBlock.from_config(config)
    assert again.get_config() == config
    default = MemoriaTransformerBlock(2, 4).get_config()
    assert default["activation"] == "gelu" and default["cross_attention"] is True
    assert default["kernel_initializer"]["config"]["stddev"] == 0.02
    assert keras.layers.deserialize(keras.layers.serialize(MemoriaTransformerBlock(2, 4))).num_heads == 2


def test_gelu_is_the_tanh_approximation():
    x = np.linspace(-4, 4, 9).reshape(1, 1, 9)
    block = MemoriaTransformerBlock(1, 2)
    np.testing.assert_allclose(to_numpy(block._activation_fn(ops.convert_to_tensor(_f32(x)))),
                               ref.gelu(x), rtol=1e-6, atol=1e-6)


def test_errors():
    d = data(18)
    with pytest.raises(ValueError, match="num_heads"):
        MemoriaTransformerBlock(3, INNER)(d["h"])
    with pytest.raises(ValueError, match="num_heads"):
        MemoriaTransformerBlock(0, INNER)
    with pytest.raises(TypeError, match="intermediate_dim"):
        MemoriaTransformerBlock(HEADS, 4.0)
    with pytest.raises(ValueError, match="dropout"):
        MemoriaTransformerBlock(HEADS, INNER, dropout=1.0)
    with pytest.raises(TypeError, match="cross_attention"):
        MemoriaTransformerBlock(HEADS, INNER, cross_attention="yes")
    block = MemoriaTransformerBlock(HEADS, INNER)
    block(d["h"])
    with pytest.raises(ValueError, match="memory_mask"):
        block(d["h"], memories=d["memories"], memory_mask=np.ones((B, R + 1), bool))
    with pytest.raises(ValueError, match="memory_mask"):
        block(d["h"], memory_mask=np.ones((B, R), bool))
    with pytest.raises(ValueError, match="memories"):
        block(d["h"], memories=np.ones((B, R, H + 1), "float32"))
    with pytest.raises(ValueError, match="working_memory"):
        block(d["h"], working_memory=np.ones((B, NW, H + 2), "float32"))
    with pytest.raises(ValueError, match="cross_attention_gate"):
        block(d["h"], working_memory=d["wm"], cross_attention_gate=np.ones((B, 1, 1), "float32"))
    with pytest.raises(TypeError, match="return_attention_scores"):
        block(d["h"], return_attention_scores="yes")
    plain = MemoriaTransformerBlock(HEADS, INNER, cross_attention=False)
    with pytest.raises(ValueError, match="working_memory.*cross_attention=False"):
        plain(d["h"], working_memory=d["wm"])
    with pytest.raises(ValueError, match="memories.*cross_attention=False"):
        plain(d["h"], memories=d["memories"])
