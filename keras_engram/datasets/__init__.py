"""Small datasets that ship with installed packages or are computed (no download)."""

from keras_engram.src.datasets.breast_cancer import load_breast_cancer
from keras_engram.src.datasets.digits import load_digits
from keras_engram.src.datasets.mackey_glass import load_mackey_glass, mackey_glass_series

__all__ = ["load_breast_cancer", "load_digits", "load_mackey_glass", "mackey_glass_series"]
