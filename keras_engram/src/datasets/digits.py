"""scikit-learn's handwritten digits (8 x 8) read as sequences of 8 rows."""

import numpy as np

from keras_engram.src import validation


def load_digits(test_size=0.25, seed=0):
    """Loads scikit-learn's digits as `(x, y)` sequences: 8 steps of 8 features.

    The data ship inside scikit-learn (1,797 images, no download). Pixels are
    scaled to [0, 1] (divided by 16) and the split is stratified.

    Args:
        test_size: float in (0, 1), share of the test split.
        seed: int, seed of the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`; `x` is float32 `(n, 8, 8)`,
        `y` int64 `(n,)`.

    Raises:
        ImportError: scikit-learn is not installed.

    Example:

    >>> from keras_engram.datasets import load_digits
    >>> (x_train, y_train), (x_test, y_test) = load_digits()
    >>> x_train.shape, x_test.shape
    ((1347, 8, 8), (450, 8, 8))
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "load_digits needs scikit-learn: `pip install scikit-learn` "
            "(or `pip install keras-engram[dev]`)."
        ) from error
    validation.float_in_range("test_size", test_size, 0.0, 1.0)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"Expected `test_size` in (0, 1). Received: test_size={test_size}")
    validation.optional_int("seed", seed)
    digits = sklearn_digits()
    x = (digits.images / 16.0).astype("float32")
    y = digits.target.astype("int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    return (x_train, y_train), (x_test, np.asarray(y_test))
