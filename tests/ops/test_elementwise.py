"""Native float32 activations (sigmoid/tanh/relu) and row softmax, forward and backward, on every
ISA path, against float64 numpy references."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge.testing import (
    ATOL_ACT,
    F32_U,
    F64_U,
    PROB_SUM_ATOL,
    RTOL_ACT,
    assert_close,
    dot_atol,
)

NONE, SIGMOID, TANH, RELU = lf.Activation.__members__.values()
ACTS = {"sigmoid": SIGMOID, "tanh": TANH, "relu": RELU}
SIZES = [0, 1, 17, 100003]  # 100003 crosses many 4096-element chunks and the parallel threshold
RTOL, ATOL = RTOL_ACT, ATOL_ACT


def ref_forward(x, act):
    return ref64.activation(x, act)


def ref_backward(dy, y, act):
    return ref64.activation_backward(dy, y, act)


def softmax_backward_atol(dy, y):
    """dx = y (dy - sum(dy y)): the row sum is a float32 reduction (dot bound on sum|dy y|),
    scaled by |y|, and the elementwise part rounds like an activation."""
    dy, y = np.asarray(dy, np.float64), np.asarray(y, np.float64)
    s = np.abs(dy * y).sum(axis=-1, keepdims=True)
    return dot_atol(np.abs(y) * (np.abs(dy) + s)) + ATOL_ACT


def close_inf(actual, ref, rtol=RTOL, atol=ATOL, err_msg=""):
    """assert_close that also accepts inputs with infinities (which must match exactly)."""
    actual, ref = np.asarray(actual, np.float64), np.asarray(ref, np.float64)
    assert np.array_equal(np.isposinf(actual), np.isposinf(ref)), err_msg
    assert np.array_equal(np.isneginf(actual), np.isneginf(ref)), err_msg
    fin = ~np.isinf(ref)
    assert_close(actual[fin], ref[fin], rtol, atol, err_msg)


def rand(shape, scale=3.0, seed=0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", list(ACTS))
@pytest.mark.parametrize("n", SIZES)
def test_activation_forward_backward(isa, name, n):
    act = ACTS[name]
    x = rand((n,), seed=n)
    y = _C.activation_forward(x, act)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert_close(y, ref_forward(x, act), RTOL, ATOL, f"{name} forward on {isa}")
    dy = rand((n,), scale=1.0, seed=n + 1)
    dx = _C.activation_backward(dy, y, act)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    assert_close(dx, ref_backward(dy, y, act), RTOL, ATOL, f"{name} backward on {isa}")


@pytest.mark.parametrize("name", list(ACTS))
def test_activation_extremes(isa, name):
    act = ACTS[name]
    vals = [1e4, -1e4, 88.0, -88.0, 87.5, -87.5, 20.0, -20.0, 1e-30, -1e-30, 1e-40, 0.0, -0.0,
            0.2499, 0.25, -0.25, np.inf, -np.inf, np.nan, 3.0]
    # Every value at every lane position (vector body and scalar/masked tail).
    x = np.array(vals * 19, dtype=np.float32)
    y = _C.activation_forward(x, act)
    close_inf(y, ref_forward(x, act), err_msg=f"{name} extremes on {isa}")
    assert np.isnan(y[np.isnan(x)]).all()
    if act != RELU:
        assert np.all(np.abs(y[~np.isnan(x)]) <= 1.0)
    dy = np.ones_like(x)
    close_inf(_C.activation_backward(dy, y, act), ref_backward(dy, y, act))


def test_activation_none_and_shapes(isa):
    x = rand((3, 4, 5))
    assert np.array_equal(_C.activation_forward(x, NONE), x)
    assert np.array_equal(_C.activation_backward(x, x, NONE), x)
    y = _C.activation_forward(x, SIGMOID)
    assert y.shape == (3, 4, 5)
    assert_close(y, ref_forward(x, SIGMOID), RTOL, ATOL)
    s = np.array(-2.0, dtype=np.float32)  # 0-d
    assert_close(_C.activation_forward(s, TANH), np.tanh(-2.0), RTOL, ATOL)


def test_activation_matches_gemm_epilogue(isa):
    # The activation kernel reuses the GEMM epilogue: Linear(act) == act(Linear), bitwise.
    rng = np.random.default_rng(3)
    A = rng.standard_normal((7, 5)).astype(np.float32)
    B = rng.standard_normal((5, 37)).astype(np.float32)
    for act in (SIGMOID, TANH, RELU):
        fused = _C.gemm(A, B, None, False, False, 1.0, 0.0, None, act)
        plain = _C.gemm(A, B, None, False, False, 1.0, 0.0, None, NONE)
        assert np.array_equal(fused, _C.activation_forward(plain, act))


# ----------------------------------------------------------------------------- softmax
@pytest.mark.parametrize("shape", [(0, 5), (5, 0), (1, 1), (3, 17), (7, 100003 // 7), (40, 2600)])
def test_softmax_forward_backward(isa, shape):
    x = rand(shape, seed=sum(shape))
    y = _C.softmax_rows(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert_close(y, ref64.softmax(x), RTOL, ATOL, f"softmax {shape} on {isa}")
    if x.size:
        assert_close(y.sum(axis=-1, dtype=np.float64), np.ones(shape[0]), 0, PROB_SUM_ATOL)
    dy = rand(shape, scale=1.0, seed=sum(shape) + 1)
    dx = _C.softmax_rows_backward(dy, y)
    assert_close(dx, ref64.softmax_backward(dy, y), RTOL, softmax_backward_atol(dy, y),
                 f"softmax backward {shape} on {isa}")


def test_softmax_extremes(isa):
    x = np.array(
        [
            [1e4, -1e4, 0.0, 88.0] * 5,
            [-1e4] * 20,
            [88.0, -88.0] * 10,
            [1e-30] * 20,
            [-np.inf] + [0.0] * 19,
            [3.0] * 19 + [np.nan],
            [np.inf] + [0.0] * 19,
        ],
        dtype=np.float32,
    )
    y = _C.softmax_rows(x)
    ref = ref64.softmax(x)  # rows with NaN or +inf are NaN throughout, as in numpy
    assert_close(y, ref, RTOL, ATOL, f"softmax extremes on {isa}")
    assert np.isnan(y[5]).all() and np.isnan(y[6]).all()


# ----------------------------------------------------------------------------- threads
@pytest.mark.parametrize("op", ["sigmoid", "tanh", "relu", "softmax"])
def test_thread_count_independent(isa, threads, op):
    x = rand((37, 5407), seed=11)  # 200K elements: parallel, with a partial last chunk
    dy = rand((37, 5407), scale=1.0, seed=12)
    results = []
    for nt in (1, 2, 3, 8):
        lf.set_num_threads(nt)
        if op == "softmax":
            y = _C.softmax_rows(x)
            dx = _C.softmax_rows_backward(dy, y)
        else:
            y = _C.activation_forward(x, ACTS[op])
            dx = _C.activation_backward(dy, y, ACTS[op])
        results.append((y, dx))
    for y, dx in results[1:]:
        assert np.array_equal(y.view(np.uint32), results[0][0].view(np.uint32))
        assert np.array_equal(dx.view(np.uint32), results[0][1].view(np.uint32))


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs():
    x = rand((4, 6))
    with pytest.raises(TypeError, match="numpy array"):
        _C.activation_forward([1.0, 2.0], SIGMOID)
    with pytest.raises(TypeError, match="float32"):
        _C.activation_forward(x.astype(np.float64), SIGMOID)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.activation_forward(x[:, ::2], SIGMOID)
    with pytest.raises(ValueError, match="activation code"):
        _C.activation_forward(x, 4)
    with pytest.raises(ValueError, match="activation code"):
        _C.activation_backward(x, x, -1)
    with pytest.raises(ValueError, match="same shape"):
        _C.activation_backward(x, x[:3], SIGMOID)
    with pytest.raises(TypeError, match="float32"):
        _C.activation_backward(x.astype(np.float16), x, TANH)
    with pytest.raises(ValueError, match="2-D"):
        _C.softmax_rows(x.reshape(-1))
    with pytest.raises(ValueError, match="2-D"):
        _C.softmax_rows(x.reshape(2, 2, 6))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.softmax_rows(x.T)
    with pytest.raises(TypeError, match="float32"):
        _C.softmax_rows(x.astype(np.int32))
    with pytest.raises(ValueError, match="same shape"):
        _C.softmax_rows_backward(x[:, :5].copy(), x)
    with pytest.raises(TypeError, match="numpy array"):
        _C.softmax_rows_backward(None, x)


# ----------------------------------------------------------------------------- autograd path
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "softmax"])
def test_tensor_ops_use_native_float32(isa, name):
    x = rand((6, 33), seed=5)
    g = rand((6, 33), scale=1.0, seed=6)
    t = lf.Tensor(x, requires_grad=True)
    out = getattr(t, name)()
    assert out.data.dtype == np.float32
    out.backward(g)
    if name == "softmax":
        y_ref = ref64.softmax(x)
        dx_ref = ref64.softmax_backward(g, out.data)
        dx_atol = softmax_backward_atol(g, out.data)
        assert np.array_equal(out.data, _C.softmax_rows(x))
    else:
        y_ref = ref_forward(x, ACTS[name])
        dx_ref = ref_backward(g, out.data, ACTS[name])
        dx_atol = ATOL
        assert np.array_equal(out.data, _C.activation_forward(x, ACTS[name]))
    assert_close(out.data, y_ref, RTOL, ATOL)
    assert_close(t.grad, dx_ref, RTOL, dx_atol)


def test_tensor_softmax_other_axes():
    # Softmax over a non-last axis keeps numpy; N-D last axis goes native; both are correct.
    x = rand((3, 4, 5), seed=9)
    for axis in (0, 1, 2, -1):
        t = lf.Tensor(x, requires_grad=True)
        out = t.softmax(axis=axis)
        xr = np.moveaxis(x, axis, -1)
        assert_close(out.data, np.moveaxis(ref64.softmax(xr), -1, axis), RTOL, ATOL)
        g = rand(x.shape, scale=1.0, seed=10)
        out.backward(g)
        gr = np.moveaxis(g, axis, -1)
        yr = np.moveaxis(out.data, axis, -1)
        dx, dx_atol = ref64.softmax_backward(gr, yr), softmax_backward_atol(gr, yr)
        assert_close(t.grad, np.moveaxis(dx, -1, axis), RTOL, np.moveaxis(dx_atol, -1, axis))


def test_tensor_log_softmax_matches_reference():
    # float32 numpy (not a native kernel): z - log(sum exp z) with z = x - max; each of the few
    # float32 steps rounds relative to |z| + |log sum|, so 4 u of that, plus RTOL_ACT for exp.
    x = rand((5, 40), seed=13)
    out = lf.Tensor(x).log_softmax()
    assert out.data.dtype == np.float32
    ref = ref64.log_softmax(x)
    z = np.abs(x - x.max(axis=-1, keepdims=True))
    lse = np.abs(ref - (x - x.max(axis=-1, keepdims=True)))
    assert_close(out.data, ref, rtol=0, atol=4 * F32_U * (z + lse) + RTOL_ACT * lse + ATOL_ACT)


def test_tensor_float64_keeps_numpy():
    x = rand((4, 9), seed=2).astype(np.float64)
    with lf.tensor.default_dtype(np.float64):
        t = lf.Tensor(x, requires_grad=True)
        out = t.sigmoid()
        assert out.data.dtype == np.float64
        out.backward(np.ones_like(x))
    # numpy float64 1 / (1 + exp(-x)) vs the reference's two-branch form: a few float64
    # roundings each.
    assert_close(out.data, ref_forward(x, SIGMOID), rtol=16 * F64_U, atol=0)


@pytest.mark.parametrize("act", list(lf.Activation.__members__.values()), ids=lambda a: a.name)
def test_optimized_matches_naive_reference(isa, act):
    """The SIMD kernels against the C++ reference beside them (double <cmath>, rounded once):
    they differ by the vectorized approximation's error only; NaN, +-inf and 0 alike."""
    rng = np.random.default_rng(71)
    x = np.concatenate([rng.standard_normal(5000) * 8, [0.0, -0.0, np.inf, -np.inf, np.nan, 90.0,
                                                        -90.0, 1e-30, -1e-30]]).astype(np.float32)
    fast, naive = _C.activation_forward(x, act), _C.activation_forward(x, act, naive=True)
    finite = np.isfinite(naive)
    assert_close(fast[finite], naive[finite], rtol=RTOL, atol=ATOL, err_msg=f"{isa} {act.name}")
    assert np.array_equal(fast[~finite], naive[~finite], equal_nan=True)
    with np.errstate(over="ignore", invalid="ignore"):
        naive64 = ref_forward(x, act).astype(np.float32)  # the obvious math, rounded once
    # Both round the double result once; their libms may differ by an ulp of the double.
    assert np.array_equal(np.isfinite(naive64), finite)
    assert_close(naive[finite], naive64[finite], rtol=F32_U, atol=0.0, err_msg=act.name)


def test_softmax_matches_naive_reference(isa):
    rng = np.random.default_rng(72)
    x = (rng.standard_normal((37, 129)) * 10).astype(np.float32)
    x[3, 5] = np.nan
    x[4] = -np.inf
    fast, naive = _C.softmax_rows(x), _C.softmax_rows(x, naive=True)
    ok = np.isfinite(naive)
    assert np.array_equal(ok, np.isfinite(fast))
    assert_close(fast[ok], naive[ok], rtol=RTOL, atol=ATOL, err_msg=isa)
    assert np.isnan(naive[3]).all() and np.isnan(naive[4]).all()
