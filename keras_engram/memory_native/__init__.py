"""The memory-native models with their estimator API: fit, predict, score, memory.

AMRC, PMRC, AMN, DTPN (`DualTrackPersistenceNetwork`), Hyper-AMN
(`HyperAMN`), SGW-AMN (`SparseGlobalWorkspace`) and NDM
(`NeuralDifferentialManifold`).
"""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.create_model import create_model
from keras_engram.src.memory_native.dual_track_persistence_network import (
    DualTrackPersistenceNetwork,
)
from keras_engram.src.memory_native.hyper_amn import HyperAMN
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel, r2_score
from keras_engram.src.memory_native.neural_differential_manifold import NeuralDifferentialManifold
from keras_engram.src.memory_native.pmrc import PMRC
from keras_engram.src.memory_native.sparse_global_workspace import SparseGlobalWorkspace

__all__ = [
    "AMN",
    "AMRC",
    "DualTrackPersistenceNetwork",
    "HyperAMN",
    "MemoryNativeModel",
    "NeuralDifferentialManifold",
    "PMRC",
    "SparseGlobalWorkspace",
    "create_model",
    "r2_score",
]
