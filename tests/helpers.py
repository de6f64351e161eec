"""Helpers shared by the tests."""

import keras
import numpy as np

from keras_engram.layers import Engram


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def randomize_cell(cell, rng, memory_scale=1.0):
    """Gives every weight of a built EngramCell non-trivial random values."""
    for layer in (cell.input_encoder, cell.hidden_integrator, cell.output_dense):
        fan_in = layer.kernel.shape[0]
        layer.kernel.assign(rng.normal(0, (2.0 / fan_in) ** 0.5, layer.kernel.shape).astype("float32"))
        layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape).astype("float32"))
    if cell.use_layer_norm:
        for norm in (cell.layer_norm1, cell.layer_norm2):
            norm.gamma.assign(rng.uniform(0.5, 1.5, norm.gamma.shape).astype("float32"))
            norm.beta.assign(rng.normal(0, 0.1, norm.beta.shape).astype("float32"))
    cell.memory_bank.assign(
        (memory_scale * rng.normal(0, 0.3, cell.memory_bank.shape)).astype("float32")
    )


def make_engram(input_dim, rng, **kwargs):
    """A built Engram layer with random non-trivial weights and noise off."""
    kwargs.setdefault("trace_noise_stddev", 0.0)
    layer = Engram(**kwargs)
    layer.build((None, None, input_dim))
    randomize_cell(layer.cell, rng)
    return layer


def max_relative_error(actual, expected):
    """max |a - e| / max(|e|, floor): the error relative to the reference's scale."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    scale = max(np.abs(expected).max(), 1e-6)
    return float(np.abs(actual - expected).max() / scale)


SEED_MODE = dict(trace_scope="batch", trace_noise_stddev=0.0)
SEED_FIXTURE_INPUT_SHAPE = (7, 5)


def build_seed_mode_model(name, **overrides):
    """Our counterpart of tests/seed_patch.build_seed_models()[name], in seed mode."""
    from keras_engram.models import EngramClassifier, EngramNetwork, EngramRegressor

    kwargs = {**SEED_MODE, **overrides}
    shape = SEED_FIXTURE_INPUT_SHAPE
    if name == "classifier":
        return EngramClassifier(input_shape=shape, num_classes=4, hidden_dim=16, memory_size=8, **kwargs)
    if name == "regressor":
        return EngramRegressor(input_shape=shape, output_dim=2, hidden_dim=16, memory_size=8, **kwargs)
    model = EngramNetwork(hidden_dim=16, memory_size=8, output_units=3, use_attention=True, **kwargs)
    model(np.zeros((1,) + shape, "float32"))
    return model


def autodiff_gradients(fn, variables, inputs):
    """Gradients of the scalar `fn(*inputs)` by the backend's own autodiff.

    Args:
        fn: callable taking backend tensors (one per entry of `inputs`) and
            returning a scalar tensor; it may read `variables`.
        variables: Keras variables to differentiate with respect to.
        inputs: float32 NumPy arrays to differentiate with respect to.

    Returns:
        `(variable_gradients, input_gradients)`, lists of float64 arrays.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def pure(values, xs):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*xs)

        grads = jax.grad(pure, argnums=(0, 1))([v.value for v in variables], [jax.numpy.asarray(x) for x in inputs])
    elif backend == "torch":
        import torch

        xs = [keras.ops.convert_to_tensor(x).detach().requires_grad_() for x in inputs]
        wrt = [v.value for v in variables] + xs
        flat = torch.autograd.grad(fn(*xs), wrt)
        grads = (flat[: len(variables)], flat[len(variables):])
    else:
        import tensorflow as tf

        xs = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            value = fn(*xs)
        flat = tape.gradient(value, [v.value for v in variables] + xs)
        grads = (flat[: len(variables)], flat[len(variables):])
    return tuple([to_numpy(g).astype(np.float64) for g in part] for part in grads)


def central_differences(fn, arrays, step=1e-6):
    """Float64 central differences of the scalar `fn(*arrays)` for every entry of every array."""
    arrays = [np.array(a, np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            saved = a[index]
            a[index] = saved + step
            up = fn(*arrays)
            a[index] = saved - step
            down = fn(*arrays)
            a[index] = saved
            g[index] = (up - down) / (2 * step)
        grads.append(g)
    return grads
