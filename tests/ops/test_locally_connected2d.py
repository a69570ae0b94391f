"""Native locally connected layer (``_C.locally_connected2d_forward`` / ``_backward_data`` /
``_backward_weights``, optimized and ``naive=True``) against the float64 loops of
``tests/reference``; the autograd ``LocallyConnected2d`` through gradcheck; the cross-check with
conv2d (all positions' weights equal); thread-count independence; the layer in a model;
argument errors.

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

# (N, C_in, H, W, C_out, kh, kw, stride)
SHAPES = [
    (2, 3, 7, 9, 5, 3, 3, (1, 1)),  # odd sizes
    (3, 2, 11, 8, 4, 3, 2, (2, 3)),  # stride 2 and 3, rectangular kernel
    (1, 1, 5, 5, 3, 5, 5, (1, 1)),  # kernel == input (one position), N = 1, C_in = 1
    (2, 4, 6, 5, 3, 1, 1, (1, 1)),  # 1x1
    (2, 4, 6, 5, 3, 1, 1, (2, 2)),  # 1x1 with stride (input pixels no window reads)
    (5, 1, 13, 11, 7, 4, 3, (3, 2)),  # C_in = 1, prime sizes, stride 3 and 2
    (3, 5, 10, 7, 7, 2, 4, (3, 3)),  # even kernel, stride 3, remainder columns
    (17, 2, 8, 6, 9, 4, 4, (1, 1)),  # N not a multiple of 16 (padded lanes), overlapping taps
    (70, 1, 9, 9, 4, 3, 3, (1, 2)),  # N > 64: several lane blocks
]


def _ids(s):
    return "N{}c{}x{}x{}o{}k{}x{}s{}{}".format(*s[:7], *s[7])


def _out_hw(shape):
    _, _, H, W, _, kh, kw, s = shape
    return (H - kh) // s[0] + 1, (W - kw) // s[1] + 1


def _data(shape, seed=0):
    N, C_in, H, W, C_out, kh, kw, stride = shape
    OH, OW = _out_hw(shape)
    rng = np.random.default_rng([seed, N, C_in, H, W, C_out, kh, kw, *stride])
    x = rng.uniform(-1, 1, (N, C_in, H, W)).astype(np.float32)
    w = rng.uniform(-1, 1, (OH, OW, C_out, C_in, kh, kw)).astype(np.float32)
    b = rng.uniform(-1, 1, (C_out, OH, OW)).astype(np.float32)
    dy = rng.uniform(-1, 1, (N, C_out, OH, OW)).astype(np.float32)
    return x, w, b, dy


def _check_all(x, w, b, dy, s, y, dx, dw, db):
    assert_dot_close(y, ref64.locally_connected2d(x, w, b, s),
                     ref64.locally_connected2d(np.abs(x), np.abs(w), np.abs(b), s))
    hw = x.shape[2:]
    assert_dot_close(dx, ref64.locally_connected2d_backward_data(dy, w, hw, s),
                     ref64.locally_connected2d_backward_data(np.abs(dy), np.abs(w), hw, s))
    khw = w.shape[4:]
    rw, rb = ref64.locally_connected2d_backward_weights(dy, x, khw, s)
    bw, bb = ref64.locally_connected2d_backward_weights(np.abs(dy), np.abs(x), khw, s)
    assert_dot_close(dw, rw, bw)
    assert_dot_close(db, rb, bb)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_forward_matches_float64(shape, naive):
    x, w, b, _ = _data(shape)
    s = shape[7]
    y = _C.locally_connected2d_forward(x, w, b, s, naive=naive)
    ref = ref64.locally_connected2d(x, w, b, s)
    assert y.dtype == np.float32 and y.shape == ref.shape
    bound = ref64.locally_connected2d(np.abs(x), np.abs(w), None, s)
    assert_dot_close(y, ref, bound, extra=np.abs(b)[None] * 2**-23)
    y0 = _C.locally_connected2d_forward(x, w, None, s, naive=naive)  # no bias
    assert_dot_close(y0, ref64.locally_connected2d(x, w, None, s), bound)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_backward_data_matches_float64(shape, naive):
    x, w, _, dy = _data(shape)
    s = shape[7]
    hw = x.shape[2:]
    dx = _C.locally_connected2d_backward_data(dy, w, hw, s, naive=naive)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    bound = ref64.locally_connected2d_backward_data(np.abs(dy), np.abs(w), hw, s)
    assert_dot_close(dx, ref64.locally_connected2d_backward_data(dy, w, hw, s), bound)


@pytest.mark.parametrize("naive", [False, True], ids=["optimized", "naive"])
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_backward_weights_matches_float64(shape, naive):
    x, w, b, dy = _data(shape)
    s = shape[7]
    khw = w.shape[4:]
    dw, db = _C.locally_connected2d_backward_weights(dy, x, khw, s, naive=naive)
    rw, rb = ref64.locally_connected2d_backward_weights(dy, x, khw, s)
    bw, bb = ref64.locally_connected2d_backward_weights(np.abs(dy), np.abs(x), khw, s)
    assert dw.dtype == np.float32 and dw.shape == w.shape and db.shape == b.shape
    assert_dot_close(dw, rw, bw)
    assert_dot_close(db, rb, bb)
    dw2, none = _C.locally_connected2d_backward_weights(dy, x, khw, s, bias=False, naive=naive)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[7]], ids=_ids)
def test_every_isa_path(isa, shape):
    x, w, b, dy = _data(shape, seed=11)
    s = shape[7]
    y = _C.locally_connected2d_forward(x, w, b, s)
    dx = _C.locally_connected2d_backward_data(dy, w, x.shape[2:], s)
    dw, db = _C.locally_connected2d_backward_weights(dy, x, w.shape[4:], s)
    _check_all(x, w, b, dy, s, y, dx, dw, db)


def test_equal_weights_give_conv2d():
    # With every position's filter (and bias) the same, the layer is a convolution.
    rng = np.random.default_rng(4)
    N, C_in, H, W, C_out, kh, kw, s = 4, 3, 11, 9, 5, 3, 2, (2, 1)
    x = rng.uniform(-1, 1, (N, C_in, H, W)).astype(np.float32)
    wc = rng.uniform(-1, 1, (C_out, C_in, kh, kw)).astype(np.float32)
    bc = rng.uniform(-1, 1, C_out).astype(np.float32)
    OH, OW = (H - kh) // s[0] + 1, (W - kw) // s[1] + 1
    w = np.ascontiguousarray(np.broadcast_to(wc, (OH, OW, *wc.shape)))
    b = np.ascontiguousarray(np.broadcast_to(bc[:, None, None], (C_out, OH, OW)))
    y = _C.locally_connected2d_forward(x, w, b, s)
    yc = _C.conv2d_forward(x, wc, bc, s, (0, 0))
    np.testing.assert_allclose(y, yc, rtol=1e-5, atol=1e-5)
    dy = rng.uniform(-1, 1, yc.shape).astype(np.float32)
    dx = _C.locally_connected2d_backward_data(dy, w, (H, W), s)
    np.testing.assert_allclose(dx, _C.conv2d_backward_data(dy, wc, (H, W), s, (0, 0)),
                               rtol=1e-5, atol=1e-5)
    dw, db = _C.locally_connected2d_backward_weights(dy, x, (kh, kw), s)
    dwc, dbc = _C.conv2d_backward_weights(dy, x, (kh, kw), s, (0, 0))
    np.testing.assert_allclose(dw.sum(axis=(0, 1)), dwc, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(db.sum(axis=(1, 2)), dbc, rtol=1e-5, atol=1e-4)


# Shapes with enough work for the parallel paths: (shape, check against float64 too).
THREAD_SHAPES = [
    ((64, 1, 28, 28, 8, 3, 3, (1, 1)), True),  # the cat-paper benchmark shape
    ((37, 3, 17, 15, 6, 5, 4, (2, 1)), True),  # odd N (padded lanes), stride, 2 waves
    ((130, 2, 12, 12, 5, 3, 3, (1, 1)), False),  # 3 lane blocks
]


@pytest.mark.parametrize("shape,check", THREAD_SHAPES, ids=[_ids(s) for s, _ in THREAD_SHAPES])
def test_result_independent_of_thread_count(threads, shape, check):
    x, w, b, dy = _data(shape, seed=5)
    s = shape[7]
    outs = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        y = _C.locally_connected2d_forward(x, w, b, s)
        dx = _C.locally_connected2d_backward_data(dy, w, x.shape[2:], s)
        dw, db = _C.locally_connected2d_backward_weights(dy, x, w.shape[4:], s)
        outs.append(b"".join(a.tobytes() for a in (y, dx, dw, db)))
    assert outs[0] == outs[1] == outs[2]
    if check:  # the 3-thread results (the last ones) against float64
        _check_all(x, w, b, dy, s, y, dx, dw, db)


def test_gradcheck_all_inputs():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6, 5))
    for s, k in (((1, 1), (3, 2)), ((2, 3), (2, 2)), ((1, 2), (6, 5)), ((2, 1), (1, 1))):
        OH, OW = (6 - k[0]) // s[0] + 1, (5 - k[1]) // s[1] + 1
        w = rng.standard_normal((OH, OW, 4, 3, *k)) * 0.5
        b = rng.standard_normal((4, OH, OW))
        assert gradcheck(lambda x, w, b, s=s: F.locally_connected2d(x, w, b, stride=s),
                         [x, w, b])
    w = rng.standard_normal((2, 2, 4, 3, 3, 3)) * 0.5
    assert gradcheck(lambda x, w: F.locally_connected2d(x, w, stride=2), [x, w])


def test_gradcheck_native_matches_float64():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 9, 8))
    w = rng.standard_normal((4, 6, 5, 4, 3, 3)) / 6
    b = rng.standard_normal((5, 4, 6))
    assert gradcheck_native(lambda x, w, b: F.locally_connected2d(x, w, b, stride=(2, 1)),
                            [x, w, b])
    w2 = rng.standard_normal((8, 7, 2, 4, 2, 2)) / 4
    assert gradcheck_native(lambda x, w: F.locally_connected2d(x, w), [x, w2])


def test_only_needed_gradients():
    rng = np.random.default_rng(9)
    x = lf.Tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    w = lf.Tensor(rng.standard_normal((3, 3, 4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    b = lf.Tensor(np.zeros((4, 3, 3), np.float32), requires_grad=True)
    F.locally_connected2d(x, w, b).sum().backward()
    assert x.grad is None and w.grad.shape == w.shape and b.grad.shape == (4, 3, 3)
    np.testing.assert_array_equal(b.grad, np.full((4, 3, 3), 2, np.float32))
    # Only the bias needs a gradient: no kernel pass, the sum of g over the batch.
    w.requires_grad = False
    b.grad = None
    F.locally_connected2d(x, w, b).sum().backward()
    np.testing.assert_array_equal(b.grad, np.full((4, 3, 3), 2, np.float32))


def test_empty_batch_and_channels():
    w = np.ones((3, 3, 3, 2, 2, 2), np.float32)
    x = np.ones((0, 2, 4, 4), np.float32)
    for naive in (False, True):
        assert _C.locally_connected2d_forward(x, w, naive=naive).shape == (0, 3, 3, 3)
        dw, db = _C.locally_connected2d_backward_weights(np.ones((0, 3, 3, 3), np.float32), x,
                                                         (2, 2), naive=naive)
        np.testing.assert_array_equal(dw, 0)
        np.testing.assert_array_equal(db, 0)
        # C_in = 0: the output is the bias alone.
        b = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
        y = _C.locally_connected2d_forward(np.ones((2, 0, 4, 4), np.float32),
                                           np.ones((3, 3, 3, 0, 2, 2), np.float32), b, naive=naive)
        np.testing.assert_array_equal(y, np.broadcast_to(b, y.shape))
        # C_out = 0: dx is zero.
        dx = _C.locally_connected2d_backward_data(np.ones((2, 0, 3, 3), np.float32),
                                                  np.ones((3, 3, 0, 2, 2, 2), np.float32), (4, 4),
                                                  naive=naive)
        np.testing.assert_array_equal(dx, np.zeros((2, 2, 4, 4)))


# ------------------------------------------------------------------------------------ the layer
def test_layer_shapes_init_and_repr():
    layer = lf.nn.LocallyConnected2d(2, 8, 28, 3, random_state=0)
    assert layer.output_size == (26, 26)
    assert layer.weight.shape == (26, 26, 8, 2, 3, 3) and layer.bias.shape == (8, 26, 26)
    assert layer.weight.dtype == np.float32
    bound = 1 / np.sqrt(2 * 9)
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.95 * bound
    assert repr(layer) == ("LocallyConnected2d(2, 8, input_size=(28, 28), kernel_size=(3, 3), "
                           "stride=(1, 1), bias=True)")
    other = lf.nn.LocallyConnected2d(2, 8, (28, 20), (4, 3), stride=(2, 3), bias=False,
                                     random_state=0)
    assert other.output_size == (13, 6) and other.bias is None
    assert other.weight.shape == (13, 6, 8, 2, 4, 3)
    same = lf.nn.LocallyConnected2d(2, 8, 28, 3, random_state=0)
    np.testing.assert_array_equal(same.weight.data, layer.weight.data)
    y = layer(np.zeros((5, 2, 28, 28), np.float32))
    assert y.shape == (5, 8, 26, 26)
    np.testing.assert_array_equal(y.data, np.broadcast_to(layer.bias.data, y.shape))


def test_layer_in_a_model_trains():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 1, 8, 8)).astype(np.float32)
    t = rng.standard_normal((16, 3)).astype(np.float32)
    model = lf.nn.Sequential(lf.nn.LocallyConnected2d(1, 4, 8, 3, stride=2, random_state=1),
                             lf.nn.ReLU(), lf.nn.Flatten(), lf.nn.Linear(4 * 3 * 3, 3,
                                                                         random_state=2))
    names = [n for n, _ in model.named_parameters()]
    assert any(n.endswith("weight") for n in names)
    state = model.state_dict()
    opt = lf.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = ((model(x) - lf.Tensor(t)) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    assert losses[-1] < 0.7 * losses[0]
    fresh = lf.nn.Sequential(lf.nn.LocallyConnected2d(1, 4, 8, 3, stride=2, random_state=5),
                             lf.nn.ReLU(), lf.nn.Flatten(), lf.nn.Linear(36, 3, random_state=6))
    fresh.load_state_dict(state)
    for k, v in fresh.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


def test_layer_argument_errors():
    with pytest.raises(TypeError, match="in_channels"):
        lf.nn.LocallyConnected2d(1.5, 4, 8, 3)
    with pytest.raises(ValueError, match="out_channels"):
        lf.nn.LocallyConnected2d(1, 0, 8, 3)
    with pytest.raises(ValueError, match="input_size"):
        lf.nn.LocallyConnected2d(1, 4, (8, 0), 3)
    with pytest.raises(TypeError, match="kernel_size"):
        lf.nn.LocallyConnected2d(1, 4, 8, "3")
    with pytest.raises(ValueError, match="kernel_size .* larger than input_size"):
        lf.nn.LocallyConnected2d(1, 4, (8, 5), (3, 6))
    with pytest.raises(ValueError, match="stride"):
        lf.nn.LocallyConnected2d(1, 4, 8, 3, stride=0)
    layer = lf.nn.LocallyConnected2d(2, 4, (8, 7), 3, random_state=0)
    with pytest.raises(ValueError, match=r"expects x of shape \(N, C, H, W\)"):
        layer(np.zeros((2, 8, 7), np.float32))
    with pytest.raises(ValueError, match="expects 2 input channels"):
        layer(np.zeros((1, 3, 8, 7), np.float32))
    with pytest.raises(ValueError, match=r"input_size"):
        layer(np.zeros((1, 2, 7, 8), np.float32))
    with pytest.raises(TypeError, match="x"):
        layer(np.zeros((1, 2, 8, 7), np.int32))


def test_functional_argument_errors():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((3, 3, 4, 3, 3, 3), np.float32)
    with pytest.raises(TypeError, match="stride"):
        F.locally_connected2d(x, w, stride="2")
    with pytest.raises(TypeError, match="stride"):
        F.locally_connected2d(x, w, stride=(1,))
    with pytest.raises(ValueError, match="stride"):
        F.locally_connected2d(x, w, stride=0)
    with pytest.raises(ValueError, match="x must be 4-D"):
        F.locally_connected2d(x[0], w)
    with pytest.raises(ValueError, match="weight must be 6-D"):
        F.locally_connected2d(x, w[0])
    with pytest.raises(ValueError, match="x has 3 input channels"):
        F.locally_connected2d(x, np.ones((3, 3, 4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="kernel 6x3 does not fit"):
        F.locally_connected2d(x, np.ones((1, 3, 4, 3, 6, 3), np.float32))
    with pytest.raises(ValueError, match="3x3 output positions, but .* gives 2x2"):
        F.locally_connected2d(x, w, stride=2)
    with pytest.raises(ValueError, match="bias must have shape"):
        F.locally_connected2d(x, w, np.ones(4, np.float32))
    with pytest.raises(TypeError, match="weight"):
        F.locally_connected2d(x, None)
    with pytest.raises(TypeError, match="x"):
        F.locally_connected2d(x.astype(np.int64), w)


def test_native_argument_errors():
    x = np.ones((2, 3, 5, 5), np.float32)
    w = np.ones((3, 3, 4, 3, 3, 3), np.float32)
    dy = np.ones((2, 4, 3, 3), np.float32)
    f = _C.locally_connected2d_forward
    with pytest.raises(TypeError, match="x must be a float32"):
        f(x.astype(np.float64), w)
    with pytest.raises(TypeError, match="weight must be a numpy array"):
        f(x, [[1.0]])
    with pytest.raises(ValueError, match="x must be 4-D"):
        f(x[0], w)
    with pytest.raises(ValueError, match="weight must be 6-D"):
        f(x, w[0])
    with pytest.raises(ValueError, match="C-contiguous"):
        f(np.ones((2, 3, 5, 10), np.float32)[..., ::2], w)
    with pytest.raises(ValueError, match=r"x has 3 channels but weight .* expects 2"):
        f(x, np.ones((3, 3, 4, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="kernel 6x3 is larger than the input 5x5"):
        f(x, np.ones((1, 3, 4, 3, 6, 3), np.float32))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        f(x, w, stride=(0, 1))
    with pytest.raises(ValueError, match="3x3 output positions, but"):
        f(x, w, stride=(2, 2))
    with pytest.raises(ValueError, match=r"bias must be 3-D \(C_out, OH, OW\)"):
        f(x, w, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="bias must have shape"):
        f(x, w, np.ones((4, 3, 2), np.float32))
    with pytest.raises(ValueError, match="overflows"):
        _C.locally_connected2d_backward_data(dy, w, (2**40, 2**40))
    with pytest.raises(ValueError, match="dy must have shape"):
        _C.locally_connected2d_backward_data(np.ones((2, 4, 3, 2), np.float32), w, (5, 5))
    with pytest.raises(ValueError, match="output positions"):
        _C.locally_connected2d_backward_data(dy, w, (6, 6))
    with pytest.raises(ValueError, match=r"dy has 4 channels but weight"):
        _C.locally_connected2d_backward_data(dy, np.ones((3, 3, 5, 3, 3, 3), np.float32), (5, 5))
    with pytest.raises(ValueError, match="same batch size"):
        _C.locally_connected2d_backward_weights(dy, x[:1], (3, 3))
    with pytest.raises(ValueError, match="larger than the input"):
        _C.locally_connected2d_backward_weights(dy, x, (2**40, 3))
    with pytest.raises(ValueError, match="kernel_hw"):
        _C.locally_connected2d_backward_weights(dy, x, (0, 3))
    with pytest.raises(ValueError, match="dy must have shape"):
        _C.locally_connected2d_backward_weights(dy, x, (2, 2))
    for naive in (False, True):  # the references validate too
        with pytest.raises(ValueError, match="stride"):
            f(x, w, stride=(1, 0), naive=naive)
