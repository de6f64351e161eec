"""Public layers of keras-engram."""

from keras_engram.src.layers.enn.engram import Engram
from keras_engram.src.layers.enn.engram_attention_pooling import EngramAttentionPooling
from keras_engram.src.layers.enn.engram_cell import EngramCell
from keras_engram.src.layers.memory_native.amn import AMN
from keras_engram.src.layers.memory_native.amn_cell import AMNCell
from keras_engram.src.layers.memory_native.amrc import AMRC
from keras_engram.src.layers.memory_native.amrc_cell import AMRCCell
from keras_engram.src.layers.memory_native.dtpn import DTPN
from keras_engram.src.layers.memory_native.dtpn_cell import DTPNCell
from keras_engram.src.layers.memory_native.hyper_amn import HyperAMN
from keras_engram.src.layers.memory_native.hyper_amn_cell import HyperAMNCell
from keras_engram.src.layers.memory_native.ndm import NDM
from keras_engram.src.layers.memory_native.ndm_cell import NDMCell
from keras_engram.src.layers.memory_native.pmrc import PMRC
from keras_engram.src.layers.memory_native.pmrc_cell import PMRCCell
from keras_engram.src.layers.memory_native.sgw_amn import SGWAMN
from keras_engram.src.layers.memory_native.sgw_amn_cell import SGWAMNCell

# tensorflow-engram's name for the attention pooling layer.
EngramAttentionLayer = EngramAttentionPooling

__all__ = [
    "AMN",
    "AMNCell",
    "AMRC",
    "AMRCCell",
    "DTPN",
    "DTPNCell",
    "Engram",
    "EngramAttentionLayer",
    "EngramAttentionPooling",
    "EngramCell",
    "HyperAMN",
    "HyperAMNCell",
    "NDM",
    "NDMCell",
    "PMRC",
    "PMRCCell",
    "SGWAMN",
    "SGWAMNCell",
]
