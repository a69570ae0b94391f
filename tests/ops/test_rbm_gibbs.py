"""The RBM kernels: fused sigmoid + Bernoulli Gibbs step (``_C.sigmoid_bernoulli``), Bernoulli
draws (``_C.bernoulli``) on the Philox stream (tested in test_philox.py), and the free energy
(``_C.rbm_free_energy``)."""

import math

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge.testing import (
    ATOL_ACT,
    DOT_FACTOR,
    F32_U,
    F64_U,
    N_SIGMA,
    RTOL_ACT,
    assert_close,
)

# The free energy is accumulated in double and rounded once to float32: |error| <= u |F|,
# give or take the kernel's and numpy's double sums' difference (a float64 dot bound).
FREE_ENERGY_RTOL = F32_U


def free_energy_f64_atol(V, b_v, Z):
    terms = np.abs(V.astype(np.float64)) @ np.abs(b_v) + ref64.softplus(Z).sum(axis=1)
    return DOT_FACTOR * F64_U * terms


# ------------------------------------------------------------------------ sigmoid_bernoulli


@pytest.mark.parametrize("n", [0, 1, 17, 100003])
def test_sigmoid_bernoulli_matches_reference(isa, n):
    rng = np.random.default_rng(n)
    z = (rng.standard_normal(n) * 6).astype(np.float32)
    z[: min(n, 6)] = np.array([0.0, -0.0, 30.0, -30.0, 100.0, -100.0], np.float32)[: min(n, 6)]
    p, s = _C.sigmoid_bernoulli(z, 3, 4, 5)
    assert p.dtype == s.dtype == np.float32 and p.shape == s.shape == (n,)
    assert_close(p, ref64.sigmoid(z), rtol=RTOL_ACT, atol=ATOL_ACT, err_msg=isa)
    u = _C.uniform(n, 3, 4, 5)
    np.testing.assert_array_equal(s, (u < p).astype(np.float32))
    # Agrees bitwise with the standalone activation (same epilogue) and with bernoulli(p).
    np.testing.assert_array_equal(p, _C.activation_forward(z, 1))
    np.testing.assert_array_equal(s, _C.bernoulli(p, 3, 4, 5))


def test_sigmoid_bernoulli_any_ndim():
    z = np.random.default_rng(1).standard_normal((4, 5, 6)).astype(np.float32)
    p, s = _C.sigmoid_bernoulli(z, 1, 2)
    assert p.shape == s.shape == (4, 5, 6)
    p1, s1 = _C.sigmoid_bernoulli(z.ravel(), 1, 2)
    np.testing.assert_array_equal(p.ravel(), p1)
    np.testing.assert_array_equal(s.ravel(), s1)
    assert set(np.unique(s)) <= {0.0, 1.0}


# -------------------------------------------------------------------------------- bernoulli


def test_bernoulli_mean_converges_to_p():
    probs = np.array([0.0, 1e-3, 0.1, 0.37, 0.5, 0.9, 1.0 - 2**-24, 1.0], np.float32)
    N = 200_000
    s = _C.bernoulli(np.repeat(probs, N), 11, 0).reshape(len(probs), N)
    assert set(np.unique(s)) <= {0.0, 1.0}
    means = s.mean(axis=1, dtype=np.float64)
    pp = probs.astype(np.float64)
    sigma = np.sqrt(pp * (1 - pp) / N)
    assert np.all(np.abs(means - pp) <= N_SIGMA * sigma), (means, pp)
    assert means[0] == 0.0 and means[-1] == 1.0  # exact at the ends


def test_sigmoid_bernoulli_mean_converges():
    z = np.repeat(np.array([-3.0, 0.0, 1.5], np.float32), 200_000)
    p, s = _C.sigmoid_bernoulli(z, 5, 6)
    for k in range(3):
        pk = float(p[k * 200_000])
        m = s[k * 200_000 : (k + 1) * 200_000].mean(dtype=np.float64)
        assert abs(m - pk) < N_SIGMA * math.sqrt(pk * (1 - pk) / 200_000)


# ----------------------------------------------------------------- threads and continuation


def test_bitwise_thread_independence(threads):
    n = 300_001
    rng = np.random.default_rng(2)
    z = (rng.standard_normal(n) * 4).astype(np.float32)
    pr = rng.random(n).astype(np.float32)
    V = (rng.random((700, 300)) < 0.5).astype(np.float32)
    bv = rng.standard_normal(300).astype(np.float32)
    Z = (rng.standard_normal((700, 200)) * 5).astype(np.float32)
    results = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        results.append(
            (
                *_C.sigmoid_bernoulli(z, 8, 9, 4101),
                _C.bernoulli(pr, 8, 10, 3),
                _C.uniform(n, 8, 11, 2**63 + 1),
                _C.rbm_free_energy(V, bv, Z),
            )
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [1, 3, 4, 4099, 8192])
def test_offset_continuation(k):
    n = 20_000
    rng = np.random.default_rng(k)
    z = rng.standard_normal(n + k).astype(np.float32)
    pr = rng.random(n + k).astype(np.float32)
    np.testing.assert_array_equal(_C.uniform(n, 1, 2, k), _C.uniform(n + k, 1, 2)[k:])
    p_long, s_long = _C.sigmoid_bernoulli(z, 1, 2)
    p, s = _C.sigmoid_bernoulli(z[k:], 1, 2, k)
    np.testing.assert_array_equal(p, p_long[k:])
    np.testing.assert_array_equal(s, s_long[k:])
    np.testing.assert_array_equal(_C.bernoulli(pr[k:], 1, 2, k), _C.bernoulli(pr, 1, 2)[k:])


# ------------------------------------------------------------------------------ free energy


@pytest.mark.parametrize("rows,nv,nh", [(37, 50, 70), (1, 1, 1), (5, 0, 3), (4, 3, 0), (0, 4, 2)])
def test_free_energy_matches_reference(rows, nv, nh):
    rng = np.random.default_rng(rows * 1000 + nv + nh)
    V = rng.random((rows, nv)).astype(np.float32)
    bv = rng.standard_normal(nv).astype(np.float32)
    Z = (rng.standard_normal((rows, nh)) * 3).astype(np.float32)
    F = _C.rbm_free_energy(V, bv, Z)
    assert F.dtype == np.float32 and F.shape == (rows,)
    assert_close(F, ref64.rbm_free_energy(V, bv, Z), rtol=FREE_ENERGY_RTOL,
                 atol=free_energy_f64_atol(V, bv, Z))


def test_free_energy_softplus_is_stable_for_large_z():
    Z = np.array(
        [[100.0, -100.0, 1e4, -1e4], [88.0, 89.0, -88.0, -89.0], [1e30, -1e30, 0.0, 20.0]],
        np.float32,
    )
    V = np.ones((3, 2), np.float32)
    bv = np.array([0.5, -0.25], np.float32)
    F = _C.rbm_free_energy(V, bv, Z)
    assert np.all(np.isfinite(F))
    assert_close(F, ref64.rbm_free_energy(V, bv, Z), rtol=FREE_ENERGY_RTOL,
                 atol=free_energy_f64_atol(V, bv, Z))
    # softplus(-1e4) underflows to exactly 0 in the reference; softplus(1e4) is exactly 1e4.
    assert F[0] == np.float32(-(0.25) - (100.0 + math.log1p(math.exp(-100.0)) + 1e4))


# ------------------------------------------------------------------------------- bad inputs


def test_bad_inputs():
    z = np.zeros(8, np.float32)
    with pytest.raises(TypeError, match="float32"):
        _C.sigmoid_bernoulli(z.astype(np.float64), 1, 2)
    with pytest.raises(TypeError, match="numpy array"):
        _C.sigmoid_bernoulli([0.0, 1.0], 1, 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.sigmoid_bernoulli(np.zeros((4, 4), np.float32)[:, ::2], 1, 2)
    for bad in (-1, 2**64, -(2**70)):
        with pytest.raises(ValueError, match="seed"):
            _C.sigmoid_bernoulli(z, bad, 0)
        with pytest.raises(ValueError, match="stream"):
            _C.bernoulli(z, 0, bad)
        with pytest.raises(ValueError, match="offset"):
            _C.uniform(3, 0, 0, bad)
    for bad in (1.5, "1", None, True):
        with pytest.raises(TypeError, match="seed"):
            _C.uniform(3, bad, 0)
    _C.uniform(3, 2**64 - 1, 2**64 - 1, 2**64 - 1)  # the top of the range is accepted
    # Bernoulli probabilities must lie in [0, 1].
    for bad in (np.nan, -0.1, 1.0001, np.inf, -np.inf):
        p = np.full(5, 0.5, np.float32)
        p[3] = bad
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            _C.bernoulli(p, 1, 2)
    with pytest.raises(ValueError):
        _C.uniform(-1, 0, 0)
    with pytest.raises(ValueError):
        _C.uniform((2, -3), 0, 0)
    with pytest.raises(TypeError):
        _C.uniform(2.0, 0, 0)
    # Free energy shapes and dtypes.
    V, bv, Z = np.zeros((3, 4), np.float32), np.zeros(4, np.float32), np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="b_v"):
        _C.rbm_free_energy(V, np.zeros(3, np.float32), Z)
    with pytest.raises(ValueError, match="rows"):
        _C.rbm_free_energy(V, bv, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        _C.rbm_free_energy(V.ravel(), bv, Z)
    with pytest.raises(TypeError, match="float32"):
        _C.rbm_free_energy(V, bv.astype(np.float64), Z)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.rbm_free_energy(np.asfortranarray(V), bv, Z)
    # Philox words.
    with pytest.raises(ValueError, match="4 entries"):
        _C.philox4x32_10([0, 0, 0], [0, 0])
    with pytest.raises(ValueError, match="2\\*\\*32"):
        _C.philox4x32_10([0, 0, 0, 2**32], [0, 0])
    with pytest.raises(TypeError):
        _C.philox4x32_10(5, [0, 0])


def test_sigmoid_bernoulli_matches_naive_reference(isa):
    """The fused block kernel against the serial reference beside it (double sigmoid, one
    uniform01 draw at a time): p within the vectorized sigmoid's error, and the same samples
    wherever the draw is not within that error of p."""
    rng = np.random.default_rng(73)
    z = (rng.standard_normal(50_003) * 4).astype(np.float32)
    p, s = _C.sigmoid_bernoulli(z, 11, 2, 5)
    pn, sn = _C.sigmoid_bernoulli(z, 11, 2, 5, naive=True)
    assert_close(p, pn, rtol=RTOL_ACT, atol=ATOL_ACT, err_msg=isa)
    u = _C.uniform(z.shape, 11, 2, 5)
    clear = np.abs(u - pn) > RTOL_ACT * pn + ATOL_ACT
    assert clear.mean() > 0.99
    assert np.array_equal(s[clear], sn[clear])
