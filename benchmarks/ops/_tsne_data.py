"""Shared inputs of the t-SNE kernel benchmarks: a perplexity-30 problem on n points."""

from __future__ import annotations

import functools

import numpy as np

from latentforge import _C

PERPLEXITY = 30.0
K = 90  # 3 x perplexity neighbours, as lf.models.TSNE uses


@functools.cache
def problem(n: int, d: int = 50, seed: int = 0):
    """(X, neighbour indices, squared distances, P_cond, CSR P, a 2-D embedding Y)."""
    rng = np.random.default_rng([seed, n, d])
    centers = rng.standard_normal((10, d), dtype=np.float32) * np.float32(4.0)
    X = centers[rng.integers(0, 10, n)] + rng.standard_normal((n, d), dtype=np.float32)
    idx, dist = _C.knn(np.ascontiguousarray(X, dtype=np.float32), K)
    p_cond, _ = _C.tsne_perplexity(dist, PERPLEXITY)
    csr = _C.tsne_symmetrize(idx, p_cond, n)
    Y = rng.standard_normal((n, 2), dtype=np.float32) * np.float32(10.0)
    return X, idx, dist, p_cond, csr, Y
