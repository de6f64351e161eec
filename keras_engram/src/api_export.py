"""Registration of public classes with the Keras serialization registry."""

import keras

PACKAGE = "keras_engram"


def register(cls):
    """Registers `cls` as `keras_engram>ClassName` so no `custom_objects` are needed."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
