"""scikit-learn's breast cancer data read as sequences: 3 steps of 10 measurements."""

import numpy as np

from keras_engram.src import validation


def load_breast_cancer(test_size=0.25, seed=0):
    """Loads scikit-learn's breast cancer data as `(x, y)` sequences: 3 steps of 10 features.

    The data ship inside scikit-learn (569 tumours, no download). Each tumour
    has 10 measurements of its cell nuclei (radius, texture, perimeter, area,
    ...), each summarized three ways: the mean, the standard error and the
    worst value; the sequence is those three summaries in that order. The
    split is stratified, and every feature is standardized with the mean and
    standard deviation of the training split. The label is 0 for malignant,
    1 for benign (scikit-learn's coding).

    Args:
        test_size: float in (0, 1), share of the test split.
        seed: int, seed of the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`; `x` is float32 `(n, 3, 10)`,
        `y` int64 `(n,)`.

    Raises:
        ImportError: scikit-learn is not installed.

    Example:

    >>> from keras_engram.datasets import load_breast_cancer
    >>> (x_train, y_train), (x_test, y_test) = load_breast_cancer()
    >>> x_train.shape, x_test.shape
    ((426, 3, 10), (143, 3, 10))
    """
    try:
        from sklearn.datasets import load_breast_cancer as sklearn_breast_cancer
        from sklearn.model_selection import train_test_split
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "load_breast_cancer needs scikit-learn: `pip install scikit-learn` "
            "(or `pip install keras-engram[dev]`)."
        ) from error
    validation.float_in_range("test_size", test_size, 0.0, 1.0)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"Expected `test_size` in (0, 1). Received: test_size={test_size}")
    validation.optional_int("seed", seed)
    data = sklearn_breast_cancer()
    # scikit-learn orders the 30 columns as 10 means, 10 standard errors, 10 worst values.
    x = data.data.reshape(-1, 3, 10)
    y = data.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    x_train = ((x_train - mean) / std).astype("float32")
    x_test = ((x_test - mean) / std).astype("float32")
    return (x_train, y_train), (x_test, np.asarray(y_test))
