"""Kernel benchmark of ``optim`` (``csrc/ops/optim.h``): fused in-place optimizer updates.

Memory-bound: the work model is the compulsory traffic per parameter, 4 bytes per float32
array read or written (SGD: p, g in, p out = 12 B; momentum: + the buffer in and out = 20 B;
Adam: p, g, m, v in, p, m, v out = 28 B; max-norm: W in and out = 8 B).
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

N = 1 << 21  # 2 Mi parameters (8 MiB per array)


def _arrays(k, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(N, dtype=np.float32) * np.float32(0.01) for _ in range(k)]


@pytest.mark.benchmark(group="optim")
def test_sgd(benchmark, roofline):
    p, g = _arrays(2)
    fn = lambda: _C.optim_sgd(p, g, 1e-6)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "optim", f"sgd {N} params", nbytes=12 * N)


@pytest.mark.benchmark(group="optim")
def test_momentum(benchmark, roofline):
    p, g, b = _arrays(3)
    fn = lambda: _C.optim_momentum(p, g, b, 1e-6, 0.9)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "optim", f"momentum {N} params", nbytes=20 * N)


@pytest.mark.benchmark(group="optim")
def test_adam(benchmark, roofline):
    p, g, m = _arrays(3)
    v = np.abs(_arrays(1, seed=1)[0])
    fn = lambda: _C.optim_adam(p, g, m, v, 10, 1e-6, 0.9, 0.999, 1e-8)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "optim", f"adam {N} params", nbytes=28 * N)


@pytest.mark.benchmark(group="optim")
def test_max_norm(benchmark, roofline):
    w = _arrays(1)[0].reshape(1024, N // 1024)
    fn = lambda: _C.optim_max_norm(w, 1e6, 1)  # noqa: E731 - a bound no row reaches: W kept
    fn()
    benchmark(fn)
    roofline(benchmark, "optim", f"max-norm {w.shape[0]}x{w.shape[1]}", nbytes=8 * N)
