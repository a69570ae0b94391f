"""Kernel benchmark of ``gemm`` (``csrc/ops/gemm.h``): C = act(alpha op(A) op(B) + beta C + bias).

Work model: 2 M N K FLOP (the epilogue is not counted); compulsory traffic 4 (M K + K N + M N)
bytes (+ 4 N for the bias).
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

SHAPES = {  # (M, K, N)
    "square 512": (512, 512, 512),
    "square 1024": (1024, 1024, 1024),
    "mlp 128x784 @ 784x1000": (128, 784, 1000),
    "grad 784x128 @ 128x1000": (784, 128, 1000),
}


def _operands(m, k, n, seed=0):
    rng = np.random.default_rng([seed, m, k, n])
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32) / np.float32(np.sqrt(k))
    return a, b


@pytest.mark.benchmark(group="gemm")
@pytest.mark.parametrize("case", list(SHAPES))
def test_gemm(benchmark, roofline, case):
    m, k, n = SHAPES[case]
    a, b = _operands(m, k, n)
    c = np.empty((m, n), dtype=np.float32)
    fn = lambda: _C.gemm(a, b, c)  # noqa: E731 - overwrite C in place: no allocation timed
    fn()
    benchmark(fn)
    roofline(benchmark, "gemm", case, flops=2 * m * n * k, nbytes=4 * (m * k + k * n + m * n))


@pytest.mark.benchmark(group="gemm")
@pytest.mark.parametrize("trans", ["A^T B", "A B^T"])
def test_gemm_transposed(benchmark, roofline, trans):
    m, k, n = 512, 512, 512
    a, b = _operands(m, k, n)
    ta, tb = trans == "A^T B", trans == "A B^T"
    a = np.ascontiguousarray(a.T) if ta else a
    b = np.ascontiguousarray(b.T) if tb else b
    c = np.empty((m, n), dtype=np.float32)
    fn = lambda: _C.gemm(a, b, c, ta, tb)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "gemm", f"512^3 {trans}", flops=2 * m * n * k,
             nbytes=4 * (m * k + k * n + m * n))


@pytest.mark.benchmark(group="gemm")
def test_linear_sigmoid(benchmark, roofline):
    m, k, n = 128, 784, 1000
    x, w = _operands(m, k, n)
    bias = np.linspace(-0.1, 0.1, n, dtype=np.float32)
    c = np.empty((m, n), dtype=np.float32)
    act = _C.Activation.sigmoid
    fn = lambda: _C.gemm(x, w, c, False, False, 1.0, 0.0, bias, act)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "gemm", "linear+sigmoid 128x784 @ 784x1000", flops=2 * m * n * k,
             nbytes=4 * (m * k + k * n + m * n + n))
