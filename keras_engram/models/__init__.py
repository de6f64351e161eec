"""Public models of keras-engram."""

from keras_engram.src.models.engram_network.engram_classifier import EngramClassifier
from keras_engram.src.models.engram_network.engram_network import EngramNetwork
from keras_engram.src.models.engram_network.engram_regressor import EngramRegressor

__all__ = ["EngramClassifier", "EngramNetwork", "EngramRegressor"]
