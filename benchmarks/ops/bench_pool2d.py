"""Kernel benchmark of ``pool2d`` (``csrc/ops/pool2d.h``): max and L2 pooling, forward + backward,
side by side with PyTorch CPU (``F.max_pool2d`` / ``F.lp_pool2d(p=2)`` and autograd) on the
issue's shape (128, 32, 28, 28), 2x2 stride 2, and the overlapping 3x3 stride 2 pad 1. PyTorch
runs with latentforge's thread count (``torch.set_num_threads``); its benchmarks are skipped when
torch is not installed. Compare ``min`` of the ``pool2d`` group rows (``ours`` vs ``torch``).

Work model: compulsory traffic. Max: x in and dx out (4 B per input element each), y and the
int32 argmax out then dy and argmax in (16 B per output). L2: x in twice (forward and backward),
dx out (12 B per input), y out, then dy and y in (12 B per output).
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C

SHAPE = (128, 32, 28, 28)
CASES = {"2x2/2": ((2, 2), (2, 2), (0, 0)), "3x3/2 p1": ((3, 3), (2, 2), (1, 1))}


def _data(case):
    k, s, p = CASES[case]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    y, _ = _C.max_pool2d_forward(x, k, s, p)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    return x, dy, k, s, p


def _nbytes(mode, x, dy):
    if mode == "max":
        return 8 * x.size + 16 * dy.size
    return 12 * x.size + 12 * dy.size


def _ours(mode, x, dy, k, s, p):
    hw = x.shape[2:]
    if mode == "max":
        def fn():
            _, argmax = _C.max_pool2d_forward(x, k, s, p)
            return _C.max_pool2d_backward(dy, argmax, hw, k, s, p)
    else:
        def fn():
            y = _C.l2_pool2d_forward(x, k, s, p)
            return _C.l2_pool2d_backward(dy, x, y, k, s, p)
    return fn


def _torch(mode, x, dy, k, s, p):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(lf.get_num_threads())
    xt = torch.from_numpy(x).requires_grad_(True)
    dyt = torch.from_numpy(dy)
    F = torch.nn.functional

    def fn():
        xt.grad = None
        if mode == "max":
            y = F.max_pool2d(xt, k, s, p)
        else:
            y = F.lp_pool2d(xt, 2, k, s)  # no padding argument in PyTorch
        y.backward(dyt)
        return xt.grad

    return fn


@pytest.mark.benchmark(group="pool2d")
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("mode", ["max", "l2"])
@pytest.mark.parametrize("impl", ["ours", "torch"])
def test_pool2d_forward_backward(benchmark, roofline, impl, mode, case):
    x, dy, k, s, p = _data(case)
    if mode == "l2" and p != (0, 0):
        if impl == "torch":
            pytest.skip("torch lp_pool2d has no padding")
    fn = (_ours if impl == "ours" else _torch)(mode, x, dy, k, s, p)
    fn()
    benchmark(fn)
    roofline(benchmark, "pool2d", f"{impl} {mode} fwd+bwd {case} {SHAPE}",
             nbytes=_nbytes(mode, x, dy))
