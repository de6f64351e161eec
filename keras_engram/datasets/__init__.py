"""Small datasets that ship with installed packages (no download)."""

from keras_engram.src.datasets.breast_cancer import load_breast_cancer
from keras_engram.src.datasets.digits import load_digits

__all__ = ["load_breast_cancer", "load_digits"]
