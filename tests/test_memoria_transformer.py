"""MemoriaTransformer: the float64 NumPy reference, the model-level invariants of the spec, state, saving, fit."""

import os

import keras
import numpy as np
import pytest
from keras import ops

from helpers import to_numpy
from keras_engram.memoria import MemoriaTransformer
from keras_engram.src.ops import memoria as memoria_ops
from memoria_block_reference import model_forward, random_model_params

V, HEADS, H, FF, SEG, B = 11, 2, 8, 16, 4, 2
MEMORY = dict(num_reminded_stm=2, stm_capacity=3, ltm_search_depth=2, initial_lifespan=3,
              num_final_ltms=2, tie_break="newest")


def make(num_layers=1, **kwargs):
    return MemoriaTransformer(V, num_layers, HEADS, H, FF, SEG, **{**MEMORY, **kwargs})


def tokens(length, batch=B, seed=0):
    return np.random.default_rng(seed).integers(0, V, size=(batch, length)).astype("int32")


def reference_config(model):
    config = model.get_config()
    config["capacity"] = model.memoria_config.capacity
    return config


def load_params(model, params):
    """Assigns `random_model_params`-style parameters (keys as the API's sublayer names)."""
    model.token_embedding.assign(params["token_embedding"].astype("float32"))
    model.position_embedding.assign(params["position_embedding"].astype("float32"))

    def put(layer, values):
        for weight in layer.weights:
            key = weight.path.split("/")[-1]
            weight.assign(np.asarray(values[key], "float32"))

    for block, block_params in zip(model.blocks, params["blocks"]):
        for name, values in block_params.items():
            put(getattr(block, name), values)
    put(model.final_norm, params["ln_f"])
    if "abstractor" in params:
        a, p = model.abstractor, params["abstractor"]
        a.queries.assign(p["queries"].astype("float32"))
        for layer, key in ((a.key_dense, "key"), (a.value_dense, "value"),
                           (a.feedforward_dense, "feedforward"), (a.output_dense, "output")):
            put(layer, p[key])


def randomized(model, seed=0):
    params = random_model_params(np.random.default_rng(seed), reference_config(model))
    load_params(model, params)
    return params


def copy_trainable(source, target):
    for a, b in zip(source.trainable_weights, target.trainable_weights, strict=True):
        b.assign(a.value)


def segment(logits, index):
    return to_numpy(logits)[:, index * SEG:(index + 1) * SEG]


def perturb(layer, seed=7):
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(to_numpy(weight) + rng.normal(0.0, 0.5, weight.shape).astype("float32"))


# --- numerics ----------------------------------------------------------------


@pytest.mark.parametrize("num_memories", [None, 2])
def test_logits_and_memory_match_the_numpy_reference(num_memories):
    # Seven segments with S = 3: short-term memories overflow into long-term
    # ones, which the walk then reaches (rule E, seeds, searches, deletions).
    model = make(num_layers=2, num_memories=num_memories, stateful=True, batch_size=B)
    params = randomized(model, seed=1)
    x = tokens(7 * SEG, seed=2)
    logits = to_numpy(model(x))
    expected, info = model_forward(params, x, reference_config(model))
    scale = np.abs(expected).max()
    assert np.abs(logits - expected).max() <= 1e-4 * scale
    state = model.get_memory_state()
    for b, row in enumerate(info["memory"]):
        n = row["alive"]
        assert state["n"][b] == n
        assert state["type"][b, :n].tolist() == row["types"]
        np.testing.assert_allclose(state["life"][b, :n], row["lifespans"], rtol=0, atol=1e-4)
    assert max(info["widths"][1:]) > 0  # memories were reminded
    assert any(3 in row["types"] for row in info["memory"])  # long-term memories exist


def test_lifespan_delta_is_width_times_scale_times_mean_attention():
    rng = np.random.default_rng(3)
    probs = [rng.dirichlet(np.ones(5), size=(2, 3, 4)).astype("float32") for _ in range(2)]
    delta = to_numpy(memoria_ops.memoria_lifespan_delta(probs, 3, 8.0))
    expected = 3 * 8.0 * np.stack(probs).astype(np.float64).mean(axis=(0, 2, 3))
    np.testing.assert_allclose(delta, expected, rtol=1e-6)
    uniform = [np.full((2, 2, 4, 3), 1 / 3, "float32")]
    np.testing.assert_allclose(to_numpy(memoria_ops.memoria_lifespan_delta(uniform, 3, 6.0)), 6.0, rtol=1e-6)
    with pytest.raises(ValueError, match="probabilities"):
        memoria_ops.memoria_lifespan_delta([], 3, 8.0)


# --- model-level invariants (spec 6.7) -----------------------------------------


def test_first_segment_makes_no_memory_call():
    model = make(stateful=True, batch_size=B)
    randomized(model)
    x = tokens(3 * SEG)
    first = to_numpy(model(x[:, :SEG]))
    state = model.get_memory_state()
    assert state["n"].tolist() == [0, 0] and int(state["timestep"]) == 0
    assert int(state["has_previous"]) == 1
    # The cross-attention weights do not reach the first segment, only later ones.
    stateless = make()
    copy_trainable(model, stateless)
    long = to_numpy(stateless(x))
    for block in stateless.blocks:
        for name in ("ln_wm", "cross_query", "cross_key", "cross_value", "cross_output"):
            perturb(getattr(block, name))
    changed = to_numpy(stateless(x))
    np.testing.assert_array_equal(changed[:, :SEG], long[:, :SEG])
    np.testing.assert_allclose(long[:, :SEG], first, rtol=1e-6, atol=1e-6)
    assert np.abs(changed[:, SEG:] - long[:, SEG:]).max() > 1e-3


def test_zero_reminded_width_leaves_only_the_output_bias_and_no_delta():
    # Segment 2 (the first with memory) has no short-term memory yet: R = 0.
    model = make(stateful=True, batch_size=B)
    randomized(model)
    model(tokens(SEG))
    before = model.get_weights()
    out = segment(model(tokens(SEG, seed=1)), 0)
    state = model.get_memory_state()
    assert state["n"].tolist() == [SEG, SEG]
    # S = 3: the oldest of the 4 new short-term memories is promoted at once.
    assert state["type"][:, :SEG].tolist() == [[3, 2, 2, 2]] * B
    np.testing.assert_array_equal(state["life"][:, :SEG], MEMORY["initial_lifespan"] - 1.0)
    assert (state["counts"][:, :SEG, :SEG] == 1).all()  # the working memories fired together
    # The memory attention's queries (ln_mem) play no part when R = 0.
    model.set_weights(before)
    model.reset_memory()
    model(tokens(SEG))
    for block in model.blocks:
        perturb(block.ln_mem)
    np.testing.assert_array_equal(segment(model(tokens(SEG, seed=1)), 0), out)


def filled_state(model, rows_with_memory, seed=0):
    """A stored memory: 2 short-term memories (life 2) in the given rows, a previous segment."""
    rng = np.random.default_rng(seed)
    state = model.get_memory_state()
    for b in rows_with_memory:
        state["data"][b, :2] = rng.normal(size=(2, H))
        state["type"][b, :2] = memoria_ops.SHORTTERM
        state["life"][b, :2] = 2.0
        state["ids"][b, :2] = [0, 1]
        state["n"][b] = 2
    state["next_id"] = np.array(2, "int32")
    state["timestep"] = np.array(1, "int32")
    state["previous"] = rng.normal(size=state["previous"].shape).astype("float32")
    state["has_previous"] = np.array(1, "int32")
    return state


def test_an_all_masked_row_attends_uniformly_beside_a_row_with_memories():
    model = make(stateful=True, batch_size=B)
    randomized(model)
    weights = model.get_weights()
    state = filled_state(model, rows_with_memory=[0])
    model.set_memory_state(state)
    out = to_numpy(model(tokens(SEG)))
    assert np.isfinite(out).all()
    assert model.get_memory_state()["life"][0, :2].min() > 1.0  # row 0's memories were extended
    model.set_weights(weights)
    for block in model.blocks:
        perturb(block.ln_mem)
    model.set_memory_state(state)
    changed = to_numpy(model(tokens(SEG)))
    # Row 1 has no memory (all lanes masked): its queries do not matter.
    np.testing.assert_allclose(changed[1], out[1], rtol=1e-6, atol=1e-6)
    assert np.abs(changed[0] - out[0]).max() > 1e-3


def test_uniform_attention_extends_each_reminded_memory_by_the_scale():
    model = make(num_layers=2, stateful=True, batch_size=B, lifespan_extend_scale=6.0)
    randomized(model)
    for block in model.blocks:  # zero queries: every valid lane gets the same weight
        for weight in block.cross_query.weights:
            weight.assign(np.zeros(weight.shape, "float32"))
    model.set_memory_state(filled_state(model, rows_with_memory=[0, 1]))
    model(tokens(SEG))
    life = model.get_memory_state()["life"]
    # Both short-term memories are reminded (width 2, uniform 1/2): 2 + 6 - 1.
    np.testing.assert_array_equal(life[:, :2], 7.0)
    np.testing.assert_array_equal(life[:, 2:2 + SEG], MEMORY["initial_lifespan"] - 1.0)


def variable_gradients(fn, variables):
    """d fn() / d variable for each variable (zeros where the value is not connected)."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        grads = jax.jit(jax.grad(pure))([v.value for v in variables])
    elif backend == "torch":
        import torch

        for v in variables:
            v.value.requires_grad_(True)
        grads = torch.autograd.grad(fn(), [v.value for v in variables], allow_unused=True)
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for v in variables:
                tape.watch(v.value)
            value = fn()
        grads = tape.gradient(value, [v.value for v in variables])
    return [np.zeros(v.shape) if g is None else to_numpy(g) for v, g in zip(variables, grads)]


def test_gradients_reach_the_abstractor_and_not_the_memory():
    model = make(num_memories=2, stateful=True, batch_size=B)
    randomized(model)
    model.set_memory_state(filled_state(model, rows_with_memory=[0, 1]))
    target = np.random.default_rng(4).normal(size=(B, 2 * SEG, V)).astype("float32")
    x = tokens(2 * SEG)

    def loss():
        return ops.sum(model(x) * ops.convert_to_tensor(target))

    memory = model._memory
    watched = [model.abstractor.queries, model.abstractor.output_dense.kernel,
               model.blocks[0].cross_query.kernel, model.token_embedding,
               memory["data"], memory["previous"], memory["life"]]
    grads = variable_gradients(loss, watched)
    for grad in grads[:4]:
        assert np.abs(grad).max() > 0
    for grad in grads[4:]:
        assert np.abs(grad).max() == 0


def test_without_memory_segments_are_independent():
    model = make(use_memory=False)
    randomized(model)
    assert not any("cross" in w.path or "ln_wm" in w.path for w in model.weights)
    x = tokens(3 * SEG - 1)
    whole = to_numpy(model(x))
    for index, start in enumerate(range(0, x.shape[1], SEG)):
        part = to_numpy(model(x[:, start:start + SEG]))
        np.testing.assert_allclose(whole[:, start:start + SEG], part, rtol=1e-6, atol=1e-6)


# --- state across calls, saving ---------------------------------------------------


def test_stateful_calls_continue_one_long_call():
    stateful = make(num_memories=2, stateful=True, batch_size=B)
    randomized(stateful)
    plain = make(num_memories=2)
    copy_trainable(stateful, plain)
    x = tokens(4 * SEG)
    long = to_numpy(plain(x))
    first = to_numpy(stateful(x[:, : 2 * SEG]))
    second = to_numpy(stateful(x[:, 2 * SEG:]))
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), long, rtol=1e-5, atol=1e-5)
    stateful.reset_memory()
    assert int(stateful.get_memory_state()["has_previous"]) == 0
    np.testing.assert_allclose(to_numpy(stateful(x[:, : 2 * SEG])), first, rtol=1e-6, atol=1e-6)


def test_keras_round_trip_restores_the_memory_exactly(tmp_dir):
    model = make(num_memories=2, stateful=True, batch_size=B, tie_break="random", seed=3)
    randomized(model)
    model(tokens(3 * SEG))
    path = os.path.join(tmp_dir, "memoria_transformer.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_config() == model.get_config()
    before = model.get_memory_state()
    for key, value in loaded.get_memory_state().items():
        np.testing.assert_array_equal(value, before[key])
    x = tokens(SEG, seed=5)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
    after = model.get_memory_state()
    for key, value in loaded.get_memory_state().items():
        np.testing.assert_array_equal(value, after[key])


def test_set_memory_state_round_trip_and_checks():
    model = make(stateful=True, batch_size=B)
    model(tokens(2 * SEG))
    state = model.get_memory_state()
    model.reset_memory()
    assert model.get_memory_state()["n"].tolist() == [0, 0]
    model.set_memory_state(state)
    for key, value in model.get_memory_state().items():
        np.testing.assert_array_equal(value, state[key])
    with pytest.raises(ValueError, match="memory_state|shape"):
        model.set_memory_state({**state, "data": state["data"][:1]})
    with pytest.raises(ValueError, match="every memory buffer"):
        model.set_memory_state({"data": state["data"]})
    with pytest.raises(ValueError, match="stateful"):
        make().get_memory_state()


# --- fit ------------------------------------------------------------------------


def test_fit_with_a_masked_loss_trains_the_abstractor_and_carries_the_memory():
    # One stateful model: `fit` trains through the memory (the Abstractor
    # learns) and, like `predict`, leaves the memory of its last batch behind.
    model = make(num_memories=2, stateful=True, batch_size=B, tie_break="random", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = tokens(2 * SEG, batch=2 * B)
    weights = np.ones(x.shape, "float32")
    weights[:, :SEG] = 0.0  # labels only on the second segment
    queries = to_numpy(model.abstractor.queries).copy()
    history = model.fit(x, x, sample_weight=weights, batch_size=B, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(to_numpy(model.abstractor.queries) - queries).max() > 0
    state = model.get_memory_state()
    assert int(state["has_previous"]) == 1 and int(state["timestep"]) == 3  # 2 batches, 3 memory steps
    model.predict_on_batch(x[:B])
    assert int(model.get_memory_state()["timestep"]) == 5


# --- errors and config ----------------------------------------------------------------


def test_errors():
    model = make()
    with pytest.raises(ValueError, match="token_ids"):
        model(np.zeros((2, 4, 1), "int32"))
    with pytest.raises(ValueError, match="token_ids"):
        model(np.zeros((4,), "int32"))
    with pytest.raises(TypeError, match="integer"):
        model(np.zeros((2, 4), "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        make(stateful=True)
    with pytest.raises(ValueError, match="use_memory"):
        make(stateful=True, batch_size=2, use_memory=False)
    with pytest.raises(ValueError, match="num_heads"):
        MemoriaTransformer(V, 1, 3, H, FF, SEG)
    with pytest.raises(TypeError, match="segment_size"):
        MemoriaTransformer(V, 1, HEADS, H, FF, 4.0)
    with pytest.raises(ValueError, match="tie_break"):
        make(tie_break="oldest")
    stateful = make(stateful=True, batch_size=B)
    with pytest.raises(ValueError, match="batch size of 2"):
        stateful(tokens(SEG, batch=3))
    with pytest.raises(ValueError, match="multiple of `segment_size`"):
        stateful(tokens(SEG + 1))


def test_config_round_trip():
    model = make(num_memories=3, abstractor_dim=5, dropout=0.1, capacity=40, name="lm")
    clone = MemoriaTransformer.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.memoria_config == model.memoria_config
    assert len(clone.weights) == len(model.weights)
