"""Hand-written gradients for the per-sample trace's step, for eager torch.

With one trace per sample the step's tensors of the trace's size,
`(batch, slots, dim)`, dominate the cost of an eager step on CPU: each op
that writes one is a pass over memory, and under glibc malloc a fresh one
costs page faults (docs/performance.md). Torch's autograd differentiates the
step op by op and forms about nine such tensors per step in the backward
pass. The two functions here compute the same values (float rounding
aside) with `keras.ops.custom_gradient` and backward passes that form
three: the keys' gradient as one batched matmul plus the norms' share, and
the decayed gradient of the update. Every gradient with respect to a
small tensor is a batched row-vector product, not a full-size product
and a sum, and the forward pass takes the keys' norms with `ops.norm`
(no squared copy of the keys).

The ENN's fast step uses them in training where
`fast_paths.hand_written_trace_gradients` says so (torch, per sample).
JAX and TensorFlow differentiate the same maths themselves: XLA fuses it, a hand-written backward gained nothing on JAX,
and TensorFlow's batched matmul is avoided in its time loop
(docs/performance.md).
"""

import math

from keras import ops

from keras_engram.src.ops import attention as attention_ops
from keras_engram.src.ops import hebbian


def _row_times(rows, matrices):
    """`(batch, n)` x `(batch, n, k)` -> `(batch, k)`: each sample's `r^T A`."""
    return ops.squeeze(ops.expand_dims(rows, 1) @ matrices, 1)


def attend_and_read(query, trace, bank, epsilon):
    """Cosine attention over the keys `trace + bank` and the read of the keys.

    The same values as `attention.cosine_attention(query, keys, 1.0)` with
    the query already scaled, and `attention.attention_read(attention, keys)`,
    to float rounding; the keys' norms are `ops.norm` (one pass, no squared
    copy of the keys).

    Args:
        query: `(batch, dim)` query, already unit-normalised and divided by
            the signed temperature (see `attention.cosine_attention`).
        trace: `(batch, slots, dim)` per-sample trace.
        bank: `(1, slots, dim)` shared part of the keys.
        epsilon: the floor of the keys' squared norms (Python float).

    Returns:
        `(attention, read)`: `(batch, slots)` weights and `(batch, dim)` read.
    """
    slots = trace.shape[1]
    floor = math.sqrt(epsilon)

    @ops.custom_gradient
    def forward(query, trace, bank):
        keys = trace + bank
        norms = ops.norm(keys, axis=-1)
        inverse = 1.0 / ops.maximum(norms, floor)
        dots = _row_times(query, ops.swapaxes(keys, 1, 2))
        attention = ops.softmax(dots * inverse, axis=-1)
        read = attention_ops.attention_read(attention, keys)

        def backward(*args, upstream=None):
            if upstream is None:  # JAX and TensorFlow pass it positionally
                (upstream,) = args
            grad_read = upstream[:, slots:]
            grad_attention = upstream[:, :slots] + _row_times(grad_read, ops.swapaxes(keys, 1, 2))
            grad_logits = attention * (
                grad_attention - ops.sum(attention * grad_attention, axis=-1, keepdims=True)
            )
            grad_dots = grad_logits * inverse
            # d(1 / norm) = -keys / norm**3 where the floor is not active.
            norm_share = ops.where(norms > floor, -grad_logits * dots * inverse * inverse * inverse, 0.0)
            grad_keys = ops.stack([grad_dots, attention], axis=-1) @ ops.stack([query, grad_read], axis=1)
            grad_keys += keys * ops.expand_dims(norm_share, -1)
            grad_query = _row_times(grad_dots, keys)
            return grad_query, grad_keys, ops.sum(grad_keys, axis=0, keepdims=True)

        return ops.concatenate([attention, read], axis=-1), backward

    both = forward(query, trace, bank)
    return both[:, :slots], both[:, slots:]


def decay_and_write(trace, attention, values, rate, write_rate, noise=None):
    """`hebbian.hebbian_update` without its clip, for one trace per sample.

    The forward pass is `hebbian_update` itself (`(1 - rate) * trace +
    write_rate * a (x) v + noise`, in one buffer); the backward pass forms one
    tensor of the trace's size, the decayed gradient, and the gradients of
    the attention and the values are batched row-vector products.

    Args:
        trace: `(batch, slots, dim)`.
        attention: `(batch, slots)`.
        values: `(batch, dim)`.
        rate: Python float in [0, 1), the decay rate of the trace.
        write_rate: Python float, the scale of the write.
        noise: None, or a tensor broadcasting against the trace (no
            gradient flows to it).
    """
    keep = 1.0 - rate

    @ops.custom_gradient
    def forward(trace, attention, values, *noise):
        updated = hebbian.hebbian_update(
            trace, attention, values, rate, write_rate, noise=noise[0] if noise else None
        )

        def backward(*args, upstream=None):
            if upstream is None:  # JAX and TensorFlow pass it positionally
                (upstream,) = args
            grad_attention = _row_times(values, ops.swapaxes(upstream, 1, 2)) * write_rate
            grad_values = _row_times(attention, upstream) * write_rate
            return (upstream * keep, grad_attention, grad_values) + (None,) * len(noise)

        return updated, backward

    return forward(trace, attention, values, *(() if noise is None else (noise,)))
