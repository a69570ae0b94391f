"""Validation of estimator hyper-parameters: the one place the models check them.

Each checker takes the value and the parameter's name, returns the value coerced to a plain
Python type, and raises :class:`InvalidParameterError` naming the parameter -- both a
``ValueError`` and a ``TypeError``, as scikit-learn's error of the same name, so that code
catching either works whether the value had the wrong kind (a string where a number goes) or
the right kind out of its range. Models call them from ``fit`` (scikit-learn's convention:
``__init__`` only stores), for every parameter on every fit, whichever code path the fit takes.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

#: Largest layer size, sample count or iteration count a model accepts: the native kernels index
#: with 32-bit ints, and far larger sizes could never be allocated anyway.
MAX_INT = 2**31 - 1
#: Largest magnitude of a real parameter that reaches float32 arithmetic (learning rates, decays).
F32_MAX = float(np.finfo(np.float32).max)


class InvalidParameterError(ValueError, TypeError):
    """A hyper-parameter of the wrong type or out of its range (the message names it)."""


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))


def _is_real(v: Any) -> bool:
    return (isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)))


def int_param(v: Any, name: str, *, low: int = 1, high: int = MAX_INT) -> int:
    """An int in ``[low, high]`` (bools are refused: ``True`` is not a size)."""
    if not _is_int(v):
        raise InvalidParameterError(f"{name} must be an int, got {v!r}")
    if not low <= v <= high:
        if high == MAX_INT:
            raise InvalidParameterError(f"{name} must be an int >= {low} (and at most "
                                        f"2**31 - 1), got {v!r}")
        raise InvalidParameterError(f"{name} must be an int in [{low}, {high}], got {v!r}")
    return int(v)


def real_param(v: Any, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False, limit: float = F32_MAX) -> float:
    """A finite real number of magnitude at most ``limit`` (float32's largest by default, since
    the value reaches float32 kernels) in the interval given by ``low``/``high``, each bound
    closed unless ``low_open``/``high_open``."""
    if not _is_real(v):
        raise InvalidParameterError(f"{name} must be a real number, got {v!r}")
    x = float(v)
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    interval = (f"{lo}{'-inf' if low is None else f'{low:g}'}, "
                f"{'inf' if high is None else f'{high:g}'}{hi}")
    if not np.isfinite(x):
        raise InvalidParameterError(f"{name} must be a finite number in {interval}, got {v!r}")
    if (low is not None and (x < low or (low_open and x == low))) or \
            (high is not None and (x > high or (high_open and x == high))):
        raise InvalidParameterError(f"{name} must be in {interval}, got {v!r}")
    if abs(x) > limit:
        raise InvalidParameterError(f"{name} must be at most {limit:.4g} in magnitude (it is "
                                    f"used in float32 arithmetic), got {v!r}")
    return x


def choice_param(v: Any, name: str, choices) -> Any:
    """One of ``choices`` (strings, compared by value, or None); any other value -- a name not
    among them, a number, an unhashable list -- is refused by name."""
    for c in choices:
        if v is c or (isinstance(c, str) and isinstance(v, str) and v == c):
            return c
    shown = ", ".join(repr(c) for c in choices)
    raise InvalidParameterError(f"{name} must be one of {shown}; got {v!r}")


def sizes_param(v: Any, name: str = "hidden", *, int_ok: bool = True,
                empty_ok: bool = False) -> tuple[int, ...]:
    """Layer sizes: a sequence (list, tuple or 1-D array) of ints in ``[1, 2**31 - 1]``,
    non-empty unless ``empty_ok``, or one such int when ``int_ok``. Strings, mappings, sets and
    iterators are refused (a size list is ordered and can be read twice)."""
    seq = "a sequence of positive ints" if empty_ok else "a non-empty sequence of positive ints"
    what = f"a positive int or {seq}" if int_ok else seq
    bad = f"{name} must be {what} (each at most 2**31 - 1), got {v!r}"
    if _is_int(v) and int_ok:
        sizes = [v]
    elif isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim == 1):
        sizes = list(v)
    else:
        raise InvalidParameterError(bad)
    if not sizes and not empty_ok:
        raise InvalidParameterError(bad)
    for i, s in enumerate(sizes):
        if not _is_int(s) or not 1 <= s <= MAX_INT:
            raise InvalidParameterError(bad if len(sizes) == 1 and sizes[0] is v
                                        else f"{bad}: {name}[{i}] = {s!r}")
    return tuple(int(s) for s in sizes)


def dict_param(v: Any, name: str, *, allowed=None, forbidden=(), none_ok: bool = True) -> dict:
    """A mapping of keyword arguments (``None`` gives ``{}`` when ``none_ok``). Keys must be
    strings; keys outside ``allowed`` (when given) or in ``forbidden`` are refused by name."""
    if v is None and none_ok:
        return {}
    if not isinstance(v, Mapping):
        alt = " or None" if none_ok else ""
        raise InvalidParameterError(f"{name} must be a dict of parameters{alt}, got {v!r}")
    out = dict(v)
    bad = [k for k in out if not isinstance(k, str)]
    if bad:
        raise InvalidParameterError(f"{name} keys must be parameter names (str), got {bad[0]!r}")
    clash = sorted(set(forbidden) & set(out))
    if clash:
        raise InvalidParameterError(f"{name} must not set {clash}: the model sets them")
    if allowed is not None:
        unknown = sorted(set(out) - set(allowed))
        if unknown:
            valid = sorted(set(allowed) - set(forbidden))
            raise InvalidParameterError(f"{name} has unknown parameter(s) {unknown}; valid "
                                        f"ones are {valid}")
    return out
