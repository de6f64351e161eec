"""Monitoring and plotting of Engram memory (trace, attention, slot usage) on any backend.

The memory is found wherever an `EngramCell` runs in a model: an `Engram`
layer, a `keras.layers.RNN(EngramCell(...))`, or either inside
`keras.layers.Bidirectional` (`engram_layers` lists them; `layer_name`
picks one). The Hebbian trace is rebuilt from zero for every sequence; what
training learns is the memory bank and the weights.

Plotting needs matplotlib (`pip install "keras-engram[plot]"`); the monitor's
statistics do not.
"""

from keras_engram.src.utils.engram_probe import engram_cell, engram_layers, engram_memory
from keras_engram.src.utils.hebbian_trace_monitor import HebbianTraceMonitor
from keras_engram.src.utils.memory_statistics import (
    attention_statistics,
    slot_usage,
    trace_statistics,
)
from keras_engram.src.utils.plotting import (
    plot_attention,
    plot_hebbian_trace,
    plot_memory_usage,
)

__all__ = [
    "HebbianTraceMonitor",
    "attention_statistics",
    "engram_cell",
    "engram_layers",
    "engram_memory",
    "plot_attention",
    "plot_hebbian_trace",
    "plot_memory_usage",
    "slot_usage",
    "trace_statistics",
]
