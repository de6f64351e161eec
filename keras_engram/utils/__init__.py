"""Monitoring and plotting of Engram memory (trace, attention, slot usage) on any backend.

Plotting needs matplotlib (`pip install "keras-engram[plot]"`); the monitor's
statistics do not.
"""

from keras_engram.src.utils.engram_probe import engram_memory
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
    "engram_memory",
    "plot_attention",
    "plot_hebbian_trace",
    "plot_memory_usage",
    "slot_usage",
    "trace_statistics",
]
