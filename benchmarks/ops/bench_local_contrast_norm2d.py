"""Kernel benchmark of ``local_contrast_norm2d`` (``csrc/ops/local_contrast_norm2d.h``): forward,
and forward + backward, on (64, 8, 26, 26) (the maps after a first conv layer on 28x28 digits)
and (64, 1, 28, 28) (the images themselves), window 5 (sigma 1.25), side by side with the same
computation written in PyTorch CPU: ``conv2d`` with the Gaussian kernel spread across the maps
(weights w / C), the border normaliser Z = conv2d(ones) computed once outside the timed
function, ``sqrt``, ``mean``, ``maximum`` / ``clamp`` and torch autograd for the backward.
PyTorch runs with latentforge's thread count (``torch.set_num_threads``); its benchmarks are
skipped when torch is not installed. Compare ``min`` of the rows of a group (``ours`` vs
``torch``).

Work model: compulsory traffic. Forward: x in, y out (8 B per element) and the (N, H, W)
statistics out; backward: dy and x in, dx out (12 B per element) and the statistics in.
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C

SHAPES = {"8x26x26": (64, 8, 26, 26), "1x28x28": (64, 1, 28, 28)}
SIZE, SIGMA, EPS = 5, 1.25, 1e-4


def _data(shape):
    rng = np.random.default_rng(0)
    return (rng.standard_normal(shape, dtype=np.float32),
            rng.standard_normal(shape, dtype=np.float32))


def _nbytes(shape, part):
    n, c, h, w = shape
    per, stats = (8, 8) if part == "fwd" else (20, 16)
    return per * n * c * h * w + stats * n * h * w


def _ours(x, dy, part):
    if part == "fwd":
        return lambda: _C.local_contrast_norm2d_forward(x, SIZE, SIGMA, EPS)

    def fn():
        _, m, s, c = _C.local_contrast_norm2d_forward(x, SIZE, SIGMA, EPS)
        return _C.local_contrast_norm2d_backward(dy, x, m, s, c, SIZE, SIGMA, EPS)

    return fn


def _torch(x, dy, part):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(lf.get_num_threads())
    F = torch.nn.functional
    n, C, H, W = x.shape
    p = np.arange(SIZE) - SIZE // 2
    g = np.exp(-p * p / (2 * SIGMA * SIGMA))
    w2 = np.outer(g, g) / np.outer(g, g).sum()
    k = torch.from_numpy(np.repeat(w2[None, None] / C, C, axis=1).astype(np.float32))
    Z = F.conv2d(torch.ones(1, C, H, W), k, padding=SIZE // 2)  # the renormalised border
    xt = torch.from_numpy(x).requires_grad_(part != "fwd")
    dyt = torch.from_numpy(dy)

    def lcn(t):
        m = F.conv2d(t, k, padding=SIZE // 2) / Z
        v = t - m
        s = torch.sqrt(F.conv2d(v * v, k, padding=SIZE // 2) / Z)
        c = s.mean(dim=(1, 2, 3), keepdim=True)
        return v / torch.clamp(torch.maximum(c, s), min=EPS)

    if part == "fwd":
        def fwd():
            with torch.no_grad():
                return lcn(xt)
        return fwd

    def fn():
        xt.grad = None
        lcn(xt).backward(dyt)
        return xt.grad

    return fn


@pytest.mark.benchmark(group="local_contrast_norm2d")
@pytest.mark.parametrize("part", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("impl", ["ours", "torch"])
def test_local_contrast_norm2d(benchmark, roofline, impl, shape, part):
    x, dy = _data(SHAPES[shape])
    fn = (_ours if impl == "ours" else _torch)(x, dy, part)
    fn()
    benchmark(fn)
    roofline(benchmark, "local_contrast_norm2d",
             f"{impl} {part} {SHAPES[shape]} k{SIZE} ({lf.get_num_threads()} thr)",
             nbytes=_nbytes(SHAPES[shape], part))
