"""Native batch norm (``_C.batch_norm_*``, csrc/ops/batch_norm_cpu.cpp), optimized and naive,
against float64 references (``reference.batch_norm_*``); the Python ``BatchNorm`` /
``BatchNorm2d`` Functions (native float32, numpy float64) through gradcheck; the running
statistics against PyTorch's rule (and torch itself when importable); thread-count
independence; bad arguments.

Shapes cover both layouts of the kernels: columns (HW < 32, including the (N, C) case HW = 1)
and rows (HW >= 32, with rows longer than a 64-float chunk and ragged tails), C prime, N = 2,
and a large mean offset (1e4) with a small spread for the numerics.
"""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge import functional as F
from latentforge.tensor import Tensor, default_dtype
from latentforge.testing import (
    BATCH_NORM_GRAD_TOL,
    GRAD_F32_TOL,
    RTOL_F32,
    assert_close,
    assert_dot_close,
    assert_normwise_close,
    gradcheck,
    gradcheck_native,
)

SHAPES = [
    (2, 3),  # N = 2, HW = 1
    (5, 7),
    (64, 13),
    (300, 257),  # a block of 256 columns plus one
    (2, 5, 1, 1),
    (3, 5, 4, 4),  # columns layout, HW = 16
    (2, 7, 6, 6),  # rows layout, HW = 36
    (4, 3, 17, 19),  # rows longer than a chunk, ragged tails
    (1, 5, 3, 1),  # N = 1, HW = 3
    (7, 2, 33, 1),
]
NAIVE = [False, True]


def _data(shape, seed, offset=0.0, spread=1.0):
    rng = np.random.default_rng([seed, *shape])
    x = (offset + spread * rng.standard_normal(shape)).astype(np.float32)
    c = shape[1]
    gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
    beta = rng.standard_normal(c).astype(np.float32)
    return rng, x, gamma, beta


def _assert_dx_close(dx, rdx, dy, x, gamma, invstd):
    """dx = a (dy - mean(dy) - xhat mean(dy xhat)) against float64, elementwise within
    BATCH_NORM_GRAD_TOL of the magnitudes of its terms, the means taken of |.| as in a dot
    product's error bound (dx itself cancels to ~0 for N = 2)."""
    dy, x = dy.astype(np.float64), x.astype(np.float64)
    axes, shp = ref64._bn_axes(x)
    inv = invstd.astype(np.float64).reshape(shp)
    xhat = (x - x.mean(axis=axes, keepdims=True)) * inv
    a = np.abs(inv * (1.0 if gamma is None else gamma.astype(np.float64).reshape(shp)))
    terms = a * (np.abs(dy) + np.abs(dy).mean(axis=axes, keepdims=True)
                 + np.abs(xhat) * np.abs(dy * xhat).mean(axis=axes, keepdims=True))
    assert_close(dx, rdx, rtol=0.0, atol=BATCH_NORM_GRAD_TOL * terms)


def _sid(s):
    return "x".join(map(str, s))


# ------------------------------------------------------------------------------ training forward
@pytest.mark.parametrize("naive", NAIVE, ids=["opt", "naive"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", SHAPES, ids=_sid)
def test_forward_train_matches_float64(shape, affine, naive):
    rng, x, gamma, beta = _data(shape, 1, offset=0.5, spread=2.0)
    if not affine:
        gamma = beta = None
    c = shape[1]
    rm0 = rng.standard_normal(c).astype(np.float32)
    rv0 = rng.uniform(0.5, 2.0, c).astype(np.float32)
    rm, rv = rm0.copy(), rv0.copy()
    momentum, eps = 0.3, 1e-3
    y, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, rm, rv, momentum, eps,
                                                  naive=naive)
    assert y.shape == x.shape and y.dtype == np.float32
    assert mean.shape == invstd.shape == (c,)
    ry, rmean, rinv, rvar_unbiased = ref64.batch_norm_train(x, gamma, beta, eps)
    assert_close(y, ry, rtol=RTOL_F32, atol=4 * RTOL_F32)
    assert_close(mean, rmean, rtol=RTOL_F32, atol=RTOL_F32 * np.abs(x).max())
    assert_close(invstd, rinv, rtol=RTOL_F32)
    # PyTorch's running update: (1 - m) r + m stat, the unbiased variance for running_var.
    assert_close(rm, (1 - momentum) * rm0.astype(np.float64) + momentum * rmean,
                 rtol=RTOL_F32, atol=RTOL_F32)
    assert_close(rv, (1 - momentum) * rv0.astype(np.float64) + momentum * rvar_unbiased,
                 rtol=RTOL_F32)


@pytest.mark.parametrize("shape", [(256, 5), (8, 3, 5, 5), (16, 3, 9, 9)], ids=_sid)
def test_large_mean_small_spread(shape):
    # |mean| / std = 1e4 / 0.05: float32 sums of x, or E[x^2] - E[x]^2, would lose every digit
    # of the variance; the kernels centre on the float32 mean and correct by sum(x - mean) / n.
    _, x, gamma, beta = _data(shape, 2, offset=1e4, spread=0.05)
    eps = 1e-8
    ry, rmean, rinv, _ = ref64.batch_norm_train(x, gamma, beta, eps)
    for naive in NAIVE:
        y, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, None, None, 0.1, eps,
                                                      naive=naive)
        assert_close(invstd, rinv, rtol=RTOL_F32)
        assert_close(y, ry, rtol=RTOL_F32, atol=4 * RTOL_F32)
        rng = np.random.default_rng(3)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        dx, dg, db = _C.batch_norm_backward_train(dy, x, mean, invstd, gamma, naive=naive)
        rdx, rdg, rdb = ref64.batch_norm_backward(dy, x, gamma, invstd)
        _assert_dx_close(dx, rdx, dy, x, gamma, invstd)
        assert_normwise_close(dg, rdg, BATCH_NORM_GRAD_TOL)
        assert_normwise_close(db, rdb, BATCH_NORM_GRAD_TOL)


def test_constant_channel_has_zero_variance():
    x = np.full((4, 3, 5, 7), 3.25, np.float32)
    x[:, 1] = np.arange(4 * 35, dtype=np.float32).reshape(4, 5, 7)
    y, mean, invstd = _C.batch_norm_forward_train(x, None, None, None, None, 0.1, 1e-5)
    assert mean[0] == np.float32(3.25) and invstd[0] == np.float32(1 / np.sqrt(1e-5))
    assert (y[:, 0] == 0).all() and (y[:, 2] == 0).all()


# ------------------------------------------------------------------------------ backward
@pytest.mark.parametrize("naive", NAIVE, ids=["opt", "naive"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", SHAPES, ids=_sid)
def test_backward_train_matches_float64(shape, affine, naive):
    rng, x, gamma, beta = _data(shape, 4, offset=-1.0, spread=3.0)
    if not affine:
        gamma = None
    _, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, None, None, 0.1, 1e-5)
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dgamma, dbeta = _C.batch_norm_backward_train(dy, x, mean, invstd, gamma, naive=naive)
    rdx, rdg, rdb = ref64.batch_norm_backward(dy, x, gamma, invstd)
    assert dx.shape == x.shape and dgamma.shape == dbeta.shape == (shape[1],)
    _assert_dx_close(dx, rdx, dy, x, gamma, invstd)
    axes, _ = ref64._bn_axes(x)
    xhat = ref64.batch_norm_train(x, None, None, 1e-5)[0]
    assert_dot_close(dgamma, rdg, np.abs(dy * xhat).sum(axis=axes))
    assert_dot_close(dbeta, rdb, np.abs(dy).sum(axis=axes).astype(np.float64))


@pytest.mark.parametrize("naive", NAIVE, ids=["opt", "naive"])
@pytest.mark.parametrize("shape", [(1, 4), (5, 7), (300, 257), (1, 3, 2, 2), (2, 7, 6, 6),
                                   (4, 3, 17, 19)], ids=_sid)
def test_eval_forward_and_backward(shape, naive):
    rng, x, gamma, beta = _data(shape, 5)
    c = shape[1]
    mean = rng.standard_normal(c).astype(np.float32)
    var = rng.uniform(0.2, 3.0, c).astype(np.float32)
    eps = 1e-4
    y = _C.batch_norm_forward_eval(x, gamma, beta, mean, var, eps)
    assert_close(y, ref64.batch_norm_eval(x, gamma, beta, mean, var, eps), rtol=RTOL_F32,
                 atol=4 * RTOL_F32)
    assert_close(_C.batch_norm_forward_eval(x, None, None, mean, var, eps),
                 ref64.batch_norm_eval(x, None, None, mean, var, eps), rtol=RTOL_F32,
                 atol=4 * RTOL_F32)
    invstd = _C.batch_norm_invstd(var, eps)
    np.testing.assert_array_equal(invstd, (1 / np.sqrt(var.astype(np.float64) + eps))
                                  .astype(np.float32))
    dy = rng.standard_normal(shape).astype(np.float32)
    dx, dg, db = _C.batch_norm_backward_eval(dy, x, mean, invstd, gamma, naive=naive)
    rdx, rdg, rdb = ref64.batch_norm_backward(dy, x, gamma, invstd, mean=mean)
    assert_close(dx, rdx, rtol=RTOL_F32, atol=4 * RTOL_F32)
    assert_normwise_close(dg, rdg, BATCH_NORM_GRAD_TOL)
    assert_normwise_close(db, rdb, BATCH_NORM_GRAD_TOL)


def test_empty_shapes():
    x = np.zeros((4, 0), np.float32)
    y, mean, invstd = _C.batch_norm_forward_train(x, None, None, None, None, 0.1, 1e-5)
    assert y.shape == (4, 0) and mean.shape == (0,)
    dx, dg, _ = _C.batch_norm_backward_train(x, x, mean, invstd, None)
    assert dx.shape == (4, 0) and dg.shape == (0,)
    e = np.zeros((0, 3, 2, 2), np.float32)
    ones = np.ones(3, np.float32)
    assert _C.batch_norm_forward_eval(e, None, None, ones, ones, 1e-5).shape == e.shape
    assert _C.batch_norm_backward_eval(e, e, ones, ones, None)[0].shape == e.shape


# ------------------------------------------------------------------------------ threads
@pytest.mark.parametrize("shape", [(16, 24, 12, 12), (512, 600), (64, 100, 3, 3)], ids=_sid)
def test_bitwise_thread_independence(shape, threads):
    rng, x, gamma, beta = _data(shape, 6, offset=3.0)
    dy = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    runs = []
    for n in (1, 2, 3):
        lf.set_num_threads(n)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        y, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, rm, rv, 0.1, 1e-5)
        grads = _C.batch_norm_backward_train(dy, x, mean, invstd, gamma)
        ye = _C.batch_norm_forward_eval(x, gamma, beta, rm, rv, 1e-5)
        ge = _C.batch_norm_backward_eval(dy, x, rm, _C.batch_norm_invstd(rv, 1e-5), gamma)
        runs.append([y, mean, invstd, rm, rv, *grads, ye, *ge])
    for n, run in zip((2, 3), runs[1:]):
        for k, (a, b) in enumerate(zip(runs[0], run)):
            np.testing.assert_array_equal(a, b, err_msg=f"output {k} at {n} threads")


@pytest.mark.parametrize("shape", [(16, 24, 12, 12), (5, 3, 7, 11), (3, 2, 100, 1)], ids=_sid)
def test_bitwise_equal_on_every_isa(shape):
    # The rows layout runs per-ISA kernels (ops/batch_norm_kernels.h) that compute the same
    # operations in the same order (16 lanes, a fixed tree, no FMA contraction): the results
    # are the same bits on every ISA this machine has.
    rng, x, gamma, beta = _data(shape, 7, offset=2.0)
    dy = rng.standard_normal(shape).astype(np.float32)
    runs = {}
    old = _C.isa_active()
    order = ["scalar", "avx2", "avx512"]
    usable = [i for i in order if i in _C.isa_compiled()
              and order.index(i) <= order.index(_C.isa_detected())]
    try:
        for isa in usable:
            _C.set_isa(isa)
            y, mean, invstd = _C.batch_norm_forward_train(x, gamma, beta, None, None, 0.1, 1e-5)
            runs[isa] = [y, mean, invstd, *_C.batch_norm_backward_train(dy, x, mean, invstd, gamma),
                         *_C.batch_norm_backward_eval(dy, x, mean, invstd, gamma)]
    finally:
        _C.set_isa(old)
    assert len(runs) >= 1
    first, *others = runs
    for isa in others:
        for k, (a, b) in enumerate(zip(runs[first], runs[isa])):
            np.testing.assert_array_equal(a, b, err_msg=f"output {k}: {first} vs {isa}")


# ------------------------------------------------------------------------------ Functions
def _f64_params(c, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 1.5, c), rng.standard_normal(c)


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (3, 2, 3, 1)], ids=_sid)
def test_batch_norm2d_gradcheck_train(shape):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape) * 2.0 + 1.0
    g, b = _f64_params(shape[1], 8)
    assert gradcheck(lambda a, gg, bb: F.batch_norm2d(a, gg, bb), [x, g, b])
    assert gradcheck(lambda a: F.batch_norm2d(a), [x])


def test_batch_norm2d_gradcheck_eval():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 2, 3))
    g, b = _f64_params(3, 10)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    fn = lambda a, gg, bb: F.batch_norm2d(a, gg, bb, running_mean=rm, running_var=rv,  # noqa
                                          training=False)
    assert gradcheck(fn, [x, g, b])


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, 5, 3, 3), (3, 4, 8, 8), (6, 7)], ids=_sid)
def test_native_float32_matches_float64_path(shape, training):
    # The float32 Function (native kernels) against its float64 numpy path, forward and every
    # gradient.
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape) * 1.5 + 0.5
    g, b = _f64_params(shape[1], 12)
    rm, rv = rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])
    if len(shape) == 4:
        def fn(a, gg, bb):
            return F.batch_norm2d(a, gg, bb, running_mean=None if training else rm,
                                  running_var=None if training else rv, training=training)
    else:
        def fn(a, gg, bb):
            return F.batch_norm(a, gg, bb, mean=None if training else rm,
                                var=None if training else rv)
    assert gradcheck_native(fn, [x, g, b], tol=GRAD_F32_TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm2d_running_statistics(dtype):
    rng = np.random.default_rng(13)
    c, momentum, eps = 5, 0.2, 1e-5
    rm, rv = np.zeros(c, dtype), np.ones(c, dtype)
    em, ev = np.zeros(c), np.ones(c)
    with default_dtype(dtype):
        for step in range(3):
            x = rng.standard_normal((4, c, 3, 5)) * (step + 1) + step
            y = F.batch_norm2d(Tensor(x), running_mean=rm, running_var=rv, momentum=momentum,
                               eps=eps)
            assert y.dtype == dtype
            xr = x.astype(dtype)
            ry, mean, _, var_unbiased = ref64.batch_norm_train(xr, None, None, eps)
            assert_close(y.data, ry, rtol=RTOL_F32, atol=4 * RTOL_F32)
            em = (1 - momentum) * em + momentum * mean
            ev = (1 - momentum) * ev + momentum * var_unbiased
            assert_close(rm, em, rtol=RTOL_F32, atol=RTOL_F32)
            assert_close(rv, ev, rtol=RTOL_F32)
        before = rm.copy(), rv.copy()
        y = F.batch_norm2d(Tensor(x), running_mean=rm, running_var=rv, training=False, eps=eps)
        np.testing.assert_array_equal(rm, before[0])  # eval leaves them alone
        assert_close(y.data, ref64.batch_norm_eval(xr, None, None, rm, rv, eps), rtol=RTOL_F32,
                     atol=4 * RTOL_F32)


def test_float64_running_stats_with_float32_input():
    # Running statistics of another dtype than the input are updated from the kernel's batch
    # statistics with the same rule.
    rng = np.random.default_rng(14)
    x = rng.standard_normal((6, 3, 4, 4)).astype(np.float32) * 2 + 1
    rm64, rv64 = np.zeros(3), np.ones(3)
    rm32, rv32 = np.zeros(3, np.float32), np.ones(3, np.float32)
    F.batch_norm2d(Tensor(x), running_mean=rm64, running_var=rv64, momentum=0.25)
    F.batch_norm2d(Tensor(x), running_mean=rm32, running_var=rv32, momentum=0.25)
    assert_close(rm64, rm32, rtol=RTOL_F32, atol=RTOL_F32)
    assert_close(rv64, rv32, rtol=RTOL_F32)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    for shape in [(8, 5, 6, 7), (12, 9)]:
        x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)
        c = shape[1]
        g = rng.uniform(0.5, 1.5, c).astype(np.float32)
        b = rng.standard_normal(c).astype(np.float32)
        dy = rng.standard_normal(shape).astype(np.float32)
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        trm, trv = torch.zeros(c), torch.ones(c)
        tx = torch.tensor(x, requires_grad=True)
        tg, tb = torch.tensor(g, requires_grad=True), torch.tensor(b, requires_grad=True)
        for _ in range(2):
            ty = torch.nn.functional.batch_norm(tx, trm, trv, tg, tb, training=True,
                                                momentum=0.1, eps=1e-5)
            lx = Tensor(x, requires_grad=True)
            lg, lb = Tensor(g, requires_grad=True), Tensor(b, requires_grad=True)
            if len(shape) == 4:
                ly = F.batch_norm2d(lx, lg, lb, running_mean=rm, running_var=rv)
            else:
                ly = F.BatchNorm.apply(lx, lg, lb, running_mean=rm, running_var=rv)
        ty.backward(torch.tensor(dy))
        ly.backward(dy)
        assert_close(ly.data, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
        assert_close(rm, trm.numpy(), rtol=1e-5, atol=1e-6)
        assert_close(rv, trv.numpy(), rtol=1e-5, atol=1e-6)
        for ours, theirs in ((lx, tx), (lg, tg), (lb, tb)):
            assert_normwise_close(ours.grad, theirs.grad.numpy(), 1e-4)


# ------------------------------------------------------------------------------ bad arguments
def test_bad_arguments_binding():
    x = np.ones((4, 3), np.float32)
    v = np.ones(3, np.float32)
    ft = _C.batch_norm_forward_train
    with pytest.raises(TypeError, match="x must be a float32"):
        ft(x.astype(np.float64), None, None, None, None, 0.1, 1e-5)
    with pytest.raises(TypeError, match="x must be a numpy array"):
        ft([[1.0, 2.0]], None, None, None, None, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"x must be 2-D \(N, C\) or 4-D"):
        ft(np.ones((2, 3, 4), np.float32), None, None, None, None, 0.1, 1e-5)
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        ft(np.ones((1, 3), np.float32), None, None, None, None, 0.1, 1e-5)
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        ft(np.ones((1, 3, 1, 1), np.float32), None, None, None, None, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\)"):
        ft(x, np.ones(4, np.float32), None, None, None, 0.1, 1e-5)
    with pytest.raises(TypeError, match="beta must be a float32"):
        ft(x, v, np.ones(3), None, None, 0.1, 1e-5)
    with pytest.raises(TypeError, match="running_mean must be a float32"):
        ft(x, None, None, np.zeros(3), None, 0.1, 1e-5)
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_var must be writable"):
        ft(x, None, None, None, ro, 0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean must be C-contiguous"):
        ft(x, None, None, np.zeros(6, np.float32)[::2], None, 0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean must not share memory with x"):
        ft(x, None, None, x[0], None, 0.1, 1e-5)
    with pytest.raises(ValueError, match="running_mean must not share memory with running_var"):
        rs = np.zeros(3, np.float32)
        ft(x, None, None, rs, rs, 0.1, 1e-5)
    with pytest.raises(ValueError, match="eps"):
        ft(x, None, None, None, None, 0.1, 0.0)
    with pytest.raises(ValueError, match="eps"):
        ft(x, None, None, None, None, 0.1, float("nan"))
    with pytest.raises(ValueError, match="momentum"):
        ft(x, None, None, None, None, 1.5, 1e-5)
    mean, inv = ft(x, None, None, None, None, 0.1, 1e-5)[1:]
    with pytest.raises(ValueError, match="dy and x must have the same shape"):
        _C.batch_norm_backward_train(np.ones((4, 2), np.float32), x, mean, inv, None)
    with pytest.raises(TypeError, match="mean must be a numpy array"):
        _C.batch_norm_backward_train(x, x, None, inv, None)
    with pytest.raises(ValueError, match=r"invstd must have shape \(3,\)"):
        _C.batch_norm_backward_train(x, x, mean, inv[:2].copy(), None)
    with pytest.raises(ValueError, match="expected more than 1 value"):
        _C.batch_norm_backward_train(x[:1], x[:1], mean, inv, None)
    with pytest.raises(TypeError, match="var must be a numpy array"):
        _C.batch_norm_forward_eval(x, None, None, v, None, 1e-5)
    with pytest.raises(ValueError, match="eps"):
        _C.batch_norm_forward_eval(x, None, None, v, v, -1.0)


def test_bad_arguments_python():
    x = Tensor(np.ones((2, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"batch_norm2d: x must be 4-D"):
        F.batch_norm2d(Tensor(np.ones((4, 3))))
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        F.batch_norm2d(Tensor(np.ones((1, 3, 1, 1))))
    with pytest.raises(ValueError, match="running_mean and running_var"):
        F.batch_norm2d(x, training=False)
    with pytest.raises(ValueError, match="both gamma and beta"):
        F.batch_norm2d(x, np.ones(3))
    with pytest.raises(ValueError, match="momentum"):
        F.batch_norm2d(x, momentum=2.0)
    with pytest.raises(TypeError, match="momentum"):
        F.batch_norm2d(x, momentum="0.1")
    with pytest.raises(TypeError, match="eps"):
        F.batch_norm2d(x, eps=None)
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        F.batch_norm2d(x, running_mean=np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="running_var must be a numpy array"):
        F.batch_norm2d(x, running_var=[1.0, 1.0, 1.0])
    ro = np.zeros(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="running_mean must be writable"):
        F.batch_norm2d(x, running_mean=ro)
    with pytest.raises(TypeError, match="training must be a bool"):
        F.batch_norm2d(x, training=1)
    with pytest.raises(ValueError, match=r"gamma must have shape \(3,\)"):
        F.batch_norm2d(x, np.ones(2), np.ones(2))
