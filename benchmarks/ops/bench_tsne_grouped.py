"""Kernel benchmark of ``tsne_grouped`` (``csrc/ops/tsne_grouped.h``): the grouped Barnes-Hut
t-SNE gradient with SIMD evaluation, and the fused optimiser step.

Work model: 14 FLOP per evaluated interaction (``TsneBarnesHut.last_interactions``, counted in
the kernel ``ops/tsne_grouped_kernel_<isa>.cpp``: dx, dy 2; 1 + dx^2 + dy^2 as two FMAs 4; the
division 1; m q, m q^2 2; z 1; the two force FMAs 4); the tree build and the attraction over
P's non-zeros are not counted. Traffic: Y and the CSR P in, the gradient out (the step
reads and writes Y, update and gains, float64, instead).
"""

from __future__ import annotations

import numpy as np
import pytest
from _tsne_data import problem

from latentforge import _C

N = 8192
FLOP_PER_INTERACTION = 14


def _bytes(nnz: int) -> int:
    return 16 * N + 8 * (N + 1) + 12 * nnz


@pytest.mark.benchmark(group="tsne_grouped")
def test_tsne_grouped_gradient(benchmark, roofline):
    _, _, _, _, csr, Y = problem(N)
    bh = _C.TsneBarnesHut(*csr)
    fn = lambda: bh.gradient(Y, 0.5, 1.0, False)  # noqa: E731
    fn()
    benchmark(fn)
    inter = bh.last_interactions
    roofline(benchmark, "tsne_grouped", f"gradient theta=0.5 n={N}",
             flops=FLOP_PER_INTERACTION * inter, nbytes=_bytes(csr[1].size))


@pytest.mark.benchmark(group="tsne_grouped")
def test_tsne_grouped_step(benchmark, roofline):
    _, _, _, _, csr, Y0 = problem(N)
    bh = _C.TsneBarnesHut(*csr)
    Y = Y0.astype(np.float64)  # the optimiser state is float64
    update, gains = np.zeros_like(Y), np.ones_like(Y)
    # A tiny learning rate keeps Y (and so the tree and the work) as it is across rounds.
    fn = lambda: bh.step(Y, update, gains, 0.5, 1.0, 0.5, 1e-6)  # noqa: E731
    fn()
    benchmark(fn)
    inter = bh.last_interactions
    roofline(benchmark, "tsne_grouped", f"step theta=0.5 n={N}",
             flops=FLOP_PER_INTERACTION * inter, nbytes=_bytes(csr[1].size) + 3 * 2 * 16 * N)
