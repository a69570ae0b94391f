"""Modules: parameters, state_dict, tied Linear, Dropout, and a tiny training run."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref64
from latentforge import losses as L
from latentforge import nn
from latentforge.tensor import Tensor, no_grad
from latentforge.testing import (
    ATOL_ACT,
    ATOL_F32,
    F32_U,
    N_SIGMA,
    PROB_SUM_ATOL,
    RTOL_ACT,
    RTOL_F32,
    assert_close,
    assert_dot_close,
    gradcheck,
)


class AE(nn.Module):
    def __init__(self, n_in=6, n_hid=3, tied=True, seed=0):
        super().__init__()
        self.encoder = nn.Linear(n_in, n_hid, activation="sigmoid", random_state=seed)
        self.decoder = nn.Linear(
            n_hid, n_in, tied_to=self.encoder if tied else None, random_state=seed + 1
        )
        self.drop = nn.Dropout(0.25, random_state=seed)

    def forward(self, x):
        return self.decoder(self.drop(self.encoder(x)))


def test_linear_shapes_init_and_reproducibility():
    lin = nn.Linear(20, 30, random_state=0)
    assert lin.weight.shape == (30, 20) and lin.bias.shape == (30,)
    assert lin.weight.dtype == np.float32 and lin.weight.requires_grad
    limit = np.sqrt(6 / 50)
    assert np.abs(lin.weight.data).max() <= limit and np.abs(lin.weight.data).max() > 0.9 * limit
    np.testing.assert_array_equal(lin.bias.data, 0)
    np.testing.assert_array_equal(nn.Linear(20, 30, random_state=0).weight.data, lin.weight.data)
    sig = nn.Linear(20, 30, activation="sigmoid", random_state=0)
    # 4x is exact in binary floating point
    np.testing.assert_array_equal(sig.weight.data, 4 * lin.weight.data)
    x = np.random.default_rng(1).standard_normal((5, 20)).astype(np.float32)
    assert_dot_close(lin(Tensor(x)).data, *ref64.gemm(x, lin.weight.data, trans_b=True))
    assert nn.Linear(3, 2, bias=False).bias is None
    with pytest.raises(ValueError):
        nn.Linear(3, 2, activation="softplus")


def test_linear_module_gradcheck():
    lin = nn.Linear(4, 3, activation="tanh", random_state=2)
    x = np.random.default_rng(3).standard_normal((5, 4))
    gradcheck(lambda x_, w, b: lin(x_), [x, lin.weight, lin.bias])


def test_parameters_named_and_dedup_for_tied():
    ae = AE(tied=True)
    names = [n for n, _ in ae.named_parameters()]
    assert names == ["encoder.weight", "encoder.bias", "decoder.bias"]
    assert len(ae.parameters()) == 3
    assert ae.decoder.weight is ae.encoder.weight
    untied = AE(tied=False)
    assert [n for n, _ in untied.named_parameters()] == [
        "encoder.weight",
        "encoder.bias",
        "decoder.weight",
        "decoder.bias",
    ]
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)


def test_tied_linear_accumulates_both_gradients():
    enc = nn.Linear(5, 3, activation="sigmoid", random_state=0)
    dec = nn.Linear(3, 5, tied_to=enc)
    x = np.random.default_rng(0).standard_normal((4, 5))
    # float64 check of the full tied graph: weight receives encoder and decoder terms.
    gradcheck(lambda x_, w: L.mse(dec(enc(x_)), x_), [x, enc.weight])

    # The tied weight's gradient is exactly the sum of the gradients an untied copy of the
    # same network gives its encoder weight and (transposed) its decoder weight.
    xt = Tensor(x)
    L.mse(dec(enc(xt)), x).backward()
    enc2 = nn.Linear(5, 3, activation="sigmoid")
    dec2 = nn.Linear(3, 5)
    enc2.load_state_dict(enc.state_dict())
    dec2.load_state_dict({"weight": enc.weight.data.T.copy(), "bias": dec.bias.data})
    L.mse(dec2(enc2(xt)), x).backward()
    enc_part, dec_part = enc2.weight.grad, dec2.weight.grad.T
    assert np.abs(enc_part).max() > 1e-4 and np.abs(dec_part).max() > 1e-4
    # The tied gradient is the sum of the two parts: one more float32 addition (u relative).
    assert_close(enc.weight.grad, enc_part.astype(np.float64) + dec_part, rtol=F32_U, atol=0)
    assert_close(dec.bias.grad, dec2.bias.grad, rtol=RTOL_F32, atol=ATOL_F32)
    with pytest.raises(ValueError, match="tied"):
        nn.Linear(3, 4, tied_to=enc)


def test_state_dict_round_trip_and_checks():
    a, b = AE(seed=0), AE(seed=5)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 6)))
    a.eval(), b.eval()
    assert not np.allclose(a(x).data, b(x).data)
    sd = a.state_dict()
    assert list(sd) == ["encoder.weight", "encoder.bias", "decoder.bias"]
    sd["encoder.bias"] += 0  # copies, not views
    assert sd["encoder.weight"] is not a.encoder.weight.data
    b.load_state_dict(sd)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert b.decoder.weight is b.encoder.weight  # tie survives loading
    bad = dict(sd)
    bad["encoder.bias"] = np.zeros(4)
    with pytest.raises(ValueError, match="shape"):
        b.load_state_dict(bad)
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({"encoder.weight": sd["encoder.weight"]})
    with pytest.raises(KeyError, match="unexpected"):
        b.load_state_dict({**sd, "extra": np.zeros(1)})
    b.load_state_dict({"encoder.bias": np.ones(3)}, strict=False)
    np.testing.assert_array_equal(b.encoder.bias.data, 1.0)


def test_train_eval_propagates():
    ae = AE()
    assert ae.training and ae.drop.training
    ae.eval()
    assert not ae.training and not ae.drop.training and not ae.encoder.training
    ae.train()
    assert ae.drop.training


def test_dropout_train_eval_and_scale():
    p = 0.3
    drop = nn.Dropout(p, random_state=0)
    x = Tensor(np.ones((400, 250)), requires_grad=True)
    y = drop(x)
    zero_frac = np.mean(y.data == 0)
    sd = np.sqrt(p * (1 - p) / y.data.size)  # 100k Bernoulli draws: sd ~ 0.0015
    assert abs(zero_frac - p) < N_SIGMA * sd
    # kept units are scaled by 1 / (1 - p), rounded once
    assert_close(y.data[y.data != 0], np.full((y.data != 0).sum(), 1 / (1 - p)), rtol=F32_U,
                 atol=0)
    # inverted dropout keeps the expectation: sd of the mean is sd * 1/(1-p)
    assert abs(y.data.mean() - 1.0) < N_SIGMA * sd / (1 - p)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, y.data)  # gradient uses the same mask and scale
    drop.eval()
    assert drop(x) is x
    # Seeded: the same seed gives the same mask; successive calls differ.
    m1 = nn.Dropout(p, random_state=7)(Tensor(np.ones((8, 8)))).data
    d2 = nn.Dropout(p, random_state=7)
    np.testing.assert_array_equal(d2(Tensor(np.ones((8, 8)))).data, m1)
    assert not np.array_equal(d2(Tensor(np.ones((8, 8)))).data, m1)
    with pytest.raises(ValueError):
        nn.Dropout(1.0)


def test_dropout_masks_are_philox_draws(threads):
    # Design rule: randomness is counter-based. Element i of a call is kept when the Philox
    # uniform at (seed, stream 0, offset + i) is >= p; the offset advances by each call's size.
    import latentforge as lf
    from latentforge import _C

    p = 0.4
    masks = []
    for t in (1, 2):
        lf.set_num_threads(t)
        d = nn.Dropout(p, random_state=11)
        a = d(Tensor(np.ones((300, 257), np.float32))).data
        b = d(Tensor(np.ones((5, 7), np.float32))).data
        assert d.offset == 300 * 257 + 35
        masks.append((a, b))
        u = _C.uniform((300, 257), d.seed, 0, 0)
        np.testing.assert_array_equal(a != 0, u >= np.float32(p))
        np.testing.assert_array_equal(b != 0, _C.uniform((5, 7), d.seed, 0, 300 * 257) >= p)
    assert np.array_equal(masks[0][0], masks[1][0]) and np.array_equal(masks[0][1], masks[1][1])
    d = nn.Dropout(p, random_state=11)
    d.eval()
    d(Tensor(np.ones((3, 3))))
    assert d.offset == 0  # eval mode draws nothing


def test_activation_modules():
    x = Tensor(np.array([[-1.0, 0.5, 2.0]]))
    assert_close(nn.Sigmoid()(x).data, ref64.sigmoid(x.data), rtol=RTOL_ACT, atol=ATOL_ACT)
    assert_close(nn.Tanh()(x).data, ref64.tanh(x.data), rtol=RTOL_ACT, atol=ATOL_ACT)
    np.testing.assert_array_equal(nn.ReLU()(x).data, [[0.0, 0.5, 2.0]])
    assert_close(nn.Softmax()(x).data, ref64.softmax(x.data), rtol=RTOL_ACT, atol=ATOL_ACT)
    assert abs(nn.Softmax()(x).data.sum(dtype=np.float64) - 1.0) <= PROB_SUM_ATOL


def test_two_layer_net_loss_decreases_with_plain_sgd():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 5)).astype(np.float32)
    labels = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    net = nn.Sequential(
        nn.Linear(5, 16, activation="tanh", random_state=1), nn.Linear(16, 2, random_state=2)
    )
    lr, losses = 0.5, []
    for _ in range(30):
        net.zero_grad()
        loss = L.softmax_cross_entropy(net(Tensor(X)), labels) + 1e-4 * L.l2_penalty(net)
        loss.backward()
        losses.append(loss.item())
        with no_grad():
            for p in net.parameters():
                p.data -= lr * p.grad
    assert losses[-1] < 0.7 * losses[0]
    assert all(p.dtype == np.float32 for p in net.parameters())
