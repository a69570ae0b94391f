"""Every autograd Function of latentforge.functional on device tensors, without a GPU.

The ``fake_device`` fixture (tests/_fakedevice.py) plays the device with host memory: a strict
fake CuPy (no implicit conversion to numpy, no mixing with numpy arrays) and a fake
``_C.device`` whose entries run the CPU kernels on the pointers they are given. So for each op:

* forward and backward on device tensors equal the host run bitwise (the same kernels, or the
  same numpy formulas through the fake CuPy);
* outputs and gradients are device (fake) arrays, never numpy;
* the expected device entries were launched (a host ``_C`` kernel handed a device array would
  fail: the fake arrays refuse conversion to numpy);
* host data mixed with a device tensor raises TypeError.

Row log-softmax is the exception to "bitwise": its device kernel (run here through the CUDA
emulator) sums in double while the host computes in float32 numpy, so it is compared within
float32 rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from _fakedevice import FakeArray
from latentforge import functional as F
from latentforge.tensor import Tensor, default_dtype


def _rand(rng, *shape, lo=None):
    a = rng.standard_normal(shape).astype(np.float32)
    return np.abs(a) + lo if lo is not None else a


def _run(fake, fn, arrays, *, seed=0, grads=True, dtype=np.float32):
    """fn on host tensors and on device tensors made from the same arrays, with the same output
    gradient. Returns ((host out, host grads), (device out, device grads) as numpy, launched
    entry names); checks that the device outputs and gradients are device arrays."""
    results = []
    for on_dev in (False, True):
        rng = np.random.default_rng(seed)
        ts = [None if a is None else Tensor(fake.to(a) if on_dev else a, requires_grad=grads)
              for a in arrays]
        before = len(fake.entries.launches)
        out = fn(*ts)
        if on_dev:
            assert isinstance(out.data, FakeArray), type(out.data)
        g = None
        if grads:
            g = rng.standard_normal(out.shape).astype(dtype)
            out.backward(fake.to(g) if on_dev else g)
        got = []
        for t in ts:
            if t is None or not grads:
                got.append(None)
                continue
            if on_dev:
                assert isinstance(t.grad, FakeArray), type(t.grad)
                got.append(t.grad.get())
            else:
                got.append(np.asarray(t.grad))
        data = out.data.get() if on_dev else np.asarray(out.data)
        results.append((data, got))
        names = fake.entries.names()[before:]
    return results[0], results[1], names


def _assert_same(host, dev):
    (ho, hg), (do, dg) = host, dev
    assert ho.dtype == do.dtype and ho.shape == do.shape
    np.testing.assert_array_equal(do, ho)
    for a, b in zip(hg, dg):
        if a is None:
            assert b is None
            continue
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(b, a)


def _check(fake, fn, arrays, entries=(), **kw):
    host, dev, names = _run(fake, fn, arrays, **kw)
    _assert_same(host, dev)
    for e in entries:
        assert e in names, (e, names)
    return names


# ------------------------------------------------------------------------------ elementwise
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), (3, 1))])
def test_binary_broadcasting(fake_device, op, shapes):
    rng = np.random.default_rng(1)
    a, b = _rand(rng, *shapes[0]), _rand(rng, *shapes[1], lo=0.5)
    fn = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
          "div": lambda x, y: x / y}[op]
    names = _check(fake_device, fn, [a, b])
    assert names == []  # CuPy arithmetic: no latentforge kernel


def test_scalar_operands_and_unary(fake_device):
    rng = np.random.default_rng(2)
    a = _rand(rng, 4, 5)
    pos = _rand(rng, 4, 5, lo=0.1)
    _check(fake_device, lambda x: 2.0 - x * 3.0 + 1.5 / (x * x + 1.0), [a])
    _check(fake_device, lambda x: -x, [a])
    _check(fake_device, lambda x: x ** 3.0, [a])
    _check(fake_device, lambda x: x ** 0.0, [a])
    _check(fake_device, lambda x: x ** 0.5, [pos])
    _check(fake_device, lambda x: x.exp(), [a])
    _check(fake_device, lambda x: x.log(), [pos])
    _check(fake_device, lambda x: x.abs(), [a])
    _check(fake_device, lambda x: x.clip(-0.5, 0.7), [a])


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_activations(fake_device, act):
    a = _rand(np.random.default_rng(3), 6, 7)
    names = _check(fake_device, getattr(F, act), [a])
    assert names == ["activation_forward", "activation_backward"]


def test_activation_of_a_strided_view(fake_device):
    a = _rand(np.random.default_rng(4), 6, 8)
    names = _check(fake_device, lambda x: F.tanh(x[:, ::2].T), [a])
    assert "activation_forward" in names


# --------------------------------------------------------------------- reductions and shapes
@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), ((0, 2), True), (-1, False),
                                           (1, True)])
def test_sum_and_mean(fake_device, axis, keepdims):
    a = _rand(np.random.default_rng(5), 3, 4, 5)
    _check(fake_device, lambda x: x.sum(axis=axis, keepdims=keepdims), [a])
    _check(fake_device, lambda x: x.mean(axis=axis, keepdims=keepdims), [a])


def test_reshape_transpose(fake_device):
    a = _rand(np.random.default_rng(6), 2, 3, 4)
    _check(fake_device, lambda x: x.reshape(6, -1), [a])
    _check(fake_device, lambda x: x.transpose(2, 0, 1) * 2.0, [a])
    _check(fake_device, lambda x: x.reshape(4, 6).T.sum(axis=0), [a])


@pytest.mark.parametrize("key", [
    (slice(1, 3),),
    (2,),
    ((Ellipsis, slice(None, None, 2)),),
    (np.array([0, 2, 2, 1, 2]),),  # repeated ids: an embedding lookup, grads accumulate
    ((np.array([0, 1, 1]), np.array([3, 0, 0])),),
    ((slice(None), np.array([1, 1, 0])),),
    (np.array([True, False, True, True]),),
])
def test_getitem(fake_device, key):
    a = _rand(np.random.default_rng(7), 4, 5)
    _check(fake_device, lambda x: x[key[0]], [a])


def test_getitem_with_a_device_index(fake_device):
    a = _rand(np.random.default_rng(8), 6, 3)
    ids = np.array([5, 0, 5, 2])
    host = Tensor(a, requires_grad=True)
    host[ids].sum().backward()
    dev = Tensor(fake_device.to(a), requires_grad=True)
    out = dev[fake_device.to(ids)]
    assert isinstance(out.data, FakeArray)
    out.sum().backward()
    np.testing.assert_array_equal(dev.grad.get(), host.grad)
    # A device index into a host tensor is never copied implicitly.
    with pytest.raises(TypeError):
        Tensor(a)[fake_device.to(ids)]
    with pytest.raises(TypeError, match="integer or boolean"):
        dev[fake_device.to(np.array([0.5]))]


# ---------------------------------------------------------------------------------- softmax
def test_softmax_last_axis_runs_the_row_kernel(fake_device):
    a = _rand(np.random.default_rng(9), 2, 3, 6)
    names = _check(fake_device, lambda x: F.softmax(x), [a])
    assert names == ["softmax_rows", "softmax_rows_backward"]


def test_softmax_other_axis_and_log_softmax_other_axis(fake_device):
    a = _rand(np.random.default_rng(10), 4, 5)
    assert _check(fake_device, lambda x: F.softmax(x, axis=0), [a]) == []
    assert _check(fake_device, lambda x: F.log_softmax(x, axis=0), [a]) == []
    assert _check(fake_device, lambda x: F.softmax(x, axis=None), [a]) == []


def test_log_softmax_last_axis_runs_the_row_kernel(fake_device):
    a = _rand(np.random.default_rng(11), 5, 9) * 3
    (ho, (hg,)), (do, (dg,)), names = _run(fake_device, lambda x: F.log_softmax(x), [a])
    assert names == ["log_softmax_rows", "log_softmax_rows_backward"]
    # Not bitwise: the device kernel sums in double, the host in float32 numpy (one rounding
    # of the log-sum-exp and of the row sum apart).
    np.testing.assert_allclose(do, ho, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dg, hg, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------- dense layers
def test_matmul(fake_device):
    rng = np.random.default_rng(12)
    a, b = _rand(rng, 5, 4), _rand(rng, 4, 3)
    names = _check(fake_device, F.matmul, [a, b])
    assert names == ["gemm", "gemm", "gemm"]
    # A transposed operand is read in place (a Fortran-ordered view), a strided one copied.
    _check(fake_device, lambda x, y: x.T @ y, [_rand(rng, 4, 5), b])
    _check(fake_device, lambda x, y: x[:, ::2] @ y, [_rand(rng, 5, 8), b])


@pytest.mark.parametrize("activation", [None, "sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("trans_w", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_linear(fake_device, activation, trans_w, bias):
    rng = np.random.default_rng(13)
    x = _rand(rng, 6, 4)
    W = _rand(rng, 3, 4) if trans_w else _rand(rng, 4, 3)
    b = _rand(rng, 3) if bias else None
    names = _check(fake_device, lambda x, W, b: F.linear(x, W, b, activation, trans_w=trans_w),
                   [x, W, b])
    assert names.count("gemm") == 3


def test_mlp_step(fake_device):
    """A small classifier's loss: linear-relu, linear, log-softmax, label lookup, mean."""
    rng = np.random.default_rng(14)
    x, W1, b1, W2 = _rand(rng, 8, 5), _rand(rng, 5, 6), _rand(rng, 6), _rand(rng, 6, 3)
    labels = rng.integers(0, 3, 8)

    def loss(x, W1, b1, W2):
        h = F.linear(x, W1, b1, "relu")
        logp = F.log_softmax(F.linear(h, W2), axis=0)  # numpy/CuPy formula: bitwise
        return -logp[np.arange(8), labels].mean()

    _check(fake_device, loss, [x, W1, b1, W2], entries=["gemm"], grads=True)


# ------------------------------------------------------------------------- convolution, pools
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d(fake_device, bias):
    rng = np.random.default_rng(15)
    x, w = _rand(rng, 2, 3, 7, 6), _rand(rng, 4, 3, 3, 2)
    b = _rand(rng, 4) if bias else None
    names = _check(fake_device, lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1),
                   [x, w, b])
    assert names == ["conv2d_forward", "conv2d_backward_data", "conv2d_backward_weights"]


def test_conv2d_bias_gradient_without_weight_gradient(fake_device):
    rng = np.random.default_rng(16)
    x, w, b = _rand(rng, 2, 2, 5, 5), _rand(rng, 3, 2, 3, 3), _rand(rng, 3)
    results = []
    for on_dev in (False, True):
        put = fake_device.to if on_dev else (lambda a: a)
        xt, wt, bt = Tensor(put(x), requires_grad=True), Tensor(put(w)), Tensor(put(b), True)
        F.conv2d(xt, wt, bt, padding=1).sum().backward()
        results.append([t.get() if on_dev else t for t in (xt.grad, bt.grad)])
    for h, d in zip(*results):
        np.testing.assert_array_equal(d, h)


@pytest.mark.parametrize("pool", ["max_pool2d", "avg_pool2d", "l2_pool2d"])
def test_pools(fake_device, pool):
    a = _rand(np.random.default_rng(17), 2, 3, 7, 8)
    fn = getattr(F, pool)
    names = _check(fake_device, lambda x: fn(x, 3, stride=2, padding=1), [a])
    assert names == ["pool2d_forward", "pool2d_backward"]
    _check(fake_device, lambda x: fn(x, (2, 3)), [a])


# ------------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("affine", [False, True])
def test_batch_norm_train_and_eval(fake_device, affine):
    rng = np.random.default_rng(18)
    x, gamma, beta = _rand(rng, 7, 4), _rand(rng, 4), _rand(rng, 4)
    arrays = [x, gamma, beta] if affine else [x]
    names = _check(fake_device, lambda *t: F.batch_norm(*t), arrays)
    assert names == ["batch_norm_forward_train", "batch_norm_backward"]
    # Evaluation: the statistics live where the data does.
    mean, var = _rand(rng, 4), _rand(rng, 4, lo=0.1)
    ts = [Tensor(fake_device.to(a), requires_grad=True) for a in arrays]
    out = F.batch_norm(*ts, mean=fake_device.to(mean), var=fake_device.to(var))
    ref = F.batch_norm(*[Tensor(a) for a in arrays], mean=mean, var=var)
    np.testing.assert_array_equal(out.data.get(), ref.data)
    assert fake_device.entries.names()[-1] == "batch_norm_forward_eval"
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(fake_device.to(g))
    hs = [Tensor(a, requires_grad=True) for a in arrays]
    F.batch_norm(*hs, mean=mean, var=var).backward(g)
    for h, d in zip(hs, ts):
        np.testing.assert_array_equal(d.grad.get(), h.grad)
    assert fake_device.entries.names()[-1] == "batch_norm_backward"


@pytest.mark.parametrize("running_dtype", [np.float32, np.float64])
def test_batch_norm2d_running_statistics(fake_device, running_dtype):
    rng = np.random.default_rng(19)
    x, gamma, beta = _rand(rng, 3, 4, 5, 2), _rand(rng, 4), _rand(rng, 4)
    rm0, rv0 = _rand(rng, 4).astype(running_dtype), _rand(rng, 4, lo=0.5).astype(running_dtype)
    hm, hv = rm0.copy(), rv0.copy()
    dm, dv = fake_device.to(rm0), fake_device.to(rv0)
    host, dev = [], []
    for on_dev, (rm, rv), res in ((False, (hm, hv), host), (True, (dm, dv), dev)):
        put = fake_device.to if on_dev else (lambda a: a)
        ts = [Tensor(put(a), requires_grad=True) for a in (x, gamma, beta)]
        out = F.batch_norm2d(*ts, running_mean=rm, running_var=rv, momentum=0.3)
        g = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        out.backward(put(g))
        get = (lambda a: a.get()) if on_dev else (lambda a: a)
        res += [get(out.data)] + [get(t.grad) for t in ts]
    for h, d in zip(host, dev):
        np.testing.assert_array_equal(d, h)
    assert isinstance(dm, FakeArray)
    np.testing.assert_array_equal(dm.get(), hm)
    np.testing.assert_array_equal(dv.get(), hv)
    assert not np.array_equal(hm, rm0)
    # Evaluation with the device running statistics.
    host_eval = F.batch_norm2d(Tensor(x), running_mean=hm, running_var=hv, training=False)
    dev_eval = F.batch_norm2d(Tensor(fake_device.to(x)), running_mean=dm, running_var=dv,
                              training=False)
    np.testing.assert_array_equal(dev_eval.data.get(), host_eval.data)
    assert fake_device.entries.names()[-1] == "batch_norm_forward_eval"


def test_batch_norm_mixed_host_and_device(fake_device):
    rng = np.random.default_rng(20)
    x = Tensor(fake_device.to(_rand(rng, 5, 3)))
    with pytest.raises(TypeError):
        F.batch_norm(x, mean=np.zeros(3, np.float32), var=np.ones(3, np.float32))
    with pytest.raises(TypeError):
        F.batch_norm2d(Tensor(fake_device.to(_rand(rng, 2, 3, 2, 2))),
                       running_mean=np.zeros(3, np.float32))
    with pytest.raises(TypeError):
        F.batch_norm(x, Tensor(np.ones(3, np.float32)), Tensor(np.zeros(3, np.float32)))


# ---------------------------------------------------------------------------------- top-k
def test_ksparse_and_topk_mask(fake_device):
    a = _rand(np.random.default_rng(21), 5, 8)
    a[1, 2] = a[1, 5]  # a tie: the lower column wins on both sides
    names = _check(fake_device, lambda x: F.ksparse(x, 3), [a])
    assert names == ["topk_rows", "topk_rows_backward"]
    mask = F.topk_mask(fake_device.to(a), 3)
    assert isinstance(mask, FakeArray) and mask.dtype == bool
    np.testing.assert_array_equal(mask.get(), F.topk_mask(a, 3))
    dmask = F.topk_mask(Tensor(fake_device.to(a)), 3)
    np.testing.assert_array_equal(dmask.get(), F.topk_mask(a, 3))


def test_ksparse_nan_raises_on_the_device(fake_device):
    a = _rand(np.random.default_rng(22), 3, 4)
    a[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        F.ksparse(Tensor(a), 2)
    with pytest.raises(ValueError, match="NaN"):
        F.ksparse(Tensor(fake_device.to(a)), 2)


# ------------------------------------------------- local contrast norm, locally connected
def test_local_contrast_norm2d(fake_device):
    a = _rand(np.random.default_rng(23), 2, 3, 6, 5)
    names = _check(fake_device, lambda x: F.local_contrast_norm2d(x, size=3), [a])
    assert names == ["local_contrast_norm2d_forward", "local_contrast_norm2d_backward"]


@pytest.mark.parametrize("bias", [False, True])
def test_locally_connected2d(fake_device, bias):
    rng = np.random.default_rng(24)
    x = _rand(rng, 2, 3, 6, 5)
    s = (2, 1)
    oh, ow = (6 - 3) // 2 + 1, (5 - 2) // 1 + 1
    w = _rand(rng, oh, ow, 4, 3, 3, 2)
    b = _rand(rng, 4, oh, ow) if bias else None
    names = _check(fake_device, lambda x, w, b: F.locally_connected2d(x, w, b, stride=s),
                   [x, w, b])
    assert names == ["locally_connected2d_forward", "locally_connected2d_backward_data",
                     "locally_connected2d_backward_weights"]
    h = _rand(rng, 2, 4, oh, ow)
    names = _check(fake_device, lambda h, w: F.locally_connected2d_transpose(h, w, (6, 5), s),
                   [h, w])
    assert names == ["locally_connected2d_backward_data", "locally_connected2d_forward",
                     "locally_connected2d_backward_weights"]


# ---------------------------------------------------------------------- host/device mixing
def test_host_array_mixed_with_a_device_tensor_raises(fake_device):
    rng = np.random.default_rng(25)
    a, b = _rand(rng, 4, 3), _rand(rng, 3, 3)
    d = Tensor(fake_device.to(a), requires_grad=True)
    host = Tensor(b)
    for fn in (lambda: d[:3] + host, lambda: host * d[:3], lambda: d @ host,
               lambda: F.linear(d, fake_device.to(b), Tensor(np.zeros(3, np.float32))),
               lambda: F.linear(d, b)):
        with pytest.raises(TypeError):
            fn()
    x = Tensor(fake_device.to(_rand(rng, 1, 2, 5, 5)))
    w = _rand(rng, 3, 2, 3, 3)
    with pytest.raises(TypeError):
        F.conv2d(x, w)
    with pytest.raises(TypeError):
        F.conv2d(Tensor(_rand(rng, 1, 2, 5, 5)), Tensor(fake_device.to(w)))
    lw = _rand(rng, 3, 3, 2, 2, 3, 3)
    with pytest.raises(TypeError):
        F.locally_connected2d(x, lw)
    assert fake_device.entries.names() == []


# -------------------------------------------------------------------- float64 (gradcheck)
def test_float64_fallbacks_run_on_the_device(fake_device):
    rng = np.random.default_rng(26)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    with default_dtype(np.float64):
        for fn, arrays in [
            (lambda x: F.sigmoid(x) * F.tanh(x) + F.relu(x), [a]),
            (lambda x: F.softmax(x) + F.log_softmax(x), [a]),
            (F.matmul, [a, b]),
            (lambda x, w: F.linear(x, w, None, "tanh"), [a, b]),
            (lambda x: F.batch_norm(x), [a]),
            (lambda x: F.ksparse(x, 2), [a]),
        ]:
            names = _check(fake_device, fn, arrays, dtype=np.float64)
            assert names == []  # no float32 kernel for float64 data


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d", "l2_pool2d", "conv2d", "lcn",
                                "lc", "lc_transpose"])
def test_float64_fallbacks_of_the_image_ops(fake_device, op):
    rng = np.random.default_rng(29)
    x = rng.standard_normal((2, 3, 6, 5))
    if op.endswith("pool2d"):
        fn, arrays = (lambda x: getattr(F, op)(x, 3, stride=2, padding=1)), [x]
    elif op == "conv2d":
        fn = lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1)  # noqa: E731
        arrays = [x, rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(4)]
    elif op == "lcn":
        fn, arrays = (lambda x: F.local_contrast_norm2d(x, size=3)), [x]
    elif op == "lc":
        fn = lambda x, w, b: F.locally_connected2d(x, w, b, stride=(2, 1))  # noqa: E731
        arrays = [x, rng.standard_normal((2, 4, 4, 3, 3, 2)), rng.standard_normal((4, 2, 4))]
    else:
        fn = lambda h, w: F.locally_connected2d_transpose(h, w, (6, 5), (2, 1))  # noqa: E731
        arrays = [rng.standard_normal((2, 4, 2, 4)), rng.standard_normal((2, 4, 4, 3, 3, 2))]
    with default_dtype(np.float64):
        assert _check(fake_device, fn, arrays, dtype=np.float64) == []


def test_gradcheck_formulas_hold_on_the_device(fake_device):
    """lf.testing.gradcheck-style: the float64 device backward matches central differences."""
    rng = np.random.default_rng(27)
    a = rng.standard_normal((3, 4))
    with default_dtype(np.float64):
        x = Tensor(fake_device.to(a), requires_grad=True)
        (F.softmax(x) * F.sigmoid(x)).sum().backward()
        analytic = x.grad.get()
    h = 1e-6
    numeric = np.zeros_like(a)

    def f(v):
        e = np.exp(v - v.max(axis=1, keepdims=True))
        return ((e / e.sum(axis=1, keepdims=True)) / (1 + np.exp(-v))).sum()

    for idx in np.ndindex(*a.shape):
        p, m = a.copy(), a.copy()
        p[idx] += h
        m[idx] -= h
        numeric[idx] = (f(p) - f(m)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_module_level_ops_keep_device_arrays(fake_device):
    """lf.ops.linear / gemm as the autograd uses them: CuPy in, CuPy out."""
    rng = np.random.default_rng(28)
    x = fake_device.to(_rand(rng, 3, 4))
    assert isinstance(lf.ops.gemm(x, x, trans_b=True), FakeArray)


def test_non_contiguous_device_inputs_are_made_contiguous_on_the_device(fake_device):
    rng = np.random.default_rng(30)
    a = _rand(rng, 2, 3, 6, 5)
    w = _rand(rng, 4, 3, 3, 3)
    # Transposed views: the kernels get C-ordered copies made on the device (a host copy
    # would fail: the fake device arrays refuse conversion to numpy).
    _check(fake_device, lambda x: F.softmax(x.transpose(0, 1, 3, 2)), [a],
           entries=["softmax_rows", "softmax_rows_backward"])
    _check(fake_device, lambda x: F.max_pool2d(x.transpose(0, 1, 3, 2), 2), [a],
           entries=["pool2d_forward", "pool2d_backward"])
    _check(fake_device, lambda x, w: F.conv2d(x.transpose(0, 1, 3, 2), w, padding=1), [a, w],
           entries=["conv2d_forward", "conv2d_backward_data", "conv2d_backward_weights"])
    _check(fake_device, lambda x: F.batch_norm2d(x.transpose(0, 1, 3, 2)), [a],
           entries=["batch_norm_forward_train", "batch_norm_backward"])


def test_backward_of_a_scalar_without_grad(fake_device):
    a = _rand(np.random.default_rng(31), 4, 3)
    host = Tensor(a, requires_grad=True)
    (F.tanh(host) * host).mean().backward()
    dev = Tensor(fake_device.to(a), requires_grad=True)
    loss = (F.tanh(dev) * dev).mean()
    assert isinstance(loss.data, FakeArray) and loss.shape == ()
    loss.backward()
    assert isinstance(dev.grad, FakeArray)
    np.testing.assert_array_equal(dev.grad.get(), host.grad)
