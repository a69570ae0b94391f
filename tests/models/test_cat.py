"""The cat-paper network: the locally connected transpose (decoder), CatPart / CatNet, and the
reconstruction-TICA loss."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import functional as F
from latentforge.models.cat import CatNet, CatPart, tica_loss
from latentforge.tensor import default_dtype
from latentforge.testing import gradcheck, gradcheck_native


@pytest.mark.parametrize("shape,k,stride", [((3, 2, 7, 6), (3, 2), (1, 1)),
                                            ((2, 1, 9, 9), (4, 4), (2, 3)),
                                            ((1, 3, 5, 5), (5, 5), (1, 1))])
def test_transpose_is_the_adjoint(shape, k, stride):
    """<lc(x, w), h> == <x, lc^T(h, w)> in float64, and the native float32 path agrees."""
    rng = np.random.default_rng(0)
    N, C, H, W = shape
    oh, ow = (H - k[0]) // stride[0] + 1, (W - k[1]) // stride[1] + 1
    w = rng.standard_normal((oh, ow, 4, C) + k)
    x = rng.standard_normal(shape)
    h = rng.standard_normal((N, 4, oh, ow))
    y = ref64.locally_connected2d(x, w, None, stride)
    with default_dtype(np.float64):
        xt = F.locally_connected2d_transpose(lf.Tensor(h), lf.Tensor(w), (H, W), stride).data
    assert xt.dtype == np.float64
    assert xt.shape == shape
    assert np.isclose((y * h).sum(), (x * xt).sum(), rtol=1e-10)
    x32 = F.locally_connected2d_transpose(lf.Tensor(h.astype(np.float32)),
                                          lf.Tensor(w.astype(np.float32)), (H, W), stride).data
    assert x32.dtype == np.float32
    np.testing.assert_allclose(x32, xt, rtol=1e-4, atol=1e-4 * np.abs(xt).max())


def test_transpose_gradients():
    rng = np.random.default_rng(1)
    h = rng.standard_normal((2, 3, 4, 3))
    w = rng.standard_normal((4, 3, 3, 2, 3, 2))
    fn = lambda h, w: F.locally_connected2d_transpose(h, w, (6, 4))  # noqa: E731
    assert gradcheck(fn, [h, w])
    assert gradcheck_native(fn, [h.astype(np.float32), w.astype(np.float32)])
    fn2 = lambda h, w: F.locally_connected2d_transpose(h, w, (9, 7), stride=2)  # noqa: E731
    assert gradcheck(fn2, [rng.standard_normal((2, 3, 4, 3)),
                           rng.standard_normal((4, 3, 3, 2, 3, 2))])
    with pytest.raises(ValueError, match="h must have shape"):
        F.locally_connected2d_transpose(lf.Tensor(h[:, :2]), lf.Tensor(w), (6, 4))
    with pytest.raises(ValueError):
        F.locally_connected2d_transpose(lf.Tensor(h), lf.Tensor(w), (7, 4))


def test_part_shapes_loss_and_gradients():
    part = CatPart(1, 3, (9, 8), 3, pool_size=3, lcn_size=3, sparsity=0.1, random_state=0)
    assert part.output_shape == (3, 7, 6)
    x = lf.Tensor(np.random.default_rng(0).random((4, 1, 9, 8)).astype(np.float32))
    assert part(x).data.shape == (4, 3, 7, 6)
    assert np.all(part.pooled(x).data >= 0)
    loss = part.loss(x)
    h = part.filters(x).data
    rec = F.locally_connected2d_transpose(lf.Tensor(h), part.encoder.weight, (9, 8)).data
    pooled = part.pool(lf.Tensor(h)).data
    expected = np.mean((rec - x.data) ** 2) + 0.1 * pooled.mean()
    assert np.isclose(float(loss.data), expected, rtol=1e-5)
    loss.backward()
    assert part.encoder.weight.grad is not None
    names = [n for n, _ in part.named_parameters()]
    assert names == ["encoder.weight"]  # tied: the decoder is the encoder transposed
    untied = CatPart(1, 3, (9, 8), 3, tied=False, random_state=0)
    assert sorted(n for n, _ in untied.named_parameters()) == ["decoder_weight", "encoder.weight"]
    # the loss gradient against float64 central differences, on a tiny part
    small = CatPart(1, 2, (5, 5), 2, pool_size=3, lcn_size=3, sparsity=0.5, random_state=1)
    xs = np.random.default_rng(2).random((2, 1, 5, 5)) + 0.5
    assert gradcheck(lambda x, w1: small.loss(x), [xs, small.encoder.weight])
    small = CatPart(1, 2, (5, 5), 2, pool_size=3, lcn_size=3, sparsity=0.5, tied=False,
                    random_state=1)
    assert gradcheck(lambda x, w1, w2: small.loss(x), [xs, small.encoder.weight,
                                                       small.decoder_weight])


def test_training_reduces_the_loss_and_stack_shapes():
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 12, 12)).astype(np.float32)
    net = CatNet((1, 12, 12), maps=4, n_parts=3, kernel_size=3, random_state=0)
    assert [p.output_shape for p in net.parts] == [(4, 10, 10), (4, 8, 8), (4, 6, 6)]
    assert net(X).data.shape == (64, 4, 6, 6)
    assert net.features(X.reshape(64, -1), part=0, stage="filters").shape == (64, 400)
    assert net.features(X, stage="pooled").shape == (64, 144)
    part = net.parts[0]
    opt = lf.optim.Adam(part.parameters(), lr=1e-2)
    first = float(tica_loss(part, X).data)
    for _ in range(30):
        opt.zero_grad()
        loss = tica_loss(part, X.reshape(64, -1))
        loss.backward()
        opt.step()
    assert float(loss.data) < 0.7 * first
    x1 = net.part_input(X, 1)
    assert x1.shape == (64, 4, 10, 10)
    with pytest.raises(ValueError, match="stage"):
        net.features(X, stage="energy")
    with pytest.raises(ValueError, match="fewer parts"):
        CatNet((1, 8, 8), n_parts=5, kernel_size=3)
    with pytest.raises(ValueError, match="pool_size"):
        CatPart(1, 2, 8, 3, pool_size=4)
