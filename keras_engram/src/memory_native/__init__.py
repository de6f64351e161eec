# The memory-native models' built-in presets register when the package is imported.
from keras_engram.src.memory_native import memory_native_presets  # noqa: F401
