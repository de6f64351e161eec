"""Summary statistics of Hebbian traces and attention weights (NumPy)."""

import numpy as np

SPARSITY_THRESHOLD = 0.01
PEAK_FACTOR = 2.0  # a step is "peaked" when its largest weight exceeds PEAK_FACTOR / memory_size


def trace_statistics(trace):
    """Statistics of a Hebbian trace array of any shape.

    Args:
        trace: array of trace values, e.g. `(batch, memory_size, hidden_dim)`.

    Returns:
        A dict of floats: `mean_abs` (mean of |H|), `max`, `min`, `std` and
        `sparsity`, the share of entries with |H| < 0.01 (tensorflow-engram's
        definitions).

    Example:

    >>> import numpy as np
    >>> from keras_engram.utils import trace_statistics
    >>> stats = trace_statistics(np.array([[0.0, 0.2], [-0.4, 0.005]]))
    >>> round(stats["mean_abs"], 4), stats["min"], stats["sparsity"]
    (0.1513, -0.4, 0.5)
    """
    trace = np.asarray(trace, dtype=np.float64)
    return {
        "mean_abs": float(np.mean(np.abs(trace))),
        "max": float(np.max(trace)),
        "min": float(np.min(trace)),
        "std": float(np.std(trace)),
        "sparsity": float(np.mean(np.abs(trace) < SPARSITY_THRESHOLD)),
    }


def _valid_steps(attention, valid):
    attention = np.asarray(attention, dtype=np.float64)
    if attention.ndim != 3:
        raise ValueError(
            "Expected `attention` of rank 3 (batch, timesteps, memory_size). "
            f"Received: attention.shape={attention.shape}"
        )
    if valid is None:
        valid = np.ones(attention.shape[:2], bool)
    valid = np.asarray(valid, bool)
    if valid.shape != attention.shape[:2]:
        raise ValueError(
            f"Expected `valid` of shape {attention.shape[:2]} (batch, timesteps). "
            f"Received: valid.shape={valid.shape}"
        )
    return attention, valid


def slot_usage(attention, valid=None):
    """How many valid steps have each memory slot as their attention argmax.

    Near-uniform weights make the argmax mostly noise: read these counts
    beside `attention_statistics`' `max_weight` and `peaked_steps`.

    Args:
        attention: `(batch, timesteps, memory_size)` weights.
        valid: optional `(batch, timesteps)` booleans; default every step.

    Returns:
        `(memory_size,)` int array of counts.

    Example:

    >>> import numpy as np
    >>> from keras_engram.utils import slot_usage
    >>> slot_usage(np.array([[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]]]))
    array([2, 1, 0])
    """
    attention, valid = _valid_steps(attention, valid)
    winners = np.argmax(attention, axis=-1)[valid]
    return np.bincount(winners, minlength=attention.shape[-1])


def attention_statistics(attention, valid=None, top_k=5):
    """Statistics of attention weights over the valid (unmasked) steps.

    Each step's weights over the `N` memory slots sum to one; uniform
    weights (`1/N` each) have entropy `ln N`. How far recall is from uniform
    shows in the entropy against `ln N` and, more directly, in the largest
    weight of a step against `1/N`.

    Args:
        attention: `(batch, timesteps, memory_size)` weights (zero rows at
            masked steps).
        valid: optional `(batch, timesteps)` booleans; default every step.
        top_k: how many of the most attended slots to list.

    Returns:
        A dict:

        - `entropy`: mean Shannon entropy of a step's weights, in nats;
        - `uniform_entropy`: `ln N`, the entropy of uniform weights;
        - `max_weight`: mean over steps of the step's largest weight;
        - `uniform_weight`: `1/N`;
        - `peaked_steps`: share of steps whose largest weight exceeds `2/N`;
        - `slot_weights`: `(N,)` mean weight of each slot (sums to one);
        - `slots_used`: share of slots that are the argmax of at least one
            step (with near-uniform weights the argmax is mostly noise);
        - `slot_counts`: argmax counts (see `slot_usage`);
        - `top_slots`: the `top_k` slots of highest mean weight, highest first;
        - `steps`: the number of valid steps.

    Example:

    >>> import numpy as np
    >>> from keras_engram.utils import attention_statistics
    >>> attention = np.array([[[0.7, 0.1, 0.1, 0.1], [0.25, 0.25, 0.25, 0.25]]])
    >>> stats = attention_statistics(attention, top_k=2)
    >>> round(stats["entropy"], 3), round(stats["uniform_entropy"], 3)
    (1.163, 1.386)
    >>> round(stats["max_weight"], 3), stats["uniform_weight"], stats["peaked_steps"]
    (0.475, 0.25, 0.5)
    >>> stats["top_slots"], stats["steps"]
    ([0, 1], 2)
    """
    attention, valid = _valid_steps(attention, valid)
    steps = attention[valid]
    if steps.shape[0] == 0:
        raise ValueError(
            "Expected at least one unmasked step. Received: every step masked "
            f"(valid.sum()=0 of {valid.size} steps)"
        )
    slots = attention.shape[-1]
    entropy = -np.sum(steps * np.log(np.maximum(steps, 1e-30)), axis=-1)
    largest = steps.max(axis=-1)
    counts = slot_usage(attention, valid)
    mean_weights = steps.mean(axis=0)
    order = np.argsort(-mean_weights, kind="stable")
    return {
        "entropy": float(entropy.mean()),
        "uniform_entropy": float(np.log(slots)),
        "max_weight": float(largest.mean()),
        "uniform_weight": 1.0 / slots,
        "peaked_steps": float(np.mean(largest > PEAK_FACTOR / slots)),
        "slot_weights": mean_weights,
        "slots_used": float(np.mean(counts > 0)),
        "slot_counts": counts,
        "top_slots": [int(i) for i in order[:top_k]],
        "steps": int(steps.shape[0]),
    }
