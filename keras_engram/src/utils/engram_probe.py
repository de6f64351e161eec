"""Finding the Engram memory inside any model and reading it on a batch.

The memory runs in an `EngramCell`, which a model can hold in three ways:
an `Engram` layer, a plain `keras.layers.RNN(EngramCell(...))`, or either of
them inside `keras.layers.Bidirectional` (which runs a forward and a
backward copy). The search walks a model through public attributes only:
`layers`, a `Bidirectional`'s `forward_layer` and `backward_layer`, and an
RNN's `cell`.
"""

import keras
import numpy as np
from keras import ops

from keras_engram.layers import Engram, EngramCell


def engram_cell(layer):
    """The `EngramCell` that a recurrent layer runs, or None.

    Args:
        layer: any Keras layer.

    Returns:
        The cell of an `Engram` layer or of a `keras.layers.RNN` running an
        `EngramCell`; None for any other layer.

    Example:

    >>> import keras
    >>> from keras_engram.layers import Engram, EngramCell
    >>> from keras_engram.utils import engram_cell
    >>> engram_cell(keras.layers.RNN(EngramCell(8, 4))).memory_size
    4
    >>> engram_cell(Engram(8, 4)).hidden_dim, engram_cell(keras.layers.Dense(2))
    (8, None)
    """
    if isinstance(layer, Engram):
        return layer.cell
    if isinstance(layer, keras.layers.RNN) and isinstance(getattr(layer, "cell", None), EngramCell):
        return layer.cell
    return None


def _sites(model):
    """`(recurrent layer, names that select it)` for every EngramCell in `model`, depth first.

    A recurrent layer is selected by its own name; the forward layer of a
    `Bidirectional` also by the wrapper's name (the forward direction is the
    default), the backward layer only by its own (`backward_<name>`).
    """
    found, seen, stack = [], set(), [(model, ())]
    while stack:
        layer, aliases = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if engram_cell(layer) is not None:
            found.append((layer, (layer.name,) + aliases))
            continue
        if isinstance(layer, keras.layers.Bidirectional):
            children = [(layer.forward_layer, aliases + (layer.name,)),
                        (layer.backward_layer, ())]
        else:
            children = [(child, ()) for child in (getattr(layer, "layers", None) or [])]
        stack.extend(reversed(children))
    return found


def engram_layers(model):
    """Every recurrent layer of `model` that runs an `EngramCell`, depth first.

    These are `Engram` layers and `keras.layers.RNN(EngramCell(...))` layers,
    including the forward and backward layers of a `Bidirectional` wrapper
    (forward first).

    Args:
        model: a Keras model or layer.

    Returns:
        A list of layers (each an `Engram` or a `keras.layers.RNN`).

    Example:

    >>> import keras
    >>> from keras_engram.layers import Engram, EngramCell
    >>> from keras_engram.utils import engram_layers
    >>> model = keras.Sequential([
    ...     keras.Input((5, 3)),
    ...     keras.layers.Bidirectional(Engram(8, 4, return_sequences=True, name="mem"),
    ...                                name="both"),
    ...     keras.layers.RNN(EngramCell(8, 4), name="plain"),
    ... ])
    >>> [layer.name for layer in engram_layers(model)]
    ['forward_mem', 'backward_mem', 'plain']
    """
    return [layer for layer, _ in _sites(model)]


def find_engram_layer(model, layer_name=None):
    """The recurrent layer of `model` whose memory is read (see `engram_layers`).

    Without `layer_name`, the first found. `layer_name` may name an `Engram`
    layer, a `keras.layers.RNN` running an `EngramCell`, a `Bidirectional`
    wrapper (its forward layer) or one of its directions (`forward_<name>`,
    `backward_<name>`).
    """
    if layer_name is not None and not isinstance(layer_name, str):
        raise TypeError(
            f"Expected `layer_name` to be a str or None. Received: layer_name={layer_name!r}"
        )
    sites = _sites(model)
    chosen = [layer for layer, names in sites if layer_name is None or layer_name in names]
    if not chosen:
        what = ("an `Engram` layer (or an RNN running an `EngramCell`)" if layer_name is None
                else f"an `Engram` layer (or an RNN or Bidirectional wrapper) named {layer_name!r}")
        names = sorted({name for _, aliases in sites for name in aliases})
        raise ValueError(
            f"Expected a model containing {what}. Received: model={getattr(model, 'name', model)!r} "
            f"with Engram layers {names}"
        )
    return chosen[0]


def _engram_inputs(model, layer, inputs):
    """Runs `model` on `inputs`; returns what `layer` receives: `(sequences, mask, initial_state)`.

    For a stateful layer called without `initial_state`, the initial state
    is its stored states before the run, which are put back afterwards.
    """
    if model is layer:
        return inputs, None, _stored_states(layer)
    received = []
    original = layer.call
    stored = _stored_states(layer)

    def capture(sequences, initial_state=None, mask=None, **kwargs):
        start = initial_state if initial_state is not None else _stored_states(layer)
        received.append((sequences, mask, start))
        return original(sequences, initial_state=initial_state, mask=mask, **kwargs)

    layer.call = capture  # an instance attribute: Layer.__call__ looks `call` up per call
    try:
        model(inputs, training=False)
    finally:
        del layer.call
        if stored is not None:
            for variable, value in zip(layer.states, stored):
                variable.assign(value)
    if not received:
        raise ValueError(
            f"Expected the model to call its Engram layer {layer.name!r} on the inputs. "
            f"Received: inputs of shapes {[np.shape(x) for x in keras.tree.flatten(inputs)]} "
            "that never reached it"
        )
    return received[0]


def _stored_states(layer):
    """Copies of a built stateful layer's stored states, else None."""
    if not getattr(layer, "stateful", False) or not getattr(layer, "built", False):
        return None
    states = getattr(layer, "states", None)
    if not states or any(state is None for state in states):
        return None
    return [ops.convert_to_numpy(state) for state in states]


def _relative_paths(cell):
    """Each weight of `cell` as its path below the cell (`input_encoder/kernel`), or its name."""
    paths = []
    for weight in cell.weights:
        parts = weight.path.split("/")
        below = parts[parts.index(cell.name) + 1:] if cell.name in parts else [weight.name]
        paths.append(("/".join(below), tuple(weight.shape)))
    return paths


def memory_reader(layer, sequences_shape=None):
    """An `Engram` whose `inspect` reads `layer`'s memory.

    An `Engram` layer is its own reader. A `keras.layers.RNN` running an
    `EngramCell` has no `inspect`: the reader is a fresh `Engram` built with
    the cell's constructor config, the RNN's `go_backwards` and a copy of the
    cell's weights (checked weight by weight, by path and shape), so its
    `inspect` computes exactly what the RNN computes.
    """
    if isinstance(layer, Engram):
        return layer
    cell = engram_cell(layer)
    if cell is None:
        raise TypeError(
            "Expected an `Engram` layer or a `keras.layers.RNN` running an `EngramCell`. "
            f"Received: layer={layer!r}"
        )
    if not cell.built:
        if sequences_shape is None:
            raise ValueError(
                f"Expected the layer {layer.name!r} to be built before its memory is read. "
                "Received: an unbuilt layer (call it on data first)"
            )
        layer.build(sequences_shape)
    base_keys = set(keras.layers.Layer.get_config(cell))
    config = {key: value for key, value in cell.get_config().items() if key not in base_keys}
    reader = Engram(**config, go_backwards=layer.go_backwards, dtype=cell.dtype_policy,
                    name=f"{layer.name}_reader")
    reader.build((None, None, cell.input_dim))
    expected, got = _relative_paths(cell), _relative_paths(reader.cell)
    if expected != got:
        raise ValueError(
            f"Expected the weights of {layer.name!r}'s cell in the order of an `Engram` cell, "
            f"{got}. Received: {expected}"
        )
    reader.cell.set_weights(cell.get_weights())
    return reader


def engram_memory(model, inputs, layer_name=None, batch_size=256):
    """Final Hebbian traces and per-step attention of an Engram layer, as NumPy.

    The model runs in inference mode on `inputs`; the recurrent layer that
    holds the `EngramCell` (found by walking the model, see `engram_layers`)
    then reports its memory on exactly the inputs it received, through
    `Engram.inspect`. Masks made upstream (`Masking`, `mask_zero`) and
    initial states passed to the layer are honoured. The cell may run in:

    - an `Engram` layer;
    - a `keras.layers.RNN(EngramCell(...))`, read through an `Engram` with a
      copy of the cell's weights (see `memory_reader`). In batch scope such
      an RNN mixes masked samples into the shared trace (the cell sees no
      mask), which `Engram` does not: a masked step there raises a
      `ValueError`;
    - a `keras.layers.Bidirectional` of either: by default its forward layer;
      `layer_name="backward_<name>"` reads the backward one, whose attention
      is in its processing order (reversed time: step 0 is the last step).

    The Hebbian trace is per call: it starts at zero (or at the given initial
    state) for every sequence and is built over its steps, so `"trace"` is
    the trace at the end of each sequence. What training learns is the
    memory bank and the weights.

    Args:
        model: a Keras model (or layer) containing an Engram cell, or the
            recurrent layer itself.
        inputs: the model's inputs with the batch first: a NumPy array or
            tensor, or a list or dict of them for a model with several inputs.
        layer_name: optional name of the layer to read: an `Engram`, an RNN
            layer, a `Bidirectional` wrapper (its forward layer) or one of its
            directions (`forward_<name>`, `backward_<name>`).
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

    A plain `RNN` over an `EngramCell`, and the backward half of a
    `Bidirectional`:

    >>> import keras
    >>> from keras_engram.layers import Engram, EngramCell
    >>> rnn = keras.Sequential([keras.Input((5, 3)), keras.layers.RNN(EngramCell(8, 4))])
    >>> engram_memory(rnn, np.ones((2, 5, 3), "float32"))["attention"].shape
    (2, 5, 4)
    >>> both = keras.Sequential([keras.Input((5, 3)),
    ...                          keras.layers.Bidirectional(Engram(8, 4, name="mem"))])
    >>> memory = engram_memory(both, np.ones((2, 5, 3), "float32"),
    ...                        layer_name="backward_mem")
    >>> memory["trace"].shape
    (2, 4, 8)
    """
    return read_memory(model, find_engram_layer(model, layer_name), inputs, batch_size)


def read_memory(model, layer, inputs, batch_size=256):
    """`engram_memory` for a recurrent layer already found in `model`."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"Expected `batch_size` to be an int. Received: batch_size={batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"Expected `batch_size` to be a positive int. Received: batch_size={batch_size!r}")
    inputs = keras.tree.map_structure(
        lambda x: x if isinstance(x, np.ndarray) else ops.convert_to_numpy(x), inputs
    )
    shapes = [np.shape(x) for x in keras.tree.flatten(inputs)]
    if not shapes or len(shapes[0]) == 0 or shapes[0][0] == 0:
        raise ValueError(
            f"Expected `inputs` with at least one sample. Received: inputs of shapes {shapes}"
        )
    parts, reader = [], None
    for start in range(0, shapes[0][0], batch_size):
        chunk = keras.tree.map_structure(lambda x: x[start : start + batch_size], inputs)
        sequences, mask, initial_state = _engram_inputs(model, layer, chunk)
        if reader is None:
            reader = memory_reader(layer, tuple(np.shape(sequences)))
        if reader is not layer and reader.trace_scope == "batch" and mask is not None \
                and not np.all(ops.convert_to_numpy(mask)):
            raise ValueError(
                f"Expected no masked steps for {layer.name!r}, a `keras.layers.RNN` running an "
                "`EngramCell` with trace_scope='batch': its cell sees no mask, so masked "
                "samples enter the shared trace, which `Engram` leaves out; its memory cannot "
                "be read exactly (use the `Engram` layer, which honours masks in batch scope). "
                "Received: a mask with masked steps"
            )
        memory = reader.inspect(sequences, initial_state=initial_state, mask=mask)
        parts.append({name: ops.convert_to_numpy(value) for name, value in memory.items()})
    memory = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    memory["valid"] = memory["attention"].sum(-1) > 0.5
    return memory
