"""Kernel benchmark of ``locally_connected2d`` (``csrc/ops/locally_connected2d.h``), with
PyTorch CPU side by side.

Shape (issue 14): the first layer of a cat-paper-style network (Le et al. 2012) on MNIST-sized
inputs: N=64, 1 -> 8 channels, 28x28, kernel 3 (and 4), stride 1, untied weights; forward, and
forward + both gradients. PyTorch has no native locally connected layer, so the peer is what a
PyTorch user writes: ``unfold`` (im2col) and one ``einsum`` over the positions, with autograd
for the backward (the gradient of the input through ``fold``).

Work model: 2 N C_out OH OW C_in kh kw FLOP per pass (forward, data gradient, weight gradient
each; the bias is not counted); compulsory traffic: the pass's inputs and outputs, 4 B each.
Read the ratios from the ``locally_connected2d`` group: torch time / ours for the same case.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

CASES = {  # name: (N, C_in, H, C_out, k)
    "3x3 64x1x28x28 -> 8": (64, 1, 28, 8, 3),
    "4x4 64x1x28x28 -> 8": (64, 1, 28, 8, 4),
}


def _setup(case):
    n, c_in, h, c_out, k = CASES[case]
    oh = h - k + 1
    rng = np.random.default_rng([n, c_in, h, c_out, k])
    x = rng.standard_normal((n, c_in, h, h), dtype=np.float32)
    w = rng.standard_normal((oh, oh, c_out, c_in, k, k), dtype=np.float32)
    w /= np.float32(np.sqrt(c_in * k * k))
    b = rng.standard_normal((c_out, oh, oh), dtype=np.float32)
    flops = 2.0 * n * c_out * oh * oh * c_in * k * k
    nbytes = 4.0 * (x.size + w.size + n * c_out * oh * oh)
    return x, w, b, flops, nbytes


@pytest.mark.benchmark(group="locally_connected2d")
@pytest.mark.parametrize("case", list(CASES))
def test_locally_connected2d_forward(benchmark, roofline, case):
    x, w, b, flops, nbytes = _setup(case)
    fn = lambda: _C.locally_connected2d_forward(x, w, b)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "locally_connected2d", f"forward {case}", flops=flops, nbytes=nbytes)


@pytest.mark.benchmark(group="locally_connected2d")
@pytest.mark.parametrize("case", list(CASES))
def test_locally_connected2d_forward_backward(benchmark, roofline, case):
    x, w, b, flops, nbytes = _setup(case)
    dy = np.ones_like(_C.locally_connected2d_forward(x, w, b))

    def fn():
        _C.locally_connected2d_forward(x, w, b)
        _C.locally_connected2d_backward_data(dy, w, x.shape[2:])
        _C.locally_connected2d_backward_weights(dy, x, w.shape[4:])

    fn()
    benchmark(fn)
    roofline(benchmark, "locally_connected2d", f"fwd+bwd {case}", flops=3 * flops,
             nbytes=3 * nbytes)


def _torch_lc(torch, x, w, b, k):
    """PyTorch's locally connected layer: unfold to (N, C_in*k*k, P), one einsum with the
    per-position weights (P, C_out, C_in*k*k), the bias (C_out, OH, OW)."""
    n, oh = x.shape[0], b.shape[1]
    cols = torch.nn.functional.unfold(x, k)
    y = torch.einsum("nkp,pok->nop", cols, w)
    return y.reshape(n, -1, oh, oh) + b


@pytest.mark.benchmark(group="locally_connected2d")
@pytest.mark.parametrize("case", list(CASES))
def test_torch_locally_connected2d_forward(benchmark, roofline, case):
    torch = pytest.importorskip("torch")
    import latentforge as lf

    torch.set_num_threads(lf.get_num_threads())
    x, w, b, flops, nbytes = _setup(case)
    k = w.shape[-1]
    xt, bt = torch.from_numpy(x), torch.from_numpy(b)
    wt = torch.from_numpy(w.reshape(w.shape[0] * w.shape[1], w.shape[2], -1))

    def fn():
        with torch.no_grad():
            _torch_lc(torch, xt, wt, bt, k)

    fn()
    benchmark(fn)
    roofline(benchmark, "locally_connected2d", f"torch forward {case}", flops=flops,
             nbytes=nbytes)


@pytest.mark.benchmark(group="locally_connected2d")
@pytest.mark.parametrize("case", list(CASES))
def test_torch_locally_connected2d_forward_backward(benchmark, roofline, case):
    torch = pytest.importorskip("torch")
    import latentforge as lf

    torch.set_num_threads(lf.get_num_threads())
    x, w, b, flops, nbytes = _setup(case)
    k = w.shape[-1]
    xt = torch.from_numpy(x).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    wt = torch.from_numpy(w.reshape(w.shape[0] * w.shape[1], w.shape[2], -1)).requires_grad_()
    dy = torch.ones(x.shape[0], w.shape[2], b.shape[1], b.shape[2])

    # The same three gradients as our side (dx, dw, db), through torch.autograd.grad (no
    # accumulation into .grad).
    def fn():
        y = _torch_lc(torch, xt, wt, bt, k)
        torch.autograd.grad(y, (xt, wt, bt), dy)

    fn()
    benchmark(fn)
    roofline(benchmark, "locally_connected2d", f"torch fwd+bwd {case}", flops=3 * flops,
             nbytes=3 * nbytes)
