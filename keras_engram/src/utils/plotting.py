"""Figures of an Engram layer's memory, drawn with matplotlib only.

Figures are made with `matplotlib.figure.Figure` (no `pyplot`), so nothing
opens a window or needs a display: each function returns the figure and
writes it as a PNG when `file_path` is given.
"""

import numpy as np

from keras_engram.src.utils.engram_probe import find_engram_layer, read_memory
from keras_engram.src.utils.memory_statistics import PEAK_FACTOR, attention_statistics

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

    The trace is rebuilt from zero for every sequence (every batch in batch
    scope): each panel is the trace at the end of the monitored sequences,
    run with the memory bank and weights of that epoch. It differs between
    epochs only as far as training changed those, so two panels can look
    alike; the titles say so.

    Args:
        monitor: a `HebbianTraceMonitor` that has recorded at least one epoch.
        file_path: optional PNG path to write.
        figsize: inches `(width, height)`; the PNG is `figsize * dpi` pixels.
        dpi: dots per inch of the PNG.

    Returns:
        The matplotlib `Figure`.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_engram.models import EngramClassifier
    >>> from keras_engram.utils import HebbianTraceMonitor, plot_hebbian_trace
    >>> x = np.random.default_rng(0).normal(size=(16, 5, 3)).astype("float32")
    >>> model = EngramClassifier(input_shape=(5, 3), num_classes=2, hidden_dim=8,
    ...                          memory_size=4)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> monitor = HebbianTraceMonitor(x[:4], verbose=0)
    >>> _ = model.fit(x, np.arange(16) % 2, epochs=2, verbose=0, callbacks=[monitor])
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     figure = plot_hebbian_trace(monitor, os.path.join(folder, "trace.png"))
    ...     os.path.exists(os.path.join(folder, "trace.png"))
    True
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
    batch_scope = monitor.trace_scope == "batch"
    where = "shared by the batch" if batch_scope else f"mean over {samples} sequences"
    unit = "batch" if batch_scope else "sequence"
    bound = max(float(np.max(np.abs(first))), float(np.max(np.abs(last))), 1e-12)

    figure = _figure(figsize)
    axes = figure.subplots(2, 2)
    _heatmap(figure, axes[0, 0], last,
             f"End-of-{unit} trace, epoch {epochs[-1]} weights ({where})",
             TRACE_CMAP, -bound, bound, "trace value")

    axis = axes[0, 1]
    axis.plot(epochs, stats["mean_abs"], "o-", label="mean |H|")
    axis.plot(epochs, stats["max"], "^-", label="max H")
    axis.plot(epochs, stats["min"], "v-", label="min H")
    axis.plot(epochs, stats["std"], "s-", label="std H")
    axis.set_xlabel("epoch")
    axis.set_ylabel("trace value")
    axis.set_title(f"End-of-{unit} trace statistics, per epoch")
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
        _heatmap(figure, axes[1, 0], first,
                 f"End-of-{unit} trace, epoch {epochs[0]} weights ({where})",
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
    figure.suptitle(
        f"Engram Hebbian trace, rebuilt from zero for every {unit} "
        f"({len(epochs)} epoch(s) recorded)\n"
        "It changes between epochs only through the learned memory bank and weights"
    )
    return _finish(figure, file_path, dpi)


def plot_attention(model, inputs, file_path=None, samples=4, layer_name=None,
                   figsize=None, dpi=100):
    """Attention weights of an Engram layer: memory slots x time steps, per sample.

    The layer is found as in `engram_memory` (an `Engram`, a
    `keras.layers.RNN(EngramCell(...))`, either inside `Bidirectional`). A
    backward layer's steps are drawn in its processing order (reversed
    time), as the axis label says.

    Args:
        model: a model containing an Engram cell (or the recurrent layer itself).
        inputs: model inputs, batch first; the first `samples` are drawn.
        file_path: optional PNG path to write.
        samples: how many samples to draw (one panel each).
        layer_name: which layer, when the model has several (see `engram_memory`).
        figsize: inches; default 4.5 per panel wide, 4 high.
        dpi: dots per inch of the PNG.

    Returns:
        The matplotlib `Figure`. Masked steps are left blank (grey); the
        colour bar spans 0 to the largest weight drawn and names the uniform
        weight 1/N.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_engram.models import EngramClassifier
    >>> from keras_engram.utils import plot_attention
    >>> model = EngramClassifier(input_shape=(5, 3), num_classes=2, hidden_dim=8,
    ...                          memory_size=4)
    >>> x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     figure = plot_attention(model, x, os.path.join(folder, "attention.png"), samples=2)
    ...     os.path.exists(os.path.join(folder, "attention.png"))
    True
    """
    if isinstance(samples, bool) or not isinstance(samples, int):
        raise TypeError(f"Expected `samples` to be an int. Received: samples={samples!r}")
    if samples < 1:
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
    figure.suptitle(f"Engram attention over {slots} memory slots ({layer.name}); "
                    f"uniform weight 1/{slots} = {1 / slots:.3f}")
    return _finish(figure, file_path, dpi)


def plot_memory_usage(model, inputs, file_path=None, batch_size=256, layer_name=None,
                      figsize=(10, 4), dpi=100):
    """How each memory slot is used over a data set: argmax wins and attention mass.

    Bars: the share of unmasked steps (in %) whose largest weight is on
    each slot; slots that never win are marked in red. Line: each slot's
    mean attention weight (in %, its share of the attention mass). When the
    weights are near uniform the argmax winners are mostly noise while the
    mass stays near 100/N; the title gives the statistics that tell these
    apart (see `attention_statistics`): entropy against ln N, the mean
    largest weight against 1/N and the share of steps whose largest weight
    exceeds 2/N, all over the same steps as the bars.

    Args:
        model: a model containing an Engram cell (or the recurrent layer
            itself), found as in `engram_memory`.
        inputs: model inputs, batch first (all of them are used).
        file_path: optional PNG path to write.
        batch_size: rows run at a time.
        layer_name: which layer, when the model has several (see `engram_memory`).
        figsize: inches `(width, height)`.
        dpi: dots per inch of the PNG.

    Returns:
        The matplotlib `Figure`; its first axes' bar heights are the argmax
        shares.

    Example:

    >>> import os, tempfile
    >>> import numpy as np
    >>> from keras_engram.models import EngramClassifier
    >>> from keras_engram.utils import plot_memory_usage
    >>> model = EngramClassifier(input_shape=(5, 3), num_classes=2, hidden_dim=8,
    ...                          memory_size=4)
    >>> x = np.random.default_rng(0).normal(size=(6, 5, 3)).astype("float32")
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     figure = plot_memory_usage(model, x, os.path.join(folder, "usage.png"))
    ...     os.path.exists(os.path.join(folder, "usage.png"))
    True
    >>> len(figure.axes[0].patches)  # one bar per memory slot
    4
    """
    memory = read_memory(model, find_engram_layer(model, layer_name), inputs, batch_size)
    stats = attention_statistics(memory["attention"], memory["valid"])
    counts = stats["slot_counts"]
    steps = stats["steps"]
    share = 100.0 * counts / steps
    dead = np.flatnonzero(counts == 0)
    slots = np.arange(len(counts))

    figure = _figure(figsize)
    axis = figure.subplots()
    axis.bar(slots, share, color="tab:blue", label="argmax: % of steps it wins")
    axis.plot(slots, 100.0 * stats["slot_weights"], "o-", color="tab:orange", markersize=4,
              label="mean weight (% of attention mass)")
    if len(dead):
        axis.plot(dead, np.zeros(len(dead)), "x", color="tab:red", markersize=8,
                  label="never the argmax")
    axis.axhline(100.0 / len(counts), color="0.4", linestyle=":", label="uniform (100/N)")
    axis.set_xlabel("memory slot")
    axis.set_ylabel("% of steps")
    axis.set_xlim(-0.6, len(counts) - 0.4)
    _integer_ticks((axis, "x"))
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, fontsize="small")  # off the bars
    axis.set_title(usage_title(stats, memory["valid"].shape[0]), fontsize="medium")
    return _finish(figure, file_path, dpi)


def usage_title(stats, samples):
    """The `plot_memory_usage` title for `attention_statistics` of `samples` sequences."""
    slots = len(stats["slot_counts"])
    dead = int(np.sum(stats["slot_counts"] == 0))
    return (
        f"Memory slot usage over {stats['steps']} steps of {samples} sequences: "
        f"{slots - dead} of {slots} slots win an argmax\n"
        f"entropy {stats['entropy']:.3f} nats (uniform ln {slots} = {stats['uniform_entropy']:.3f}); "
        f"mean max weight {stats['max_weight']:.3f} (uniform 1/{slots} = "
        f"{stats['uniform_weight']:.3f}); steps with max > {PEAK_FACTOR:g}/{slots}: "
        f"{stats['peaked_steps']:.1%}"
    )
