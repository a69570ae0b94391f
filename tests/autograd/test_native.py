"""The float32 native path (GEMM, fused linear) of MatMul and Linear, forward and backward,
against float64 numpy references (``tests/reference``), each within the float32 dot-product
bound of its own reduction (``assert_dot_close``) plus, for the backward of an activation, the
error the float32 forward output carries into the derivative."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref64
from latentforge import functional as F
from latentforge.tensor import Tensor
from latentforge.testing import (
    ATOL_ACT,
    ATOL_F32,
    RTOL_ACT,
    RTOL_F32,
    assert_close,
    assert_dot_close,
    dot_atol,
)

SHAPES = [(1, 1, 1), (3, 5, 2), (17, 33, 9), (64, 128, 48), (130, 70, 257)]


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
    assert_dot_close(y.data, *ref64.gemm(a32, b32))
    assert_dot_close(a.grad, *ref64.gemm(g32, b32, trans_b=True))
    assert_dot_close(b.grad, *ref64.gemm(a32, g32, trans_a=True))
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

    X, Wm, G = (v.astype(np.float64) for v in (x32, w32, g32))
    W_io = Wm.T if trans_w else Wm  # (in, out)
    z, zabs = ref64.gemm(x32, w32, trans_b=trans_w, bias=b32)
    zabs = zabs + np.abs(b32)
    d_act = ref64.activation_derivative(z, activation)
    if activation == "relu":
        # Where the pre-activation is within rounding of the kink, either derivative is
        # legitimate: take the one the float32 forward chose.
        ambiguous = np.abs(z) <= dot_atol(zabs)
        d_act = np.where(ambiguous, y.data > 0, d_act)
    gz = G * d_act
    # Forward: the pre-activation is within the dot bound (slope of the activation <= 1),
    # then the activation adds RTOL_ACT.
    zerr = dot_atol(zabs)
    assert_close(y.data, ref64.activation(z, activation), rtol=RTOL_ACT, atol=zerr + ATOL_ACT)
    # Backward: the derivative is formed from the float32 output y, which errs by
    # zerr + RTOL_ACT |y| + ATOL_ACT; d act / dy is <= 1 (sigmoid: 1 - 2y) or 2 (tanh: -2y), so
    # the derivative errs by <= 2 (zerr + RTOL_ACT + ATOL_ACT) (0 for none and relu). That error
    # times |G| enters each backward reduction next to the reduction's own dot bound.
    derr = 0.0 if activation in (None, "relu") else 2 * (zerr + RTOL_ACT + ATOL_ACT)
    gerr = np.abs(G) * derr
    absW = np.abs(W_io)
    assert_dot_close(x.grad, gz @ W_io.T, np.abs(gz) @ absW.T, extra=gerr @ absW.T)
    dW = [gz.T @ X, np.abs(gz).T @ np.abs(X), gerr.T @ np.abs(X)]  # (out, in)
    if not trans_w:
        dW = [m.T for m in dW]
    assert_dot_close(w.grad, dW[0], dW[1], extra=dW[2])
    assert_dot_close(b.grad, gz.sum(axis=0), np.abs(gz).sum(axis=0), extra=gerr.sum(axis=0))


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
    # The same float32 operations in the same order (the fused epilogue is the standalone
    # activation kernel, test_elementwise); allow a short float32 chain's reordering anyway.
    for got, ref in zip(*grads):
        assert_close(got, ref, rtol=RTOL_F32, atol=ATOL_F32)


def test_matmul_rejects_non_2d_and_mismatch():
    with pytest.raises(ValueError, match="2-D"):
        Tensor(np.ones(3)) @ Tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match="align"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="expects"):
        F.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), trans_w=True)
    with pytest.raises(ValueError, match="activation"):
        F.linear(Tensor(np.ones((2, 3))), Tensor(np.ones((3, 4))), activation="gelu")
