"""The memory-native models (AMRC, PMRC, AMN) with their estimator API: fit, predict, score, memory."""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.create_model import create_model
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel, r2_score
from keras_engram.src.memory_native.pmrc import PMRC
from keras_engram.src.memory_native.dual_track_persistence_network import (
    DualTrackPersistenceNetwork,
)
from keras_engram.src.memory_native.hyper_amn import HyperAMN

__all__ = ["AMN", "AMRC", "MemoryNativeModel", "PMRC", "create_model", "r2_score"]
__all__ += ["DualTrackPersistenceNetwork", "HyperAMN"]
