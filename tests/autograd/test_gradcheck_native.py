"""gradcheck on the float32 native paths: each differentiable op's float32 forward and backward
(native GEMM / fused linear, activation, softmax and top-k kernels; float32 numpy elsewhere)
against its float64 path, whose backward test_gradcheck.py checks by central differences.

The tolerance is GRAD_F32_TOL (latentforge.testing), derived there from float32 rounding for
one layer plus a loss with O(1) inputs and K <= 64.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import functional as F
from latentforge import losses as L
from latentforge.testing import gradcheck_native

K_IN, K_OUT, BATCH = 64, 24, 16


def away_from_zero(rng, shape, margin=0.05):
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def layer(rng, trans_w=False, k_in=K_IN, k_out=K_OUT):
    x = rng.standard_normal((BATCH, k_in))
    w = rng.standard_normal((k_out, k_in) if trans_w else (k_in, k_out)) / np.sqrt(k_in)
    b = 0.5 * rng.standard_normal(k_out)
    return x, w, b


@pytest.mark.parametrize("trans_w", [False, True])
@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh", "relu"])
def test_linear_native(isa, activation, trans_w):
    rng = np.random.default_rng(1)
    x, w, b = layer(rng, trans_w)
    if activation == "relu":  # keep pre-activations away from the kink
        z = (x @ (w.T if trans_w else w)) + b
        b = b + np.where(np.abs(z) < 0.05, 0.1, 0.0).max(axis=0)
    gradcheck_native(lambda x, w, b: F.linear(x, w, b, activation, trans_w=trans_w), [x, w, b])


def test_matmul_native(isa):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((BATCH, K_IN))
    b = rng.standard_normal((K_IN, K_OUT)) / np.sqrt(K_IN)
    gradcheck_native(lambda a, b: a @ b, [a, b])


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softmax", "log_softmax"])
def test_elementwise_native(isa, name):
    x = 2.0 * away_from_zero(np.random.default_rng(3), (BATCH, 37))
    gradcheck_native(lambda x: getattr(x, name)(), [x])


@pytest.mark.parametrize("k", [1, 5, 36])
def test_topk_native(k):
    rng = np.random.default_rng(4)
    x = rng.permutation(BATCH * 37).reshape(BATCH, 37) / 40.0 - 7.0  # distinct: no ties
    gradcheck_native(lambda x: F.ksparse(x, k), [x])


def test_batchnorm_native():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((BATCH, 12)) * 2 + 1
    gamma, beta = rng.uniform(0.5, 1.5, 12), rng.standard_normal(12)
    gradcheck_native(lambda x, g, b: F.batch_norm(x, g, b), [x, gamma, beta])


def test_losses_native():
    rng = np.random.default_rng(6)
    pred = rng.standard_normal((BATCH, 10))
    target = rng.standard_normal((BATCH, 10)).astype(np.float32)
    bits = (rng.random((BATCH, 10)) < 0.5).astype(np.float32)
    labels = rng.integers(0, 10, BATCH)
    probs = rng.uniform(0.1, 0.9, (BATCH, 10))
    gradcheck_native(lambda p: L.mse(p, target.astype(p.dtype)), [pred])
    gradcheck_native(lambda p: L.binary_cross_entropy_with_logits(p, bits.astype(p.dtype)), [pred])
    gradcheck_native(lambda p: L.binary_cross_entropy(p, bits.astype(p.dtype)), [probs])
    gradcheck_native(lambda p: L.softmax_cross_entropy(p, labels), [pred])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_one_layer_classifier_native(isa, activation):
    """Linear (fused GEMM + activation) -> Linear -> softmax cross-entropy, all inputs."""
    rng = np.random.default_rng(7)
    x, w1, b1 = layer(rng, k_out=32)
    _, w2, b2 = layer(rng, k_in=32, k_out=10)
    labels = rng.integers(0, 10, BATCH)

    def net(x, w1, b1, w2, b2):
        h = F.linear(x, w1, b1, activation)
        return L.softmax_cross_entropy(F.linear(h, w2, b2), labels)

    gradcheck_native(net, [x, w1, b1, w2, b2])


def test_gradcheck_native_catches_a_wrong_float32_backward(monkeypatch):
    """The check fails when the float32 backward is off by a relative 1e-4 (3x GRAD_F32_TOL):
    tight enough to catch a slightly wrong formula, not only a wrong sign or a missing term."""
    rng = np.random.default_rng(8)
    x = 2.0 * away_from_zero(rng, (BATCH, 37))
    original = F.Tanh.backward

    def slightly_wrong(ctx, g):
        (gx,) = original(ctx, g)
        return (gx * (1 + 1e-4) if gx.dtype == np.float32 else gx,)

    monkeypatch.setattr(F.Tanh, "backward", staticmethod(slightly_wrong))
    with pytest.raises(AssertionError, match="gradient of input 0"):
        gradcheck_native(lambda x: x.tanh(), [x])
