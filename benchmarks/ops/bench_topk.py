"""Kernel benchmark of ``topk`` (``csrc/ops/topk.h``): row-wise top-k (k-sparse activations).

Work model: compulsory traffic. Forward: x in (4 B), y (4 B) and the uint8 mask (1 B) out per
element; backward: dy and the mask in, dx out (9 B per element).
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

ROWS, COLS, K = 1000, 1000, 25


@pytest.mark.benchmark(group="topk")
def test_topk_rows(benchmark, roofline):
    x = np.random.default_rng(0).standard_normal((ROWS, COLS), dtype=np.float32)
    fn = lambda: _C.topk_rows(x, K)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "topk", f"forward {ROWS}x{COLS} k={K}", nbytes=9 * x.size)


@pytest.mark.benchmark(group="topk")
def test_topk_rows_backward(benchmark, roofline):
    rng = np.random.default_rng(1)
    _, mask = _C.topk_rows(rng.standard_normal((ROWS, COLS), dtype=np.float32), K)
    dy = rng.standard_normal((ROWS, COLS), dtype=np.float32)
    fn = lambda: _C.topk_rows_backward(dy, mask)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "topk", f"backward {ROWS}x{COLS} k={K}", nbytes=9 * dy.size)
