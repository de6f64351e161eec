"""Behaviour of the Engram recurrent layer: the keras.layers.RNN contract."""

import keras
import numpy as np
import pytest

from helpers import make_engram, to_numpy
from keras_engram.layers import Engram
from keras_engram.src.ops import fast_paths


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_right_padding_mask_equals_truncated_sequence(scope):
    """A masked tail changes nothing: last output and states equal the unpadded run's."""
    rng = np.random.default_rng(0)
    layer = make_engram(3, rng, hidden_dim=8, memory_size=4, trace_scope=scope,
                        hebbian_lr=0.5, return_state=True)
    x = rng.normal(size=(1, 6, 3)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 3, 3), "float32")], axis=1)
    mask = np.array([[True] * 6 + [False] * 3])
    out, h, H = layer(padded, mask=mask)
    out_t, h_t, H_t = layer(x)
    np.testing.assert_allclose(to_numpy(out), to_numpy(out_t), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_numpy(H), to_numpy(H_t), rtol=1e-6, atol=1e-7)
    unmasked_out = layer(padded)[0]
    assert np.abs(to_numpy(unmasked_out) - to_numpy(out_t)).max() > 1e-4


def test_masking_layer_and_mask_zero_upstream():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    x[:, 3:] = 0.0
    inputs = keras.Input((5, 3))
    engram = Engram(8, 4, return_sequences=True, trace_noise_stddev=0.0)
    model = keras.Model(inputs, engram(keras.layers.Masking()(inputs)))
    seq = to_numpy(model(x))
    # Masked steps repeat the last unmasked output.
    np.testing.assert_array_equal(seq[:, 3], seq[:, 2])
    np.testing.assert_array_equal(seq[:, 4], seq[:, 2])

    tokens = np.array([[4, 2, 7, 0, 0], [1, 0, 0, 0, 0]])
    emb_in = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(10, 3, mask_zero=True)(emb_in)
    out = Engram(8, 4, trace_noise_stddev=0.0)(emb)
    model = keras.Model(emb_in, out)
    short = keras.Model(emb_in, out)(tokens[:, :3])
    np.testing.assert_allclose(to_numpy(model(tokens))[0], to_numpy(short)[0], rtol=1e-6, atol=1e-6)


def test_all_padding_and_zero_inputs_are_finite():
    layer = Engram(8, 4, return_sequences=True, return_state=True)
    x = np.zeros((3, 4, 2), "float32")
    for mask in (None, np.zeros((3, 4), bool)):
        for value in layer(x, mask=mask):
            assert np.isfinite(to_numpy(value)).all()
    out, h, H = layer(x, mask=np.zeros((3, 4), bool))
    np.testing.assert_array_equal(to_numpy(out), 0.0)  # states never left their zero start


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_thousand_step_sequence_stays_finite_and_bounded(scope):
    rng = np.random.default_rng(2)
    layer = Engram(16, 8, trace_scope=scope, return_state=True)
    x = (rng.normal(size=(2, 1000, 4)) * 10).astype("float32")
    out, h, H = layer(x, training=True)
    assert np.isfinite(to_numpy(out)).all()
    assert np.abs(to_numpy(H)).max() <= 0.1 + 1e-7  # the trace clip holds


def test_stateful_continuation_equals_one_long_call():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    layer = make_engram(3, rng, hidden_dim=6, memory_size=4, return_sequences=True)
    full = to_numpy(layer(x))
    stateful = Engram(6, 4, stateful=True, return_sequences=True, trace_noise_stddev=0.0)
    stateful.build((2, 8, 3))
    stateful.set_weights(layer.get_weights())
    first = to_numpy(stateful(x[:, :5]))
    second = to_numpy(stateful(x[:, 5:]))
    np.testing.assert_allclose(np.concatenate([first, second], 1), full, rtol=1e-5, atol=1e-6)
    stateful.reset_state()
    np.testing.assert_allclose(to_numpy(stateful(x[:, :5])), first, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="batch size"):
        stateful(x[:1, :5])


def test_go_backwards_reads_the_reversed_sequence():
    rng = np.random.default_rng(4)
    fwd = make_engram(3, rng, hidden_dim=6, memory_size=4, return_sequences=True)
    bwd = Engram(6, 4, return_sequences=True, go_backwards=True, trace_noise_stddev=0.0)
    bwd.build((None, None, 3))
    bwd.set_weights(fwd.get_weights())
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(bwd(x)), to_numpy(fwd(x[:, ::-1])), rtol=1e-6, atol=1e-6)


def test_zero_time_steps_return_the_initial_state():
    # The same on every backend (torch runs its own loop, JAX and TF a scan).
    rng = np.random.default_rng(6)
    layer = Engram(8, 4, return_sequences=True, return_state=True)
    h0 = rng.normal(size=(2, 8)).astype("float32")
    trace0 = rng.uniform(-0.1, 0.1, size=(2, 32)).astype("float32")
    seq, h, H = layer(np.zeros((2, 0, 3), "float32"), initial_state=[h0, trace0])
    assert tuple(seq.shape) == (2, 0, 8)
    np.testing.assert_array_equal(to_numpy(h), h0)
    np.testing.assert_array_equal(to_numpy(H), trace0)


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_fully_masked_samples_keep_their_state_bit_for_bit(scope):
    """As in Keras's RNN: a sample whose steps are all masked returns its initial state exactly."""
    rng = np.random.default_rng(12)
    layer = make_engram(3, rng, hidden_dim=8, memory_size=4, trace_scope=scope,
                        trace_clip=0.3, return_state=True)
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    h0 = rng.normal(size=(4, 8)).astype("float32")
    trace0 = rng.uniform(-0.3, 0.3, size=(4, 32)).astype("float32")
    if scope == "batch":
        # Equal rows, four of them: their mean is the row itself, exactly.
        trace0 = np.repeat(trace0[:1], 4, axis=0)
        mask = np.zeros((4, 5), bool)
    else:
        mask = np.ones((4, 5), bool)
        mask[1] = False
        mask[3] = False
    _, h, H = layer(x, mask=mask, initial_state=[h0, trace0])
    kept = ~mask.any(axis=1)
    np.testing.assert_array_equal(to_numpy(h)[kept], h0[kept])
    np.testing.assert_array_equal(to_numpy(H)[kept], trace0[kept])
    if scope == "sample":  # the unmasked ones did move
        assert np.abs(to_numpy(H)[~kept] - trace0[~kept]).max() > 1e-3


def test_output_structures_and_attention_scores():
    layer = Engram(8, 5, return_sequences=False, return_state=True)
    x = np.random.default_rng(5).normal(size=(3, 4, 2)).astype("float32")
    out, h, H, att = layer(x, return_attention_scores=True)
    assert tuple(out.shape) == (3, 8) and tuple(h.shape) == (3, 8)
    assert tuple(H.shape) == (3, 40) and tuple(att.shape) == (3, 4, 5)
    np.testing.assert_allclose(to_numpy(att).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(to_numpy(out), to_numpy(h))
    assert tuple(layer.cell.trace_as_matrix(H).shape) == (3, 5, 8)
    symbolic = layer(keras.Input((4, 2)), return_attention_scores=True)
    assert [tuple(s.shape) for s in symbolic] == [(None, 8), (None, 8), (None, 40), (None, 4, 5)]


def test_trace_noise_only_in_training_and_seeded():
    """Trace noise is drawn in training only, scaled by its stddev, and reproducible from `seed`.

    Inference is deterministic and equals the noise-free layer's; training
    differs from inference by hebbian_lr * N(0, stddev^2) after one step and in
    proportion to the stddev over a sequence; equal seeds give equal noise,
    different seeds and successive calls different noise; a `fit` step with a
    seeded layer is reproducible and depends on the seed.
    """
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    config = dict(hidden_dim=32, memory_size=16, hebbian_lr=0.3, trace_clip=None, return_state=True)

    def layer(stddev, seed=3):
        # Equal weights for every layer: one NumPy stream per layer, same seed.
        return make_engram(3, np.random.default_rng(60), trace_noise_stddev=stddev, seed=seed, **config)

    def run(engram, training, inputs=x):
        return [to_numpy(v) for v in engram(inputs, training=training)]

    # Inference: deterministic and noise-free (the noise-free layer's output, bit for bit).
    noisy = layer(0.01)
    quiet = run(noisy, False)
    for again, first in zip(run(noisy, False), quiet):
        np.testing.assert_array_equal(again, first)
    for clean, first in zip(run(layer(0.0), False), quiet):
        np.testing.assert_array_equal(clean, first)
    # Training without noise is inference (the torch training path rounds differently).
    for clean, first in zip(run(layer(0.0), True), quiet):
        np.testing.assert_allclose(clean, first, rtol=0, atol=1e-6)

    # One step from a zero trace: training - inference = hebbian_lr * N(0, 0.01^2) on
    # the trace (512 draws: the sample stddev is within 20 % of 0.003 with margin).
    step = x[:, :1]
    difference = run(layer(0.01), True, step)[2] - run(layer(0.01), False, step)[2]
    assert difference.std() == pytest.approx(0.3 * 0.01, rel=0.2)
    # Over 5 steps the same seeded draws at twice the stddev move every output twice
    # as far (the trace exactly, the output and h to 0.2-0.5 % on every backend).
    small = [t - q for t, q in zip(run(layer(0.01), True), quiet)]
    large = [t - q for t, q in zip(run(layer(0.02), True), quiet)]
    for one, two in zip(small, large):
        assert np.abs(one).max() > 1e-4
        assert np.linalg.norm(two - 2 * one) <= 0.02 * np.linalg.norm(2 * one)

    # Seeded: the same seed draws the same noise, another seed or the next call another.
    first = run(layer(0.01, seed=3), True)
    same = layer(0.01, seed=3)
    for twin, value in zip(run(same, True), first):
        np.testing.assert_array_equal(twin, value)
    noise = first[2] - quiet[2]
    for other in (run(layer(0.01, seed=4), True)[2], run(same, True)[2]):
        assert np.abs((other - quiet[2]) - noise).max() > 0.5 * np.abs(noise).max()

    # A training step in fit: reproducible with a seed, and the seed's noise enters it.
    features = rng.normal(size=(16, 5, 3)).astype("float32")
    targets = features.sum(axis=(1, 2))[:, None]

    def fit(seed):
        keras.utils.set_random_seed(0)  # the same initial weights
        model = keras.Sequential([
            keras.Input((5, 3)),
            Engram(8, 4, hebbian_lr=0.3, trace_noise_stddev=0.05, seed=seed),
            keras.layers.Dense(1),
        ])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        initial = [np.array(w) for w in model.get_weights()]
        model.fit(features, targets, epochs=1, batch_size=8, shuffle=False, verbose=0)
        return initial, model.get_weights()

    start, trained = fit(7)
    start_again, trained_again = fit(7)
    start_other, trained_other = fit(8)
    for a, b, c, d, e, f in zip(start, start_again, start_other, trained, trained_again, trained_other):
        np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(c, a)
        np.testing.assert_array_equal(e, d)
    moved = max(np.abs(d - a).max() for a, d in zip(start, trained))
    seed_effect = max(np.abs(f - d).max() for d, f in zip(trained, trained_other))

    assert seed_effect > 0.01 * moved, (seed_effect, moved)


def test_trace_noise_is_one_draw_per_step_shared_by_the_batch():
    """Two equal samples get equal noisy traces; the noise is the seeded draw."""
    x = np.random.default_rng(9).normal(size=(1, 5, 3)).astype("float32")
    layer = Engram(8, 4, return_state=True, trace_noise_stddev=0.01, seed=5)
    noisy = to_numpy(layer(np.concatenate([x, x]), training=True)[2])
    # Equal up to float32 rounding (TF's kernels may round two rows apart);
    # independent draws would differ by ~hebbian_lr * stddev = 5e-4.
    np.testing.assert_allclose(noisy[0], noisy[1], rtol=0, atol=1e-7)
    quiet = to_numpy(layer(x, training=False)[2])
    assert np.abs(noisy[0] - quiet[0]).max() > 1e-4


@pytest.mark.parametrize("trace_clip", [0.1, 2.0, None])
def test_trace_noise_enters_the_trace_as_hebbian_lr_times_its_stddev(trace_clip):
    """After one step from a zero trace, noisy - quiet = hebbian_lr * N(0, stddev^2), whatever the clip."""
    x = np.random.default_rng(10).normal(size=(1, 1, 3)).astype("float32")
    layer = Engram(64, 32, return_state=True, hebbian_lr=0.05, trace_noise_stddev=0.01,
                   trace_clip=trace_clip, seed=11)
    difference = to_numpy(layer(x, training=True)[2]) - to_numpy(layer(x, training=False)[2])
    # 2,048 normal draws: the sample stddev is within 8 % of the true one
    # (its relative standard error is 1.6 %); a noise in the wrong unit is
    # 10x (clip 0.1) or 0.5x (clip 2.0) off.
    assert difference.std() == pytest.approx(0.05 * 0.01, rel=0.08)
    assert abs(difference.mean()) < 4 * 0.05 * 0.01 / np.sqrt(difference.size)


def test_attention_l1_adds_its_documented_loss():
    x = np.random.default_rng(7).normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    layer = Engram(8, 4, attention_l1=0.2)
    layer(x, mask=mask)
    assert len(layer.losses) == 1
    # Each unmasked step's weights sum to one: 0.2 x mean share of unmasked steps.
    assert float(to_numpy(layer.losses[0])) == pytest.approx(0.2 * (5 / 5 + 2 / 5) / 2, rel=1e-5)
    silent = Engram(8, 4)
    silent(x)
    assert silent.losses == []


def test_engram_is_a_keras_rnn_and_trains_in_fit():
    assert isinstance(Engram(4, 2), keras.layers.RNN)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(32, 6, 3)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    model = keras.Sequential([keras.Input((6, 3)), Engram(8, 4, attention_l1=0.01), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_xla_is_declined_only_where_tensorflow_would_need_its_while_loop():
    """XLA cannot compile the gradient of Keras's TF while_loop; the unrolled loop it can."""
    from keras_engram.src.ops.fast_paths import TF_UNROLL_MAX_STEPS

    def built(steps, **kwargs):
        layer = Engram(8, 4, **kwargs)
        layer.build((None, steps, 3))
        return layer.supports_jit

    long = TF_UNROLL_MAX_STEPS + 1
    on_tf = keras.backend.backend() == "tensorflow"
    assert built(TF_UNROLL_MAX_STEPS) and built(long, unroll=True)
    assert built(long) is not on_tf
    assert built(None) is not on_tf
    assert built(6, unroll=2) is not on_tf
    assert Engram(8, 4).supports_jit is not on_tf  # not built yet: length unknown


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="torch.compile of a train step takes about a minute per model")
def test_xla_training_step_equals_the_plain_one():
    rng = np.random.default_rng(12)
    x = rng.normal(size=(16, 6, 3)).astype("float32")
    y = rng.normal(size=(16, 1)).astype("float32")
    losses, weights = [], []
    for jit in (False, True):
        keras.utils.set_random_seed(3)
        model = keras.Sequential([keras.Input((6, 3)), Engram(8, 4, trace_noise_stddev=0.0), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit)
        assert model.jit_compile is jit
        losses.append([float(model.train_on_batch(x, y)) for _ in range(3)])
        weights.append(model.get_weights())
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    for got, expected in zip(weights[1], weights[0]):
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)
    assert losses[0][-1] != losses[0][0]  # the weights moved


def test_bidirectional_wrapper():
    layer = keras.layers.Bidirectional(Engram(6, 3, return_sequences=True))
    out = layer(np.ones((2, 4, 3), "float32"))
    assert tuple(out.shape) == (2, 4, 12)


def test_mixed_precision_keeps_the_recurrence_in_float32():
    from keras_engram.models import EngramClassifier

    x = np.random.default_rng(9).normal(size=(3, 5, 4)).astype("float32")
    reference = EngramClassifier(input_shape=(5, 4), num_classes=3, hidden_dim=8, memory_size=4)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = EngramClassifier(input_shape=(5, 4), num_classes=3, hidden_dim=8, memory_size=4)
    finally:
        keras.config.set_dtype_policy("float32")
    network = mixed.engram_network
    assert network.rnn.compute_dtype == "float32" and network.cell.compute_dtype == "float32"
    assert mixed.layers[2].compute_dtype == "bfloat16"  # dropout keeps the mixed policy
    assert mixed.layers[-1].compute_dtype == "float32"  # float32 output layer, as Keras advises
    mixed.set_weights(reference.get_weights())
    got = to_numpy(mixed(x)).astype(np.float64)
    expected = to_numpy(reference(x))
    assert np.abs(got - expected).max() < 1e-2


@pytest.mark.parametrize("variant", ["plain", "lora", "int8"])
def test_sublayers_in_the_time_loop_equal_their_keras_call(variant):
    """The loop applies output_dense / layer_norm2 without Layer.__call__: same numbers as Keras's call."""
    rng = np.random.default_rng(7)
    layer = make_engram(5, rng, hidden_dim=8, memory_size=4)
    cell = layer.cell
    dense, norm = cell.output_dense, cell.layer_norm2
    if variant == "lora":
        dense.enable_lora(2)
        dense.lora_kernel_b.assign(rng.normal(size=dense.lora_kernel_b.shape).astype("float32"))
    elif variant == "int8":
        dense.quantize("int8")
        assert dense.quantization_mode == "int8"  # so the loop must defer to the layer's call
    x = rng.normal(size=(3, cell.units_of_integrator)).astype("float32")
    expected = to_numpy(dense(x))
    # The loop hands backend tensors to the sublayers.
    loop_x, loop_h = keras.ops.convert_to_tensor(x), keras.ops.convert_to_tensor(expected)
    def in_loop(layer, x):
        return fast_paths.apply_sublayer(layer, x, fast_paths.sublayer_weights(layer))

    np.testing.assert_array_equal(to_numpy(in_loop(dense, loop_x)), expected)
    np.testing.assert_array_equal(to_numpy(in_loop(norm, loop_h)), to_numpy(norm(expected)))
    if variant == "lora":  # the adapter is really applied, not the bare kernel
        bare = np.maximum(x @ to_numpy(dense._kernel) + to_numpy(dense.bias), 0.0)
        assert np.abs(expected - bare).max() > 1e-3


def _fixed_dropout(inputs, rate, noise_shape=None, seed=None):
    """A stand-in for `keras.random.dropout` with a known mask (every third unit dropped)."""
    shape = tuple(inputs.shape)
    kept = (np.arange(int(np.prod(shape))).reshape(shape) % 3 != 0) / (1.0 - rate)
    return keras.ops.multiply(inputs, keras.ops.convert_to_tensor(kept.astype("float32")))


@pytest.mark.parametrize("scope", ["sample", "batch"])
def test_dropout_and_recurrent_dropout_match_the_reference_with_their_masks(scope, monkeypatch):
    """One mask per sequence on the inputs and on `h` where the integrator reads it."""
    import numpy_reference as ref

    rng = np.random.default_rng(13)
    layer = make_engram(4, rng, hidden_dim=6, memory_size=3, trace_scope=scope, dropout=0.25,
                        recurrent_dropout=0.5, trace_noise_stddev=0.0, hebbian_lr=0.3,
                        return_sequences=True)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    inference = to_numpy(layer(x))
    p = ref.cell_params(layer.cell)
    np.testing.assert_allclose(inference, ref.sequence(p, x)[0], rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(keras.random, "dropout", _fixed_dropout)
    trained = to_numpy(layer(x, training=True))
    x_kept = _fixed_dropout(np.ones((2, 1, 4), "float32"), 0.25)
    h_kept = _fixed_dropout(np.ones((2, 6), "float32"), 0.5)
    expected = ref.sequence(p, x * to_numpy(x_kept), h_dropout=to_numpy(h_kept))[0]
    np.testing.assert_allclose(trained, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(trained - inference).max() > 1e-3


def test_dropout_is_seeded_and_training_only():
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    a = Engram(8, 4, dropout=0.5, recurrent_dropout=0.5, seed=7, trace_noise_stddev=0.0)
    b = Engram.from_config(a.get_config())
    a.build(x.shape)
    b.build(x.shape)
    b.set_weights(a.get_weights())
    np.testing.assert_array_equal(to_numpy(a(x, training=True)), to_numpy(b(x, training=True)))
    np.testing.assert_array_equal(to_numpy(a(x)), to_numpy(a(x)))
    assert np.abs(to_numpy(a(x, training=True)) - to_numpy(a(x))).max() > 1e-4
    with pytest.raises(ValueError, match=r"Expected `dropout` to be in \[0, 1\). Received: dropout=1.0"):
        Engram(8, 4, dropout=1.0)
