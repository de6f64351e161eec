"""create_model: a memory-native model by name."""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.pmrc import PMRC
from keras_engram.src.memory_native.dual_track_persistence_network import (
    DualTrackPersistenceNetwork,
)
from keras_engram.src.memory_native.hyper_amn import HyperAMN

MODELS = {"amrc": AMRC, "pmrc": PMRC, "amn": AMN}
MODELS.update({"dtpn": DualTrackPersistenceNetwork, "hyper_amn": HyperAMN, "hyper-amn": HyperAMN})


def create_model(name, **kwargs):
    """A memory-native model by name: `"amrc"`, `"pmrc"`, `"amn"`, `"dtpn"`, `"hyper_amn"` (any case).

    Args:
        name: str, the model's name.
        **kwargs: the model's constructor arguments.

    Returns:
        An `AMRC`, `PMRC`, `AMN`, `DualTrackPersistenceNetwork` or `HyperAMN`.

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
