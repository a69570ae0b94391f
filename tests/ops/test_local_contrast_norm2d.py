"""Native local contrast normalisation (csrc/ops/local_contrast_norm2d.h):
``_C.local_contrast_norm2d_{forward,backward}`` (optimized and naive) against the float64 loops of
``reference.local_contrast_norm2d``, its properties (constant image, shift and scale invariance,
sample independence), the autograd Function ``LocalContrastNorm2d`` by gradcheck, thread-count
independence, the layer ``lf.nn.LocalContrastNorm2d`` and bad arguments."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge import functional as F
from latentforge.testing import (
    F64_U,
    GRAD_F32_TOL,
    LCN_TOL,
    assert_normwise_close,
    gradcheck,
    gradcheck_native,
)

EPS = 1e-4
# (N, C, H, W, size, sigma or None): one map and several, prime and unequal sides, sizes 1 to 9,
# images smaller than the window (3x2 with size 7, 1x1), the benchmark's shapes.
CASES = [
    (2, 1, 7, 11, 5, None),
    (2, 3, 13, 11, 3, None),
    (1, 3, 5, 7, 7, None),
    (3, 2, 17, 19, 1, None),
    (2, 3, 3, 2, 7, None),
    (2, 1, 1, 1, 5, None),
    (1, 5, 11, 29, 9, 3.0),
    (2, 3, 23, 17, 5, 0.6),
    (2, 8, 26, 26, 5, None),
    (2, 1, 28, 28, 5, None),
]


def _cid(c):
    return f"{c[0]}x{c[1]}x{c[2]}x{c[3]}-k{c[4]}" + ("" if c[5] is None else f"-s{c[5]}")


def _sigma(size, sigma):
    return size / 4.0 if sigma is None else sigma


def _data(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _forward(x, size, sigma, eps=EPS, naive=False):
    return _C.local_contrast_norm2d_forward(x, size, sigma, eps, naive=naive)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_forward_matches_float64(case, naive):
    N, C, H, W, size, sigma = case
    sigma = _sigma(size, sigma)
    x = _data((N, C, H, W), N * 7 + C * 5 + H + W + size) + 0.5
    y, m, s, c = _forward(x, size, sigma, naive=naive)
    assert y.dtype == m.dtype == s.dtype == c.dtype == np.float32
    assert y.shape == x.shape and m.shape == s.shape == (N, H, W) and c.shape == (N,)
    ry, rm, rs, rc = ref64.local_contrast_norm2d(x, size, sigma, EPS)
    assert_normwise_close(y, ry, LCN_TOL, err_msg="(y)")
    assert_normwise_close(m, rm, LCN_TOL, err_msg="(mean)")
    assert_normwise_close(s, rs, LCN_TOL, err_msg="(sigma)")
    assert_normwise_close(c, rc, LCN_TOL, err_msg="(c)")


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("case", CASES, ids=_cid)
def test_backward_matches_float64(case, naive):
    N, C, H, W, size, sigma = case
    sigma = _sigma(size, sigma)
    rng = np.random.default_rng(N + C * 3 + H * 5 + W + size)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    dy = rng.standard_normal((N, C, H, W)).astype(np.float32)
    y, m, s, c = _forward(x, size, sigma)
    dx = _C.local_contrast_norm2d_backward(dy, x, m, s, c, size, sigma, EPS, naive=naive)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    ref = ref64.local_contrast_norm2d_backward(dy, x, size, sigma, EPS)
    assert_normwise_close(dx, ref, LCN_TOL)


def test_reference_backward_is_the_gradient_of_the_reference_forward():
    # The float64 oracle's chain rule against central differences of its own forward.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 4, 5))
    dy = rng.standard_normal(x.shape)
    x[1] = 1e-7 * x[1] + 0.3  # a nearly flat sample: eps is selected everywhere there
    x[0, :, :2, :2] = 0.25  # a flat patch: sigma is small there, c is selected
    for size in (3, 7):
        g = ref64.local_contrast_norm2d_backward(dy, x, size, 1.1, EPS)
        num = np.zeros_like(x)
        h = 1e-6
        for i in range(x.size):
            xp, xm = x.copy(), x.copy()
            xp.flat[i] += h
            xm.flat[i] -= h
            fp = (ref64.local_contrast_norm2d(xp, size, 1.1, EPS)[0] * dy).sum()
            fm = (ref64.local_contrast_norm2d(xm, size, 1.1, EPS)[0] * dy).sum()
            num.flat[i] = (fp - fm) / (2 * h)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5 * np.abs(num).max())


# ------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("shape,size", [((2, 3, 9, 8), 5), ((1, 1, 4, 6), 7), ((3, 2, 1, 1), 3)])
@pytest.mark.parametrize("value", [0.0, 0.3, -250.0, 1e6])
def test_constant_image_gives_zero(shape, size, value):
    x = np.full(shape, value, np.float32)
    y, m, s, c = _forward(x, size, size / 4.0)
    np.testing.assert_array_equal(y, 0.0)  # exact: the sample is centred on its first element
    np.testing.assert_array_equal(m, np.float32(value))
    np.testing.assert_array_equal(s, 0.0)
    np.testing.assert_array_equal(c, 0.0)
    dy = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    dx = _C.local_contrast_norm2d_backward(dy, x, m, s, c, size, size / 4.0, EPS)
    # eps is selected everywhere: y = v / eps, whose gradient removes the local mean of dy.
    assert np.isfinite(dx).all()
    ref = ref64.local_contrast_norm2d_backward(dy, x.astype(np.float64), size, size / 4.0, EPS)
    assert_normwise_close(dx, ref, LCN_TOL)
    yn = _forward(x, size, size / 4.0, naive=True)[0]  # double: v = 0 up to rounding, over eps
    assert np.abs(yn).max() <= 256 * F64_U * max(abs(value), 1.0) / EPS


def test_constant_maps_with_contrast_across_maps():
    # Each map constant, the maps different: m = 1, v = (0, -3, 3), sigma = c = sqrt(6) at every
    # position, the border included (the renormalised window).
    x = np.broadcast_to(np.array([1.0, -2.0, 4.0], np.float32)[None, :, None, None],
                        (1, 3, 8, 9)).copy()
    y = _forward(x, 5, 1.25)[0]
    expected = np.broadcast_to((np.array([0.0, -3.0, 3.0]) / np.sqrt(6))[None, :, None, None],
                               x.shape)
    assert_normwise_close(y, expected, LCN_TOL)
    assert_normwise_close(y, ref64.local_contrast_norm2d(x, 5, 1.25, EPS)[0], LCN_TOL)


def test_invariances():
    x = _data((3, 4, 15, 13), 2)
    y = _forward(x, 5, 1.25)[0]
    # Scaling by a power of two scales every intermediate exactly (eps is never selected here).
    np.testing.assert_array_equal(_forward(4 * x, 5, 1.25)[0], y)
    assert_normwise_close(_forward(3 * x, 5, 1.25)[0], y, LCN_TOL)
    assert_normwise_close(_forward(x + 7.5, 5, 1.25)[0], y, LCN_TOL)


def test_samples_are_independent():
    x = _data((5, 3, 10, 7), 3)
    dy = _data(x.shape, 4)
    y, m, s, c = _forward(x, 5, 1.25)
    dx = _C.local_contrast_norm2d_backward(dy, x, m, s, c, 5, 1.25, EPS)
    for n in (0, 3):
        yn, mn, sn, cn = _forward(x[n:n + 1].copy(), 5, 1.25)
        np.testing.assert_array_equal(yn[0], y[n])
        np.testing.assert_array_equal(cn[0], c[n])
        dxn = _C.local_contrast_norm2d_backward(dy[n:n + 1].copy(), x[n:n + 1].copy(), mn, sn, cn,
                                                5, 1.25, EPS)
        np.testing.assert_array_equal(dxn[0], dx[n])


def test_window_larger_than_the_image():
    # A huge window over a tiny image: only the in-bounds taps matter.
    x = _data((2, 2, 5, 4), 5)
    for naive in (False, True):
        y = _forward(x, 101, 3.0, naive=naive)[0]
        assert_normwise_close(y, ref64.local_contrast_norm2d(x, 101, 3.0, EPS)[0], LCN_TOL)


def test_extreme_sigma():
    # sigma -> 0: the window is the pixel itself (size 1); sigma -> inf: a flat box.
    x = _data((2, 3, 6, 7), 16)
    for naive in (False, True):
        np.testing.assert_array_equal(_forward(x, 5, 1e-200, naive=naive)[0],
                                      _forward(x, 1, 1.0, naive=naive)[0])
        y = _forward(x, 5, 1e200, naive=naive)[0]
        assert_normwise_close(y, ref64.local_contrast_norm2d(x, 5, 1e200, EPS)[0], LCN_TOL)


def test_empty_batch():
    x = np.zeros((0, 3, 5, 6), np.float32)
    y, m, s, c = _forward(x, 5, 1.25)
    assert y.shape == x.shape and m.shape == s.shape == (0, 5, 6) and c.shape == (0,)
    dx = _C.local_contrast_norm2d_backward(y, x, m, s, c, 5, 1.25, EPS)
    assert dx.shape == x.shape


def test_thread_count_independence(threads):
    x = _data((8, 8, 26, 26), 6)  # 8 samples of 5408 values: above the serial threshold
    dy = _data(x.shape, 7)
    results = []
    for n in (1, 2, 3):
        lf.set_num_threads(n)
        y, m, s, c = _forward(x, 5, 1.25)
        dx = _C.local_contrast_norm2d_backward(dy, x, m, s, c, 5, 1.25, EPS)
        results.append((y, m, s, c, dx))
    for res in results[1:]:
        for a, b in zip(res, results[0]):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------ autograd
@pytest.mark.parametrize(
    "shape,size,sigma",
    [((1, 2, 5, 6), 3, None), ((2, 1, 4, 3), 5, None), ((1, 3, 3, 4), 1, None),
     ((2, 2, 6, 5), 5, 0.8)],
)
def test_gradcheck(shape, size, sigma):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    assert gradcheck(lambda t: F.local_contrast_norm2d(t, size, sigma), [x])


def test_gradcheck_flat_regions():
    # A nearly flat sample (eps selected everywhere) and a nearly flat patch (sigma small, c
    # selected there). (An exactly flat window, sigma = 0, is a kink of the norm: there the
    # gradient takes the subgradient 0, checked against the reference in
    # test_flat_window_takes_the_zero_subgradient.)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 2, 5, 6))
    x[1] = 0.3 + 1e-7 * x[1]
    x[0, :, :3, :3] = 0.5 + 1e-3 * x[0, :, :3, :3]
    assert gradcheck(lambda t: F.local_contrast_norm2d(t, 3), [x])


def test_flat_window_takes_the_zero_subgradient():
    # The first element of the sample and its whole 4x4 corner are equal: v = 0 exactly in the
    # corner's windows, sigma = 0 there, and the gradient through sigma is 0 (finite).
    rng = np.random.default_rng(15)
    x = rng.standard_normal((1, 2, 6, 7)).astype(np.float32)
    x[0, :, :4, :4] = x[0, 0, 0, 0]
    dy = rng.standard_normal(x.shape).astype(np.float32)
    y, m, s, c = _forward(x, 3, 0.75)
    assert (s[0, :2, :2] == 0).all() and c[0] > 0
    dx = _C.local_contrast_norm2d_backward(dy, x, m, s, c, 3, 0.75, EPS)
    assert np.isfinite(dx).all()
    with lf.tensor.default_dtype(np.float64):
        t = lf.Tensor(x.astype(np.float64), requires_grad=True)
        F.local_contrast_norm2d(t, 3, 0.75).backward(dy.astype(np.float64))
    assert_normwise_close(dx, t.grad, LCN_TOL)


def test_native_matches_float64_path():
    x = np.random.default_rng(10).standard_normal((2, 3, 9, 11))
    assert gradcheck_native(lambda t: F.local_contrast_norm2d(t, 5), [x], tol=GRAD_F32_TOL)
    assert gradcheck_native(lambda t: F.local_contrast_norm2d(t, 3, 2.0), [x], tol=GRAD_F32_TOL)


def test_functional_float64_matches_reference():
    x = np.random.default_rng(11).standard_normal((2, 3, 7, 6))
    dy = np.random.default_rng(12).standard_normal(x.shape)
    for size, sigma in ((5, None), (9, 1.5), (1, None)):
        with lf.tensor.default_dtype(np.float64):
            t = lf.Tensor(x, requires_grad=True)
            y = F.local_contrast_norm2d(t, size, sigma)
            y.backward(dy)
        s = _sigma(size, sigma)
        np.testing.assert_allclose(y.data, ref64.local_contrast_norm2d(x, size, s, EPS)[0],
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(t.grad, ref64.local_contrast_norm2d_backward(dy, x, size, s,
                                                                                EPS),
                                   rtol=1e-10, atol=1e-12)


def test_layer_in_sequential():
    x = _data((4, 1, 12, 12), 13)
    conv = lf.nn.Conv2d(1, 3, 3, padding=1, random_state=0)
    lcn = lf.nn.LocalContrastNorm2d()
    model = lf.nn.Sequential(conv, lcn, lf.nn.MaxPool2d(2), lf.nn.Flatten())
    assert repr(lcn) == "LocalContrastNorm2d(size=5, sigma=1.25, eps=0.0001)"
    assert lcn.parameters() == []
    out = model(lf.Tensor(x))
    assert out.shape == (4, 3 * 6 * 6)
    (out * out).sum().backward()
    assert conv.weight.grad is not None and np.isfinite(conv.weight.grad).all()
    h = conv(lf.Tensor(x)).data
    np.testing.assert_array_equal(lcn(lf.Tensor(h)).data, _forward(h, 5, 1.25)[0])
    assert repr(lf.nn.LocalContrastNorm2d(7, 2, 1e-3)) == (
        "LocalContrastNorm2d(size=7, sigma=2, eps=0.001)")


def test_against_torch():
    torch = pytest.importorskip("torch")
    x = _data((3, 4, 13, 17), 14)
    size, sigma = 5, 1.25
    p = np.arange(size) - size // 2
    g = np.exp(-p * p / (2 * sigma * sigma))
    w2 = np.outer(g, g) / np.outer(g, g).sum()
    C = x.shape[1]
    k = torch.from_numpy(np.repeat(w2[None, None] / C, C, axis=1).astype(np.float32))
    xt = torch.from_numpy(x)
    conv = torch.nn.functional.conv2d
    Z = conv(torch.ones(1, C, *x.shape[2:]), k, padding=size // 2)
    m = conv(xt, k, padding=size // 2) / Z
    v = xt - m
    s = torch.sqrt(conv(v * v, k, padding=size // 2) / Z)
    c = s.mean(dim=(1, 2, 3), keepdim=True)
    yt = v / torch.clamp(torch.maximum(c, s), min=EPS)
    assert_normwise_close(_forward(x, size, sigma)[0], yt.numpy(), LCN_TOL)


# ------------------------------------------------------------------------------ bad arguments
def test_bad_arguments_functional():
    x = lf.Tensor(np.zeros((1, 2, 5, 5), np.float32))
    with pytest.raises(ValueError, match="x must be 4-D"):
        F.local_contrast_norm2d(lf.Tensor(np.zeros((2, 5, 5), np.float32)))
    for bad in (4, 0, -3):
        with pytest.raises(ValueError, match="size"):
            F.local_contrast_norm2d(x, bad)
    for bad in (3.0, True, "5", None):
        with pytest.raises(TypeError, match="size"):
            F.local_contrast_norm2d(x, bad)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma"):
            F.local_contrast_norm2d(x, 5, bad)
    with pytest.raises(TypeError, match="sigma"):
        F.local_contrast_norm2d(x, 5, "wide")
    for bad in (0.0, -1e-3, float("nan")):
        with pytest.raises(ValueError, match="eps"):
            F.local_contrast_norm2d(x, 5, None, bad)
    with pytest.raises(TypeError, match="x"):
        F.local_contrast_norm2d(np.zeros((1, 1, 3, 3), np.int32))
    with pytest.raises(ValueError, match="size"):
        lf.nn.LocalContrastNorm2d(size=6)
    with pytest.raises(ValueError, match="sigma"):
        lf.nn.LocalContrastNorm2d(sigma=-1)
    with pytest.raises(ValueError, match="LocalContrastNorm2d expects x of shape"):
        lf.nn.LocalContrastNorm2d()(lf.Tensor(np.zeros((5, 5), np.float32)))


def test_bad_arguments_binding():
    x = np.zeros((1, 2, 5, 5), np.float32)
    y, m, s, c = _forward(x, 5, 1.25)
    with pytest.raises(ValueError, match="size"):
        _forward(x, 2, 1.25)
    with pytest.raises(TypeError, match="size"):
        _forward(x, 2.5, 1.25)
    with pytest.raises(ValueError, match="sigma"):
        _forward(x, 3, 0.0)
    with pytest.raises(ValueError, match="eps"):
        _forward(x, 3, 1.0, eps=-1.0)
    with pytest.raises(ValueError, match="x must be 4-D"):
        _forward(x[0], 3, 1.0)
    with pytest.raises(TypeError, match="x must be a float32"):
        _forward(x.astype(np.float64), 3, 1.0)
    with pytest.raises(ValueError, match="x must be C-contiguous"):
        _forward(np.zeros((1, 2, 5, 10), np.float32)[:, :, :, ::2], 3, 1.0)
    with pytest.raises(ValueError, match="x must have C, H, W >= 1"):
        _forward(np.zeros((1, 0, 5, 5), np.float32), 3, 1.0)
    bwd = _C.local_contrast_norm2d_backward
    with pytest.raises(ValueError, match="dy and x"):
        bwd(y[:, :1].copy(), x, m, s, c, 5, 1.25, EPS)
    with pytest.raises(ValueError, match="mean must have shape"):
        bwd(y, x, m[:, :4].copy(), s, c, 5, 1.25, EPS)
    with pytest.raises(ValueError, match="sigma_map must be 3-D"):
        bwd(y, x, m, s[0], c, 5, 1.25, EPS)
    with pytest.raises(ValueError, match="c must have shape"):
        bwd(y, x, m, s, np.zeros(2, np.float32), 5, 1.25, EPS)
    with pytest.raises(TypeError, match="dy must be a numpy array"):
        bwd([1.0], x, m, s, c, 5, 1.25, EPS)
