"""keras-engram: biologically inspired memory layers for Keras 3, on JAX, PyTorch and TensorFlow."""

from keras_engram import compat, datasets, layers, memoria, memory_native, models, presets, utils
from keras_engram.compat import load_tensorflow_engram_weights
from keras_engram.layers import (
    Engram,
    EngramAttentionLayer,
    EngramAttentionPooling,
    EngramCell,
)
from keras_engram.models import EngramClassifier, EngramNetwork, EngramRegressor
from keras_engram.version import __version__

__all__ = [
    "Engram",
    "EngramAttentionLayer",
    "EngramAttentionPooling",
    "EngramCell",
    "EngramClassifier",
    "EngramNetwork",
    "EngramRegressor",
    "__version__",
    "compat",
    "datasets",
    "layers",
    "memoria",
    "memory_native",
    "load_tensorflow_engram_weights",
    "models",
    "presets",
    "utils",
]
