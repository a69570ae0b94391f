"""functional.TopK / ksparse (k-sparse activation) and nn.BatchNorm1d: gradchecks (float64
numpy path), the float32 native TopK path against the float64 path, BatchNorm1d running
statistics, eval mode and state_dict round trips."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref64
from latentforge import functional as F
from latentforge import nn
from latentforge.tensor import Tensor, default_dtype
from latentforge.testing import ATOL_F32, RTOL_F32, RTOL_F64, assert_close, gradcheck


def distinct_rows(rng, shape, gap=0.05):
    """Rows of well separated values (no two within ``gap``): no tie near the k-th value, so
    central differences never cross the selection boundary."""
    rows, cols = shape
    base = np.arange(cols, dtype=np.float64) * (2 * gap) - cols * gap
    return np.stack([rng.permutation(base) for _ in range(rows)]) + rng.uniform(
        -gap / 4, gap / 4, size=shape
    )


# ------------------------------------------------------------------------------------ TopK
@pytest.mark.parametrize("shape,k", [((1, 1), 1), ((3, 5), 2), ((4, 7), 1), ((2, 6), 6)])
def test_topk_gradcheck(shape, k):
    x = distinct_rows(np.random.default_rng(k), shape)
    assert gradcheck(lambda t: F.ksparse(t, k), [x])


def test_topk_gradcheck_composed():
    rng = np.random.default_rng(3)
    x = distinct_rows(rng, (4, 6))
    w = rng.standard_normal((6, 6))
    assert gradcheck(lambda a, b: (F.ksparse(a @ b, 3) * F.ksparse(a, 2)).sum(), [x, w])


def test_topk_float64_forward_backward_values():
    x = np.array([[1.0, 3.0, 3.0, 2.0], [0.0, -1.0, 5.0, 5.0]])
    with default_dtype(np.float64):
        t = Tensor(x, requires_grad=True)
        y = F.ksparse(t, 2)
        assert y.dtype == np.float64
        np.testing.assert_array_equal(y.data, [[0, 3, 3, 0], [0, 0, 5, 5]])
        y.backward(np.arange(8.0).reshape(2, 4))
        np.testing.assert_array_equal(t.grad, [[0, 1, 2, 0], [0, 0, 6, 7]])
        y1 = F.ksparse(Tensor(x), 1)
        np.testing.assert_array_equal(y1.data, [[0, 3, 0, 0], [0, 0, 5, 0]])


@pytest.mark.parametrize("shape,k", [((1, 1), 1), ((7, 13), 4), ((64, 300), 25), ((9, 8), 8)])
def test_topk_float32_native_matches_float64_path(shape, k):
    rng = np.random.default_rng(shape[1])
    x32 = rng.standard_normal(shape).astype(np.float32)
    x32[:, ::3] = np.round(x32[:, ::3])  # ties exercise the shared tie rule
    g32 = rng.standard_normal(shape).astype(np.float32)
    t32 = Tensor(x32, requires_grad=True)
    y32 = F.ksparse(t32, k)
    assert y32.dtype == np.float32
    y32.backward(g32)
    with default_dtype(np.float64):
        t64 = Tensor(x32.astype(np.float64), requires_grad=True)
        y64 = F.ksparse(t64, k)
        y64.backward(g32.astype(np.float64))
    np.testing.assert_array_equal(y32.data.astype(np.float64), y64.data)
    np.testing.assert_array_equal(t32.grad.astype(np.float64), t64.grad)
    m32 = F.topk_mask(x32, k)
    m64 = F.topk_mask(x32.astype(np.float64), k)
    assert m32.dtype == bool and m64.dtype == bool
    np.testing.assert_array_equal(m32, m64)
    np.testing.assert_array_equal(m32, t64.grad != 0)  # g has no zeros


def test_topk_bad_input():
    with pytest.raises(ValueError):
        F.ksparse(Tensor(np.ones((2, 3, 4))), 1)
    with pytest.raises(ValueError):
        F.ksparse(Tensor(np.ones((2, 3))), 0)
    with pytest.raises(ValueError):
        F.ksparse(Tensor(np.ones((2, 3))), 4)
    with pytest.raises(TypeError):
        F.ksparse(Tensor(np.ones((2, 3))), 1.5)
    bad = np.ones((2, 3), np.float32)
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        F.ksparse(Tensor(bad), 1)
    with default_dtype(np.float64), pytest.raises(ValueError, match="NaN"):
        F.ksparse(Tensor(bad), 1)


# ------------------------------------------------------------------------------ BatchNorm1d
bn_ref = ref64.batchnorm_train


@pytest.mark.parametrize("shape", [(2, 1), (5, 3), (8, 4)], ids=str)
def test_batchnorm_gradcheck_train(shape):
    rng = np.random.default_rng(shape[0])
    bn = nn.BatchNorm1d(shape[1])
    bn.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
    bn.bias.data[...] = rng.standard_normal(shape[1])
    x = rng.standard_normal(shape) * 2.0 + 1.0
    assert gradcheck(lambda a, g, b: bn(a), [x, bn.weight, bn.bias])
    # The parameters are restored to float32 afterwards.
    assert bn.weight.dtype == np.float32 and bn.running_mean.dtype == np.float32


def test_batchnorm_gradcheck_eval_and_no_affine():
    rng = np.random.default_rng(7)
    bn = nn.BatchNorm1d(3)
    bn.running_mean.data[...] = rng.standard_normal(3)
    bn.running_var.data[...] = rng.uniform(0.5, 2.0, 3)
    bn.weight.data[...] = rng.uniform(0.5, 1.5, 3)
    bn.eval()
    x = rng.standard_normal((4, 3))
    assert gradcheck(lambda a, g, b: bn(a), [x, bn.weight, bn.bias])
    plain = nn.BatchNorm1d(3, affine=False)
    assert plain.parameters() == [plain.running_mean, plain.running_var]
    assert gradcheck(lambda a: plain(a), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batchnorm_train_forward_and_running_stats(dtype):
    rng = np.random.default_rng(11)
    momentum, eps = 0.3, 1e-3
    bn = nn.BatchNorm1d(4, eps=eps, momentum=momentum)
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    bn.weight.data[...] = gamma
    bn.bias.data[...] = beta
    rm, rv = np.zeros(4), np.ones(4)
    with default_dtype(dtype):
        for step in range(3):
            x = rng.standard_normal((10, 4)) * (step + 1) + step
            y = bn(Tensor(x))
            assert y.dtype == dtype
            rtol, atol = (RTOL_F32, ATOL_F32) if dtype == np.float32 else (RTOL_F64, RTOL_F64)
            ref_x = x.astype(dtype).astype(np.float64)
            g32, b32 = gamma.astype(np.float32), beta.astype(np.float32)  # stored as float32
            assert_close(y.data, bn_ref(ref_x, g32, b32, eps), rtol=rtol, atol=atol)
            rm = (1 - momentum) * rm + momentum * ref_x.mean(axis=0)
            rv = (1 - momentum) * rv + momentum * ref_x.var(axis=0, ddof=1)
            assert_close(bn.running_mean.data, rm, rtol=RTOL_F32, atol=ATOL_F32)
            assert_close(bn.running_var.data, rv, rtol=RTOL_F32, atol=ATOL_F32)


def test_batchnorm_eval_uses_running_stats():
    rng = np.random.default_rng(12)
    bn = nn.BatchNorm1d(3, eps=1e-5)
    for _ in range(5):
        bn(Tensor(rng.standard_normal((16, 3)) * 3 + 2))
    rm, rv = bn.running_mean.data.copy(), bn.running_var.data.copy()
    bn.eval()
    x = rng.standard_normal((6, 3)).astype(np.float32)
    t = Tensor(x, requires_grad=True)
    y = bn(t)
    np.testing.assert_array_equal(bn.running_mean.data, rm)  # eval does not update
    np.testing.assert_array_equal(bn.running_var.data, rv)
    ref = (x - rm) / np.sqrt(rv.astype(np.float64) + 1e-5) * bn.weight.data + bn.bias.data
    assert_close(y.data, ref, rtol=RTOL_F32, atol=ATOL_F32)
    # A single sample is fine in eval mode, and its output does not depend on the batch.
    assert_close(bn(Tensor(x[:1])).data, y.data[:1], rtol=RTOL_F32, atol=ATOL_F32)
    y.backward(np.ones_like(x))
    assert_close(t.grad, np.broadcast_to(bn.weight.data / np.sqrt(rv + 1e-5), x.shape),
                 rtol=RTOL_F32, atol=ATOL_F32)
    bn.train()
    with pytest.raises(ValueError, match="more than 1"):
        bn(Tensor(x[:1]))


def test_batchnorm_state_dict_round_trip():
    rng = np.random.default_rng(13)
    model = nn.Sequential(nn.Linear(5, 3, random_state=0), nn.BatchNorm1d(3))
    for _ in range(3):
        model(Tensor(rng.standard_normal((8, 5))))
    state = model.state_dict()
    assert set(state) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                          "1.running_var"}
    assert not np.allclose(state["1.running_mean"], 0.0)
    fresh = nn.Sequential(nn.Linear(5, 3, random_state=1), nn.BatchNorm1d(3))
    fresh.load_state_dict(state)
    for name, value in fresh.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    model.eval()
    fresh.eval()
    x = Tensor(rng.standard_normal((4, 5)))
    np.testing.assert_array_equal(model(x).data, fresh(x).data)
    with pytest.raises(KeyError):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "1.running_var"})


def test_batchnorm_running_stats_get_no_grad():
    rng = np.random.default_rng(14)
    bn = nn.BatchNorm1d(2)
    t = Tensor(rng.standard_normal((5, 2)), requires_grad=True)
    bn(t).sum().backward()
    assert bn.running_mean.grad is None and bn.running_var.grad is None
    assert bn.weight.grad is not None and bn.bias.grad is not None
    assert bn.gamma is bn.weight and bn.beta is bn.bias


def test_batchnorm_bad_input():
    with pytest.raises(ValueError):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError):
        nn.BatchNorm1d(3, momentum=1.5)
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError):
        bn(Tensor(np.ones((4, 2))))
    with pytest.raises(ValueError):
        bn(Tensor(np.ones(3)))
