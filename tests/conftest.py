"""Test configuration: full float32 matmul precision on every backend (as keras's own conftest)."""

import os

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

if BACKEND == "jax":
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")
elif BACKEND == "torch":
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
elif BACKEND == "tensorflow":
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session()


@pytest.fixture(autouse=True, scope="module")
def _fresh_compilation_caches():
    # JAX keeps every compiled executable of a process; the whole suite in one
    # process (three systems' tests) is kept from growing without bound.
    yield
    if BACKEND == "jax":
        jax.clear_caches()


@pytest.fixture
def tmp_dir(tmp_path):
    return os.fspath(tmp_path)


SEED_TESTS = os.environ.get("KERAS_ENGRAM_SEED_TESTS") == "1"
# The live tensorflow-engram comparison needs the seed package (TensorFlow
# only); `nox -s seed_reference` sets KERAS_ENGRAM_SEED_TESTS=1 and runs it.
collect_ignore = [] if SEED_TESTS else ["seed_reference"]


def pytest_report_header(config):
    seed = (
        "seed reference tests: ON"
        if SEED_TESTS
        else "seed reference tests: not collected here; `nox -s seed_reference` runs them"
    )
    return [f"keras {keras.__version__}, backend {BACKEND}, numpy {np.__version__}", seed]
