"""Built-in presets: trained models that ship inside the package (`list_presets`, `register_presets`)."""

from keras_engram.src.presets.registry import list_presets, register_presets

__all__ = ["list_presets", "register_presets"]
