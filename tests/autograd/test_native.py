"""The float32 native path (GEMM, fused linear) of MatMul and Linear, forward and backward,
against float64 numpy references: ``assert_close`` with RTOL_F32 and an atol that grows
with the reduction length K (``atol_f32(K)``, O(1) data)."""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import functional as F
from latentforge.tensor import Tensor
from latentforge.testing import RTOL_F32, assert_close, atol_f32

SHAPES = [(1, 1, 1), (3, 5, 2), (17, 33, 9), (64, 128, 48), (130, 70, 257)]


def _act64(z, activation):
    if activation is None:
        return z, np.ones_like(z)
    if activation == "sigmoid":
        y = 1.0 / (1.0 + np.exp(-z))
        return y, y * (1.0 - y)
    if activation == "tanh":
        y = np.tanh(z)
        return y, 1.0 - y * y
    return np.maximum(z, 0.0), (z > 0).astype(np.float64)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matmul_float32_forward_backward(shape):
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + n)
    a32 = rng.standard_normal((m, k)).astype(np.float32)
    b32 = rng.standard_normal((k, n)).astype(np.float32)
    g32 = rng.standard_normal((m, n)).astype(np.float32)
    a, b = Tensor(a32, requires_grad=True), Tensor(b32, requires_grad=True)
    y = a @ b
    assert y.dtype == np.float32
    y.backward(g32)
    A, B, G = (x.astype(np.float64) for x in (a32, b32, g32))
    assert_close(y.data, A @ B, rtol=RTOL_F32, atol=atol_f32(k))
    assert_close(a.grad, G @ B.T, rtol=RTOL_F32, atol=atol_f32(n))
    assert_close(b.grad, A.T @ G, rtol=RTOL_F32, atol=atol_f32(m))
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float32


@pytest.mark.parametrize("shape", SHAPES[1:], ids=str)
@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("trans_w", [False, True])
def test_linear_float32_forward_backward(shape, activation, trans_w):
    batch, n_in, n_out = shape
    rng = np.random.default_rng(batch + n_in + n_out)
    scale = 1.0 / np.sqrt(n_in)  # O(1) pre-activations
    x32 = rng.standard_normal((batch, n_in)).astype(np.float32)
    w_shape = (n_out, n_in) if trans_w else (n_in, n_out)
    w32 = (rng.standard_normal(w_shape) * scale).astype(np.float32)
    b32 = rng.standard_normal(n_out).astype(np.float32)
    g32 = rng.standard_normal((batch, n_out)).astype(np.float32)
    x, w, b = (Tensor(v, requires_grad=True) for v in (x32, w32, b32))
    y = F.linear(x, w, b, activation, trans_w=trans_w)
    assert y.dtype == np.float32
    y.backward(g32)

    X, Wm, Bv, G = (v.astype(np.float64) for v in (x32, w32, b32, g32))
    W_io = Wm.T if trans_w else Wm  # (in, out)
    z = X @ W_io + Bv
    y_ref, d_act = _act64(z, activation)
    if activation == "relu":
        # Where the pre-activation is within rounding of the kink, either derivative is
        # legitimate: take the one the float32 forward chose.
        ambiguous = np.abs(z) < 1e-4
        d_act = np.where(ambiguous, y.data > 0, d_act)
    gz = G * d_act
    assert_close(y.data, y_ref, rtol=RTOL_F32, atol=atol_f32(n_in))
    # The saved float32 output is used for the activation derivative, so the backward
    # carries the forward's rounding once more: same tolerance family.
    assert_close(x.grad, gz @ W_io.T, rtol=RTOL_F32, atol=atol_f32(n_out) * 4)
    dW = gz.T @ X if trans_w else X.T @ gz
    assert_close(w.grad, dW, rtol=RTOL_F32, atol=atol_f32(batch) * 4)
    assert_close(b.grad, gz.sum(axis=0), rtol=RTOL_F32, atol=atol_f32(batch) * 4)


def test_linear_native_matches_composed_ops():
    """Fused forward/backward equals the unfused graph (matmul, add, activation)."""
    rng = np.random.default_rng(5)
    x32 = rng.standard_normal((16, 12)).astype(np.float32)
    w32 = (rng.standard_normal((12, 7)) * 0.3).astype(np.float32)
    b32 = rng.standard_normal(7).astype(np.float32)
    grads = []
    for fused in (True, False):
        x, w, b = (Tensor(v, requires_grad=True) for v in (x32, w32, b32))
        y = F.linear(x, w, b, "tanh") if fused else (x @ w + b).tanh()
        (y * y).sum().backward()
        grads.append((y.data, x.grad, w.grad, b.grad))
    for got, ref in zip(*grads):
        assert_close(got, ref, rtol=1e-4, atol=1e-4)


def test_matmul_rejects_non_2d_and_mismatch():
    with pytest.raises(ValueError, match="2-D"):
        Tensor(np.ones(3)) @ Tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match="align"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="expects"):
        F.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), trans_w=True)
    with pytest.raises(ValueError, match="activation"):
        F.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), activation="gelu")
