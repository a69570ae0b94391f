"""Native 2-D pooling (csrc/ops/pool2d.h): ``_C.{max,avg,l2}_pool2d_{forward,backward}`` (optimized
and naive) against the float64 loops of ``reference.pool2d``, the autograd Functions
``MaxPool2d`` / ``AvgPool2d`` / ``L2Pool2d`` by gradcheck, and the numpy API ``lf.ops.*_pool2d``."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge import functional as F
from latentforge.testing import (
    RTOL_F32,
    assert_close,
    dot_atol,
    gradcheck,
    gradcheck_native,
)

# (H, W, kernel, stride, padding): prime sizes, strides 1-3, overlapping 3x3/2, padding = k//2,
# a window as large as the padded input, 1x1, rectangular windows and strides.
GEOMETRIES = [
    ((7, 11), (2, 2), (2, 2), (0, 0)),
    ((13, 13), (2, 2), (2, 2), (1, 1)),
    ((28, 28), (2, 2), (2, 2), (0, 0)),
    ((29, 31), (3, 3), (2, 2), (0, 0)),
    ((29, 31), (3, 3), (2, 2), (1, 1)),
    ((17, 23), (3, 3), (3, 3), (1, 1)),
    ((11, 13), (3, 3), (1, 1), (1, 1)),
    ((5, 7), (5, 7), (1, 1), (2, 3)),  # window == padded input
    ((5, 7), (5, 7), (2, 2), (0, 0)),  # window == input
    ((7, 5), (1, 1), (1, 1), (0, 0)),
    ((7, 5), (1, 1), (2, 3), (0, 0)),
    ((19, 37), (2, 3), (3, 2), (1, 1)),
    ((3, 41), (3, 2), (1, 2), (1, 0)),
    ((1, 1), (3, 3), (1, 1), (1, 1)),
]
MODES = ["max", "avg", "l2"]


def _gid(g):
    (H, W), k, s, p = g
    return f"{H}x{W}-k{k[0]}{k[1]}-s{s[0]}{s[1]}-p{p[0]}{p[1]}"


def forward(mode, x, k, s, p, naive=False):
    return getattr(_C, f"{mode}_pool2d_forward")(x, k, s, p, naive=naive)


def backward(mode, dy, x, y, argmax, k, s, p, naive=False):
    hw = x.shape[2:]
    if mode == "max":
        return _C.max_pool2d_backward(dy, argmax, hw, k, s, p, naive=naive)
    if mode == "avg":
        return _C.avg_pool2d_backward(dy, hw, k, s, p, naive=naive)
    return _C.l2_pool2d_backward(dy, x, y, k, s, p, naive=naive)


def _data(rng, shape, ties=True):
    x = rng.standard_normal(shape).astype(np.float32)
    if ties:  # a sprinkle of equal values, so the tie rule matters somewhere
        x.reshape(-1)[::7] = np.round(x.reshape(-1)[::7])
    return x


def check_forward(mode, x, k, s, p, naive=False):
    out = forward(mode, x, k, s, p, naive)
    if mode == "max":
        y, argmax = out
        ref, ref_arg = ref64.pool2d(x, "max", k, s, p)
        assert argmax.dtype == np.int32
        # A selection: the exact input value and its exact index.
        np.testing.assert_array_equal(argmax, ref_arg)
        np.testing.assert_array_equal(y, ref.astype(np.float32))
        return y, argmax
    y = out
    ref = ref64.pool2d(x, mode, k, s, p)
    assert y.dtype == np.float32 and y.shape == ref.shape
    # float32 window sums: the reduction bound on the sum of |terms| (squares for l2, whose
    # sqrt halves the relative error).
    terms = ref64.pool2d(np.abs(x), "avg" if mode == "avg" else "l2", k, s, p)
    assert_close(y, ref, rtol=RTOL_F32, atol=dot_atol(terms) + 1e-30)
    return y, None


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geom", GEOMETRIES, ids=_gid)
def test_forward_matches_float64(geom, mode, naive):
    (H, W), k, s, p = geom
    rng = np.random.default_rng(H * 101 + W + k[0] * 7 + s[1])
    check_forward(mode, _data(rng, (2, 3, H, W)), k, s, p, naive)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geom", GEOMETRIES, ids=_gid)
def test_backward_matches_float64(geom, mode, naive):
    (H, W), k, s, p = geom
    rng = np.random.default_rng(H * 31 + W + k[1] * 5 + p[0])
    x = _data(rng, (2, 3, H, W))
    y, argmax = check_forward(mode, x, k, s, p)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = backward(mode, dy, x, y, argmax, k, s, p, naive)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    ref = ref64.pool2d_backward(dy, mode, x.shape, k, s, p, argmax=argmax, x=x, y=y)
    # The sum over the windows covering each input, bounded by the sum of its |terms|.
    terms = ref64.pool2d_backward(np.abs(dy), mode, x.shape, k, s, p, argmax=argmax,
                                  x=np.abs(x), y=y)
    assert_close(dx, ref, rtol=RTOL_F32, atol=dot_atol(terms) + 1e-30)


@pytest.mark.parametrize("geom", GEOMETRIES, ids=_gid)
def test_max_optimized_equals_naive_bitwise(geom):
    # The max and its argmax are selections, and the non-overlapping backward is a copy.
    (H, W), k, s, p = geom
    rng = np.random.default_rng(7)
    x = _data(rng, (3, 2, H, W))
    y, a = _C.max_pool2d_forward(x, k, s, p)
    yn, an = _C.max_pool2d_forward(x, k, s, p, naive=True)
    np.testing.assert_array_equal(y, yn)
    np.testing.assert_array_equal(a, an)
    if s[0] >= k[0] and s[1] >= k[1]:
        dy = rng.standard_normal(y.shape).astype(np.float32)
        np.testing.assert_array_equal(
            _C.max_pool2d_backward(dy, a, (H, W), k, s, p),
            _C.max_pool2d_backward(dy, a, (H, W), k, s, p, naive=True),
        )


# ------------------------------------------------------------------------------ max rules
def test_ties_take_the_first_in_row_major_order():
    x = np.zeros((1, 2, 4, 4), np.float32)  # plane 0: all equal; plane 1: ties inside windows
    x[0, 1] = [[1, 3, 3, 0], [3, 2, 0, 5], [4, 4, 7, 1], [4, 4, 1, 7]]
    y, a = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(a[0, 0], [[0, 2], [8, 10]])  # each window's first element
    np.testing.assert_array_equal(y[0, 1], [[3, 5], [4, 7]])
    np.testing.assert_array_equal(a[0, 1], [[1, 7], [8, 10]])
    # +0 and -0 compare equal: the first one is kept, with its sign.
    z = np.array([[[[-0.0, 0.0], [0.0, -0.0]]]], np.float32)
    y, a = _C.max_pool2d_forward(z, (2, 2), (2, 2), (0, 0))
    assert a[0, 0, 0, 0] == 0 and np.signbit(y[0, 0, 0, 0])


def test_ties_overlapping_and_simd_blocks():
    # Wide rows run the vectorized path: integer data makes every window tie somewhere.
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(2, 3, 21, 45)).astype(np.float32)
    for k, s, p in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((3, 3), (2, 2), (0, 0))]:
        check_forward("max", x, k, s, p)


def test_nan_propagates_and_argmax_is_the_first_nan():
    rng = np.random.default_rng(4)
    x = _data(rng, (1, 2, 9, 20))
    x[0, 0, 2, 5] = np.nan  # windows 2x2/2: (1, 2); 3x3/2 p1: several
    x[0, 0, 3, 4] = np.nan
    x[0, 1, 0, 0] = np.nan
    for k, s, p in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((2, 3), (1, 2), (1, 1))]:
        y, a = check_forward("max", x, k, s, p)  # the reference follows numpy's argmax rule
        picked = np.take_along_axis(x.reshape(1, 2, -1), a.reshape(1, 2, -1), -1)
        assert np.isnan(y).any()
        np.testing.assert_array_equal(np.isnan(y).reshape(1, 2, -1), np.isnan(picked))
    y, a = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert np.isnan(y[0, 0, 1, 2]) and a[0, 0, 1, 2] == 2 * 20 + 5
    # 3x3/2 pad 1: output (1, 2) covers rows 1..3 and columns 3..5, so both NaNs, (2, 5) first
    # in row-major order; output (2, 2) covers rows 3..5 and holds only (3, 4).
    y, a = _C.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
    assert np.isnan(y[0, 0, 1, 2]) and a[0, 0, 1, 2] == 2 * 20 + 5
    assert np.isnan(y[0, 0, 2, 2]) and a[0, 0, 2, 2] == 3 * 20 + 4
    for mode in ("avg", "l2"):
        y = forward(mode, x, (2, 2), (2, 2), (0, 0))
        assert np.isnan(y[0, 0, 1, 2]) and np.isnan(y[0, 1, 0, 0])


def test_padding_is_never_selected():
    x = -np.abs(np.random.default_rng(5).standard_normal((2, 2, 7, 8))).astype(np.float32) - 1
    x[0, 0] = -np.inf  # all -inf: the window's first input element, not a padded position
    for k, s, p in [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (1, 1)), ((5, 5), (3, 3), (2, 2))]:
        y, a = check_forward("max", x, k, s, p)
        assert (a >= 0).all() and (a < 7 * 8).all()
        assert (y[0, 0] == -np.inf).all() and (y[1:] < 0).all()
    y, a = _C.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(a[0, 0, 0], [0, 1, 3, 5])


def test_infinities_and_large_values():
    x = np.random.default_rng(6).standard_normal((1, 2, 6, 10)).astype(np.float32)
    x[0, 0, 0, 0] = np.inf
    x[0, 1, 2:4, 2:4] = -np.inf
    for k, s, p in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1))]:
        check_forward("max", x, k, s, p)


# ------------------------------------------------------------------------------ l2 and avg
def test_l2_all_zero_window_has_zero_gradient():
    x = np.random.default_rng(8).standard_normal((2, 3, 8, 12)).astype(np.float32)
    x[0, 1, 2:6, 4:8] = 0  # whole 2x2/2 windows of zeros
    x[1, 2] = 0  # a whole plane
    for k, s, p in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1))]:
        y = _C.l2_pool2d_forward(x, k, s, p)
        dy = np.ones_like(y)
        for naive in (False, True):
            dx = _C.l2_pool2d_backward(dy, x, y, k, s, p, naive=naive)
            assert np.isfinite(dx).all()
            assert (dx[1, 2] == 0).all()
    y = _C.l2_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    assert (y[0, 1, 1:3, 2:4] == 0).all()
    dx = _C.l2_pool2d_backward(np.ones_like(y), x, y, (2, 2), (2, 2), (0, 0))
    assert (dx[0, 1, 2:6, 4:8] == 0).all()
    # Through autograd, float32 and float64 alike.
    for dtype in (np.float32, np.float64):
        with lf.tensor.default_dtype(dtype):
            t = lf.Tensor(x.astype(dtype), requires_grad=True)
            F.l2_pool2d(t, 2).sum().backward()
            assert np.isfinite(t.grad).all() and (t.grad[1, 2] == 0).all()


def test_avg_counts_padding_in_the_divisor():
    x = np.ones((1, 1, 4, 4), np.float32)
    y = _C.avg_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
    np.testing.assert_array_equal(y[0, 0], np.array([[4, 6], [6, 9]], np.float32) / 9)


@pytest.mark.parametrize("mode", MODES)
def test_simd_and_scalar_paths_agree_bitwise(mode):
    # The SSE2 blocks and the scalar window loop do the same arithmetic in the same order.
    rng = np.random.default_rng(9)
    x = _data(rng, (2, 3, 23, 45))
    previous = _C.isa_active()
    for k, s, p in [((2, 2), (2, 2), (0, 0)), ((2, 2), (2, 2), (1, 1)), ((3, 3), (2, 2), (1, 1)),
                    ((3, 3), (2, 2), (0, 0))]:
        out = []
        for isa in (previous, "scalar"):
            _C.set_isa(isa)
            try:
                res = forward(mode, x, k, s, p)
                y, a = res if mode == "max" else (res, None)
                dy = rng.standard_normal(y.shape).astype(np.float32) if not out else out[0][2]
                out.append((y, a, dy, backward(mode, dy, x, y, a, k, s, p)))
            finally:
                _C.set_isa(previous)
        (y0, a0, _, g0), (y1, a1, _, g1) = out
        np.testing.assert_array_equal(y0, y1)
        np.testing.assert_array_equal(g0, g1)
        if mode == "max":
            np.testing.assert_array_equal(a0, a1)


@pytest.mark.parametrize("mode", MODES)
def test_thread_count_independence(mode, threads):
    rng = np.random.default_rng(10)
    x = _data(rng, (4, 8, 33, 35))  # 32 planes of 1155: above the serial threshold
    results = []
    for k, s, p in [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 1), (1, 1))]:
        for n in (1, 2, 3):
            lf.set_num_threads(n)
            res = forward(mode, x, k, s, p)
            y, a = res if mode == "max" else (res, None)
            dy = np.cos(np.arange(y.size, dtype=np.float32)).reshape(y.shape)
            results.append(((k, s, p), n, y, a, backward(mode, dy, x, y, a, k, s, p)))
    for geom, n, y, a, dx in results:
        base = next(r for r in results if r[0] == geom and r[1] == 1)
        np.testing.assert_array_equal(y, base[2], err_msg=f"{geom} threads={n}")
        np.testing.assert_array_equal(dx, base[4], err_msg=f"{geom} threads={n}")
        if a is not None:
            np.testing.assert_array_equal(a, base[3])


# ------------------------------------------------------------------------------ autograd
_POOLS = {"max": F.max_pool2d, "avg": F.avg_pool2d, "l2": F.l2_pool2d}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "k,s,p", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))], ids=["k2", "k3s2p1", "k23"]
)
def test_gradcheck(mode, k, s, p):
    rng = np.random.default_rng(11)
    # Distinct, well separated values: no max tie flips under the difference step.
    x = (rng.permutation(2 * 2 * 5 * 7) / 10.0 - 7.0).reshape(2, 2, 5, 7)
    assert gradcheck(lambda t: _POOLS[mode](t, k, s, p), [x])


@pytest.mark.parametrize("mode", MODES)
def test_native_backward_matches_float64_path(mode):
    rng = np.random.default_rng(12)
    x = (rng.permutation(2 * 3 * 9 * 11) / 50.0 - 2.0).reshape(2, 3, 9, 11)
    assert gradcheck_native(lambda t: _POOLS[mode](t, 3, 2, 1), [x])
    assert gradcheck_native(lambda t: _POOLS[mode](t, 2), [x])


def test_functional_matches_ops_and_float64_forward():
    x = np.random.default_rng(13).standard_normal((2, 3, 9, 10)).astype(np.float32)
    for mode, fn in _POOLS.items():
        y = fn(lf.Tensor(x), 3, 2, 1).data
        np.testing.assert_array_equal(y, getattr(lf.ops, f"{mode}_pool2d")(x, 3, 2, 1))
        with lf.tensor.default_dtype(np.float64):
            y64 = fn(lf.Tensor(x.astype(np.float64)), 3, 2, 1).data
        assert y64.dtype == np.float64
        ref = ref64.pool2d(x, mode, (3, 3), (2, 2), (1, 1))
        assert_close(y64, ref[0] if mode == "max" else ref, rtol=1e-12, atol=1e-12)


def test_ops_api():
    x = np.random.default_rng(14).standard_normal((2, 3, 8, 9))
    y, a = lf.ops.max_pool2d(x, 2, return_indices=True)  # float64 is converted once
    assert y.dtype == np.float32 and a.dtype == np.int32 and y.shape == (2, 3, 4, 4)
    assert lf.ops.max_pool2d(x, (2, 2), stride=(2, 2), padding=(0, 0)).shape == (2, 3, 4, 4)
    assert lf.ops.avg_pool2d(x[:, :, :, ::-1], 3, 2, 1).shape == (2, 3, 4, 5)  # any strides
    assert lf.ops.l2_pool2d(x, 3, 1).shape == (2, 3, 6, 7)


def test_against_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(15).standard_normal((2, 3, 11, 13)).astype(np.float32)
    xt = torch.from_numpy(x)
    for k, s, p in [(2, 2, 0), (3, 2, 1), (3, 3, 1)]:
        yt, it = torch.nn.functional.max_pool2d(xt, k, s, p, return_indices=True)
        y, a = lf.ops.max_pool2d(x, k, s, p, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        np.testing.assert_array_equal(a, it.numpy())
        yt = torch.nn.functional.avg_pool2d(xt, k, s, p)
        assert_close(lf.ops.avg_pool2d(x, k, s, p), yt.numpy(), atol=1e-6)
    for k, s in [(2, 2), (3, 2)]:
        yt = torch.nn.functional.lp_pool2d(xt, 2, k, s)
        assert_close(lf.ops.l2_pool2d(x, k, s), yt.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ bad arguments
def test_bad_arguments_binding():
    x = np.zeros((1, 2, 6, 6), np.float32)
    K, S, P = (2, 2), (2, 2), (0, 0)
    with pytest.raises(ValueError, match="kernel_size"):
        _C.max_pool2d_forward(x, (0, 2), S, P)
    with pytest.raises(ValueError, match="stride"):
        _C.avg_pool2d_forward(x, K, (2, 0), P)
    with pytest.raises(ValueError, match="padding"):
        _C.l2_pool2d_forward(x, K, S, (2, 0))
    with pytest.raises(ValueError, match="padding"):
        _C.l2_pool2d_forward(x, K, S, (-1, 0))
    with pytest.raises(ValueError, match="kernel_size"):
        _C.max_pool2d_forward(x, (7, 2), S, P)
    with pytest.raises(TypeError, match="kernel_size"):
        _C.max_pool2d_forward(x, 2, S, P)
    with pytest.raises(TypeError, match="kernel_size"):
        _C.max_pool2d_forward(x, (2.0, 2), S, P)
    with pytest.raises(TypeError, match="stride"):
        _C.max_pool2d_forward(x, K, (True, 2), P)
    with pytest.raises(ValueError, match="padding"):
        _C.max_pool2d_forward(x, K, S, (0, 0, 0))
    with pytest.raises(ValueError, match="x must be 4-D"):
        _C.max_pool2d_forward(x[0], K, S, P)
    with pytest.raises(TypeError, match="x must be a float32"):
        _C.max_pool2d_forward(x.astype(np.float64), K, S, P)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        _C.max_pool2d_forward(x[:, :, :, ::2], K, S, P)
    with pytest.raises(ValueError, match="x must have H >= 1"):
        _C.max_pool2d_forward(np.zeros((1, 1, 0, 3), np.float32), K, S, P)
    y, a = _C.max_pool2d_forward(x, K, S, P)
    with pytest.raises(ValueError, match="argmax holds an index"):
        _C.max_pool2d_backward(y, np.full_like(a, 36), (6, 6), K, S, P)
    with pytest.raises(ValueError, match="argmax holds an index"):
        _C.max_pool2d_backward(y, np.full_like(a, -1), (6, 6), K, S, P, naive=True)
    with pytest.raises(TypeError, match="argmax must be a int32"):
        _C.max_pool2d_backward(y, a.astype(np.int64), (6, 6), K, S, P)
    with pytest.raises(ValueError, match="dy must have shape"):
        _C.max_pool2d_backward(y, a, (9, 9), K, S, P)
    with pytest.raises(ValueError, match="argmax must have shape"):
        _C.max_pool2d_backward(y, a[:, :, :2].copy(), (6, 6), K, S, P)
    with pytest.raises(ValueError, match="input_hw"):
        _C.avg_pool2d_backward(y, (0, 6), K, S, P)
    with pytest.raises(ValueError, match="y must have shape"):
        _C.l2_pool2d_backward(y, x, y[:, :1].copy(), K, S, P)
    with pytest.raises(ValueError, match="x and dy"):
        _C.l2_pool2d_backward(y, x[:, :1].copy(), y, K, S, P)
    with pytest.raises(TypeError, match="dy must be a numpy array"):
        _C.avg_pool2d_backward([1.0], (6, 6), K, S, P)


def test_bad_arguments_python():
    x = lf.Tensor(np.zeros((1, 2, 6, 6), np.float32))
    for fn in (F.max_pool2d, F.avg_pool2d, F.l2_pool2d, lf.ops.max_pool2d):
        with pytest.raises(ValueError, match="kernel_size"):
            fn(x if fn is not lf.ops.max_pool2d else x.data, 0)
        with pytest.raises(ValueError, match="kernel_size"):
            fn(x if fn is not lf.ops.max_pool2d else x.data, 8)
    with pytest.raises(TypeError, match="kernel_size"):
        F.max_pool2d(x, 2.5)
    with pytest.raises(TypeError, match="stride"):
        F.max_pool2d(x, 2, stride="2")
    with pytest.raises(ValueError, match="stride"):
        F.avg_pool2d(x, 2, stride=0)
    with pytest.raises(ValueError, match="padding"):
        F.l2_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="kernel_size"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(ValueError, match="x must be 4-D"):
        F.max_pool2d(lf.Tensor(np.zeros((2, 6, 6), np.float32)), 2)
    with pytest.raises(ValueError, match="x must be 4-D"):
        lf.ops.avg_pool2d(np.zeros((2, 6, 6), np.float32), 2)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        lf.ops.l2_pool2d(np.zeros((1, 1, 4, 4), np.int64), 2)
    with lf.tensor.default_dtype(np.float64):  # the numpy path validates alike
        with pytest.raises(ValueError, match="padding"):
            F.max_pool2d(lf.Tensor(np.zeros((1, 1, 6, 6))), 3, padding=2)
