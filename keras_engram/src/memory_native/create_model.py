"""create_model: a memory-native model by name."""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.pmrc import PMRC
from keras_engram.src.memory_native.neural_differential_manifold import NeuralDifferentialManifold
from keras_engram.src.memory_native.sparse_global_workspace import SparseGlobalWorkspace

MODELS = {"amrc": AMRC, "pmrc": PMRC, "amn": AMN}

# SGW-AMN and NDM (the NDM variants by name, or `variant=...`).
MODELS.update({
    "sgw_amn": SparseGlobalWorkspace,
    "sgw-amn": SparseGlobalWorkspace,
    "ndm": NeuralDifferentialManifold,
    "ndm_clamped": lambda **kwargs: NeuralDifferentialManifold(variant="clamped", **kwargs),
    "ndm_momentum": lambda **kwargs: NeuralDifferentialManifold(variant="momentum", **kwargs),
})


def create_model(name, **kwargs):
    """A memory-native model by name: `"amrc"`, `"pmrc"` or `"amn"` (any case).

    Args:
        name: str, the model's name.
        **kwargs: the model's constructor arguments.

    Returns:
        An `AMRC`, `PMRC` or `AMN`.

    Raises:
        TypeError: `name` is not a str.
        ValueError: an unknown name.

    Example:

    >>> from keras_engram.memory_native import create_model
    >>> type(create_model("AMN", input_size=2, hidden_size=8, output_size=1)).__name__
    'AMN'
    """
    if not isinstance(name, str):
        raise TypeError(f"Expected `name` to be a str. Received: name={name!r}")
    if name.lower() not in MODELS:
        raise ValueError(f"Expected `name` to be one of {sorted(MODELS)}. Received: name={name!r}")
    return MODELS[name.lower()](**kwargs)
