"""create_model: a memory-native model by name."""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.dual_track_persistence_network import (
    DualTrackPersistenceNetwork,
)
from keras_engram.src.memory_native.hyper_amn import HyperAMN
from keras_engram.src.memory_native.neural_differential_manifold import NeuralDifferentialManifold
from keras_engram.src.memory_native.pmrc import PMRC
from keras_engram.src.memory_native.sparse_global_workspace import SparseGlobalWorkspace

# name -> the model's class (or, for the NDM variants, a constructor with `variant` set).
MODELS = {
    "amrc": AMRC,
    "pmrc": PMRC,
    "amn": AMN,
    "dtpn": DualTrackPersistenceNetwork,
    "hyper_amn": HyperAMN,
    "sgw_amn": SparseGlobalWorkspace,
    "ndm": NeuralDifferentialManifold,
    "ndm_clamped": lambda **kwargs: NeuralDifferentialManifold(variant="clamped", **kwargs),
    "ndm_momentum": lambda **kwargs: NeuralDifferentialManifold(variant="momentum", **kwargs),
}


def create_model(name, **kwargs):
    """A memory-native model by name (any case; `-` or `_`).

    The names: `"amrc"`, `"pmrc"`, `"amn"`, `"dtpn"`, `"hyper_amn"`,
    `"sgw_amn"`, `"ndm"`, `"ndm_clamped"`, `"ndm_momentum"`.

    Args:
        name: str, the model's name.
        **kwargs: the model's constructor arguments.

    Returns:
        An `AMRC`, `PMRC`, `AMN`, `DualTrackPersistenceNetwork`, `HyperAMN`,
        `SparseGlobalWorkspace` or `NeuralDifferentialManifold`.

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
    key = name.lower().replace("-", "_")
    if key not in MODELS:
        raise ValueError(f"Expected `name` to be one of {sorted(MODELS)}. Received: name={name!r}")
    return MODELS[key](**kwargs)
