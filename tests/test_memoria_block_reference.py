"""Self-checks of the NumPy Memoria block reference: properties the spec states (NumPy only)."""

import copy
import math

import numpy as np
import pytest

from memoria_block_reference import (
    abstractor_forward,
    block_forward,
    evict_for,
    gelu,
    layer_norm,
    lifespan_delta,
    memory_lanes,
    model_forward,
    random_abstractor_params,
    random_block_params,
    random_model_params,
)
from memoria_numpy_reference import LONGTERM, SHORTTERM, RowMemoria

B, T, H, HEADS, INNER, NW, R = 2, 5, 8, 2, 12, 3, 4


def _setup(seed=0):
    rng = np.random.default_rng(seed)
    params = random_block_params(rng, H, INNER)
    h = rng.normal(size=(B, T, H))
    wm = rng.normal(size=(B, NW, H))
    mem = rng.normal(size=(B, R, H))
    return rng, params, h, wm, mem


def test_primitives_follow_their_formulas():
    x = np.array([-2.0, 0.0, 1.0])
    want = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(gelu(x), want, rtol=1e-15)
    y = layer_norm({"gamma": np.full(3, 2.0), "beta": np.full(3, 1.0)}, np.array([[1.0, 2.0, 3.0]]), 0.0)
    np.testing.assert_allclose(y, [[1 - 2 * math.sqrt(1.5), 1.0, 1 + 2 * math.sqrt(1.5)]], rtol=1e-14)


def test_self_attention_against_a_loop():
    rng = np.random.default_rng(7)
    p = random_block_params(rng, H, INNER, cross_attention=False)
    # No MLP: the block output is h + self-attention only.
    p["mlp_output"] = {"kernel": np.zeros((INNER, H)), "bias": np.zeros(H)}
    h = rng.normal(size=(1, T, H))
    got, probs = block_forward(p, h, num_heads=HEADS, cross_attention=False)
    assert probs is None
    x = layer_norm(p["ln_1"], h[0], 1e-5)
    proj = {n: x @ p[n]["kernel"] + p[n]["bias"] for n in ("self_query", "self_key", "self_value")}
    dh = H // HEADS
    context = np.zeros((T, H))
    for head in range(HEADS):
        cols = slice(head * dh, (head + 1) * dh)
        for t in range(T):
            s = [proj["self_query"][t, cols] @ proj["self_key"][u, cols] / math.sqrt(dh) for u in range(t + 1)]
            w = np.exp(np.array(s) - max(s))
            w /= w.sum()
            context[t, cols] = sum(w[u] * proj["self_value"][u, cols] for u in range(t + 1))
    want = h[0] + context @ p["self_output"]["kernel"] + p["self_output"]["bias"]
    np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-12)


def test_causal_self_attention():
    rng, params, h, wm, mem = _setup(1)
    bump = rng.normal(size=(B, H))  # not a constant shift, which LayerNorm would remove
    mask = np.array([[1, 1, 0, 1], [1, 0, 0, 0]])
    kwargs = dict(working_memory=wm, memories=mem, memory_mask=mask, memory_width=3, num_heads=HEADS)
    out, probs = block_forward(params, h, **kwargs)
    changed = h.copy()
    changed[:, -1] += bump
    out2, probs2 = block_forward(params, changed, **kwargs)
    np.testing.assert_allclose(out2[:, :-1], out[:, :-1], rtol=0, atol=1e-13)
    np.testing.assert_allclose(probs2[:, :, :-1], probs[:, :, :-1], rtol=0, atol=1e-13)
    assert np.abs(out2[:, -1] - out[:, -1]).min() > 1e-6
    changed = h.copy()
    changed[:, 0] += bump
    out3, _ = block_forward(params, changed, **kwargs)
    assert np.abs(out3[:, 1:] - out[:, 1:]).max() > 1e-6  # later positions see earlier ones


def test_all_masked_row_attends_uniformly_and_masked_lanes_get_nothing():
    _, params, h, wm, mem = _setup(2)
    mask = np.array([[0, 0, 0, 0], [1, 0, 1, 1]], bool)
    out, probs = block_forward(params, h, working_memory=wm, memories=mem, memory_mask=mask,
                               memory_width=3, num_heads=HEADS)
    assert probs.shape == (B, HEADS, T, R)
    np.testing.assert_allclose(probs[0], 1.0 / R, rtol=1e-15)
    np.testing.assert_array_equal(probs[1][..., 1], 0.0)
    np.testing.assert_allclose(probs[1].sum(-1), 1.0, rtol=1e-14)
    assert np.all(probs[1][..., [0, 2, 3]] > 0)
    # A masked lane's content does not matter; an unmasked one's does.
    moved = mem.copy()
    moved[1, 1] += 5.0
    np.testing.assert_allclose(block_forward(params, h, working_memory=wm, memories=moved, memory_mask=mask,
                                             memory_width=3, num_heads=HEADS)[0], out, rtol=0, atol=1e-13)
    # mask None = all valid = all ones.
    full = block_forward(params, h, memories=mem, num_heads=HEADS)[0]
    np.testing.assert_array_equal(block_forward(params, h, memories=mem, memory_mask=np.ones((B, R)),
                                                num_heads=HEADS)[0], full)


def test_zero_memory_width_adds_only_the_output_bias():
    _, params, h, wm, mem = _setup(3)
    params["mlp_output"] = {"kernel": np.zeros((INNER, H)), "bias": np.zeros(H)}  # isolate the branches
    gate = np.array([1.0, 0.0])
    base, _ = block_forward(params, h, working_memory=wm, cross_attention_gate=gate, num_heads=HEADS)
    out, probs = block_forward(params, h, working_memory=wm, memories=mem, memory_mask=np.zeros((B, R)),
                               memory_width=np.array([0, 0]), cross_attention_gate=gate, num_heads=HEADS)
    bias = params["cross_output"]["bias"]
    np.testing.assert_allclose(out - base, np.broadcast_to(gate[:, None, None] * bias, out.shape), rtol=0, atol=1e-13)
    assert probs is not None and probs.shape == (B, HEADS, T, R)
    # With a positive width (scalar form) the memories do contribute.
    out_w, _ = block_forward(params, h, working_memory=wm, memories=mem, memory_width=2,
                             cross_attention_gate=gate, num_heads=HEADS)
    assert np.abs(out_w[0] - base[0] - bias).max() > 1e-6
    np.testing.assert_allclose(out_w[1], base[1], rtol=0, atol=1e-13)


def test_uniform_attention_gives_delta_scale_per_lane():
    rng, params, h, _, mem = _setup(4)
    params["cross_query"] = {"kernel": np.zeros((H, H)), "bias": np.zeros(H)}  # every score 0
    probs = [block_forward(params, h, memories=mem, memory_width=R, num_heads=HEADS)[1] for _ in range(3)]
    np.testing.assert_allclose(probs[0], 1.0 / R, rtol=1e-15)
    np.testing.assert_allclose(lifespan_delta(probs, R, 8.0), np.full((B, R), 8.0), rtol=1e-14)
    # The formula itself: width * scale * mean over layers, heads and positions.
    p = [rng.random((B, HEADS, T, R)) for _ in range(2)]
    want = 3 * 6.0 * (p[0].mean(axis=(1, 2)) + p[1].mean(axis=(1, 2))) / 2
    np.testing.assert_allclose(lifespan_delta(p, 3, 6.0), want, rtol=1e-14)


def test_zero_gate_equals_the_block_without_cross_attention():
    _, params, h, wm, mem = _setup(5)
    plain = {k: v for k, v in params.items() if not k.startswith(("cross_", "ln_wm", "ln_mem"))}
    want, _ = block_forward(plain, h, num_heads=HEADS, cross_attention=False)
    got, _ = block_forward(params, h, working_memory=wm, memories=mem, memory_mask=np.ones((B, R)),
                           memory_width=R, cross_attention_gate=0.0, num_heads=HEADS)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(block_forward(params, h, num_heads=HEADS)[0], want)
    ungated, _ = block_forward(params, h, working_memory=wm, memories=mem, num_heads=HEADS)
    assert np.abs(ungated - want).max() > 1e-6
    # Per-row gate: row 0 gated off, row 1 as ungated.
    mixed, _ = block_forward(params, h, working_memory=wm, memories=mem, cross_attention_gate=np.array([0.0, 1.0]),
                             num_heads=HEADS)
    np.testing.assert_allclose(mixed[0], want[0], rtol=0, atol=1e-13)
    np.testing.assert_allclose(mixed[1], ungated[1], rtol=0, atol=1e-13)


def test_one_cross_attention_serves_both_sources():
    _, params, h, wm, mem = _setup(6)
    changed = copy.deepcopy(params)
    changed["cross_value"]["bias"] = changed["cross_value"]["bias"] + 1.0
    for kwargs in (dict(working_memory=wm), dict(memories=mem)):
        a, _ = block_forward(params, h, num_heads=HEADS, **kwargs)
        b, _ = block_forward(changed, h, num_heads=HEADS, **kwargs)
        assert np.abs(a - b).max() > 1e-6


def test_bad_arguments():
    _, params, h, wm, _ = _setup(7)
    with pytest.raises(ValueError):
        block_forward(params, h, num_heads=3)
    with pytest.raises(ValueError):
        block_forward(params, h, working_memory=wm, num_heads=HEADS, cross_attention=False)


def test_abstractor_against_a_loop():
    rng = np.random.default_rng(8)
    p = random_abstractor_params(rng, 3, 4, 5)
    x = rng.normal(size=(2, 3, 4))
    out = abstractor_forward(p, x)
    assert out.shape == (2, 3, 4)  # spec 5: (num_memories=3, hidden=4, ff=5) on [2, 3, 4]
    for b in range(2):
        keys = x[b] @ p["key"]["kernel"] + p["key"]["bias"]
        values = x[b] @ p["value"]["kernel"] + p["value"]["bias"]
        for m in range(3):
            s = np.array([p["queries"][m] @ keys[t] for t in range(3)])  # no 1/sqrt(d)
            a = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
            z = sum(a[t] * values[t] for t in range(3))
            want = (z @ p["feedforward"]["kernel"] + p["feedforward"]["bias"]) @ p["output"]["kernel"] \
                + p["output"]["bias"]
            np.testing.assert_allclose(out[b, m], want, rtol=1e-12, atol=1e-13)


# ----------------------------------------------------------------------------- language model

CONFIG = dict(vocabulary_size=11, num_layers=2, num_heads=2, hidden_dim=8, intermediate_dim=12, segment_size=4,
              num_memories=2, num_reminded_stm=4, stm_capacity=8, ltm_search_depth=2, initial_lifespan=3,
              num_final_ltms=0, capacity=32, lifespan_extend_scale=8.0)


def _tokens(rng, batch, length):
    return rng.integers(0, CONFIG["vocabulary_size"], (batch, length))


def test_without_memory_segments_are_independent():
    rng = np.random.default_rng(10)
    config = dict(CONFIG, use_memory=False)
    params = random_model_params(rng, config)
    assert "ln_wm" not in params["blocks"][0]
    tokens = _tokens(rng, 2, 10)  # segments 4, 4, 2
    logits, info = model_forward(params, tokens, config)
    assert logits.shape == (2, 10, 11) and info["memory"] is None
    pieces = [model_forward(params, tokens[:, i:i + 4], config)[0] for i in (0, 4, 8)]
    np.testing.assert_allclose(logits, np.concatenate(pieces, axis=1), rtol=0, atol=1e-12)
    other = tokens.copy()
    other[:, :4] = (other[:, :4] + 1) % 11
    changed, _ = model_forward(params, other, config)
    np.testing.assert_allclose(changed[:, 4:], logits[:, 4:], rtol=0, atol=1e-12)
    assert np.abs(changed[:, :4] - logits[:, :4]).max() > 1e-6


@pytest.mark.parametrize("num_memories", [2, None])
def test_later_segments_see_the_first_only_through_memory(num_memories):
    rng = np.random.default_rng(11)
    config = dict(CONFIG, num_memories=num_memories)
    params = random_model_params(rng, config)
    assert ("abstractor" in params) == (num_memories is not None)
    tokens = _tokens(rng, 2, 12)
    logits, info = model_forward(params, tokens, config)
    # The first segment is the plain model (no memory call at all).
    assert info["reminded"][0] is None and info["widths"][0] is None
    plain, _ = model_forward(params, tokens[:, :4], config)
    np.testing.assert_allclose(logits[:, :4], plain, rtol=0, atol=1e-12)
    other = tokens.copy()
    other[:, :4] = (other[:, :4] + 3) % 11
    changed, _ = model_forward(params, other, config)
    assert np.abs(changed[:, :4] - logits[:, :4]).max() > 1e-6
    assert np.abs(changed[:, 4:8] - logits[:, 4:8]).max() > 1e-6  # via the working memory
    # Gating the cross-attentions off (zero output projections and biases, so both cross branches
    # add nothing) makes later segments independent of the first again.
    for block in params["blocks"]:
        block["cross_output"] = {"kernel": np.zeros((8, 8)), "bias": np.zeros(8)}
    cut, _ = model_forward(params, tokens, config)
    cut_changed, _ = model_forward(params, other, config)
    np.testing.assert_allclose(cut_changed[:, 4:], cut[:, 4:], rtol=0, atol=1e-12)


def test_memory_dynamics_under_uniform_attention():
    # cross_query = 0: uniform memory attention, so each reminded engram gains exactly s_ext (spec 3.4)
    # when its row's width counts no -1 (K >= #STM, F = 0: no LTM search, no rule E).
    rng = np.random.default_rng(12)
    params = random_model_params(rng, CONFIG)
    for block in params["blocks"]:
        block["cross_query"] = {"kernel": np.zeros((8, 8)), "bias": np.zeros(8)}
    logits, info = model_forward(params, _tokens(rng, 2, 16), CONFIG)
    assert logits.shape == (2, 16, 11)
    # Segment t reminds the working memories of segments <= t - 2 (stored at the ends of t - 1, t - 2...).
    assert info["reminded"] == [None, [[], []], [[0, 1], [0, 1]], [[0, 1, 2, 3], [0, 1, 2, 3]]]
    assert info["widths"] == [None, 0, 2, 4]
    assert memory_lanes(CONFIG) == 4
    np.testing.assert_array_equal(info["deltas"][1], 0.0)  # R_batch = 0
    np.testing.assert_allclose(info["deltas"][2][:, :2], 8.0, rtol=1e-14)
    np.testing.assert_allclose(info["deltas"][3], 8.0, rtol=1e-14)
    for row in info["memory"]:
        assert row["alive"] == 6 and row["types"] == [SHORTTERM] * 6 and row["evicted"] == 0
        # a, b: 3 - 1, + 8 - 1, + 8 - 1; c, d: 3 - 1, + 8 - 1; e, f: 3 - 1.
        assert row["lifespans"] == [16.0, 16.0, 9.0, 9.0, 2.0, 2.0]
    # The stored engrams are float32 copies of the Abstractor's output of the segments 1..3.
    assert all(v.dtype == np.float32 for v in info["rows"][0].data)


def test_long_run_reaches_long_term_memory():
    rng = np.random.default_rng(13)
    config = dict(CONFIG, stm_capacity=3, num_reminded_stm=2, num_final_ltms=2, initial_lifespan=4, capacity=64)
    params = random_model_params(rng, config)
    logits, info = model_forward(params, _tokens(rng, 2, 40), config)
    assert np.isfinite(logits).all()
    assert any(LONGTERM in row["types"] for row in info["memory"])
    for reminded, widths, width in zip(info["reminded"][1:], info["row_widths"][1:], info["widths"][1:]):
        assert width == max(widths)
        for slots, w in zip(reminded, widths):
            assert slots == sorted(slots) and len(slots) <= memory_lanes(config) and w in (len(slots), len(slots) + 1)
    coverage = info["rows"][0].coverage
    assert coverage["ltm_reminded"] and coverage["rule_e"] and coverage["promoted"] and coverage["stm_unselected"]
    # A small capacity evicts long-term memories before adds; the run stays within it.
    small = dict(config, capacity=12)
    _, info = model_forward(params, _tokens(np.random.default_rng(13), 2, 40), small)
    assert all(row["evicted"] > 0 and row["alive"] <= 12 for row in info["memory"])


def test_eviction_takes_the_long_term_memory_closest_to_death():
    row = RowMemoria(2, 3, 1, 5, 1)
    row.add(np.arange(12, dtype=np.float32).reshape(6, 2))
    row.types = [LONGTERM, LONGTERM, LONGTERM, SHORTTERM, SHORTTERM, SHORTTERM]
    row.life = [np.float32(v) for v in (3, 1, 1, 2, 4, 1)]
    row.counts[:] = np.arange(36).reshape(6, 6)
    assert evict_for(row, 2, 8) == 0 and len(row) == 6
    assert evict_for(row, 4, 8) == 2  # the LTMs of lifespan 1, oldest first: positions 1 and 2
    assert row.types == [LONGTERM] + [SHORTTERM] * 3
    assert [float(v) for v in row.life] == [3, 2, 4, 1]
    np.testing.assert_array_equal(row.counts, np.arange(36).reshape(6, 6)[np.ix_([0, 3, 4, 5], [0, 3, 4, 5])])
    with pytest.raises(NotImplementedError):
        evict_for(row, 6, 8)
