"""Kernel benchmark of ``conv2d`` (``csrc/ops/conv2d.h``), with PyTorch CPU side by side.

Shapes (issue 11): a 3x3 "same" layer, N=128, 64 -> 64 channels, 16x16 (forward, and forward +
both gradients); the first layer of an MNIST net, N=128, 1 -> 32 channels, 28x28, 5x5 pad 2
(forward, and forward + weight gradient: the input needs none).

Work model: 2 N C_out OH OW C_in kh kw FLOP per pass (forward, data gradient, weight gradient
each; the bias is not counted); compulsory traffic: the pass's inputs and outputs, 4 B each.
Read the ratios from the ``conv2d`` group: torch time / ours for the same case.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import _C

CASES = {  # name: (N, C_in, H, C_out, k, pad, input_grad)
    "3x3 128x64x16x16 -> 64": (128, 64, 16, 64, 3, 1, True),
    "5x5 128x1x28x28 -> 32": (128, 1, 28, 32, 5, 2, False),
}


def _setup(case):
    n, c_in, h, c_out, k, pad, input_grad = CASES[case]
    rng = np.random.default_rng([n, c_in, h, c_out, k])
    x = rng.standard_normal((n, c_in, h, h), dtype=np.float32)
    w = rng.standard_normal((c_out, c_in, k, k), dtype=np.float32)
    w /= np.float32(np.sqrt(c_in * k * k))
    b = rng.standard_normal(c_out, dtype=np.float32)
    oh = h + 2 * pad - k + 1
    flops = 2.0 * n * c_out * oh * oh * c_in * k * k
    nbytes = 4.0 * (x.size + w.size + n * c_out * oh * oh)
    return x, w, b, (pad, pad), input_grad, flops, nbytes


@pytest.mark.benchmark(group="conv2d")
@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_forward(benchmark, roofline, case):
    x, w, b, pad, _, flops, nbytes = _setup(case)
    fn = lambda: _C.conv2d_forward(x, w, b, (1, 1), pad)  # noqa: E731
    fn()
    benchmark(fn)
    roofline(benchmark, "conv2d", f"forward {case}", flops=flops, nbytes=nbytes)


@pytest.mark.benchmark(group="conv2d")
@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_forward_backward(benchmark, roofline, case):
    x, w, b, pad, input_grad, flops, nbytes = _setup(case)
    dy = np.ones_like(_C.conv2d_forward(x, w, b, (1, 1), pad))

    def fn():
        _C.conv2d_forward(x, w, b, (1, 1), pad)
        if input_grad:
            _C.conv2d_backward_data(dy, w, x.shape[2:], (1, 1), pad)
        _C.conv2d_backward_weights(dy, x, w.shape[2:], (1, 1), pad)

    fn()
    benchmark(fn)
    passes = 3 if input_grad else 2
    roofline(benchmark, "conv2d", f"fwd+bwd {case}", flops=passes * flops, nbytes=passes * nbytes)


@pytest.mark.benchmark(group="conv2d")
@pytest.mark.parametrize("case", list(CASES))
def test_torch_conv2d_forward(benchmark, roofline, case):
    torch = pytest.importorskip("torch")
    import latentforge as lf

    torch.set_num_threads(lf.get_num_threads())
    x, w, b, pad, _, flops, nbytes = _setup(case)
    xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)

    def fn():
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, bt, padding=pad)

    fn()
    benchmark(fn)
    roofline(benchmark, "conv2d", f"torch forward {case}", flops=flops, nbytes=nbytes)


@pytest.mark.benchmark(group="conv2d")
@pytest.mark.parametrize("case", list(CASES))
def test_torch_conv2d_forward_backward(benchmark, roofline, case):
    torch = pytest.importorskip("torch")
    import latentforge as lf

    torch.set_num_threads(lf.get_num_threads())
    x, w, b, pad, input_grad, flops, nbytes = _setup(case)
    xt, wt, bt = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
    dy = torch.ones_like(torch.nn.functional.conv2d(xt, wt, bt, padding=pad))

    # Kernel for kernel, as our side: the forward, then ATen's convolution backward for the
    # same gradients (no autograd graph, no accumulation into .grad).
    def fn():
        with torch.no_grad():
            torch.nn.functional.conv2d(xt, wt, bt, padding=pad)
        torch.ops.aten.convolution_backward(dy, xt, wt, [wt.shape[0]], [1, 1], list(pad), [1, 1],
                                            False, [0, 0], 1, [input_grad, True, True])

    fn()
    benchmark(fn)
    passes = 3 if input_grad else 2
    roofline(benchmark, "conv2d", f"torch fwd+bwd {case}", flops=passes * flops,
             nbytes=passes * nbytes)
