"""FreezeMasks: the freezing masks of a memory-native model, kept (and saved) as weights."""

import keras

from keras_engram.src.api_export import register


@register
class FreezeMasks(keras.layers.Layer):
    """An identity layer that holds one mask per weight of a cell (1 trainable, 0 frozen).

    The memory-native estimators put it after their recurrent layer, so the
    masks are non-trainable weights of `.model` and `save()` writes them.

    Args:
        shapes: dict, weight name -> shape.
        **kwargs: base layer arguments.
    """

    def __init__(self, shapes, **kwargs):
        super().__init__(**kwargs)
        self.shapes = {name: tuple(int(d) for d in shape) for name, shape in shapes.items()}
        self.masks = {
            name: self.add_weight(shape=shape, initializer="ones", trainable=False,
                                  name=f"{name}_mask")
            for name, shape in self.shapes.items()
        }

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shapes": {k: list(v) for k, v in self.shapes.items()}}
