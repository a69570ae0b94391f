"""Kernel benchmark of ``knn`` (``csrc/ops/knn.h``): exact k nearest neighbours through the GEMM.

Work model: the distance GEMM over all n^2 pairs, 2 n^2 d FLOP (the heap selection is not
counted); compulsory traffic: X in, indices (8 B) and distances (4 B) out.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

CASES = {"n=4096 d=50 k=90": (4096, 50, 90), "n=2048 d=784 k=10": (2048, 784, 10)}


@pytest.mark.benchmark(group="knn")
@pytest.mark.parametrize("case", list(CASES))
def test_knn(benchmark, roofline, case):
    n, d, k = CASES[case]
    x = np.random.default_rng(0).standard_normal((n, d), dtype=np.float32)
    fn = lambda: _C.knn(x, k)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "knn", case, flops=2 * n * n * d, nbytes=4 * n * d + 12 * n * k)
