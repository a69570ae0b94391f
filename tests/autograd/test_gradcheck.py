"""Every op's and every loss's backward against float64 central differences (testing.gradcheck).

Inputs are seeded; shapes are drawn at random per case. Points are kept away from kinks
(ReLU/abs at 0, clip boundaries) as Caffe's checker does.
"""

from __future__ import annotations

import numpy as np
import pytest

from latentforge import functional as F
from latentforge import losses as L
from latentforge.tensor import Context, Function, Tensor
from latentforge.testing import (
    ATOL_F32,
    PROB_SUM_ATOL,
    RTOL_ACT,
    RTOL_F32,
    assert_close,
    gradcheck,
)


def away_from_zero(rng, shape, margin=0.1):
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin + x, x)


def rand_shape(rng, ndim, lo=1, hi=5):
    return tuple(int(n) for n in rng.integers(lo, hi + 1, size=ndim))


SEEDS = [0, 1, 2]


# ------------------------------------------------------------------ elementwise + broadcasting
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}

BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((3, 4), (3, 1)),
    ((2, 3, 4), (1, 4)),
    ((1, 4), (3, 1)),
    ((3, 4), ()),
    ((), (2, 3)),
]


@pytest.mark.parametrize("op", list(BINARY))
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_broadcast(op, shapes):
    rng = np.random.default_rng(7)
    a = rng.standard_normal(shapes[0])
    b = rng.standard_normal(shapes[1])
    if op == "div":
        b = np.sign(b) * (np.abs(b) + 0.5)
    gradcheck(BINARY[op], [a, b])


@pytest.mark.parametrize("op", ["radd", "rsub", "rmul", "rdiv", "neg"])
def test_scalar_and_reflected(op):
    rng = np.random.default_rng(3)
    x = rng.uniform(0.5, 2.0, (3, 4))
    fn = {
        "radd": lambda t: 2.5 + t,
        "rsub": lambda t: 1.5 - t,
        "rmul": lambda t: 3.0 * t,
        "rdiv": lambda t: 2.0 / t,
        "neg": lambda t: -t,
    }[op]
    gradcheck(fn, [x])


def test_ndarray_left_operand_dispatches_to_tensor():
    rng = np.random.default_rng(4)
    c = rng.standard_normal((3, 4))
    x = rng.standard_normal((3, 4))
    gradcheck(lambda t: c * t + c - t / (c * c + 1.0), [x])


@pytest.mark.parametrize("p", [2.0, 3.0, 0.5, -1.5, 1.0, 0.0])
def test_pow_scalar(p):
    x = np.random.default_rng(5).uniform(0.5, 2.0, (2, 5))
    gradcheck(lambda t: t**p, [x])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "exp", "log", "abs"])
def test_unary(name, seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng, int(rng.integers(1, 4)))
    if name == "log":
        x = rng.uniform(0.2, 3.0, shape)
    elif name in ("relu", "abs"):
        x = away_from_zero(rng, shape)
    else:
        x = rng.standard_normal(shape) * 2
    gradcheck(lambda t: getattr(t, name)(), [x])


def test_sigmoid_extreme_inputs_are_finite_and_warning_free():
    x = Tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    y = x.sigmoid()
    assert np.all(np.isfinite(y.data))
    y.sum().backward()
    assert np.all(np.isfinite(x.grad))


def test_clip_inside_and_outside():
    x = np.array([[-2.0, -0.5, 0.3], [0.7, 1.8, -0.9]])
    gradcheck(lambda t: t.clip(-1.0, 1.0) * t, [x])


# ------------------------------------------------------------------ reductions and shapes
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(reduce, axis, keepdims, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(rand_shape(rng, 3, 1, 4))
    gradcheck(lambda t: getattr(t, reduce)(axis=axis, keepdims=keepdims), [x])


def test_reshape_transpose_T():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 4))
    gradcheck(lambda t: t.reshape(6, 4).T * 2.0, [x])
    gradcheck(lambda t: t.transpose(2, 0, 1).reshape((4, 6)), [x])
    gradcheck(lambda t: t.reshape(-1), [x])


@pytest.mark.parametrize(
    "key",
    [
        (slice(1, 3),),
        (slice(None), 2),
        (Ellipsis, slice(0, 4, 2)),
        (1,),
        (slice(None, None, -1), slice(1, None)),
    ],
    ids=str,
)
def test_getitem_basic(key):
    x = np.random.default_rng(12).standard_normal((4, 5))
    gradcheck(lambda t: t[key if len(key) > 1 else key[0]], [x])


def test_embedding_lookup_with_repeated_indices_accumulates():
    rng = np.random.default_rng(13)
    W = rng.standard_normal((6, 3))
    ids = np.array([[0, 2, 2], [5, 0, 2]])  # repeats within and across rows
    gradcheck(lambda w: w[ids].tanh(), [W])
    # Exact: d(sum W[ids]) / dW counts how often each row is used.
    w = Tensor(W, requires_grad=True)
    w[ids].sum().backward()
    counts = np.bincount(ids.ravel(), minlength=6).astype(np.float32)
    np.testing.assert_array_equal(w.grad, np.repeat(counts[:, None], 3, axis=1))


def test_getitem_integer_and_boolean_arrays():
    rng = np.random.default_rng(14)
    x = rng.standard_normal((4, 5))
    gradcheck(lambda t: t[[3, 1, 3]], [x])
    gradcheck(lambda t: t[np.array([0, 0, 2]), np.array([1, 1, 4])], [x])
    gradcheck(lambda t: t[x > 0], [x])


# ------------------------------------------------------------------ softmax family
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family(name, axis, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(rand_shape(rng, 2, 2, 5)) * 3
    gradcheck(lambda t: getattr(t, name)(axis=axis), [x])


def test_softmax_is_stable_for_huge_logits():
    x = Tensor(np.array([[1000.0, 1001.0, -1000.0]]))
    assert abs(x.softmax().data.sum(dtype=np.float64) - 1.0) <= PROB_SUM_ATOL
    assert np.all(np.isfinite(x.log_softmax().data))


# ------------------------------------------------------------------ dense ops
@pytest.mark.parametrize("seed", SEEDS)
def test_matmul(seed):
    rng = np.random.default_rng(seed)
    m, k, n = rand_shape(rng, 3)
    gradcheck(lambda a, b: a @ b, [rng.standard_normal((m, k)), rng.standard_normal((k, n))])


def test_matmul_of_transposed_operand():
    rng = np.random.default_rng(21)
    gradcheck(lambda a, b: a.T @ b, [rng.standard_normal((4, 3)), rng.standard_normal((4, 2))])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("trans_w", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_fused_linear(activation, trans_w, bias, seed):
    rng = np.random.default_rng(seed)
    batch, n_in, n_out = rand_shape(rng, 3, 1, 5)
    for _ in range(1000):
        x = rng.standard_normal((batch, n_in))
        W = rng.standard_normal((n_out, n_in) if trans_w else (n_in, n_out))
        b = rng.standard_normal(n_out) if bias else np.zeros(n_out)
        z = x @ (W.T if trans_w else W) + b
        # ReLU: keep every pre-activation away from the kink at 0 (resample until so).
        if activation != "relu" or np.min(np.abs(z)) > 0.05:
            break
    else:
        raise AssertionError("found no point away from the ReLU kink")
    if bias:
        fn = lambda x_, w_, b_: F.linear(x_, w_, b_, activation, trans_w=trans_w)  # noqa: E731
        gradcheck(fn, [x, W, b])
    else:
        fn = lambda x_, w_: F.linear(x_, w_, None, activation, trans_w=trans_w)  # noqa: E731
        gradcheck(fn, [x, W])


# ------------------------------------------------------------------ losses
@pytest.mark.parametrize("seed", SEEDS)
def test_mse(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng, 2)
    gradcheck(L.mse, [rng.standard_normal(shape), rng.standard_normal(shape)])


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_cross_entropy(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng, 2)
    p = rng.uniform(0.05, 0.95, shape)
    t = rng.uniform(0.0, 1.0, shape)
    gradcheck(L.binary_cross_entropy, [p, t])


def test_binary_cross_entropy_clips_exact_zero_and_one():
    p = Tensor(np.array([0.0, 1.0, 0.5]), requires_grad=True)
    loss = L.binary_cross_entropy(p, np.array([1, 0, 1]))
    assert np.isfinite(loss.item()) and loss.item() > 10
    loss.backward()
    assert np.all(np.isfinite(p.grad))
    assert p.grad[0] == 0 and p.grad[1] == 0  # clipped points pass no gradient


@pytest.mark.parametrize("seed", SEEDS)
def test_binary_cross_entropy_with_logits(seed):
    rng = np.random.default_rng(seed)
    shape = rand_shape(rng, 2)
    gradcheck(
        L.binary_cross_entropy_with_logits,
        [rng.standard_normal(shape) * 3, rng.uniform(0.0, 1.0, shape)],
    )


def test_bce_with_logits_matches_bce_of_sigmoid_and_is_stable():
    rng = np.random.default_rng(31)
    z = rng.standard_normal((4, 3))
    t = (rng.random((4, 3)) > 0.5).astype(np.float64)
    a = L.binary_cross_entropy_with_logits(Tensor(z), t).item()
    b = L.binary_cross_entropy(Tensor(z).sigmoid(), t).item()
    # two float32 evaluations of a mean of 12 log terms (each RTOL_ACT-accurate)
    assert_close(a, b, rtol=RTOL_F32, atol=0)
    big = L.binary_cross_entropy_with_logits(Tensor(np.array([-500.0, 500.0])), [1.0, 0.0])
    assert_close(big.item(), 500.0, rtol=RTOL_ACT, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_cross_entropy(seed):
    rng = np.random.default_rng(seed)
    n, c = rand_shape(rng, 2, 2, 6)
    labels = rng.integers(0, c, n)
    gradcheck(lambda z: L.softmax_cross_entropy(z, labels), [rng.standard_normal((n, c)) * 2])


def test_softmax_cross_entropy_value_and_stability():
    z = np.array([[2.0, 1.0, 0.1], [1000.0, 0.0, -1000.0]])
    labels = np.array([0, 1])
    got = L.softmax_cross_entropy(Tensor(z), labels).item()
    ref0 = -(2.0 - np.log(np.exp(2.0) + np.exp(1.0) + np.exp(0.1)))
    assert_close(got, (ref0 + 1000.0) / 2, rtol=RTOL_ACT, atol=0)
    with pytest.raises(ValueError, match="labels must be in"):
        L.softmax_cross_entropy(Tensor(z), np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        L.softmax_cross_entropy(Tensor(z), np.array([0.0, 1.0]))


def test_l1_l2_penalties():
    rng = np.random.default_rng(41)
    a, b = away_from_zero(rng, (3, 2)), away_from_zero(rng, (4,))
    gradcheck(lambda x, y: L.l1_penalty([x, y]), [a, b])
    gradcheck(lambda x, y: L.l2_penalty([x, y]), [a, b])
    x = Tensor(a, requires_grad=True)
    L.l2_penalty([x]).backward()
    np.testing.assert_array_equal(x.grad, a.astype(np.float32))  # grad of 0.5|x|^2: exact


@pytest.mark.parametrize("seed", SEEDS)
def test_kl_sparsity(seed):
    rng = np.random.default_rng(seed)
    batch, units = rand_shape(rng, 2, 2, 6)
    h = rng.uniform(0.05, 0.95, (batch, units))
    gradcheck(lambda t: L.kl_sparsity(t, rho=0.1, beta=3.0), [h])


def test_kl_sparsity_value_and_zero_at_target():
    h = np.full((5, 3), 0.2)
    # float32: the mean activation is 0.2 within a few u, so each KL term is ~u-sized
    assert abs(L.kl_sparsity(Tensor(h), rho=0.2).item()) < ATOL_F32
    h = np.array([[0.1, 0.5], [0.3, 0.5]])
    rho, r = 0.05, np.array([0.2, 0.5])
    ref = 2.0 * np.sum(rho * np.log(rho / r) + (1 - rho) * np.log((1 - rho) / (1 - r)))
    assert_close(L.kl_sparsity(Tensor(h), rho, beta=2.0).item(), ref, rtol=RTOL_ACT, atol=0)


# ------------------------------------------------------------------ the checker itself
class _WrongSquare(Function):
    @staticmethod
    def forward(ctx: Context, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx: Context, g):
        (a,) = ctx.saved_tensors
        return (g * a * 2.001,)  # 0.05% off: must be caught


def test_gradcheck_catches_a_wrong_gradient():
    x = np.random.default_rng(0).uniform(1.0, 2.0, (3,))
    with pytest.raises(AssertionError, match="gradcheck failed"):
        gradcheck(lambda t: _WrongSquare.apply(t), [x])


def test_gradcheck_restores_tensor_inputs():
    t = Tensor(np.ones((2, 2)), requires_grad=False)
    before = t.data
    gradcheck(lambda a: (a * a).sum(), [t])
    assert t.data is before and t.data.dtype == np.float32
    assert t.grad is None and not t.requires_grad


def test_gradcheck_leaves_other_leaves_untouched():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    gradcheck(lambda a: (a @ w).sum(), [np.ones((3, 2))])
    assert w.grad is None
