"""Kernel benchmark of ``elementwise`` (``csrc/ops/elementwise.h``): activations and row softmax.

Memory-bound ops: the work model is the compulsory traffic, 4 bytes per float read or written
(forward: x in, y out; backward: dy and y in, dx out). Each call returns a new array, so the
time includes the output's allocation, as in the library's use.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

ROWS, COLS = 1024, 2048  # 2 Mi floats, 8 MiB per array


def _x(seed=0):
    return np.random.default_rng(seed).standard_normal((ROWS, COLS), dtype=np.float32)


@pytest.mark.benchmark(group="elementwise")
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_activation_forward(benchmark, roofline, act):
    x, code = _x(), getattr(_C.Activation, act)
    fn = lambda: _C.activation_forward(x, code)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "elementwise", f"{act} forward {ROWS}x{COLS}", nbytes=8 * x.size)


@pytest.mark.benchmark(group="elementwise")
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_activation_backward(benchmark, roofline, act):
    code = getattr(_C.Activation, act)
    y = _C.activation_forward(_x(), code)
    dy = _x(1)
    fn = lambda: _C.activation_backward(dy, y, code)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "elementwise", f"{act} backward {ROWS}x{COLS}", nbytes=12 * y.size)


@pytest.mark.benchmark(group="elementwise")
def test_softmax_rows(benchmark, roofline):
    x = _x()
    fn = lambda: _C.softmax_rows(x)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "elementwise", f"softmax forward {ROWS}x{COLS}", nbytes=8 * x.size)


@pytest.mark.benchmark(group="elementwise")
def test_softmax_rows_backward(benchmark, roofline):
    y, dy = _C.softmax_rows(_x()), _x(1)
    fn = lambda: _C.softmax_rows_backward(dy, y)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "elementwise", f"softmax backward {ROWS}x{COLS}", nbytes=12 * y.size)
