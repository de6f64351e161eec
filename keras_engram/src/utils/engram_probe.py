"""Finding an `Engram` layer inside any model and reading its memory on a batch."""

import numpy as np
from keras import ops

from keras_engram.src.layers.enn.engram import Engram


def engram_layers(model):
    """All `Engram` layers of `model`, depth first, found by walking its layers."""
    found, seen, stack = [], set(), [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, Engram):
            found.append(layer)
            continue
        stack.extend(reversed(getattr(layer, "layers", None) or []))
    return found


def find_engram_layer(model, layer_name=None):
    """The first `Engram` layer of `model`, or the one named `layer_name`."""
    layers = engram_layers(model)
    if layer_name is not None:
        layers = [layer for layer in layers if layer.name == layer_name]
    if not layers:
        what = "an `Engram` layer" if layer_name is None else f"an `Engram` layer named {layer_name!r}"
        raise ValueError(
            f"Expected a model containing {what}. Received: model={getattr(model, 'name', model)!r} "
            f"with Engram layers {[layer.name for layer in engram_layers(model)]}"
        )
    return layers[0]


def _engram_inputs(model, layer, inputs):
    """Runs `model` on `inputs` and returns what `layer` receives in its call."""
    if model is layer:
        return inputs, None, None
    received = []
    original = layer.call

    def capture(sequences, initial_state=None, mask=None, **kwargs):
        received.append((sequences, mask, initial_state))
        return original(sequences, initial_state=initial_state, mask=mask, **kwargs)

    layer.call = capture  # an instance attribute: Layer.__call__ looks `call` up per call
    try:
        model(inputs, training=False)
    finally:
        del layer.call
    if not received:
        raise ValueError(
            f"Expected the model to call its Engram layer {layer.name!r} on the inputs. "
            f"Received: inputs of shape {tuple(np.shape(inputs))} that never reached it"
        )
    return received[0]


def engram_memory(model, inputs, layer_name=None, batch_size=256):
    """Final Hebbian traces and per-step attention of an Engram layer, as NumPy.

    The model runs in inference mode on `inputs` up to its `Engram` layer
    (found by walking the model; `layer_name` picks one when there are
    several), which then reports its memory through `Engram.inspect`.
    Masks made upstream (`Masking`, `mask_zero`) are honoured.

    Args:
        model: a Keras model (or layer) containing an `Engram` layer, or the
            `Engram` layer itself.
        inputs: the model's inputs, a NumPy array or tensor with the batch first.
        layer_name: optional name of the `Engram` layer to read.
        batch_size: rows run at a time.

    Returns:
        A dict of NumPy arrays: `"trace"` `(batch, memory_size, hidden_dim)`,
        `"hidden"` `(batch, hidden_dim)`, `"attention"`
        `(batch, timesteps, memory_size)` (zero at masked steps) and `"valid"`
        `(batch, timesteps)`, the unmasked steps.

    Example:

    >>> import numpy as np
    >>> from keras_engram.models import EngramClassifier
    >>> from keras_engram.utils import engram_memory
    >>> model = EngramClassifier(input_shape=(5, 3), num_classes=2, hidden_dim=8,
    ...                          memory_size=4)
    >>> memory = engram_memory(model, np.ones((2, 5, 3), "float32"))
    >>> memory["trace"].shape, memory["attention"].shape
    ((2, 4, 8), (2, 5, 4))
    """
    return read_memory(model, find_engram_layer(model, layer_name), inputs, batch_size)


def read_memory(model, layer, inputs, batch_size=256):
    """`engram_memory` for an `Engram` layer already found in `model`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"Expected `batch_size` to be a positive int. Received: batch_size={batch_size!r}")
    inputs = ops.convert_to_numpy(inputs) if not isinstance(inputs, np.ndarray) else inputs
    if inputs.ndim == 0 or inputs.shape[0] == 0:
        raise ValueError(
            f"Expected `inputs` with at least one sample. Received: inputs.shape={inputs.shape}"
        )
    parts = []
    for start in range(0, inputs.shape[0], batch_size):
        chunk = inputs[start : start + batch_size]
        sequences, mask, initial_state = _engram_inputs(model, layer, chunk)
        memory = layer.inspect(sequences, initial_state=initial_state, mask=mask)
        parts.append({name: ops.convert_to_numpy(value) for name, value in memory.items()})
    memory = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    memory["valid"] = memory["attention"].sum(-1) > 0.5
    return memory
