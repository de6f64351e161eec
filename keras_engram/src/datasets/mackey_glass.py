"""The Mackey-Glass series: a classic chaotic time series, computed (no download)."""

import numpy as np

from keras_engram.src import validation

# The classic parameters: dx/dt = BETA x(t - tau) / (1 + x(t - tau)^POWER) - GAMMA x(t).
BETA, GAMMA, POWER = 0.2, 0.1, 10.0
INITIAL = 1.2
STEP = 0.1  # integration step; the series is read every `1 / STEP` steps (every time unit)


def mackey_glass_series(length, tau=17, discard=500):
    """The Mackey-Glass series sampled once per time unit, `(length,)` float64.

    Integrated with the classic fourth-order Runge-Kutta method at a step of
    0.1 time units, from `x = 1.2` with the constant history `x(t) = 1.2` for
    `t <= 0`; the delayed value at a half step is the mean of the two
    neighbouring grid values. The first `discard` time units (the transient)
    are dropped.

    Args:
        length: positive int, samples returned.
        tau: positive int, the delay (17 is the classic chaotic setting).
        discard: int >= 0, time units dropped at the start.

    Returns:
        float64 array `(length,)`.

    Example:

    >>> from keras_engram.datasets import mackey_glass_series
    >>> x = mackey_glass_series(1000)
    >>> x.shape, bool(0.2 < x.min() < x.max() < 1.5)
    ((1000,), True)
    """
    length = validation.positive_int("length", length)
    tau = validation.positive_int("tau", tau)
    if not isinstance(discard, (int, np.integer)) or isinstance(discard, bool) or discard < 0:
        raise ValueError(f"Expected `discard` to be an int >= 0. Received: discard={discard!r}")
    per_unit = int(round(1.0 / STEP))
    delay = tau * per_unit
    total = (discard + length) * per_unit
    x = np.empty(delay + total + 1)
    x[: delay + 1] = INITIAL

    def slope(current, delayed):
        return BETA * delayed / (1.0 + delayed**POWER) - GAMMA * current

    for i in range(delay, delay + total):
        now, lagged, lagged_next = x[i], x[i - delay], x[i - delay + 1]
        lagged_half = 0.5 * (lagged + lagged_next)
        k1 = slope(now, lagged)
        k2 = slope(now + 0.5 * STEP * k1, lagged_half)
        k3 = slope(now + 0.5 * STEP * k2, lagged_half)
        k4 = slope(now + STEP * k3, lagged_next)
        x[i + 1] = now + STEP * (k1 + 2 * k2 + 2 * k3 + k4) / 6.0
    return x[delay + discard * per_unit :: per_unit][:length].copy()


def load_mackey_glass(samples=3000, horizon=1, tau=17, test_size=0.2):
    """Loads the Mackey-Glass series as one-reading-per-step forecasting data, split in time.

    The series is `mackey_glass_series(samples + horizon, tau)`, standardized
    with the mean and standard deviation of its training part. Step `t`'s
    input is the reading `x(t)`, its target `x(t + horizon)`. One reading
    does not tell whether the series is rising or falling, so a model needs
    memory of the steps before it. The split is in time: the first
    `1 - test_size` of the steps train, the rest test (a model that carries
    memory predicts the test part continuing from the end of training).

    Args:
        samples: positive int, steps in all (train and test).
        horizon: positive int, how many steps ahead the target is.
        tau: positive int, the delay of the equation.
        test_size: float in (0, 1), share of the test part.

    Returns:
        `(x_train, y_train), (x_test, y_test)`, float32 arrays of shape
        `(steps, 1)`.

    Example:

    >>> from keras_engram.datasets import load_mackey_glass
    >>> (x_train, y_train), (x_test, y_test) = load_mackey_glass(samples=1000)
    >>> x_train.shape, y_test.shape
    ((800, 1), (200, 1))
    """
    samples = validation.positive_int("samples", samples)
    horizon = validation.positive_int("horizon", horizon)
    validation.float_in_range("test_size", test_size, 0.0, 1.0)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"Expected `test_size` in (0, 1). Received: test_size={test_size}")
    series = mackey_glass_series(samples + horizon, tau=tau)
    split = samples - int(round(samples * test_size))
    if split < 1 or split >= samples:
        raise ValueError(
            f"Expected `samples` and `test_size` that leave steps on both sides of the split. "
            f"Received: samples={samples}, test_size={test_size}"
        )
    mean, std = series[:split].mean(), series[:split].std()
    scaled = ((series - mean) / std).astype("float32")
    x, y = scaled[:samples, None], scaled[horizon : samples + horizon, None]
    return (x[:split], y[:split]), (x[split:], y[split:])
