"""Summary statistics of Hebbian traces and attention weights (NumPy)."""

import numpy as np

SPARSITY_THRESHOLD = 0.01


def trace_statistics(trace):
    """Statistics of a Hebbian trace array of any shape.

    Returns a dict of floats: `mean_abs` (mean of |H|), `max`, `min`, `std`
    and `sparsity`, the share of entries with |H| < 0.01 (tensorflow-engram's
    definitions).
    """
    trace = np.asarray(trace, dtype=np.float64)
    return {
        "mean_abs": float(np.mean(np.abs(trace))),
        "max": float(np.max(trace)),
        "min": float(np.min(trace)),
        "std": float(np.std(trace)),
        "sparsity": float(np.mean(np.abs(trace) < SPARSITY_THRESHOLD)),
    }


def slot_usage(attention, valid=None):
    """How many valid steps have each memory slot as their attention argmax.

    Args:
        attention: `(batch, timesteps, memory_size)` weights.
        valid: optional `(batch, timesteps)` booleans; default every step.

    Returns:
        `(memory_size,)` int array of counts.
    """
    attention = np.asarray(attention)
    if valid is None:
        valid = np.ones(attention.shape[:2], bool)
    winners = np.argmax(attention, axis=-1)[np.asarray(valid, bool)]
    return np.bincount(winners, minlength=attention.shape[-1])


def attention_statistics(attention, valid=None, top_k=5):
    """Statistics of attention weights over the valid steps.

    Returns a dict: `entropy` (mean Shannon entropy of a step's weights, in
    nats; `log(memory_size)` is uniform attention), `slots_used` (share of
    slots that are the argmax of at least one valid step), `top_slots` (the
    `top_k` slots of highest mean weight, highest first) and `slot_counts`
    (argmax counts, see `slot_usage`).
    """
    attention = np.asarray(attention, dtype=np.float64)
    if valid is None:
        valid = np.ones(attention.shape[:2], bool)
    valid = np.asarray(valid, bool)
    steps = attention[valid]
    if steps.shape[0] == 0:
        raise ValueError("Expected at least one unmasked step. Received: every step masked")
    entropy = -np.sum(steps * np.log(np.maximum(steps, 1e-30)), axis=-1)
    counts = slot_usage(attention, valid)
    order = np.argsort(-steps.mean(axis=0), kind="stable")
    return {
        "entropy": float(entropy.mean()),
        "slots_used": float(np.mean(counts > 0)),
        "top_slots": [int(i) for i in order[:top_k]],
        "slot_counts": counts,
    }
