"""The memory-native models (AMRC, PMRC, AMN) with their estimator API: fit, predict, score, memory."""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.create_model import create_model
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel, r2_score
from keras_engram.src.memory_native.pmrc import PMRC
from keras_engram.src.memory_native.neural_differential_manifold import NeuralDifferentialManifold
from keras_engram.src.memory_native.sparse_global_workspace import SparseGlobalWorkspace

__all__ = ["AMN", "AMRC", "MemoryNativeModel", "PMRC", "create_model", "r2_score"]
__all__ += ["NeuralDifferentialManifold", "SparseGlobalWorkspace"]
