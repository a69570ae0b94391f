"""Kernel benchmark of ``philox`` (``csrc/ops/philox.h``): counter-based Philox 4x32-10 draws.

Work model: the bytes written (4 per float32 draw; Bernoulli also reads p). Philox is integer
work (ten rounds of two 32x32->64 multiplies per four draws), which the FLOP roof does not
count: a low fraction of the memory roof means the generator, not memory, is the limit.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

N = 1 << 22  # 4 Mi draws


@pytest.mark.benchmark(group="philox")
def test_uniform(benchmark, roofline):
    fn = lambda: _C.uniform(N, 1234, 0)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "philox", f"uniform {N} floats", nbytes=4 * N)


@pytest.mark.benchmark(group="philox")
def test_bernoulli(benchmark, roofline):
    p = np.random.default_rng(0).random(N, dtype=np.float32)
    fn = lambda: _C.bernoulli(p, 1234, 1)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "philox", f"bernoulli {N} floats", nbytes=8 * N)
