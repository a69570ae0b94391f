"""Kernel benchmark of ``tsne_symmetrize`` (``csrc/ops/tsne_symmetrize.h``): the CSR of
P = (P_cond + P_cond^T) / 2n from the kNN graph.

Work model: compulsory traffic: indices (8 B) and P_cond (4 B) in per neighbour, the CSR
(indptr 8 B per row, indices 8 B and values 4 B per non-zero) out.
"""

from __future__ import annotations

import pytest
from _tsne_data import K, problem

from latentforge import _C

N = 8192


@pytest.mark.benchmark(group="tsne_symmetrize")
def test_tsne_symmetrize(benchmark, roofline):
    _, idx, _, p_cond, csr, _ = problem(N)
    nnz = csr[1].size
    fn = lambda: _C.tsne_symmetrize(idx, p_cond, N)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "tsne_symmetrize", f"n={N} k={K} nnz={nnz}",
             nbytes=12 * N * K + 8 * (N + 1) + 12 * nnz)
