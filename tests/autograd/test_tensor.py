"""Tensor semantics: dtype rules, graph recording, accumulation, retain_graph, no_grad."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge.tensor import (
    Function,
    Tensor,
    default_dtype,
    get_default_dtype,
    is_grad_enabled,
    no_grad,
)
from latentforge.testing import F32_U, assert_close


def test_dtype_rules():
    assert Tensor(np.ones(3, np.float64)).dtype == np.float32  # converted once
    a = np.ones(3, np.float32)
    assert Tensor(a).data is a  # float32 kept without a copy
    assert Tensor([1.5, 2.0]).dtype == np.float32
    assert Tensor(3).dtype == np.float32  # a scalar is unambiguous
    with pytest.raises(TypeError, match="index arrays"):
        Tensor(np.array([1, 2, 3]))
    with pytest.raises(TypeError):
        Tensor(np.array([True, False]))
    with pytest.raises(TypeError):
        Tensor([1, 2])
    with pytest.raises(TypeError, match="integer numpy array"):
        Tensor(np.ones(3))[Tensor(np.zeros(1))]
    with pytest.raises(TypeError, match="integer or boolean"):
        Tensor(np.ones(3))[np.array([0.0])]


def test_default_dtype_switch_is_scoped():
    assert get_default_dtype() == np.float32
    with default_dtype(np.float64):
        t = Tensor(np.ones((2, 2), np.float32))
        assert t.dtype == np.float64
        assert (t @ t).dtype == np.float64  # numpy float64 fallback for GEMM
    assert get_default_dtype() == np.float32
    with pytest.raises(ValueError):
        with default_dtype(np.float16):
            pass


def test_broadcast_gradients_have_input_shapes():
    a = Tensor(np.ones((4, 1, 3)), requires_grad=True)
    b = Tensor(np.full((5, 1), 2.0), requires_grad=True)
    c = Tensor(np.array(3.0), requires_grad=True)
    ((a * b + c) / c).sum().backward()
    assert a.grad.shape == (4, 1, 3) and b.grad.shape == (5, 1) and c.grad.shape == ()
    # float32 sums of 5 (resp. 12) copies of a rounded quotient: <= (1 + 4) u (resp. 12 u)
    assert_close(a.grad, np.full((4, 1, 3), 5 * 2.0 / 3.0), rtol=8 * F32_U, atol=0)
    assert_close(b.grad, np.full((5, 1), 12 / 3.0), rtol=16 * F32_U, atol=0)


def test_gradients_accumulate_across_backward_calls_and_reuse():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    (x * 3.0).sum().backward()  # a fresh graph: accumulates into .grad
    np.testing.assert_array_equal(x.grad, [5.0, 7.0])
    x.grad = None
    y = x * 2.0
    (y + y * y).sum().backward()  # y used twice: its gradients are summed
    np.testing.assert_array_equal(x.grad, 2.0 * (1 + 2 * np.array([2.0, 4.0])))


def test_backward_twice_raises_without_retain_graph():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (x.sigmoid() * x).sum()
    loss.backward()
    g = x.grad.copy()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
    np.testing.assert_array_equal(x.grad, g)  # nothing was accumulated by the failed call


def test_backward_twice_with_retain_graph_accumulates():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    loss = (x.tanh() * x).sum()
    loss.backward(retain_graph=True)
    g = x.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(x.grad, 2 * g)  # g + g is exact
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_shared_subgraph_freed_by_first_loss():
    x = Tensor(np.ones(3), requires_grad=True)
    h = x.exp()
    h.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        (h * 2.0).sum().backward()


def test_no_grad():
    x = Tensor(np.ones(3), requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0).sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    z = (x * 2.0).sum()
    assert z.requires_grad and not z.is_leaf


def test_only_leaves_get_grad_and_constants_get_none():
    x = Tensor(np.ones(2), requires_grad=True)
    c = Tensor(np.ones(2))
    h = x * c
    h.sum().backward()
    assert h.grad is None and c.grad is None
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_backward_needs_grad_for_non_scalar():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(RuntimeError, match="one-element"):
        y.backward()
    with pytest.raises(ValueError, match="shape"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 2), 0.5))
    np.testing.assert_array_equal(x.grad, np.ones((2, 2)))


def test_deep_graph_has_no_recursion_limit():
    x = Tensor(np.array([1.0]), requires_grad=True)
    y = x
    for _ in range(20000):
        y = y + 1e-4
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_pow_rejects_tensor_exponent():
    with pytest.raises(TypeError):
        Tensor(np.ones(2)) ** Tensor(np.ones(2))


def test_reductions_and_shape_methods():
    x = Tensor(np.arange(24, dtype=np.float64).reshape(2, 3, 4))
    assert x.sum(axis=(0, 2)).shape == (3,)
    assert x.mean(axis=1, keepdims=True).shape == (2, 1, 4)
    assert x.T.shape == (4, 3, 2)
    assert x.reshape(6, 4).shape == (6, 4)
    assert x.transpose(1, 0, 2).shape == (3, 2, 4)
    assert x.mean().item() == 11.5  # integers: exact in float32
    with pytest.raises(ValueError, match="out of range"):
        x.sum(axis=3)


def test_float32_stays_float32_through_every_op_and_loss():
    from latentforge import functional as F
    from latentforge import losses as L

    rng = np.random.default_rng(0)
    x = Tensor(rng.uniform(0.1, 1.0, (4, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    emb = Tensor(rng.standard_normal((5, 3)), requires_grad=True)
    h = F.linear(x, w, None, "sigmoid") + emb[np.array([0, 1, 1, 4])]
    h = (h @ w.T).tanh() * 2.0 / 3.0 - x.log() + x.exp() ** 2 + x.abs().clip(0.2, 0.8)
    losses = [
        L.mse(h, np.zeros((4, 3))),
        L.binary_cross_entropy(h.sigmoid(), np.ones((4, 3))),
        L.binary_cross_entropy_with_logits(h, np.ones((4, 3))),
        L.softmax_cross_entropy(h.log_softmax(), np.array([0, 1, 2, 0])),
        L.kl_sparsity(h.softmax(axis=0), 0.1, 2.0),
        L.l1_penalty([w]) + L.l2_penalty([w, emb]),
        h.relu().mean(axis=0).sum(),
    ]
    total = losses[0]
    for extra in losses[1:]:
        total = total + extra
    assert all(t.dtype == np.float32 for t in losses) and total.shape == ()
    total.backward()
    for t in (x, w, emb):
        assert t.grad.dtype == np.float32 and np.all(np.isfinite(t.grad))


class _Scale(Function):
    """y = 2 x, whose backward returns a new array (kept in ``made``) and may declare it fresh."""

    made: list = []

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, g):
        out = 2 * g
        _Scale.made.append(out)
        return (out,)


class _FreshScale(_Scale):
    fresh_grads = True


def test_leaf_keeps_a_fresh_gradient_without_copy():
    x = lf.Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    _Scale.made.clear()
    _FreshScale.apply(x).backward(np.ones((2, 3), np.float32))
    assert x.grad is _Scale.made[-1]  # adopted, not copied
    np.testing.assert_array_equal(x.grad, 2.0)
    # Not declared fresh: the leaf gets a copy, so the op may keep or reuse what it returned.
    y = lf.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    _Scale.apply(y).backward(np.ones((2, 3), np.float32))
    assert y.grad is not _Scale.made[-1]
    assert not np.shares_memory(y.grad, _Scale.made[-1])
    # A later backward accumulates into the adopted array, which nothing else holds.
    _FreshScale.apply(x).backward(np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(x.grad, 4.0)
    assert not np.shares_memory(x.grad, _Scale.made[-1])


def test_leaf_never_aliases_the_callers_gradient():
    g = np.ones((2, 3), np.float32)
    x = lf.Tensor(np.zeros((2, 3), np.float32), requires_grad=True)
    (x * 1.0).backward(g)  # ops that pass grad_out through: never fresh
    assert not np.shares_memory(x.grad, g)
    x.grad[...] = 5.0
    np.testing.assert_array_equal(g, 1.0)
    # Two fresh gradients for one leaf are summed into a new array, which the leaf keeps.
    z = lf.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    _Scale.made.clear()
    (_FreshScale.apply(z) + _FreshScale.apply(z)).backward(g)
    np.testing.assert_array_equal(z.grad, 4.0)
    assert all(not np.shares_memory(z.grad, m) for m in _Scale.made)
