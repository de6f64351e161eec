"""Argument checks that raise Keras-style errors: "Expected ... Received: arg=..."."""

import numbers


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
    if not _is_number(value) or value != value or abs(value) == float("inf"):
        raise ValueError(f"Expected `{name}` to be a finite float. Received: {name}={value!r}")
    return float(value)


def one_of(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"Expected `{name}` to be one of {sorted(choices)}. Received: {name}={value!r}"
        )
    return value
