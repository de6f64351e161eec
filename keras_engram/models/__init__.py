"""Public models of keras-engram."""

from keras_engram.src.models.enn.engram_classifier import EngramClassifier
from keras_engram.src.models.enn.engram_network import EngramNetwork
from keras_engram.src.models.enn.engram_regressor import EngramRegressor

__all__ = ["EngramClassifier", "EngramNetwork", "EngramRegressor"]
