"""Figures of an Engram layer's memory, drawn with matplotlib only.

Figures are made with `matplotlib.figure.Figure` (no `pyplot`), so nothing
opens a window or needs a display: each function returns the figure and
writes it as a PNG when `file_path` is given.
"""

import numpy as np

from keras_engram.src.utils.engram_probe import find_engram_layer, read_memory
from keras_engram.src.utils.memory_statistics import slot_usage

TRACE_CMAP = "RdBu_r"  # signed trace values: blue < 0 < red, white at zero
ATTENTION_CMAP = "viridis"


def _figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Plotting needs matplotlib: pip install 'keras-engram[plot]'"
        ) from error
    return Figure(figsize=figsize, layout="constrained")


def _finish(figure, file_path, dpi):
    if file_path:
        figure.savefig(file_path, dpi=dpi)
    return figure


def _integer_ticks(*axes_and_which):
    from matplotlib.ticker import MaxNLocator

    for axis, which in axes_and_which:
        target = axis.xaxis if which == "x" else axis.yaxis
        target.set_major_locator(MaxNLocator(integer=True))


def _heatmap(figure, axis, values, title, cmap, vmin, vmax, label):
    image = axis.imshow(values, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                        interpolation="nearest")
    axis.set_title(title)
    axis.set_xlabel("hidden unit")
    axis.set_ylabel("memory slot")
    _integer_ticks((axis, "x"), (axis, "y"))
    figure.colorbar(image, ax=axis, label=label)


def plot_hebbian_trace(monitor, file_path=None, figsize=(14, 10), dpi=100):
    """The trace figure of a `HebbianTraceMonitor` (tensorflow-engram's 2 x 2 layout).

    Top left, the last recorded trace; top right, its statistics over the
    epochs; bottom left, the first recorded trace; bottom right, last minus
    first. Traces are memory slots (rows) x hidden units (columns) on one
    symmetric colour scale centred at zero; in sample scope they are the
    mean over the monitored samples.

    Args:
        monitor: a `HebbianTraceMonitor` that has recorded at least one epoch.
        file_path: optional PNG path to write.
        figsize: inches `(width, height)`; the PNG is `figsize * dpi` pixels.
        dpi: dots per inch of the PNG.

    Returns:
        The matplotlib `Figure`.
    """
    traces = monitor.get_trace_evolution()
    if not traces:
        raise ValueError(
            "Expected a monitor that has recorded at least one epoch. "
            "Received: monitor with no traces (fit with it first, or call monitor.record())"
        )
    epochs = [e + 1 for e in monitor.epochs]
    stats = monitor.get_trace_stats()
    first, last = traces[0], traces[-1]
    samples = len(monitor.get_trace_evolution(per_sample=True)[-1])
    where = ("shared trace" if monitor.trace_scope == "batch"
             else f"mean over {samples} samples")
    bound = max(float(np.max(np.abs(first))), float(np.max(np.abs(last))), 1e-12)

    figure = _figure(figsize)
    axes = figure.subplots(2, 2)
    _heatmap(figure, axes[0, 0], last, f"Trace after epoch {epochs[-1]} ({where})",
             TRACE_CMAP, -bound, bound, "trace value")

    axis = axes[0, 1]
    axis.plot(epochs, stats["mean_abs"], "o-", label="mean |H|")
    axis.plot(epochs, stats["max"], "^-", label="max H")
    axis.plot(epochs, stats["min"], "v-", label="min H")
    axis.plot(epochs, stats["std"], "s-", label="std H")
    axis.set_xlabel("epoch")
    axis.set_ylabel("trace value")
    axis.set_title("Trace statistics over training")
    axis.grid(True, alpha=0.3)
    share = axis.twinx()
    share.plot(epochs, stats["sparsity"], "k--", label="sparsity (share |H| < 0.01)")
    share.set_ylim(0, 1)
    share.set_ylabel("sparsity")
    lines = axis.get_legend_handles_labels()
    more = share.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], loc="best", fontsize="small")
    _integer_ticks((axis, "x"))

    if len(traces) > 1:
        _heatmap(figure, axes[1, 0], first, f"Trace after epoch {epochs[0]} ({where})",
                 TRACE_CMAP, -bound, bound, "trace value")
        change = last - first
        reach = max(float(np.max(np.abs(change))), 1e-12)
        _heatmap(figure, axes[1, 1], change,
                 f"Change: epoch {epochs[-1]} minus epoch {epochs[0]}",
                 TRACE_CMAP, -reach, reach, "difference")
    else:
        for axis in axes[1]:
            axis.axis("off")
        axes[1, 0].text(0.5, 0.5, "the first-epoch trace and the change\nneed two recorded epochs",
                        ha="center", va="center", transform=axes[1, 0].transAxes)
    figure.suptitle("Engram Hebbian trace at the end of the monitored batch, "
                    f"{len(epochs)} epoch(s) recorded")
    return _finish(figure, file_path, dpi)


def plot_attention(model, inputs, file_path=None, samples=4, layer_name=None,
                   figsize=None, dpi=100):
    """Attention weights of an Engram layer: memory slots x time steps, per sample.

    Args:
        model: a model containing an `Engram` layer (or the layer itself).
        inputs: model inputs, batch first; the first `samples` are drawn.
        file_path: optional PNG path to write.
        samples: how many samples to draw (one panel each).
        layer_name: which `Engram` layer, when the model has several.
        figsize: inches; default 4.5 per panel wide, 4 high.
        dpi: dots per inch of the PNG.

    Returns:
        The matplotlib `Figure`. Masked steps are left blank (grey).
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"Expected `samples` to be a positive int. Received: samples={samples!r}")
    layer = find_engram_layer(model, layer_name)
    memory = read_memory(model, layer, inputs[:samples])
    return attention_figure(layer, memory["attention"], file_path, figsize, dpi)


def attention_figure(layer, attention, file_path=None, figsize=None, dpi=100):
    """The `plot_attention` figure of `(samples, timesteps, memory_size)` weights
    already read from `layer` (zero rows are masked steps)."""
    valid = attention.sum(-1) > 0.5
    count = attention.shape[0]
    figure = _figure(figsize or (4.5 * count + 1.0, 4.0))
    axes = np.atleast_1d(figure.subplots(1, count, sharey=True))
    top = max(float(attention.max()), 1e-12)
    order = "processing order (reversed)" if layer.go_backwards else "time step"
    for index, axis in enumerate(axes):
        shown = np.where(valid[index][:, None], attention[index], np.nan).T
        image = axis.imshow(shown, aspect="auto", cmap=ATTENTION_CMAP, vmin=0.0, vmax=top,
                            interpolation="nearest")
        axis.set_facecolor("0.85")
        axis.set_title(f"sample {index}")
        axis.set_xlabel(order)
        _integer_ticks((axis, "x"), (axis, "y"))
        if index == 0:
            axis.set_ylabel("memory slot")
    slots = attention.shape[-1]
    figure.colorbar(image, ax=list(axes), label=f"attention weight (uniform: 1/{slots})")
    figure.suptitle(f"Engram attention over memory slots ({layer.name})")
    return _finish(figure, file_path, dpi)


def plot_memory_usage(model, inputs, file_path=None, batch_size=256, layer_name=None,
                      figsize=(10, 4), dpi=100):
    """How often each memory slot wins the attention (is its argmax) over a data set.

    Slots that never win are dead memory: they are marked in red and counted
    in the title.

    Args:
        model: a model containing an `Engram` layer (or the layer itself).
        inputs: model inputs, batch first (all of them are used).
        file_path: optional PNG path to write.
        batch_size: rows run at a time.
        layer_name: which `Engram` layer, when the model has several.
        figsize: inches `(width, height)`.
        dpi: dots per inch of the PNG.

    Returns:
        The matplotlib `Figure`; the bar heights are the shares of unmasked
        steps (in %) whose argmax is each slot.
    """
    memory = read_memory(model, find_engram_layer(model, layer_name), inputs, batch_size)
    counts = slot_usage(memory["attention"], memory["valid"])
    steps = int(memory["valid"].sum())
    share = 100.0 * counts / max(steps, 1)
    dead = np.flatnonzero(counts == 0)
    slots = np.arange(len(counts))

    figure = _figure(figsize)
    axis = figure.subplots()
    axis.bar(slots, share, color="tab:blue", label="share of steps")
    if len(dead):
        axis.plot(dead, np.zeros(len(dead)), "x", color="tab:red", markersize=8,
                  label="never the argmax")
    axis.axhline(100.0 / len(counts), color="0.4", linestyle=":", label="uniform use")
    axis.set_xlabel("memory slot")
    axis.set_ylabel("% of steps with this slot as argmax")
    axis.set_xlim(-0.6, len(counts) - 0.4)
    _integer_ticks((axis, "x"))
    axis.legend(loc="upper right", fontsize="small")
    axis.set_title(
        f"Memory slot usage: {len(dead)} of {len(counts)} slots never win "
        f"({steps} steps of {memory['valid'].shape[0]} samples)"
    )
    return _finish(figure, file_path, dpi)
