"""The conv-net layers of latentforge.nn: Conv2d, MaxPool2d, AvgPool2d, L2Pool2d, BatchNorm2d,
Dropout2d, Flatten, Unflatten -- shapes, initialisation, running statistics, composition with
Sequential / state_dict / optimizers, gradients through a whole stack, and bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import nn, optim
from latentforge.tensor import Tensor, default_dtype
from latentforge.testing import gradcheck, gradcheck_native


def _x(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def test_conv2d_shapes_and_pytorch_default_init():
    conv = nn.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2), random_state=0)
    assert conv.weight.shape == (8, 3, 3, 5) and conv.bias.shape == (8,)
    bound = 1 / np.sqrt(3 * 3 * 5)
    for p in (conv.weight.data, conv.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.8 * bound
    y = conv(Tensor(_x((2, 3, 9, 7))))
    assert y.shape == (2, 8, (9 + 2 - 3) // 2 + 1, (7 + 4 - 5) + 1)
    ref = lf.functional.conv2d(Tensor(_x((2, 3, 9, 7))), conv.weight, conv.bias, stride=(2, 1),
                               padding=(1, 2))
    np.testing.assert_array_equal(y.data, ref.data)
    assert nn.Conv2d(3, 8, 3, bias=False, random_state=0).bias is None
    assert list(nn.Sequential(conv).state_dict()) == ["0.weight", "0.bias"]


@pytest.mark.parametrize("bad, err, match", [
    (dict(in_channels=0), ValueError, "in_channels"),
    (dict(kernel_size=(3,)), TypeError, "kernel_size"),
    (dict(kernel_size=2.5), TypeError, "kernel_size"),
    (dict(stride=0), ValueError, "stride"),
    (dict(padding=-1), ValueError, "padding"),
])
def test_conv2d_bad_arguments(bad, err, match):
    kw = dict(in_channels=3, out_channels=4, kernel_size=3)
    kw.update(bad)
    with pytest.raises(err, match=match):
        nn.Conv2d(**kw)


def test_layers_refuse_wrong_input_shapes():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        conv(Tensor(_x((3, 9, 9))))
    with pytest.raises(ValueError, match="3 input channels"):
        conv(Tensor(_x((2, 2, 9, 9))))
    with pytest.raises(ValueError):  # kernel larger than the padded input
        conv(Tensor(_x((2, 3, 2, 2))))
    with pytest.raises(ValueError, match="at most half"):
        nn.MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match="expects 4 input channels"):
        nn.BatchNorm2d(4)(Tensor(_x((2, 3, 5, 5))))
    with pytest.raises(ValueError, match=r"Unflatten\(1, 4, 4\) expects x of shape \(N, 16\)"):
        nn.Unflatten(1, 4, 4)(Tensor(_x((2, 15))))


@pytest.mark.parametrize("layer, fn", [
    (nn.MaxPool2d(3, stride=2, padding=1), "max_pool2d"),
    (nn.AvgPool2d(2), "avg_pool2d"),
    (nn.L2Pool2d((2, 3), stride=(1, 2)), "l2_pool2d"),
])
def test_pool_layers_are_their_functional_op(layer, fn):
    x = Tensor(_x((2, 3, 9, 8)))
    ref = getattr(lf.functional, fn)(x, layer.kernel_size, stride=layer.stride,
                                     padding=layer.padding)
    np.testing.assert_array_equal(layer(x).data, ref.data)
    assert nn.MaxPool2d(2).stride == (2, 2)  # stride defaults to the window


def test_batchnorm2d_training_statistics_and_eval():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    x = _x((4, 3, 5, 6)) * 3 + 1
    y = bn(Tensor(x)).data
    mean = x.astype(np.float64).mean(axis=(0, 2, 3))
    var = x.astype(np.float64).var(axis=(0, 2, 3))
    ref = (x - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    n = 4 * 5 * 6
    np.testing.assert_allclose(bn.running_mean.data, 0.2 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_var.data, 0.8 + 0.2 * var * n / (n - 1), rtol=1e-5)
    bn.eval()
    y_eval = bn(Tensor(x)).data
    rm, rv = bn.running_mean.data.astype(np.float64), bn.running_var.data.astype(np.float64)
    ref_eval = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(y_eval, ref_eval, rtol=1e-4, atol=1e-4)
    assert set(nn.Sequential(bn).state_dict()) == {"0.weight", "0.bias", "0.running_mean",
                                                    "0.running_var"}


def test_dropout2d_drops_whole_maps_reproducibly():
    x = Tensor(np.ones((8, 16, 3, 3), np.float32))
    d = nn.Dropout2d(0.5, random_state=0)
    y = d(x).data
    per_map = y.reshape(8, 16, 9)
    assert np.all((per_map == 0).all(axis=2) | (per_map == 2).all(axis=2))
    assert 0.3 < (per_map[:, :, 0] == 0).mean() < 0.7
    y2 = nn.Dropout2d(0.5, random_state=0)(x).data
    np.testing.assert_array_equal(y, y2)
    d.eval()
    np.testing.assert_array_equal(d(x).data, x.data)


def test_flatten_unflatten_round_trip_and_gradient():
    x = Tensor(_x((2, 3, 4, 5)), requires_grad=True)
    f = nn.Flatten()(x)
    assert f.shape == (2, 60)
    back = nn.Unflatten(3, 4, 5)(f)
    np.testing.assert_array_equal(back.data, x.data)
    (back * back).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def _stack(seed=0, pool=nn.MaxPool2d):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, random_state=rng), nn.BatchNorm2d(3), nn.ReLU(),
        pool(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 4, random_state=rng))


@pytest.mark.parametrize("pool", [nn.MaxPool2d, nn.AvgPool2d, nn.L2Pool2d])
def test_gradients_through_a_conv_stack(pool):
    net = _stack(pool=pool)
    x = _x((3, 2, 7, 6), seed=1, dtype=np.float64)
    with default_dtype(np.float64):
        params = net.parameters()
        assert gradcheck(lambda xx, *ps: net(xx), [x] + params)
    # The float32 native path agrees with the float64 one.
    net32 = _stack(pool=pool)
    assert gradcheck_native(lambda xx: net32(xx), [x])


def test_training_a_conv_stack_lowers_the_loss_and_is_thread_independent():
    X = _x((16, 2, 7, 6), seed=2)
    y = np.arange(16) % 4

    def train(threads):
        lf.set_num_threads(threads)
        try:
            net = _stack(seed=3)
            opt = optim.Adam(net.parameters(), lr=1e-2)
            losses = []
            for _ in range(15):
                loss = lf.losses.softmax_cross_entropy(net(Tensor(X)), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(float(loss.data))
            return losses, net.state_dict()
        finally:
            lf.set_num_threads(0)

    l1, s1 = train(1)
    assert l1[-1] < 0.5 * l1[0]
    for t in (2, 3):
        lt, st = train(t)
        assert lt == l1
        for k in s1:
            np.testing.assert_array_equal(st[k], s1[k])
