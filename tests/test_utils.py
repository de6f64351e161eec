"""keras_engram.utils: the monitor's numbers, the logs, the figures, on every backend."""

import os
import struct
import subprocess
import sys

import keras
import numpy as np
import numpy_reference as ref
import pytest

from keras_engram.layers import Engram, EngramCell
from keras_engram.models import EngramClassifier
from keras_engram.utils import (
    HebbianTraceMonitor,
    attention_statistics,
    engram_cell,
    engram_layers,
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
    largest = weights.max(-1)
    assert history.history["attention_max_weight"][-1] == pytest.approx(largest.mean(), rel=1e-6)
    assert history.history["attention_peaked_steps"][-1] == pytest.approx((largest > 2 / 5).mean())
    assert monitor.get_attention_stats()["max_weight"][-1] == pytest.approx(largest.mean(), rel=1e-6)
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
    assert stats["uniform_entropy"] == pytest.approx(np.log(2)) and stats["uniform_weight"] == 0.5
    assert stats["max_weight"] == pytest.approx(0.75) and stats["peaked_steps"] == 0.0
    np.testing.assert_allclose(stats["slot_weights"], [0.75, 0.25])

    # Four slots, the second step masked: only the first and third count.
    attention = np.array([[[0.6, 0.2, 0.1, 0.1], [0.0, 0.0, 0.0, 0.0], [0.3, 0.3, 0.2, 0.2]]])
    valid = np.array([[True, False, True]])
    stats = attention_statistics(attention, valid)
    assert stats["steps"] == 2
    assert stats["max_weight"] == pytest.approx(0.45)
    assert stats["peaked_steps"] == 0.5  # 0.6 > 2/4, 0.3 is not
    np.testing.assert_allclose(stats["slot_weights"], [0.45, 0.25, 0.15, 0.15])
    np.testing.assert_array_equal(stats["slot_counts"], [2, 0, 0, 0])


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
    # The title's numbers are those of the same steps as the bars.
    stats = attention_statistics(attention)
    title = figure.axes[0].get_title()
    assert f"over {attention.shape[0] * STEPS} steps of {attention.shape[0]} sequences" in title
    assert f"mean max weight {stats['max_weight']:.3f} (uniform 1/5 = 0.200)" in title
    assert f"{np.sum(stats['slot_counts'] > 0)} of 5 slots win an argmax" in title
    mass = figure.axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(mass, 100 * attention.reshape(-1, 5).mean(0), rtol=1e-6)


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
    with pytest.raises(TypeError, match="Received: samples=1.5"):
        plot_attention(classifier(), x, samples=1.5)
    with pytest.raises(TypeError, match="Received: layer_name=3"):
        engram_memory(classifier(), x, layer_name=3)
    with pytest.raises(TypeError, match="batch_size"):
        engram_memory(classifier(), x, batch_size=2.0)
    with pytest.raises(ValueError, match="batch_size"):
        engram_memory(classifier(), x, batch_size=0)


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


def masked_data(samples=6, seed=4):
    x, _ = data(samples, seed)
    x[:2, 4:] = 0.0  # padded tails, masked by `Masking`
    valid = np.ones((samples, STEPS), bool)
    valid[:2, 4:] = False
    return x, valid


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("trace_scope", ["sample", "batch"])
def test_plain_rnn_over_an_engram_cell_is_read_exactly(go_backwards, trace_scope):
    x, valid = masked_data()
    if trace_scope == "batch":  # masks in batch scope: see the test below
        x, valid = data(6, 4)[0], np.ones((6, STEPS), bool)
    inputs = keras.Input((STEPS, FEATURES))
    masked = keras.layers.Masking(0.0)(inputs)
    cell = EngramCell(8, 5, trace_scope=trace_scope, seed=5, name="my_cell")
    rnn = keras.layers.RNN(cell, return_state=True, go_backwards=go_backwards, name="plain")
    output, h_final, trace_final = rnn(masked)
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(output))
    states = keras.Model(inputs, [h_final, trace_final])

    assert engram_layers(model) == [rnn] and engram_cell(rnn) is cell
    memory = engram_memory(model, x)
    assert set(memory) == {"trace", "hidden", "attention", "valid"}
    np.testing.assert_array_equal(memory["valid"], valid[:, ::-1] if go_backwards else valid)
    # The trace and hidden state are the final states the RNN itself returns.
    h_expected, trace_expected = (keras.ops.convert_to_numpy(s) for s in states(x))
    np.testing.assert_allclose(memory["trace"], trace_expected.reshape(-1, 5, 8),
                               rtol=1e-5, atol=1e-6)
    # (h is O(1) after the layer norms: float32 rounding of a differently ordered sum)
    np.testing.assert_allclose(memory["hidden"], h_expected, rtol=1e-5, atol=5e-5)
    # Attention: a distribution over the slots at every unmasked step, zero at masked ones,
    # and the float64 NumPy reference's.
    rows = memory["attention"].sum(-1)
    np.testing.assert_allclose(rows[memory["valid"]], 1.0, rtol=1e-5)
    np.testing.assert_array_equal(rows[~memory["valid"]], 0.0)
    _, _, _, attention = ref.sequence(ref.cell_params(cell), x, mask=valid, go_backwards=go_backwards)
    np.testing.assert_allclose(memory["attention"], attention, rtol=1e-5, atol=1e-6)

    # Found by its name too, and the monitor and figures work on it.
    np.testing.assert_array_equal(engram_memory(model, x, layer_name="plain")["trace"],
                                  memory["trace"])
    with pytest.raises(ValueError, match=r"\['plain'\]"):
        engram_memory(model, x, layer_name="my_cell")
    monitor = HebbianTraceMonitor(x, layer_name="plain", verbose=0)
    monitor.set_model(model)
    logs = monitor.record()
    assert monitor.trace_scope == trace_scope and monitor.memory_size == 5
    assert logs["hebbian_trace_max"] == pytest.approx(memory["trace"].max())
    figure = plot_memory_usage(model, x, layer_name="plain")
    assert len(figure.axes[0].patches) == 5


def test_a_plain_rnn_in_batch_scope_refuses_masked_steps():
    x, _ = masked_data()
    model = keras.Sequential([keras.Input((STEPS, FEATURES)), keras.layers.Masking(0.0),
                              keras.layers.RNN(EngramCell(8, 5, trace_scope="batch"))])
    with pytest.raises(ValueError, match="Expected no masked steps"):
        engram_memory(model, x)
    assert engram_memory(model, x[2:])["trace"].shape == (4, 5, 8)  # nothing masked there


def test_a_plain_rnn_reads_the_given_initial_state():
    x, _ = data(4)
    rng = np.random.default_rng(8)
    h0 = rng.normal(size=(4, 8)).astype("float32")
    trace0 = (0.05 * rng.normal(size=(4, 40))).astype("float32")
    inputs = [keras.Input((STEPS, FEATURES)), keras.Input((8,)), keras.Input((40,))]
    cell = EngramCell(8, 5, seed=2)
    _, _, trace_final = keras.layers.RNN(cell, return_state=True, name="rnn")(
        inputs[0], initial_state=[inputs[1], inputs[2]])
    model = keras.Model(inputs, trace_final)
    memory = engram_memory(model, [x, h0, trace0])
    np.testing.assert_allclose(memory["trace"], keras.ops.convert_to_numpy(
        model([x, h0, trace0])).reshape(-1, 5, 8), rtol=1e-5, atol=1e-6)
    # (so not the zero start's trace)
    assert not np.allclose(memory["trace"], ref.sequence(ref.cell_params(cell), x)[2])


@pytest.mark.parametrize("inner", ["engram", "rnn"])
def test_bidirectional_reports_both_directions(inner):
    x, valid = masked_data()
    inputs = keras.Input((STEPS, FEATURES))
    masked = keras.layers.Masking(0.0)(inputs)
    layer = (Engram(8, 5, return_sequences=True, seed=6, name="mem") if inner == "engram"
             else keras.layers.RNN(EngramCell(8, 5, seed=6), return_sequences=True, name="mem"))
    both = keras.layers.Bidirectional(layer, name="both")
    outputs = keras.layers.GlobalAveragePooling1D()(both(masked))
    model = keras.Model(inputs, keras.layers.Dense(2)(outputs))

    forward, backward = both.forward_layer, both.backward_layer
    assert engram_layers(model) == [forward, backward]
    assert (forward.name, backward.name) == ("forward_mem", "backward_mem")
    default = engram_memory(model, x)
    by_wrapper = engram_memory(model, x, layer_name="both")
    by_forward = engram_memory(model, x, layer_name="forward_mem")
    by_backward = engram_memory(model, x, layer_name="backward_mem")

    def own(direction):
        cell = engram_cell(direction)
        if isinstance(direction, Engram):  # the layer's own inspect
            got = direction.inspect(x, mask=valid)
            return {key: keras.ops.convert_to_numpy(value) for key, value in got.items()}
        _, h, trace, attention = ref.sequence(ref.cell_params(cell), x, mask=valid,
                                              go_backwards=direction.go_backwards)
        return {"hidden": h, "trace": trace, "attention": attention}

    for got, direction in ((default, forward), (by_wrapper, forward), (by_forward, forward),
                           (by_backward, backward)):
        expected = own(direction)
        for key, atol in (("hidden", 5e-5), ("trace", 1e-6), ("attention", 1e-6)):
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=atol)
    # The backward direction's attention is in its processing order: reversed time.
    np.testing.assert_array_equal(by_backward["valid"], valid[:, ::-1])
    assert not np.allclose(by_backward["trace"], default["trace"])

    monitor = HebbianTraceMonitor(x, layer_name="backward_mem", verbose=0)
    monitor.set_model(model)
    monitor.record()
    np.testing.assert_allclose(monitor.get_trace_evolution(per_sample=True)[-1],
                               by_backward["trace"])
    figure = plot_attention(model, x, samples=2, layer_name="backward_mem")
    assert figure.axes[0].get_xlabel() == "processing order (reversed)"


def test_reading_a_stateful_layer_starts_from_and_keeps_its_stored_states():
    x, _ = data(4)
    layer = Engram(8, 5, stateful=True, seed=1)
    model = keras.Sequential([keras.Input((STEPS, FEATURES), batch_size=4), layer])
    model(x)  # the stored states now hold the end of this first call
    stored = [keras.ops.convert_to_numpy(s) for s in layer.states]
    memory = engram_memory(model, x)
    for before, after in zip(stored, layer.states):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(after), before)
    _, _, trace, _ = ref.sequence(ref.cell_params(layer.cell), x, h0=stored[0],
                                  H0=stored[1].reshape(4, 5, 8))
    np.testing.assert_allclose(memory["trace"], trace, rtol=1e-5, atol=1e-6)
