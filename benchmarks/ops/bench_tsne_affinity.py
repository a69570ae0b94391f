"""Kernel benchmark of ``tsne_affinity`` (``csrc/ops/tsne_affinity.h``): per-point perplexity
calibration (a bisection on each point's precision over its k neighbour distances).

Work model: compulsory traffic only, D in and P out (4 B each per neighbour) plus beta; the
bisection's exp evaluations (tens of passes over each row) are not counted, so the fraction
of the memory roof is low by construction: it says how far from streaming speed it runs.
"""

from __future__ import annotations

import pytest
from _tsne_data import PERPLEXITY, K, problem

from latentforge import _C

N = 8192


@pytest.mark.benchmark(group="tsne_affinity")
def test_tsne_perplexity(benchmark, roofline):
    _, _, dist, _, _, _ = problem(N)
    fn = lambda: _C.tsne_perplexity(dist, PERPLEXITY)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "tsne_affinity", f"n={N} k={K}", nbytes=8 * N * K + 8 * N)
