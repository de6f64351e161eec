"""HebbianTraceMonitor: records an Engram layer's memory after each epoch."""

import os

import keras
import numpy as np

from keras_engram.src.utils.engram_probe import engram_cell, find_engram_layer, read_memory
from keras_engram.src.utils.memory_statistics import attention_statistics, trace_statistics

TRACE_KEYS = ("mean_abs", "max", "min", "std", "sparsity")
# Per-epoch attention statistics kept by the monitor; all but `top_slots` also go to `logs`.
ATTENTION_KEYS = ("entropy", "max_weight", "peaked_steps", "slots_used", "top_slots")
ATTENTION_SAMPLES = 4  # panels of the attention figure written with `log_dir`


class HebbianTraceMonitor(keras.callbacks.Callback):
    """Records the Hebbian trace and attention of an Engram layer after each epoch.

    After every epoch the model runs, in inference mode, on `sample_batch`
    up to its Engram memory (found by walking the model, so it works in
    `EngramClassifier`, `EngramNetwork`, any model of your own, and with an
    `Engram` or `keras.layers.RNN(EngramCell(...))` inside
    `keras.layers.Bidirectional`; see `engram_memory`), which reports its
    final trace and the attention weights of every step. The monitor keeps
    the trace and adds its statistics to the epoch's `logs`, so they appear
    in `History` and in callbacks listed after it, such as
    `keras.callbacks.TensorBoard`:

    - `hebbian_trace_mean_abs`, `_max`, `_min`, `_std`, `_sparsity`
      (share of |H| < 0.01), computed over every sample's trace;
    - `attention_entropy` (mean entropy in nats of a step's weights over the
      N memory slots; uniform weights give ln N), `attention_max_weight`
      (mean of a step's largest weight; uniform: 1/N),
      `attention_peaked_steps` (share of steps whose largest weight
      exceeds 2/N) and `attention_slots_used` (share of slots that are the
      argmax of at least one step; mostly noise when the weights are near
      uniform). See `attention_statistics`.

    The trace is not carried from epoch to epoch: it starts at zero for
    every sequence (every batch in batch scope) and is built over its
    steps, so what is recorded is the trace at the end of the monitored
    sequences, with the memory bank and weights of that epoch. In the
    default `trace_scope="sample"` each sample has its own trace:
    `get_trace_evolution()` gives their mean (memory_size x hidden_dim),
    `get_trace_evolution(per_sample=True)` all of them. In batch scope the
    trace is shared and both hold it. The monitor never opens a window: with
    `log_dir` it writes PNG files, otherwise it draws only when asked
    (`plot_trace_evolution`, or `keras_engram.utils.plot_hebbian_trace`).

    Args:
        sample_batch: inputs of the model (batch first) run after each epoch.
        log_dir: folder for figures (created if needed); None writes nothing.
        save_freq: with `log_dir`, the trace figure
            `hebbian_trace_epoch{N}.png` is written after epochs 1, 1 +
            save_freq, ... (N counts from 1).
        verbose: 0 silent, 1 one line of trace statistics per epoch, 2 also
            the attention statistics.
        plot_every: with `log_dir`, the attention figure
            `attention_epoch{N}.png` (the first 4 samples of `sample_batch`) is
            written after epochs 1, 1 + plot_every, ...
        skip_first_plot: write no figure after the first epoch.
        layer_name: name of the layer to monitor when the model has several:
            an `Engram`, an RNN layer, a `Bidirectional` wrapper (its forward
            layer) or one of its directions (`backward_<name>`); default the
            first found.
        top_k: how many of the most attended slots to record per epoch.

    Example:

    >>> import numpy as np
    >>> from keras_engram.models import EngramClassifier
    >>> from keras_engram.utils import HebbianTraceMonitor
    >>> x = np.random.default_rng(0).normal(size=(32, 6, 4)).astype("float32")
    >>> y = np.arange(32) % 2
    >>> model = EngramClassifier(input_shape=(6, 4), num_classes=2, hidden_dim=8,
    ...                          memory_size=4)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> monitor = HebbianTraceMonitor(x[:8], verbose=0)
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[monitor])
    >>> len(monitor.get_trace_evolution()), monitor.get_trace_evolution()[0].shape
    (2, (4, 8))
    >>> "hebbian_trace_mean_abs" in history.history
    True
    """

    def __init__(
        self,
        sample_batch,
        log_dir=None,
        save_freq=5,
        verbose=1,
        plot_every=5,
        skip_first_plot=False,
        layer_name=None,
        top_k=5,
    ):
        super().__init__()
        for name, value in (("save_freq", save_freq), ("plot_every", plot_every), ("top_k", top_k)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"Expected `{name}` to be a positive int. Received: {name}={value!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Expected `verbose` to be 0, 1 or 2. Received: verbose={verbose!r}")
        if np.ndim(sample_batch) < 1 or np.shape(sample_batch)[0] == 0:
            raise ValueError(
                "Expected `sample_batch` to hold at least one sample. "
                f"Received: sample_batch of shape {np.shape(sample_batch)}"
            )
        self.sample_batch = sample_batch
        self.log_dir = log_dir
        self.save_freq = save_freq
        self.verbose = verbose
        self.plot_every = plot_every
        self.skip_first_plot = skip_first_plot
        self.layer_name = layer_name
        self.top_k = top_k
        self.epochs = []
        self.traces = []
        self.sample_traces = []
        self.attention_weights = []
        self.stats = {key: [] for key in TRACE_KEYS}
        self.attention_stats = {key: [] for key in ATTENTION_KEYS}
        self.memory_size = None
        self.trace_scope = None
        self._layer = None  # the monitored recurrent layer, found again at each record
        self.written_files = []

    def on_train_begin(self, logs=None):
        find_engram_layer(self.model, self.layer_name)  # fail before the first epoch
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)

    def record(self, epoch=None):
        """Runs the sample batch now and records its memory (also usable outside `fit`).

        Returns the dict of scalar statistics added to the logs.
        """
        layer = self._layer = find_engram_layer(self.model, self.layer_name)
        cell = engram_cell(layer)
        self.trace_scope, self.memory_size = cell.trace_scope, cell.memory_size
        memory = read_memory(self.model, layer, self.sample_batch)
        per_sample = memory["trace"]
        self.epochs.append(len(self.epochs) if epoch is None else int(epoch))
        self.sample_traces.append(per_sample)
        self.traces.append(per_sample[0] if self.trace_scope == "batch" else per_sample.mean(0))
        self.attention_weights.append(memory["attention"])
        trace_stats = trace_statistics(per_sample)
        for key in TRACE_KEYS:
            self.stats[key].append(trace_stats[key])
        att = attention_statistics(memory["attention"], memory["valid"], self.top_k)
        for key in ATTENTION_KEYS:
            self.attention_stats[key].append(att[key])
        values = {f"hebbian_trace_{key}": trace_stats[key] for key in TRACE_KEYS}
        values.update({f"attention_{key}": att[key] for key in ATTENTION_KEYS if key != "top_slots"})
        return values

    def on_epoch_end(self, epoch, logs=None):
        values = self.record(epoch)
        if logs is not None:
            logs.update(values)
        if self.verbose:
            print(
                f"\nHebbian trace [epoch {epoch + 1}] - min: {self.stats['min'][-1]:.4f}, "
                f"max: {self.stats['max'][-1]:.4f}, mean abs: {self.stats['mean_abs'][-1]:.4f}, "
                f"sparsity: {self.stats['sparsity'][-1]:.2%}"
            )
        if self.verbose > 1:
            slots = self.memory_size
            print(
                f"Attention [epoch {epoch + 1}] - entropy: {values['attention_entropy']:.3f} nats "
                f"(uniform ln {slots} = {np.log(slots):.3f}), "
                f"mean max weight: {values['attention_max_weight']:.3f} (uniform 1/{slots} = "
                f"{1 / slots:.3f}), steps with max > 2/{slots}: "
                f"{values['attention_peaked_steps']:.0%}, "
                f"slots winning an argmax: {values['attention_slots_used']:.0%}, "
                f"top slots: {self.attention_stats['top_slots'][-1]}"
            )
        if not self.log_dir or (epoch == 0 and self.skip_first_plot):
            return
        if epoch % self.save_freq == 0:
            path = os.path.join(self.log_dir, f"hebbian_trace_epoch{epoch + 1}.png")
            self.plot_trace_evolution(file_path=path)
        if epoch % self.plot_every == 0:
            from keras_engram.src.utils.plotting import attention_figure

            # The attention just recorded: no second run of the sample batch.
            path = os.path.join(self.log_dir, f"attention_epoch{epoch + 1}.png")
            attention_figure(self._layer, self.attention_weights[-1][:ATTENTION_SAMPLES], path)
            self._wrote(path)

    def plot_trace_evolution(self, epoch=None, file_path=None):
        """The 2 x 2 trace figure of `plot_hebbian_trace` for the epochs recorded so far.

        `epoch` is accepted for tensorflow-engram compatibility; the figure
        always shows every recorded epoch. Returns the matplotlib `Figure`
        (written to `file_path` when given).
        """
        from keras_engram.src.utils.plotting import plot_hebbian_trace

        figure = plot_hebbian_trace(self, file_path=file_path)
        if file_path:
            self._wrote(file_path)
        return figure

    def _wrote(self, path):
        self.written_files.append(path)
        if self.verbose:
            print(f"Saved {path}")

    def get_trace_evolution(self, per_sample=False):
        """The recorded traces, one per epoch: `(memory_size, hidden_dim)` arrays
        (the mean over samples in sample scope), or `(samples, memory_size,
        hidden_dim)` arrays with `per_sample=True`."""
        return list(self.sample_traces if per_sample else self.traces)

    def get_trace_stats(self):
        """Trace statistics per epoch: dict of lists `mean_abs`, `max`, `min`, `std`, `sparsity`."""
        return self.stats

    def get_attention_stats(self):
        """Attention statistics per epoch: dict of lists `entropy`, `max_weight`,
        `peaked_steps`, `slots_used`, `top_slots` (see `attention_statistics`)."""
        return self.attention_stats
