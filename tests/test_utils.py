"""keras_engram.utils: the monitor's numbers, the logs, the figures, on every backend."""

import os
import struct
import subprocess
import sys

import keras
import numpy as np
import numpy_reference as ref
import pytest

from keras_engram.layers import Engram
from keras_engram.models import EngramClassifier
from keras_engram.utils import (
    HebbianTraceMonitor,
    attention_statistics,
    engram_memory,
    plot_attention,
    plot_hebbian_trace,
    plot_memory_usage,
    trace_statistics,
)

pytest.importorskip("matplotlib")  # in the dev extra, so the nox sessions always have it

STEPS, FEATURES = 6, 4


def data(samples=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, STEPS, FEATURES)).astype("float32")
    return x, np.arange(samples) % 3


def classifier(trace_scope="sample"):
    keras.utils.set_random_seed(1)
    model = EngramClassifier(input_shape=(STEPS, FEATURES), num_classes=3, hidden_dim=8,
                             memory_size=5, trace_scope=trace_scope, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def png_size(path):
    with open(path, "rb") as handle:
        head = handle.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def assert_drawn(path, size):
    from matplotlib.image import imread

    assert png_size(path) == size
    pixels = imread(path)[..., :3].reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50, "figure looks blank"


@pytest.mark.parametrize("trace_scope", ["sample", "batch"])
def test_monitor_records_the_reference_trace_and_its_statistics(trace_scope):
    x, y = data()
    sample = x[:7]
    model = classifier(trace_scope)
    monitor = HebbianTraceMonitor(sample, verbose=0)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[monitor])

    per_sample = monitor.get_trace_evolution(per_sample=True)
    summary = monitor.get_trace_evolution()
    assert len(per_sample) == len(summary) == 2
    # The final epoch's trace and attention are the float64 NumPy reference's.
    params = ref.cell_params(model.engram_network.rnn.cell)
    _, _, trace, attention = ref.sequence(params, sample)
    expected = trace if trace_scope == "sample" else np.broadcast_to(trace, per_sample[-1].shape)
    np.testing.assert_allclose(per_sample[-1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(monitor.attention_weights[-1], attention, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        summary[-1], expected.mean(0) if trace_scope == "sample" else trace, rtol=1e-5, atol=1e-6
    )

    for epoch, traces in enumerate(per_sample):
        stats = monitor.get_trace_stats()
        assert stats["mean_abs"][epoch] == pytest.approx(np.abs(traces).mean())
        assert stats["max"][epoch] == pytest.approx(traces.max())
        assert stats["min"][epoch] == pytest.approx(traces.min())
        assert stats["std"][epoch] == pytest.approx(traces.std())
        assert stats["sparsity"][epoch] == pytest.approx((np.abs(traces) < 0.01).mean())
        assert history.history["hebbian_trace_mean_abs"][epoch] == pytest.approx(
            stats["mean_abs"][epoch])
        assert history.history["hebbian_trace_sparsity"][epoch] == pytest.approx(
            stats["sparsity"][epoch])

    weights = monitor.attention_weights[-1].astype(np.float64)
    entropy = -(weights * np.log(weights)).sum(-1).mean()
    winners = np.bincount(weights.argmax(-1).ravel(), minlength=5)
    assert monitor.get_attention_stats()["entropy"][-1] == pytest.approx(entropy, rel=1e-6)
    assert history.history["attention_entropy"][-1] == pytest.approx(entropy, rel=1e-6)
    assert history.history["attention_slots_used"][-1] == pytest.approx((winners > 0).mean())
    top = list(np.argsort(-weights.reshape(-1, 5).mean(0), kind="stable")[:5])
    assert monitor.get_attention_stats()["top_slots"][-1] == top


def test_masked_steps_are_left_out_and_layers_found_anywhere():
    x, _ = data(8)
    x[:3, 4:] = 0.0  # padded tails
    keras.utils.set_random_seed(2)
    inputs = keras.Input((STEPS, FEATURES))
    masked = keras.layers.Masking(0.0)(inputs)
    encoded = keras.layers.Dense(FEATURES, name="pre")(masked)
    outputs = Engram(8, 5, trace_scope="sample", name="inner")(encoded)
    model = keras.Model(inputs, keras.layers.Dense(2)(outputs))
    wrapper = keras.Sequential([keras.Input((STEPS, FEATURES)), model])

    memory = engram_memory(wrapper, x)
    valid = np.ones((8, STEPS), bool)
    valid[:3, 4:] = False
    np.testing.assert_array_equal(memory["valid"], valid)
    params = ref.cell_params(model.get_layer("inner").cell)
    pre = model.get_layer("pre")
    encoded = x @ keras.ops.convert_to_numpy(pre.kernel) + keras.ops.convert_to_numpy(pre.bias)
    _, _, trace, attention = ref.sequence(params, encoded, mask=valid)
    np.testing.assert_allclose(memory["trace"], trace, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(memory["attention"], attention, rtol=1e-5, atol=1e-6)

    stats = attention_statistics(memory["attention"], memory["valid"])
    kept = attention[valid]
    assert stats["entropy"] == pytest.approx(-(kept * np.log(kept)).sum(-1).mean(), rel=1e-5)
    np.testing.assert_array_equal(stats["slot_counts"], np.bincount(kept.argmax(-1), minlength=5))


def test_statistics_helpers_against_direct_numbers():
    trace = np.array([[0.0, 0.005, -0.2], [0.3, -0.009, 0.02]])
    stats = trace_statistics(trace)
    assert stats == pytest.approx({"mean_abs": 0.534 / 6, "max": 0.3, "min": -0.2,
                                   "std": float(np.std(trace)), "sparsity": 0.5})
    attention = np.array([[[1.0, 0.0], [0.5, 0.5]]])
    stats = attention_statistics(attention, top_k=1)
    assert stats["entropy"] == pytest.approx(np.log(2) / 2)
    assert stats["slots_used"] == 0.5 and stats["top_slots"] == [0]


def test_monitor_writes_figures_only_with_log_dir(tmp_path):
    x, y = data()
    model = classifier()
    quiet = HebbianTraceMonitor(x[:4], verbose=0)
    logged = HebbianTraceMonitor(x[:4], log_dir=str(tmp_path / "logs"), save_freq=2,
                                 plot_every=3, verbose=0, skip_first_plot=False)
    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[quiet, logged])
    assert quiet.written_files == []
    names = sorted(os.listdir(tmp_path / "logs"))
    assert names == ["attention_epoch1.png", "attention_epoch4.png",
                     "hebbian_trace_epoch1.png", "hebbian_trace_epoch3.png"]
    assert_drawn(tmp_path / "logs" / "hebbian_trace_epoch3.png", (1400, 1000))


def test_plots_write_pngs_of_the_requested_size(tmp_path):
    x, y = data()
    model = classifier()
    monitor = HebbianTraceMonitor(x[:4], verbose=0)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[monitor])

    plot_hebbian_trace(monitor, tmp_path / "trace.png", figsize=(8, 6), dpi=50)
    assert_drawn(tmp_path / "trace.png", (400, 300))
    figure = plot_attention(model, x, tmp_path / "attention.png", samples=3,
                            figsize=(9, 3), dpi=80)
    assert_drawn(tmp_path / "attention.png", (720, 240))
    assert len([axis for axis in figure.axes if axis.get_label() != "<colorbar>"]) == 3
    figure = plot_memory_usage(model, x, tmp_path / "usage.png", batch_size=20)
    assert_drawn(tmp_path / "usage.png", (1000, 400))
    attention = engram_memory(model, x)["attention"]
    expected = 100 * np.bincount(attention.argmax(-1).ravel(), minlength=5) / attention[..., 0].size
    heights = [bar.get_height() for bar in figure.axes[0].patches]
    np.testing.assert_allclose(heights, expected)


def test_clear_errors():
    x, _ = data(4)
    dense = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Engram"):
        engram_memory(dense, x)
    with pytest.raises(ValueError, match="layer_name|named 'missing'"):
        engram_memory(classifier(), x, layer_name="missing")
    with pytest.raises(ValueError, match="save_freq"):
        HebbianTraceMonitor(x, save_freq=0)
    with pytest.raises(ValueError, match="sample_batch"):
        HebbianTraceMonitor(x[:0])
    with pytest.raises(ValueError, match="at least one epoch"):
        plot_hebbian_trace(HebbianTraceMonitor(x, verbose=0))
    with pytest.raises(ValueError, match="samples"):
        plot_attention(classifier(), x, samples=0)


def test_network_model_and_headless_subprocess(tmp_path):
    """Plotting under the non-interactive Agg backend, with no TensorFlow under JAX or torch."""
    backend = keras.backend.backend()
    code = (
        "import sys, numpy as np, keras;"
        "before = 'tensorflow' in sys.modules;"
        "from keras_engram.models import EngramNetwork;"
        "from keras_engram.utils import HebbianTraceMonitor, plot_attention, plot_memory_usage;"
        "x = np.random.default_rng(0).normal(size=(16, 5, 3)).astype('float32');"
        "m = EngramNetwork(hidden_dim=6, memory_size=4, output_units=2, return_sequences=False,"
        " output_activation='softmax');"
        "m.compile(optimizer='adam', loss='sparse_categorical_crossentropy');"
        f"mon = HebbianTraceMonitor(x[:4], log_dir=r'{tmp_path}', save_freq=1, verbose=0);"
        "m.fit(x, np.arange(16) % 2, epochs=1, verbose=0, callbacks=[mon]);"
        f"plot_memory_usage(m, x, r'{tmp_path}/usage.png');"
        "import matplotlib; print(matplotlib.get_backend().lower());"
        "print(before, 'tensorflow' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "KERAS_BACKEND": backend, "MPLBACKEND": "Agg"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    mpl_backend, imported = result.stdout.strip().splitlines()[-2:]
    assert mpl_backend == "agg"
    if backend != "tensorflow":
        assert imported == "False False"
    for name in ("hebbian_trace_epoch1.png", "attention_epoch1.png", "usage.png"):
        assert png_size(tmp_path / name)[0] > 0
