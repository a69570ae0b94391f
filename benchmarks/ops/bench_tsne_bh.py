"""Kernel benchmark of ``tsne_bh`` (``csrc/ops/tsne_bh.h``): the reference t-SNE gradients.

* exact, O(n^2): work model 13 FLOP per ordered pair (difference 2, squared distance 3, kernel
  w = 1/(1 + d^2) 2, Z 1, repulsion w^2 dx, w^2 dy 5; the attraction over P's non-zeros is not
  counted), in double precision and scalar, against the float32 SIMD roof; traffic: P (n^2
  floats) in.
* per-point Barnes-Hut (theta = 0.5): the tree walk's interactions are not exposed, so the work
  model is the compulsory traffic only (Y and the CSR P in, the gradient out): the fraction of
  the memory roof says how far from streaming speed it runs.
"""

from __future__ import annotations

import numpy as np
import pytest
from _tsne_data import problem

from latentforge import _C

N_EXACT = 2048
N_BH = 8192


@pytest.mark.benchmark(group="tsne_bh")
def test_tsne_gradient_exact(benchmark, roofline):
    _, _, _, _, (indptr, indices, pvals), Y = problem(N_EXACT)
    P = np.zeros((N_EXACT, N_EXACT), dtype=np.float32)
    P[np.repeat(np.arange(N_EXACT), np.diff(indptr)), indices] = pvals
    fn = lambda: _C.tsne_gradient_exact(Y, P, 1.0, False)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "tsne_bh", f"exact n={N_EXACT}", flops=13 * N_EXACT * (N_EXACT - 1),
             nbytes=4 * N_EXACT * N_EXACT + 16 * N_EXACT)


@pytest.mark.benchmark(group="tsne_bh")
def test_tsne_gradient_bh(benchmark, roofline):
    _, _, _, _, (indptr, indices, pvals), Y = problem(N_BH)
    fn = lambda: _C.tsne_gradient_bh(Y, indptr, indices, pvals, 0.5, 1.0, False)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "tsne_bh", f"Barnes-Hut theta=0.5 n={N_BH}",
             nbytes=16 * N_BH + 8 * (N_BH + 1) + 12 * indices.size)
