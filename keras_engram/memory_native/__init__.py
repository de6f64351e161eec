"""The memory-native models (AMRC, PMRC, AMN) with their estimator API: fit, predict, score, memory."""

from keras_engram.src.memory_native.amn import AMN
from keras_engram.src.memory_native.amrc import AMRC
from keras_engram.src.memory_native.create_model import create_model
from keras_engram.src.memory_native.memory_native_model import MemoryNativeModel, r2_score
from keras_engram.src.memory_native.pmrc import PMRC

__all__ = ["AMN", "AMRC", "MemoryNativeModel", "PMRC", "create_model", "r2_score"]
