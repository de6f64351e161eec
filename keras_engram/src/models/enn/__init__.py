# The ENN's built-in presets register when the package is imported.
from keras_engram.src.models.enn import enn_presets  # noqa: F401
