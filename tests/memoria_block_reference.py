"""A float64 NumPy reference of Memoria's GPT-2 block and language model, written from the spec.

Sources: the Memoria specification (sections 2.7, 3.1-3.5, 4 and 6.6) and
the agreed layer API (sublayer names, the memory-width gate, the gate of
the first segment). Nothing here reads keras_engram: tests compare the
layers against these functions.

Parameters are nested dicts keyed by the API's sublayer names: a dense is
`{"kernel": [in, out], "bias": [out]}`, a LayerNorm `{"gamma", "beta"}`.
Block keys: ln_1, self_query, self_key, self_value, self_output, ln_wm,
ln_mem, cross_query, cross_key, cross_value, cross_output, ln_2, mlp_inner,
mlp_output (the cross ones and the two extra LayerNorms only with
cross-attention). Inference only: no dropout anywhere.

Points where the API fixes what the spec leaves open (the API is followed):

* The reference's fused key/value projection H -> 2H is two denses,
  `cross_key` and `cross_value` (the same function).
* The memory context is multiplied by `float(max(memory_width) > 0)` before
  `cross_output` (spec 6.6's `R_batch > 0` gate), and `cross_attention_gate`
  multiplies the residual contributions of both cross-attentions (spec 6.6's
  `has_prev`).
* The additive memory mask is `(1 - mask) * finfo(float32).min` added to the
  scores, also in this float64 reference (spec 3.2 / 6.6), so an all-masked
  row attends uniformly over its (zero) lanes.
* The port's memory lanes: `R_cap = max(1, min(K, S, capacity) + F)` lanes per
  row, the reminded slots in ascending slot order (= creation order, oldest
  first) in the first lanes, the rest zero vectors with mask 0 (spec 6.3
  step 10; the reference's own order is a topk artefact, spec 6.5 item 4).
  `lifespan_delta` scales by `R_batch = max_b R_row` (spec 6.5 item 6, 6.6).
* Tie-break "newest" only (deterministic): `RowMemoria(tie_break="newest")`.

Precision: the network runs in float64. The memory runs in float32 like
memoria-pytorch and the port: working memories are stored as float32 copies
and every similarity is float32 (`RowMemoria`). Deltas are computed in
float64 and rounded to float32 when added to a lifespan, so a float32 port
can differ from the lifespans here by an ulp; selections can differ where
float32 scores nearly tie (use well-separated data when comparing).

Capacity (spec 6.3 add step 1, port only): before an add that would exceed
`capacity` slots, the LTMs with the smallest lifespan (ties: oldest) are
evicted. The reference evicts long-term memories only and raises when that
is not enough; tests should choose capacities that do not reach this.
"""

import math

import numpy as np

from memoria_numpy_reference import LONGTERM, RowMemoria

FLOAT32_MIN = float(np.finfo(np.float32).min)  # -3.4028234663852886e38


# ----------------------------------------------------------------------------- primitives


def dense(p, x):
    return np.asarray(x, np.float64) @ np.asarray(p["kernel"], np.float64) + np.asarray(p["bias"], np.float64)


def layer_norm(p, x, epsilon):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * np.asarray(p["gamma"], np.float64) + np.asarray(p["beta"], np.float64)


def gelu(x):
    """GPT-2's "gelu_new": the tanh approximation."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def softmax(x, axis=-1):
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def _split(x, num_heads):
    b, n, h = x.shape
    return x.reshape(b, n, num_heads, h // num_heads).transpose(0, 2, 1, 3)  # [B, heads, n, dh]


def _merge(x):
    b, heads, n, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(b, n, heads * dh)


def _attention(q, k, v, num_heads, additive=None, causal=False):
    """Scaled dot-product attention; returns (context [B, n, H], probs [B, heads, Tq, Tk])."""
    q, k, v = _split(q, num_heads), _split(k, num_heads), _split(v, num_heads)
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
    if causal:
        tq, tk = scores.shape[-2:]
        allowed = np.tril(np.ones((tq, tk), bool))
        scores = np.where(allowed, scores, -np.inf)
    if additive is not None:
        scores = scores + additive
    probs = softmax(scores, axis=-1)
    return _merge(np.einsum("bhqk,bhkd->bhqd", probs, v)), probs


def _per_row(value, batch):
    """None -> None; a scalar or [B] value -> float64 [B, 1, 1]."""
    if value is None:
        return None
    value = np.asarray(value, np.float64).reshape(-1)
    return np.broadcast_to(value, (batch,)).reshape(batch, 1, 1)


# ----------------------------------------------------------------------------- block


def cross_attention_forward(params, queries_in, kv, num_heads, mask=None, width_gate=None):
    """The block's shared cross-attention (no causal mask). Returns (output, probs)."""
    q = dense(params["cross_query"], queries_in)
    k = dense(params["cross_key"], kv)
    v = dense(params["cross_value"], kv)
    additive = None
    if mask is not None:
        mask = np.asarray(mask, np.float64)
        additive = ((1.0 - mask) * FLOAT32_MIN)[:, None, None, :]
    context, probs = _attention(q, k, v, num_heads, additive=additive)
    if width_gate is not None:
        context = context * width_gate
    return dense(params["cross_output"], context), probs


def block_forward(params, h, working_memory=None, memories=None, memory_mask=None, memory_width=None,
                  cross_attention_gate=None, num_heads=1, epsilon=1e-5, cross_attention=True):
    """One MemoriaTransformerBlock in inference mode.

    Returns `(outputs [B, T, H], memory_probs [B, heads, T, R] or None)`, float64.
    """
    h = np.asarray(h, np.float64)
    batch, _, hidden = h.shape
    if hidden % num_heads:
        raise ValueError(f"hidden size {hidden} is not a multiple of num_heads={num_heads}")
    if not cross_attention and (working_memory is not None or memories is not None):
        raise ValueError("a block without cross-attention takes no working_memory or memories")

    x = layer_norm(params["ln_1"], h, epsilon)
    context, _ = _attention(dense(params["self_query"], x), dense(params["self_key"], x),
                            dense(params["self_value"], x), num_heads, causal=True)
    h = h + dense(params["self_output"], context)

    gate = _per_row(cross_attention_gate, batch)
    if working_memory is not None:
        out, _ = cross_attention_forward(params, layer_norm(params["ln_wm"], h, epsilon),
                                 np.asarray(working_memory, np.float64), num_heads)
        h = h + (out if gate is None else gate * out)

    memory_probs = None
    if memories is not None:
        memories = np.asarray(memories, np.float64)
        mask = np.ones(memories.shape[:2]) if memory_mask is None else np.asarray(memory_mask, np.float64)
        width_gate = None
        if memory_width is not None:
            width_gate = float(np.max(np.asarray(memory_width)) > 0)
        out, memory_probs = cross_attention_forward(params, layer_norm(params["ln_mem"], h, epsilon), memories,
                                            num_heads, mask=mask, width_gate=width_gate)
        h = h + (out if gate is None else gate * out)

    x = layer_norm(params["ln_2"], h, epsilon)
    h = h + dense(params["mlp_output"], gelu(dense(params["mlp_inner"], x)))
    return h, memory_probs


def abstractor_forward(params, h):
    """Spec 3.1: A = softmax_T(Q K(h)^T) (one head, no scaling), Z = A V(h), output Out(FF(Z))."""
    h = np.asarray(h, np.float64)
    keys = dense(params["key"], h)  # [B, T, H]
    values = dense(params["value"], h)
    scores = np.einsum("mh,bth->bmt", np.asarray(params["queries"], np.float64), keys)
    z = np.einsum("bmt,bth->bmh", softmax(scores, axis=-1), values)
    return dense(params["output"], dense(params["feedforward"], z))


def lifespan_delta(probs_list, width, scale):
    """Spec 3.4: delta [B, R] = width * scale * mean over layers, heads and query positions."""
    stacked = np.stack([np.asarray(p, np.float64) for p in probs_list])  # [L, B, heads, T, R]
    return float(width) * float(scale) * stacked.mean(axis=(0, 2, 3))


# ----------------------------------------------------------------------------- random parameters


def _dense_params(rng, n_in, n_out, std):
    return {"kernel": rng.normal(0.0, std, (n_in, n_out)), "bias": rng.normal(0.0, std, (n_out,))}


def _norm_params(rng, n, std):
    return {"gamma": 1.0 + rng.normal(0.0, std, (n,)), "beta": rng.normal(0.0, std, (n,))}


def random_block_params(rng, hidden, intermediate, cross_attention=True, std=0.2):
    """Random block parameters (non-zero biases and LayerNorm shifts, so every term is tested)."""
    p = {"ln_1": _norm_params(rng, hidden, std)}
    for name in ("self_query", "self_key", "self_value", "self_output"):
        p[name] = _dense_params(rng, hidden, hidden, std)
    if cross_attention:
        p["ln_wm"] = _norm_params(rng, hidden, std)
        p["ln_mem"] = _norm_params(rng, hidden, std)
        for name in ("cross_query", "cross_key", "cross_value", "cross_output"):
            p[name] = _dense_params(rng, hidden, hidden, std)
    p["ln_2"] = _norm_params(rng, hidden, std)
    p["mlp_inner"] = _dense_params(rng, hidden, intermediate, std)
    p["mlp_output"] = _dense_params(rng, intermediate, hidden, std)
    return p


def random_abstractor_params(rng, num_memories, hidden, feedforward, std=0.2):
    return {
        "queries": rng.normal(0.0, std, (num_memories, hidden)),
        "key": _dense_params(rng, hidden, hidden, std),
        "value": _dense_params(rng, hidden, hidden, std),
        "feedforward": _dense_params(rng, hidden, feedforward, std),
        "output": _dense_params(rng, feedforward, hidden, std),
    }


def random_model_params(rng, config, std=0.2):
    """Random parameters for `model_forward` (keys as the model's weights)."""
    hidden, vocab = config["hidden_dim"], config["vocabulary_size"]
    use_memory = config.get("use_memory", True)
    params = {
        "token_embedding": rng.normal(0.0, 1.0, (vocab, hidden)),
        "position_embedding": rng.normal(0.0, 0.5, (config["segment_size"], hidden)),
        "blocks": [random_block_params(rng, hidden, config["intermediate_dim"], cross_attention=use_memory, std=std)
                   for _ in range(config["num_layers"])],
        "ln_f": _norm_params(rng, hidden, std),
    }
    if config.get("num_memories") is not None:
        feedforward = config.get("abstractor_dim") or config["intermediate_dim"]
        params["abstractor"] = random_abstractor_params(rng, config["num_memories"], hidden, feedforward, std=std)
    return params


# ----------------------------------------------------------------------------- memory (per row)


def memory_lanes(config):
    """The port's reminded-lane count R_cap = max(1, min(K, S, capacity) + F)."""
    k, s, n = config["num_reminded_stm"], config["stm_capacity"], config["capacity"]
    return max(1, min(k, s, n) + config["num_final_ltms"])


def evict_for(row, width, capacity):
    """Spec 6.3 add step 1: make room for `width` engrams by evicting the LTMs closest to death.

    Ranks long-term memories by (lifespan, position): smallest lifespan first, ties to the
    oldest. Returns the number evicted. Raises when the long-term memories do not suffice.
    """
    need = max(0, len(row) + width - capacity)
    if not need:
        return 0
    ltm = [p for p, t in enumerate(row.types) if t == LONGTERM]
    if need > len(ltm):
        raise NotImplementedError(
            f"the reference evicts long-term memories only: {need} slots needed, {len(ltm)} LTMs alive"
        )
    gone = set(sorted(ltm, key=lambda p: (float(row.life[p]), p))[:need])
    keep = [p for p in range(len(row)) if p not in gone]
    for name in ("data", "types", "life", "age", "ids"):
        setattr(row, name, [getattr(row, name)[p] for p in keep])
    row.counts = row.counts[np.ix_(keep, keep)]
    return need


# ----------------------------------------------------------------------------- language model


def model_forward(params, token_ids, config, rows=None, prev=None):
    """MemoriaTransformer's forward (non-stateful; tie-break "newest"), float64.

    `config` holds the model's constructor arguments: vocabulary_size, num_layers,
    num_heads, hidden_dim, intermediate_dim, segment_size, num_memories (None: the
    working memory is the previous segment's final hidden states), num_reminded_stm,
    stm_capacity, ltm_search_depth, initial_lifespan, num_final_ltms, capacity, and
    optionally similarity ("neg_sq_l2"), lifespan_extend_scale (8.0),
    layer_norm_epsilon (1e-5), use_memory (True).

    `rows` / `prev` continue a stream (one `RowMemoria` per batch row and the last
    segment's final hidden states); by default the memory starts empty and the first
    segment has no previous one, as in a non-stateful call.

    Returns `(logits [B, T, V], info)`. `info` has, per segment (None where the segment
    ran without memory): "reminded" (per row, the reminded slots ascending = the order
    of the memory lanes), "row_widths" (per row, the reference width R_row), "widths"
    (R_batch = max over rows), "deltas" ([B, R_cap] float64 lifespan deltas by lane);
    and at the end "memory" (per row: alive count, types, lifespans, evicted in this call),
    "rows" (the RowMemoria objects) and "prev" (the last segment's ln_f output).
    """
    tokens = np.asarray(token_ids)
    batch, length = tokens.shape
    eps = config.get("layer_norm_epsilon", 1e-5)
    heads = config["num_heads"]
    use_memory = config.get("use_memory", True)
    scale = config.get("lifespan_extend_scale", 8.0)
    segment = config["segment_size"]
    embedding = np.asarray(params["token_embedding"], np.float64)
    positions = np.asarray(params["position_embedding"], np.float64)
    lanes = memory_lanes(config) if use_memory else 0
    if rows is None and use_memory:
        rows = [RowMemoria(config["num_reminded_stm"], config["stm_capacity"], config["ltm_search_depth"],
                           config["initial_lifespan"], config["num_final_ltms"],
                           similarity=config.get("similarity", "neg_sq_l2"), tie_break="newest")
                for _ in range(batch)]
    evicted = [0] * batch
    info = {"reminded": [], "row_widths": [], "widths": [], "deltas": []}
    logits = []
    for start in range(0, length, segment):
        ids = tokens[:, start:start + segment]
        h = embedding[ids] + positions[: ids.shape[1]]
        if use_memory and prev is not None:
            wm = abstractor_forward(params["abstractor"], prev) if "abstractor" in params else prev
            memories = np.zeros((batch, lanes, h.shape[-1]))
            mask = np.zeros((batch, lanes))
            reminded, widths = [], []
            for b, row in enumerate(rows):
                evicted[b] += evict_for(row, wm.shape[1], config["capacity"])
                row.add(wm[b].astype(np.float32))  # stored as float32 copies
                slots, width = row.remind()
                assert len(slots) <= lanes, (slots, lanes)
                for lane, slot in enumerate(slots):
                    memories[b, lane] = np.asarray(row.data[slot], np.float32).astype(np.float64)
                    mask[b, lane] = 1.0
                reminded.append(slots)
                widths.append(width)
            width = max(widths)
            probs = []
            for block in params["blocks"]:
                h, p = block_forward(block, h, working_memory=wm, memories=memories, memory_mask=mask,
                                     memory_width=width, num_heads=heads, epsilon=eps)
                probs.append(p)
            delta = lifespan_delta(probs, width, scale)
            for b, row in enumerate(rows):
                row.adjust({slot: np.float32(delta[b, lane]) for lane, slot in enumerate(reminded[b])})
            info["reminded"].append(reminded)
            info["row_widths"].append(widths)
            info["widths"].append(width)
            info["deltas"].append(delta)
        else:
            for block in params["blocks"]:
                h, _ = block_forward(block, h, num_heads=heads, epsilon=eps, cross_attention=use_memory)
            for key in ("reminded", "row_widths", "widths", "deltas"):
                info[key].append(None)
        prev = layer_norm(params["ln_f"], h, eps)
        logits.append(prev @ embedding.T)
    info["prev"] = prev
    info["rows"] = rows
    info["memory"] = None if rows is None else [
        {"alive": len(row), "types": list(row.types), "lifespans": [float(v) for v in row.life],
         "evicted": evicted[b]}
        for b, row in enumerate(rows)
    ]
    return np.concatenate(logits, axis=1), info
