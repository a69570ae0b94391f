"""Optimizers, losses and Module.to on device arrays, without a GPU (the ``fake_device`` fixture,
tests/_fakedevice.py): the device path must launch the device entries (optim_step, max_norm,
uniform) on the right pointers, keep everything on the device (FakeArray in, FakeArray out), and
give bitwise the host result (the fake entries run the same CPU kernels); mixing host and device
arrays raises TypeError. The CUDA kernels themselves are checked on a GPU (tests/test_device_*).
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge.nn as nn
from _fakedevice import FakeArray
from latentforge import losses
from latentforge.optim import SGD, AdaDelta, AdaGrad, Adam, RMSProp
from latentforge.tensor import Tensor

OPTIMIZERS = {
    "sgd": (SGD, dict(lr=0.1)),
    "momentum": (SGD, dict(lr=0.1, momentum=0.9)),
    "nesterov": (SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    "adagrad": (AdaGrad, dict(lr=0.1)),
    "rmsprop": (RMSProp, dict(lr=0.01)),
    "rmsprop_momentum": (RMSProp, dict(lr=0.01, momentum=0.8)),
    "adam": (Adam, dict(lr=0.01)),
    "adadelta": (AdaDelta, dict(lr=1.0)),
}
REGULARISATION = {
    "plain": {},
    "decay_l1_maxnorm": dict(weight_decay=0.01, l1=0.001, max_norm=0.5),
}


def _host(a) -> np.ndarray:
    return a.a if isinstance(a, FakeArray) else a


def _params(rng, fake_device=None):
    w = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    if fake_device is None:
        return [nn.Parameter(w), nn.Parameter(b)]
    return [nn.Parameter(fake_device.to(w)), nn.Parameter(fake_device.to(b))]


def _grads(rng, params):
    return [rng.standard_normal(p.shape).astype(np.float32) for p in params]


@pytest.mark.parametrize("reg", REGULARISATION)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_device_step_matches_host_bitwise(fake_device, name, reg):
    cls, kw = OPTIMIZERS[name]
    kw = dict(kw, **REGULARISATION[reg])
    host = _params(np.random.default_rng(0))
    dev = _params(np.random.default_rng(0), fake_device)
    opt_h, opt_d = cls(host, **kw), cls(dev, **kw)
    rng = np.random.default_rng(1)
    for _ in range(3):
        for ph, pd, g in zip(host, dev, _grads(rng, host)):
            ph.grad, pd.grad = g, fake_device.to(g)
        opt_h.step()
        opt_d.step()
        for ph, pd in zip(host, dev):
            assert isinstance(pd.data, FakeArray)
            np.testing.assert_array_equal(pd.data.get(), ph.data)
    for sh, sd in zip(opt_h.state, opt_d.state):
        assert sd["step"] == sh["step"] == 3
        assert set(sd) == set(sh)
        for k in sh:
            if k != "step":
                assert isinstance(sd[k], FakeArray), k
                np.testing.assert_array_equal(sd[k].get(), sh[k])
    per_step = ["optim_step", "max_norm", "optim_step"] if "max_norm" in kw else ["optim_step"] * 2
    assert fake_device.entries.names() == per_step * 3
    if "max_norm" in kw:  # the constraint was active
        assert np.linalg.norm(dev[0].data.get(), axis=1).max() <= 0.5 * (1 + 1e-5)


def test_device_skips_none_grad_and_zero_grad(fake_device):
    dev = _params(np.random.default_rng(0), fake_device)
    opt = Adam(dev, lr=0.1)
    dev[0].grad = fake_device.to(np.ones((5, 4), np.float32))
    opt.step()
    assert fake_device.entries.names() == ["optim_step"]
    assert opt.state[1] == {}
    opt.zero_grad(set_to_none=False)
    assert isinstance(dev[0].grad, FakeArray) and not dev[0].grad.get().any()
    opt.zero_grad()
    assert dev[0].grad is None


def test_mixed_param_and_grad_raise_type_error(fake_device):
    g = np.ones((5, 4), np.float32)
    dev = _params(np.random.default_rng(0), fake_device)
    dev[0].grad = g  # host grad for a device parameter
    before = dev[0].data.get()
    with pytest.raises(TypeError, match="host data"):
        SGD(dev, lr=0.1).step()
    np.testing.assert_array_equal(dev[0].data.get(), before)
    host = _params(np.random.default_rng(0))
    host[0].grad = fake_device.to(g)  # device grad for a host parameter
    with pytest.raises(TypeError, match="cuda:0"):
        SGD(host, lr=0.1).step()
    assert fake_device.entries.names() == []


def test_optimizer_made_before_to_refuses_then_state_moves_by_load(fake_device):
    host = _params(np.random.default_rng(0))
    model = nn.Module()
    model.w, model.b = host
    opt = Adam(model.parameters(), lr=0.1)
    for p in host:
        p.grad = np.ones(p.shape, np.float32)
    opt.step()
    model.to("cuda")
    for p in host:
        p.grad = fake_device.to(np.ones(p.shape, np.float32))
    with pytest.raises(TypeError, match="make the optimizer after"):
        opt.step()
    opt.load_state_dict(opt.state_dict())  # host state copied to the parameters' device
    assert all(isinstance(st[k], FakeArray) for st in opt.state for k in st if k != "step")
    opt.step()
    assert opt.state[0]["step"] == 2
    model.to("cpu")  # and back: the device state is refused by the host path too
    for p in host:
        p.grad = np.ones(p.shape, np.float32)
    with pytest.raises(TypeError, match="make the optimizer after"):
        opt.step()


@pytest.mark.parametrize("name", ["momentum", "adam", "rmsprop_momentum", "adadelta"])
def test_state_dict_across_devices(fake_device, name):
    cls, kw = OPTIMIZERS[name]
    host = _params(np.random.default_rng(0))
    dev = _params(np.random.default_rng(0), fake_device)
    opt_h, opt_d = cls(host, **kw), cls(dev, **kw)
    rng = np.random.default_rng(2)

    def step(gs):
        for ph, pd, g in zip(host, dev, gs):
            ph.grad, pd.grad = g, fake_device.to(g)
        opt_h.step()
        opt_d.step()

    step(_grads(rng, host))
    sd_dev = opt_d.state_dict()
    buffers = [v for st in sd_dev["state"].values() for k, v in st.items() if k != "step"]
    assert buffers and all(isinstance(v, FakeArray) for v in buffers)
    assert all(v is not opt_d.state[0].get(k) for k, v in sd_dev["state"][0].items()
               if k != "step")
    sd_host = opt_h.state_dict()
    # Device state into the host optimizer, host state into the device one: both carry on equal.
    opt_h.load_state_dict(sd_dev)
    opt_d.load_state_dict(sd_host)
    assert all(isinstance(v, np.ndarray) for st in opt_h.state for k, v in st.items()
               if k != "step")
    assert all(isinstance(v, FakeArray) for st in opt_d.state for k, v in st.items()
               if k != "step")
    for _ in range(2):
        step(_grads(rng, host))
    for ph, pd in zip(host, dev):
        np.testing.assert_array_equal(pd.data.get(), ph.data)


# ------------------------------------------------------------------------------------ losses


def _grad_pair(fake_device, x):
    h = Tensor(x, requires_grad=True)
    d = Tensor(fake_device.to(x), requires_grad=True)
    return h, d


def _same(host_t: Tensor, dev_t: Tensor):
    assert isinstance(dev_t.data, FakeArray)
    np.testing.assert_array_equal(dev_t.data.get(), host_t.data)


def test_fused_losses_on_device_match_host(fake_device):
    rng = np.random.default_rng(3)
    z = rng.standard_normal((6, 5)).astype(np.float32)
    t = (rng.random((6, 5)) > 0.5).astype(np.float32)
    probs = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    probs[0, 0] = 0.0  # clipped: gradient 0 there
    labels = rng.integers(0, 5, size=6)
    cases = [
        (losses.binary_cross_entropy, probs, t, fake_device.to(t)),
        (losses.binary_cross_entropy, probs, t.astype(np.int64), t.astype(np.int64)),  # host
        (losses.binary_cross_entropy_with_logits, z, t, fake_device.to(t)),
        (losses.softmax_cross_entropy, z, labels, fake_device.to(labels)),
        (losses.softmax_cross_entropy, z, labels, labels),  # numpy labels: copied explicitly
    ]
    for fn, x, target_h, target_d in cases:
        h, d = _grad_pair(fake_device, x)
        lh, ld = fn(h, target_h), fn(d, target_d)
        _same(lh, ld)
        lh.backward()
        ld.backward()
        assert isinstance(d.grad, FakeArray)
        np.testing.assert_array_equal(d.grad.get(), h.grad)
    # A target Tensor receives its gradient on the device too.
    th, td = _grad_pair(fake_device, t)
    h, d = _grad_pair(fake_device, z)
    losses.binary_cross_entropy_with_logits(h, th).backward()
    losses.binary_cross_entropy_with_logits(d, td).backward()
    np.testing.assert_array_equal(td.grad.get(), th.grad)


def test_losses_refuse_mixed_host_and_device(fake_device):
    z = np.zeros((3, 2), np.float32)
    dev, host = Tensor(fake_device.to(z)), Tensor(z)
    with pytest.raises(TypeError, match="host data"):
        losses.binary_cross_entropy_with_logits(dev, host)
    with pytest.raises(TypeError, match="host data"):
        losses.binary_cross_entropy(host, dev)
    with pytest.raises(TypeError):  # device target for host logits: never copied back
        losses.binary_cross_entropy_with_logits(host, fake_device.to(z))
    with pytest.raises(TypeError, match="host data"):
        losses.softmax_cross_entropy(host, fake_device.to(np.zeros(3, np.int64)))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        losses.softmax_cross_entropy(dev, fake_device.to(np.array([0, 1, 2])))
    with pytest.raises(TypeError, match="labels must be integers"):
        losses.softmax_cross_entropy(dev, fake_device.to(np.zeros(3, np.float32)))


def test_composed_losses_on_device_match_host(fake_device):
    rng = np.random.default_rng(4)
    x = rng.random((6, 5)).astype(np.float32)
    y = rng.random((6, 5)).astype(np.float32)
    cases = [
        lambda a, b: losses.mse(a, b),
        lambda a, b: losses.l1_penalty([a, b]),
        lambda a, b: losses.l2_penalty([a, b]),
        lambda a, b: losses.kl_sparsity(a, 0.05, beta=3.0),
    ]
    for fn in cases:
        (h, d), (hb, db) = _grad_pair(fake_device, x), _grad_pair(fake_device, y)
        lh, ld = fn(h, hb), fn(d, db)
        _same(lh, ld)
        lh.backward()
        ld.backward()
        np.testing.assert_array_equal(d.grad.get(), h.grad)
    h = Tensor(x)
    d = Tensor(fake_device.to(x))
    _same(losses.mse(h, y), losses.mse(d, y))  # a numpy target copied explicitly


# ---------------------------------------------------------------------------- Module.to


def _model():
    enc = nn.Linear(4, 3, activation="sigmoid", random_state=0)
    dec = nn.Linear(3, 4, tied_to=enc, random_state=0)
    return nn.Sequential(enc, nn.BatchNorm1d(3), nn.Dropout(0.5, random_state=1), dec)


def test_module_to_round_trip_keeps_objects_and_bits(fake_device):
    model = _model()
    assert model.device == "cpu"
    params = model.parameters()
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    params[0].grad = np.ones(params[0].shape, np.float32)
    assert model.to("cuda") is model
    assert model.device == "cuda:0"
    assert model.parameters() == params and all(a is b for a, b in zip(model.parameters(),
                                                                        params))
    assert model.layers[3].weight is model.layers[0].weight  # still tied
    bn = model.layers[1]
    assert isinstance(bn.running_mean.data, FakeArray) and isinstance(bn.running_var.data,
                                                                       FakeArray)
    assert isinstance(params[0].grad, FakeArray)
    sd = model.state_dict()
    assert all(isinstance(v, FakeArray) for v in sd.values())
    model.to("cuda:0")  # already there: nothing moves
    assert model.to("cpu") is model and model.device == "cpu"
    for n, p in model.named_parameters():
        assert isinstance(p.data, np.ndarray)
        np.testing.assert_array_equal(p.data, before[n])
    assert isinstance(params[0].grad, np.ndarray)
    with pytest.raises(ValueError, match="device must be"):
        model.to("tpu")


def test_module_state_dict_across_devices(fake_device):
    src, dst = _model(), _model()
    for p in dst.parameters():
        p.data[...] = 0
    dst.to("cuda")
    dst.load_state_dict(src.state_dict())  # host state into a device model: copied there
    for (n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        assert isinstance(q.data, FakeArray), n
        np.testing.assert_array_equal(q.data.get(), p.data)
    for p in src.parameters():
        p.data[...] = 0
    src.load_state_dict(dst.state_dict())  # device state into a host model: copied back
    for (n, p), (_, q) in zip(src.named_parameters(), dst.named_parameters()):
        assert isinstance(p.data, np.ndarray), n
        np.testing.assert_array_equal(p.data, q.data.get())


@pytest.mark.parametrize("layer, shape", [(nn.Dropout, (4, 6)), (nn.Dropout2d, (3, 4, 2, 2))])
def test_dropout_mask_identical_on_host_and_device(fake_device, layer, shape):
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    lh, ld = layer(0.4, random_state=7), layer(0.4, random_state=7)
    for _ in range(2):  # the offset advances the same way on both sides
        yh, yd = lh(Tensor(x)), ld(Tensor(fake_device.to(x)))
        _same(yh, yd)
    assert ld.offset == lh.offset
    assert fake_device.entries.names() == ["uniform", "uniform"]
    assert 0 < (yh.data == 0).mean() < 1


def test_train_step_on_a_moved_model(fake_device):
    # The optimizer is made after .to(), as documented; gradients set by hand on the device.
    model = _model().to("cuda")
    opt = SGD(model.parameters(), lr=0.5, momentum=0.9, max_norm=1.0)
    host = _model()
    opt_h = SGD(host.parameters(), lr=0.5, momentum=0.9, max_norm=1.0)
    rng = np.random.default_rng(8)
    for p, q in zip(model.parameters(), host.parameters()):
        if p.requires_grad:
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad, q.grad = fake_device.to(g), g
    opt.step()
    opt_h.step()
    for p, q in zip(model.parameters(), host.parameters()):
        np.testing.assert_array_equal(p.data.get(), q.data)
