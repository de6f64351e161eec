"""Public models of keras-engram: backbones and task models."""

from keras_engram.src.models.backbone import Backbone
from keras_engram.src.models.enn.engram_backbone import EngramBackbone
from keras_engram.src.models.enn.engram_classifier import EngramClassifier
from keras_engram.src.models.enn.engram_network import EngramNetwork
from keras_engram.src.models.enn.engram_regressor import EngramRegressor
from keras_engram.src.models.task import Task

__all__ = [
    "Backbone",
    "EngramBackbone",
    "EngramClassifier",
    "EngramNetwork",
    "EngramRegressor",
    "Task",
]
