"""Native conv2d (``_C.conv2d_forward`` / ``conv2d_backward_data`` / ``conv2d_backward_weights``,
optimized and ``naive=True``) against the float64 loops of ``tests/reference``; the autograd
``Conv2d`` through gradcheck; thread-count independence; argument errors.

Each pass is a float32 reduction, so it is held to the dot-product bound of
:func:`latentforge.testing.assert_dot_close`, with the sum of |terms| computed by the same
reference on |inputs|.
"""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge import functional as F
from latentforge.testing import assert_dot_close, gradcheck, gradcheck_native

# (N, C_in, H, W, C_out, kh, kw, stride, padding)
SHAPES = [
    (2, 3, 7, 9, 5, 3, 3, (1, 1), (1, 1)),  # odd sizes, "same" padding
    (3, 2, 11, 8, 4, 3, 2, (2, 3), (2, 1)),  # stride 2 and 3, padding > half the kernel
    (1, 1, 5, 5, 3, 5, 5, (1, 1), (0, 0)),  # kernel == input, N = 1, C_in = 1
    (2, 4, 6, 5, 3, 1, 1, (1, 1), (0, 0)),  # 1x1 (the im2col-free path)
    (2, 4, 6, 5, 3, 1, 1, (2, 2), (1, 0)),  # 1x1 with stride and padding
    (2, 1, 13, 13, 6, 5, 5, (3, 2), (4, 3)),  # C_in = 1, padding almost the kernel
    (1, 2, 3, 4, 2, 5, 6, (1, 1), (1, 1)),  # kernel == padded input
    (3, 5, 10, 7, 7, 2, 4, (3, 3), (0, 2)),  # even kernel, stride 3, remainder columns
    (40, 3, 9, 9, 5, 3, 3, (1, 1), (1, 1)),  # several chunks of images in the weight pass
]


def _ids(s):
    return "N{}c{}x{}x{}o{}k{}x{}s{}{}p{}{}".format(*s[:7], *s[7], *s[8])


def _data(shape, seed=0):
    N, C_in, H, W, C_out, kh, kw, stride, padding = shape
    rng = np.random.default_rng([seed, N, C_in, H, W, C_out, kh, kw])
    x = rng.uniform(-1, 1, (N, C_in, H, W)).astype(np.float32)
    w = rng.uniform(-1, 1, (C_out, C_in, kh, kw)).astype(np.float32)
    b = rng.uniform(-1, 1, C_out).astype(np.float32)
    OH = (H + 2 * padding[0] - kh) // stride[0] + 1
    OW = (W + 2 * padding[1] - kw) // stride[1] + 1
    dy = rng.uniform(-1, 1, (N, C_out, OH, OW)).astype(np.float32)
    return x, w, b, dy


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_forward_matches_float64(shape, naive):
    x, w, b, _ = _data(shape)
    s, p = shape[7], shape[8]
    y = _C.conv2d_forward(x, w, b, s, p, naive=naive)
    ref = ref64.conv2d(x, w, b, s, p)
    assert y.dtype == np.float32 and y.shape == ref.shape
    bound = ref64.conv2d(np.abs(x), np.abs(w), None, s, p)
    assert_dot_close(y, ref, bound, extra=np.abs(b)[None, :, None, None] * 2**-23)
    y0 = _C.conv2d_forward(x, w, None, s, p, naive=naive)  # no bias
    assert_dot_close(y0, ref64.conv2d(x, w, None, s, p), bound)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_backward_data_matches_float64(shape, naive):
    x, w, _, dy = _data(shape)
    s, p = shape[7], shape[8]
    hw = x.shape[2:]
    dx = _C.conv2d_backward_data(dy, w, hw, s, p, naive=naive)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    bound = ref64.conv2d_backward_data(np.abs(dy), np.abs(w), hw, s, p)
    assert_dot_close(dx, ref64.conv2d_backward_data(dy, w, hw, s, p), bound)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_backward_weights_matches_float64(shape, naive):
    x, w, _, dy = _data(shape)
    s, p = shape[7], shape[8]
    khw = w.shape[2:]
    dw, db = _C.conv2d_backward_weights(dy, x, khw, s, p, naive=naive)
    rw, rb = ref64.conv2d_backward_weights(dy, x, khw, s, p)
    bw, bb = ref64.conv2d_backward_weights(np.abs(dy), np.abs(x), khw, s, p)
    assert dw.dtype == np.float32 and dw.shape == w.shape and db.shape == (w.shape[0],)
    assert_dot_close(dw, rw, bw)
    assert_dot_close(db, rb, bb)
    dw2, none = _C.conv2d_backward_weights(dy, x, khw, s, p, bias=False, naive=naive)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)


def test_result_independent_of_thread_count(threads):
    # Several chunks of images (the weight pass accumulates over them), parallel im2col/col2im.
    shape = (9, 16, 20, 19, 12, 3, 3, (1, 1), (1, 1))
    x, w, b, dy = _data(shape, seed=3)
    s, p = shape[7], shape[8]
    outs = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        y = _C.conv2d_forward(x, w, b, s, p)
        dx = _C.conv2d_backward_data(dy, w, x.shape[2:], s, p)
        dw, db = _C.conv2d_backward_weights(dy, x, w.shape[2:], s, p)
        outs.append(b"".join(a.tobytes() for a in (y, dx, dw, db)))
    assert outs[0] == outs[1] == outs[2]


# Enough work items for the kernels to run them in parallel, each through the serial GEMM
# (lf::gemm_forward_serial) on its own thread's scratch: (shape, check against float64 too).
PARALLEL_SHAPES = [
    # chunks of 2 images (wide GEMM) and a last chunk of 1; 8 weight groups of one chunk
    ((15, 4, 40, 40, 28, 3, 3, (1, 1), (1, 1)), True),
    # 5x5 on one channel: the direct small-K weight gradient (16 groups of 2 images)
    ((32, 1, 28, 28, 32, 5, 5, (1, 1), (2, 2)), True),
    # one image per chunk, 20 chunks in 10 weight groups of 2; padded and strided im2col
    ((20, 1, 162, 162, 2, 3, 3, (1, 1), (1, 1)), False),
    ((20, 1, 162, 162, 2, 3, 3, (2, 1), (0, 1)), False),
    # 1x1: no im2col, one GEMM per image
    ((8, 5, 9, 7, 6, 1, 1, (1, 1), (0, 0)), True),
]


@pytest.mark.parametrize("shape,check", PARALLEL_SHAPES, ids=[_ids(s) for s, _ in PARALLEL_SHAPES])
def test_parallel_images_independent_of_thread_count(threads, shape, check):
    x, w, b, dy = _data(shape, seed=5)
    s, p = shape[7], shape[8]
    outs = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        y = _C.conv2d_forward(x, w, b, s, p)
        dx = _C.conv2d_backward_data(dy, w, x.shape[2:], s, p)
        dw, db = _C.conv2d_backward_weights(dy, x, w.shape[2:], s, p)
        outs.append(b"".join(a.tobytes() for a in (y, dx, dw, db)))
    assert outs[0] == outs[1] == outs[2]
    if check:  # the 3-thread results (the last ones) against float64
        assert_dot_close(y, ref64.conv2d(x, w, b, s, p),
                         ref64.conv2d(np.abs(x), np.abs(w), np.abs(b), s, p))
        hw = x.shape[2:]
        assert_dot_close(dx, ref64.conv2d_backward_data(dy, w, hw, s, p),
                         ref64.conv2d_backward_data(np.abs(dy), np.abs(w), hw, s, p))
        khw = w.shape[2:]
        rw, rb = ref64.conv2d_backward_weights(dy, x, khw, s, p)
        bw, bb = ref64.conv2d_backward_weights(np.abs(dy), np.abs(x), khw, s, p)
        assert_dot_close(dw, rw, bw)
        assert_dot_close(db, rb, bb)


def test_gradcheck_all_inputs():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 3, 2)) * 0.5
    b = rng.standard_normal(4)
    for s, p in (((1, 1), (1, 1)), ((2, 3), (2, 1)), ((1, 2), (0, 0))):
        assert gradcheck(lambda x, w, b, s=s, p=p: F.conv2d(x, w, b, stride=s, padding=p),
                         [x, w, b])
    assert gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding=1), [x, w])


def test_gradcheck_native_matches_float64():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((5, 4, 3, 3)) / 6
    b = rng.standard_normal(5)
    assert gradcheck_native(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=2), [x, w, b])
    assert gradcheck_native(lambda x, w: F.conv2d(x, w, padding=(1, 0)), [x, w])


def test_only_needed_gradients():
    rng = np.random.default_rng(9)
    x = lf.Tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    w = lf.Tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = lf.Tensor(np.zeros(4, np.float32), requires_grad=True)
    F.conv2d(x, w, b, padding=1).sum().backward()
    assert x.grad is None and w.grad.shape == (4, 3, 3, 3) and b.grad.shape == (4,)
    np.testing.assert_allclose(b.grad, np.full(4, 2 * 25, np.float32))


def test_ops_conv2d_numpy_api():
    x, w, b, _ = _data(SHAPES[1])
    y = lf.ops.conv2d(x.astype(np.float64), w, b, stride=(2, 3), padding=[2, 1])
    np.testing.assert_array_equal(y, _C.conv2d_forward(x, w, b, (2, 3), (2, 1)))
    y2 = lf.ops.conv2d(x, w, stride=2, padding=1)
    assert y2.shape == (3, 4, 6, 5)


def test_empty_batch_and_channels():
    w = np.ones((3, 2, 2, 2), np.float32)
    x = np.ones((0, 2, 4, 4), np.float32)
    assert _C.conv2d_forward(x, w).shape == (0, 3, 3, 3)
    dw, db = _C.conv2d_backward_weights(np.ones((0, 3, 3, 3), np.float32), x, (2, 2))
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)
    # C_in = 0: the output is the bias alone.
    y = _C.conv2d_forward(np.ones((2, 0, 4, 4), np.float32), np.ones((3, 0, 2, 2), np.float32),
                          np.arange(3, dtype=np.float32))
    np.testing.assert_array_equal(y, np.broadcast_to(np.arange(3.0)[None, :, None, None], y.shape))


def test_native_argument_errors():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    dy = np.ones((2, 4, 3, 3), np.float32)
    with pytest.raises(TypeError, match="x must be a float32"):
        _C.conv2d_forward(x.astype(np.float64), w)
    with pytest.raises(TypeError, match="weight must be a numpy array"):
        _C.conv2d_forward(x, [[1.0]])
    with pytest.raises(ValueError, match="x must be 4-D"):
        _C.conv2d_forward(x[0], w)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.conv2d_forward(np.ones((2, 3, 5, 10), np.float32)[..., ::2], w)
    with pytest.raises(ValueError, match=r"x has 3 channels but weight .* expects 2"):
        _C.conv2d_forward(x, np.ones((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="kernel 8x3 is larger than the padded input 7x7"):
        _C.conv2d_forward(x, np.ones((4, 3, 8, 3), np.float32), padding=(1, 1))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        _C.conv2d_forward(x, w, stride=(0, 1))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        _C.conv2d_forward(x, w, padding=(1, -1))
    with pytest.raises(ValueError, match="bias must have shape"):
        _C.conv2d_forward(x, w, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="overflows"):
        _C.conv2d_backward_data(dy, w, (2**40, 2**40))
    with pytest.raises(ValueError, match="overflows"):
        _C.conv2d_forward(x, w, padding=(2**62, 0))
    with pytest.raises(ValueError, match="dy must have shape"):
        _C.conv2d_backward_data(dy, w, (6, 6))
    with pytest.raises(ValueError, match=r"dy has 4 channels but weight"):
        _C.conv2d_backward_data(dy, np.ones((5, 3, 3, 3), np.float32), (5, 5))
    with pytest.raises(ValueError, match="same batch size"):
        _C.conv2d_backward_weights(dy, x[:1], (3, 3))
    with pytest.raises(ValueError, match="larger than the padded input"):
        _C.conv2d_backward_weights(dy, x, (2**40, 3))
    with pytest.raises(ValueError, match="kernel_hw"):
        _C.conv2d_backward_weights(dy, x, (0, 3))
    with pytest.raises(ValueError, match="dy must have shape"):
        _C.conv2d_backward_weights(dy, x, (2, 2))
    for naive in (False, True):  # the references validate too
        with pytest.raises(ValueError, match="stride"):
            _C.conv2d_forward(x, w, stride=(1, 0), naive=naive)


def test_python_argument_errors():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    with pytest.raises(TypeError, match="stride"):
        F.conv2d(x, w, stride="2")
    with pytest.raises(TypeError, match="stride"):
        lf.ops.conv2d(x, w, stride=1.5)
    with pytest.raises(TypeError, match="padding"):
        F.conv2d(x, w, padding=(1,))
    with pytest.raises(TypeError, match="padding"):
        F.conv2d(x, w, padding=True)
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="padding"):
        lf.ops.conv2d(x, w, padding=-1)
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=2**70)
    with pytest.raises(ValueError, match="bias"):
        F.conv2d(x, w, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="x has 3 input channels"):
        F.conv2d(x, np.ones((4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="x must be 4-D"):
        lf.ops.conv2d(x[0], w)
    with pytest.raises(ValueError, match="kernel 9x3"):
        F.conv2d(x, np.ones((4, 3, 9, 3), np.float32), padding=1)
    with pytest.raises(TypeError, match="weight"):
        F.conv2d(x, None)
    with pytest.raises(TypeError, match="x must be a floating-point"):
        lf.ops.conv2d(x.astype(np.int32), w)


@pytest.mark.parametrize("shape", [
    (3, 5, 10, 7, 7, 2, 4, (3, 3), (0, 2)),  # the GEMM paths
    (3, 2, 9, 11, 5, 3, 4, (1, 1), (2, 1)),  # the direct small-K weight gradient (K = 24)
    (17, 2, 8, 6, 9, 4, 4, (1, 1), (3, 0)),  # K = 32, its largest K; 16 groups, one of 2 images
], ids=_ids)
def test_every_isa_path(isa, shape):
    # The GEMM and the direct weight-gradient kernel under conv2d dispatch on the ISA (avx512,
    # avx2, scalar).
    x, w, b, dy = _data(shape, seed=11)
    s, p = shape[7], shape[8]
    assert_dot_close(_C.conv2d_forward(x, w, b, s, p), ref64.conv2d(x, w, b, s, p),
                     ref64.conv2d(np.abs(x), np.abs(w), np.abs(b), s, p))
    assert_dot_close(_C.conv2d_backward_data(dy, w, x.shape[2:], s, p),
                     ref64.conv2d_backward_data(dy, w, x.shape[2:], s, p),
                     ref64.conv2d_backward_data(np.abs(dy), np.abs(w), x.shape[2:], s, p))
    dw, _ = _C.conv2d_backward_weights(dy, x, w.shape[2:], s, p)
    assert_dot_close(dw, ref64.conv2d_backward_weights(dy, x, w.shape[2:], s, p)[0],
                     ref64.conv2d_backward_weights(np.abs(dy), np.abs(x), w.shape[2:], s, p)[0])
