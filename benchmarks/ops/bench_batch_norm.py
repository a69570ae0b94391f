"""Kernel benchmark of ``batch_norm`` (``csrc/ops/batch_norm.h``): training forward + backward
of a BatchNorm2d on (128, 64, 16, 16), ours (``_C``) and PyTorch CPU side by side.

Work model: compulsory traffic. Forward: x in, y out (8 B per element); backward: dy and x in,
dx out (12 B per element); 20 B per element for the pair (the second pass over a channel is
served from the cache). Compare the two at the same thread count (``lf.set_num_threads`` /
``torch.set_num_threads``; e.g. ``OMP_NUM_THREADS=2``).
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C

SHAPE = (128, 64, 16, 16)


def _data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32) * 2 + 1
    dy = rng.standard_normal(SHAPE, dtype=np.float32)
    c = SHAPE[1]
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    return x, dy, gamma, beta


@pytest.mark.benchmark(group="batch_norm train fwd+bwd (128,64,16,16)")
def test_batch_norm2d_train_fwd_bwd(benchmark, roofline):
    x, dy, gamma, beta = _data()
    rm, rv = np.zeros(SHAPE[1], np.float32), np.ones(SHAPE[1], np.float32)

    def fn():
        _, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5)
        return _C.batch_norm_backward_train(dy, x, mean, invstd, gamma)

    fn()
    benchmark(fn)
    roofline(benchmark, "batch_norm", f"train fwd+bwd {SHAPE} ({lf.get_num_threads()} thr)",
             nbytes=20 * x.size)


@pytest.mark.benchmark(group="batch_norm train fwd+bwd (128,64,16,16)")
def test_batch_norm2d_train_fwd_bwd_torch(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(lf.get_num_threads())
    x, dy, gamma, beta = _data()
    tx = torch.tensor(x, requires_grad=True)
    tg, tb = torch.tensor(gamma, requires_grad=True), torch.tensor(beta, requires_grad=True)
    rm, rv = torch.zeros(SHAPE[1]), torch.ones(SHAPE[1])
    tdy = torch.tensor(dy)

    def fn():
        tx.grad = tg.grad = tb.grad = None
        y = torch.nn.functional.batch_norm(tx, rm, rv, tg, tb, training=True, momentum=0.1,
                                           eps=1e-5)
        y.backward(tdy)

    fn()
    benchmark(fn)


@pytest.mark.benchmark(group="batch_norm (128,64,16,16) parts")
@pytest.mark.parametrize("part", ["forward_train", "backward_train", "forward_eval"])
def test_batch_norm2d_parts(benchmark, roofline, part):
    x, dy, gamma, beta = _data()
    c = SHAPE[1]
    _, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, None, None, 0.1, 1e-5)
    var = np.ones(c, np.float32)
    fns = {
        "forward_train": (lambda: _C.batch_norm_forward_train(x, gamma, beta, None, None, 0.1,
                                                              1e-5), 8),
        "backward_train": (lambda: _C.batch_norm_backward_train(dy, x, mean, invstd, gamma), 12),
        "forward_eval": (lambda: _C.batch_norm_forward_eval(x, gamma, beta, mean, var, 1e-5), 8),
    }
    fn, per = fns[part]
    fn()
    benchmark(fn)
    roofline(benchmark, "batch_norm", f"{part} {SHAPE}", nbytes=per * x.size)


@pytest.mark.benchmark(group="batch_norm (N, C) train fwd+bwd")
def test_batch_norm1d_train_fwd_bwd(benchmark, roofline):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((256, 1024), dtype=np.float32)
    dy = rng.standard_normal((256, 1024), dtype=np.float32)

    def fn():
        _, mean, invstd = _C.batch_norm_forward_train(x, None, None, None, None, 0.1, 1e-5)
        return _C.batch_norm_backward_train(dy, x, mean, invstd, None)

    fn()
    benchmark(fn)
    roofline(benchmark, "batch_norm", "train fwd+bwd (256, 1024)", nbytes=20 * x.size)
