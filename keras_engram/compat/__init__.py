"""Migration helpers from other packages."""

from keras_engram.src.compat.memory_native import load_memory_native
from keras_engram.src.compat.tensorflow_engram import load_tensorflow_engram_weights

__all__ = ["load_memory_native", "load_tensorflow_engram_weights"]
