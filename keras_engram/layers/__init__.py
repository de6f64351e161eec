"""Public layers of keras-engram."""

from keras_engram.src.layers.enn.engram import Engram
from keras_engram.src.layers.enn.engram_attention_pooling import EngramAttentionPooling
from keras_engram.src.layers.enn.engram_cell import EngramCell

# tensorflow-engram's name for the attention pooling layer.
EngramAttentionLayer = EngramAttentionPooling

__all__ = ["Engram", "EngramAttentionLayer", "EngramAttentionPooling", "EngramCell"]
