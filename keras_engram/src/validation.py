"""Argument checks that raise Keras-style errors: "Expected ... Received: arg=..."."""

import numbers

import numpy as np


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Expected `{name}` to be a positive integer. Received: {name}={value!r}"
        )
    if value <= 0:
        raise ValueError(
            f"Expected `{name}` to be a positive integer. Received: {name}={value}"
        )
    return int(value)


def float_in_range(name, value, low, high):
    """A real number in the closed interval [low, high] (None = unbounded)."""
    if not _is_number(value):
        raise TypeError(f"Expected `{name}` to be a float. Received: {name}={value!r}")
    value = float(value)
    if value != value or (low is not None and value < low) or (
        high is not None and value > high
    ):
        bounds = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(
            f"Expected `{name}` to be in {bounds}. Received: {name}={value}"
        )
    return value


def positive_float(name, value, allow_none=False):
    if value is None and allow_none:
        return None
    if not _is_number(value):
        raise TypeError(
            f"Expected `{name}` to be a positive float. Received: {name}={value!r}"
        )
    value = float(value)
    if not value > 0 or value == float("inf"):
        raise ValueError(
            f"Expected `{name}` to be a positive, finite float. Received: {name}={value}"
        )
    return value


def finite_float(name, value):
    if not _is_number(value):
        raise TypeError(f"Expected `{name}` to be a finite float. Received: {name}={value!r}")
    if value != value or abs(value) == float("inf"):
        raise ValueError(f"Expected `{name}` to be a finite float. Received: {name}={value!r}")
    return float(value)


def rate(name, value):
    """A dropout-style rate: a float in [0, 1)."""
    value = float_in_range(name, value, 0.0, 1.0)
    if value >= 1.0:
        raise ValueError(f"Expected `{name}` to be in [0, 1). Received: {name}={value}")
    return value


def boolean(name, value):
    """A Python or NumPy bool, returned as `bool`."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Expected `{name}` to be a bool. Received: {name}={value!r}")
    return bool(value)


def optional_int(name, value):
    """An int (not a bool) or None, such as a seed."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise TypeError(f"Expected `{name}` to be an int or None. Received: {name}={value!r}")
    return None if value is None else int(value)


def one_of(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Expected `{name}` to be one of {sorted(choices)}. Received: {name}={value!r}"
        )
    return value


def non_negative_int(name, value):
    """An int >= 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"Expected `{name}` to be a non-negative integer. Received: {name}={value!r}"
        )
    if value < 0:
        raise ValueError(
            f"Expected `{name}` to be a non-negative integer. Received: {name}={value}"
        )
    return int(value)
