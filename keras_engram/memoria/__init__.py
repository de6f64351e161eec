"""Memoria: a Hebbian memory of working, short-term and long-term engrams (memoria-pytorch's API).

`Memoria` keeps the state between calls and checks arguments; the pure
functions (`memoria_init`, `memoria_add`, `memoria_remind`, `memoria_adjust`,
`memoria_step`, `memoria_reset`, `memoria_noise`) run one operation over an
explicit state dict with fixed shapes, for `jax.jit`, `tf.function`,
`torch.compile`, scans and models.
"""

from keras_engram.src.memoria.abstractor import Abstractor
from keras_engram.src.memoria.engram_connection import EngramConnection
from keras_engram.src.memoria.engram_history import EngramHistory
from keras_engram.src.memoria.engram_info import EngramInfo
from keras_engram.src.memoria.engrams_info import EngramsInfo
from keras_engram.src.memoria.firing import Firing
from keras_engram.src.memoria.history_manager import HistoryManager
from keras_engram.src.memoria.memoria import Memoria
from keras_engram.src.memoria.memoria_transformer_block import MemoriaTransformerBlock
from keras_engram.src.memoria.memoria_transformer import MemoriaTransformer
from keras_engram.src.ops.memoria import memoria_lifespan_delta
from keras_engram.src.ops.memoria import (
    MemoriaConfig,
    memoria_add,
    memoria_adjust,
    memoria_init,
    memoria_noise,
    memoria_noise_newest,
    memoria_remind,
    memoria_reset,
    memoria_step,
    reminded_width,
)

__all__ = [
    "Abstractor",
    "EngramConnection",
    "EngramHistory",
    "EngramInfo",
    "EngramsInfo",
    "Firing",
    "HistoryManager",
    "Memoria",
    "MemoriaConfig",
    "MemoriaTransformerBlock",
    "MemoriaTransformer",
    "memoria_lifespan_delta",
    "memoria_add",
    "memoria_adjust",
    "memoria_init",
    "memoria_noise",
    "memoria_noise_newest",
    "memoria_remind",
    "memoria_reset",
    "memoria_step",
    "reminded_width",
]
