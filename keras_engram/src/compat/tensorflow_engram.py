"""Loading `.weights.h5` files written by tensorflow-engram 0.1.0."""

import os

import h5py
import numpy as np

from keras_engram.src.models.enn.engram_network import EngramNetwork
from keras_engram.src.models.task import Task

# Cell sub-layers in tensorflow-engram's file, and the matching attribute here.
_CELL_SUBLAYERS = ("input_encoder", "hidden_integrator", "output_dense", "layer_norm1", "layer_norm2")


def _vars(group):
    """The arrays of an h5 group's `vars` folder, in index order."""
    if "vars" not in group:
        return []
    found = group["vars"]
    return [np.asarray(found[str(i)]) for i in range(len(found))]


def _read_seed_file(filepath):
    """Returns `(cells, attention, heads)` arrays from a tensorflow-engram weights file.

    `heads` are the dense layers outside the cell, deepest path first (the
    network's own head comes before the task model's final layer).
    """
    cells, attention, heads, cell_paths = [], [], [], []
    with h5py.File(filepath, "r") as f:

        def visit(path, item):
            name = path.split("/")[-1]
            if not isinstance(item, h5py.Group) or name == "vars" or path.startswith("optimizer"):
                return
            if any(path.startswith(cell_path + "/") for cell_path in cell_paths):
                return
            if "input_encoder" in item:
                cell_paths.append(path)
                arrays = {"memory": _vars(item)[0]}
                arrays.update({sub: _vars(item[sub]) for sub in _CELL_SUBLAYERS if sub in item})
                cells.append(arrays)
            elif name == "attention_dense":
                attention.append(_vars(item))
            else:
                arrays = _vars(item)
                if len(arrays) == 2 and arrays[0].ndim == 2 and arrays[1].ndim == 1:
                    heads.append((path.count("/"), path, arrays))

        f.visititems(visit)
    heads.sort(key=lambda item: -item[0])
    return cells, attention, heads


def _model_parts(model):
    """`(cell, attention pools, dense heads)` of a keras-engram ENN model, in file order."""
    network = getattr(model, "engram_network", model)
    if not isinstance(network, EngramNetwork):
        raise TypeError(
            "Expected an EngramClassifier, EngramRegressor, EngramBackbone or EngramNetwork. "
            f"Received: model={type(model).__name__}"
        )
    pools = [network.attention] if network.attention is not None else []
    heads = [network.output_layer] if network.output_layer is not None else []
    if isinstance(model, Task):
        heads.append(model.layers[-1])
    return network.cell, pools, heads


def _assign(variable, value, what, filepath):
    if tuple(variable.shape) != tuple(value.shape):
        raise ValueError(
            f"The weights file does not match the model: expected {what} of shape "
            f"{tuple(variable.shape)}, the file has {tuple(value.shape)}. "
            f"Received: filepath={filepath!r}"
        )
    variable.assign(value.astype(np.dtype(variable.dtype)))


def load_tensorflow_engram_weights(model, filepath):
    """Loads a tensorflow-engram `.weights.h5` file into a keras-engram model.

    Works on every backend. The file is the output of tensorflow-engram's
    `model.save_weights(...)` for an `EngramClassifier`, `EngramRegressor` or
    `EngramNetwork`; `model` is the keras-engram model built with the same
    arguments (an `EngramNetwork` must have been called once so it is built).
    The seed's unused `initial_hebbian_trace` weight is ignored.

    To reproduce the seed's predictions exactly, build the model in the seed's
    mode: `trace_scope="batch"` and `trace_noise_stddev=0.0` (the seed's random
    initial states are replaced by zeros here).

    Args:
        model: a built `EngramClassifier`, `EngramRegressor` or `EngramNetwork`.
        filepath: path of the `.weights.h5` file.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a tensorflow-engram weights file, or its
            shapes or layers do not match `model`.

    Example:

    >>> from keras_engram.models import EngramClassifier
    >>> from keras_engram.compat import load_tensorflow_engram_weights
    >>> model = EngramClassifier(input_shape=(28, 28), num_classes=10,
    ...                          trace_scope="batch")
    >>> # load_tensorflow_engram_weights(model, "seed_model.weights.h5")
    """
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No weights file found. Received: filepath={filepath!r}")
    if not model.built:
        raise ValueError(
            "Expected a built model: call it once on a batch of inputs first. "
            f"Received: model={model.name!r} (not built)"
        )
    cell, pools, heads = _model_parts(model)
    try:
        seed_cells, seed_attention, seed_heads = _read_seed_file(filepath)
    except OSError as error:
        raise ValueError(
            f"Expected a Keras `.weights.h5` file. Received: filepath={filepath!r} ({error})"
        ) from error

    if len(seed_cells) != 1:
        raise ValueError(
            "Expected a tensorflow-engram weights file with one EngramCell. Found "
            f"{len(seed_cells)}. Received: filepath={filepath!r}"
        )
    seed_cell = seed_cells[0]
    if ("layer_norm1" in seed_cell) != cell.use_layer_norm:
        raise ValueError(
            "The weights file does not match the model: use_layer_norm differs "
            f"(file: {'layer_norm1' in seed_cell}, model: {cell.use_layer_norm}). "
            f"Received: filepath={filepath!r}"
        )
    if len(seed_attention) != len(pools) or len(seed_heads) != len(heads):
        raise ValueError(
            "The weights file does not match the model: it has "
            f"{len(seed_attention)} attention pooling and {len(seed_heads)} dense head "
            f"layer(s), the model has {len(pools)} and {len(heads)}. "
            f"Received: filepath={filepath!r}"
        )

    _assign(cell.memory_bank, seed_cell["memory"], "the memory bank", filepath)
    for sub in _CELL_SUBLAYERS:
        if sub not in seed_cell:
            continue
        layer = getattr(cell, sub)
        for variable, value in zip(layer.weights, seed_cell[sub]):
            _assign(variable, value, f"{sub}/{variable.name}", filepath)
    for pool, arrays in zip(pools, seed_attention):
        for variable, value in zip(pool.attention_dense.weights, arrays):
            _assign(variable, value, f"attention/{variable.name}", filepath)
    for layer, (_, path, arrays) in zip(heads, seed_heads):
        for variable, value in zip(layer.weights, arrays):
            _assign(variable, value, f"{layer.name}/{variable.name} (file: {path})", filepath)
    return model
