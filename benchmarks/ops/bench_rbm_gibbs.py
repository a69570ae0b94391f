"""Kernel benchmark of ``rbm_gibbs`` (``csrc/ops/rbm_gibbs.h``): the fused sigmoid + Bernoulli
Gibbs step and the RBM free energy.

Work model: compulsory traffic. Gibbs step: z in, p and s out (12 B per unit). Free energy:
V (rows x visible) and Z (rows x hidden) in, F out.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

BATCH, VISIBLE, HIDDEN = 1000, 784, 500


@pytest.mark.benchmark(group="rbm_gibbs")
def test_sigmoid_bernoulli(benchmark, roofline):
    z = np.random.default_rng(0).standard_normal((BATCH, HIDDEN * 4), dtype=np.float32)
    fn = lambda: _C.sigmoid_bernoulli(z, 7, 0)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "rbm_gibbs", f"sigmoid+bernoulli {z.shape[0]}x{z.shape[1]}",
             nbytes=12 * z.size)


@pytest.mark.benchmark(group="rbm_gibbs")
def test_free_energy(benchmark, roofline):
    rng = np.random.default_rng(1)
    v = (rng.random((BATCH, VISIBLE), dtype=np.float32) < 0.3).astype(np.float32)
    b_v = rng.standard_normal(VISIBLE, dtype=np.float32) * np.float32(0.01)
    z = rng.standard_normal((BATCH, HIDDEN), dtype=np.float32)
    fn = lambda: _C.rbm_free_energy(v, b_v, z)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "rbm_gibbs", f"free energy {BATCH}x{VISIBLE}, {HIDDEN} hidden",
             nbytes=4 * (v.size + z.size + VISIBLE + BATCH))
