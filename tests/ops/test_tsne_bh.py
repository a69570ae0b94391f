"""t-SNE gradients: the exact ``_C.tsne_gradient_exact`` and the per-point Barnes-Hut
``_C.tsne_gradient_bh`` (the reference for the grouped fast path, test_tsne_grouped.py) against
float64 references of the formulas (``tests/reference``), and the formula against a
finite-difference gradient of KL(P || Q)."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C, _tsne
from latentforge.testing import (
    BH_GRAD_REL_ERR,
    BH_KL_RTOL,
    FD_GRAD_TOL,
    GRAD_EPS,
    TSNE_GRAD_TOL,
    TSNE_KL_RTOL,
    assert_normwise_close,
)

random_P = ref64.random_joint_p
to_csr = ref64.dense_to_csr
ref_kl = ref64.tsne_kl
ref_grad = ref64.tsne_gradient


@pytest.fixture
def threads():
    yield
    lf.set_num_threads(0)


def test_exact_matches_reference():
    rng = np.random.default_rng(0)
    n = 30
    P = random_P(n, rng)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    grad, kl = _C.tsne_gradient_exact(Y, P.astype(np.float32))
    assert grad.dtype == np.float32 and grad.shape == (n, 2)
    G = ref_grad(Y, P.astype(np.float32))
    assert_normwise_close(grad, G, TSNE_GRAD_TOL)
    assert isinstance(kl, float)
    assert kl == pytest.approx(ref_kl(Y, P.astype(np.float32)), rel=TSNE_KL_RTOL)


def test_exaggeration_only_scales_attraction():
    rng = np.random.default_rng(1)
    n = 30
    P = random_P(n, rng).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    g1, kl1 = _C.tsne_gradient_exact(Y, P, exaggeration=1.0)
    g12, kl12 = _C.tsne_gradient_exact(Y, P, exaggeration=12.0)
    G12 = ref_grad(Y, P, 12.0)
    assert_normwise_close(g12, G12, TSNE_GRAD_TOL)
    # grad(e) = e * attr - rep: linear in e with slope 4 * attr (the P-only term).
    g0, _ = _C.tsne_gradient_exact(Y, P, exaggeration=0.0)
    attr = (g1.astype(np.float64) - g0) / 1.0
    # Each of g12, g1, g0 is within TSNE_GRAD_TOL * its max of the truth; the combination
    # g0 + 12 (g1 - g0) carries 13 times g0's and 12 times g1's error.
    scale = np.abs(g12).max() + 12 * np.abs(g1).max() + 13 * np.abs(g0).max()
    np.testing.assert_array_less(np.abs(g12 - (g0 + 12.0 * attr)), TSNE_GRAD_TOL * scale)
    assert kl12 == kl1  # KL uses the un-exaggerated P
    for e in (1.0, 4.0):
        gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.0, exaggeration=e)
        ge, _ = _C.tsne_gradient_exact(Y, P, exaggeration=e)
        assert_normwise_close(gb, ge, TSNE_GRAD_TOL)
        assert klb == pytest.approx(kl1, rel=TSNE_KL_RTOL)


def test_formula_is_gradient_of_kl():
    """Central finite differences of KL (float64 numpy) against the kernel's gradient."""
    rng = np.random.default_rng(2)
    n = 10
    P = random_P(n, rng).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    Y64 = Y.astype(np.float64)
    h = GRAD_EPS
    fd = np.zeros((n, 2))
    for i in range(n):
        for d in range(2):
            Yp, Ym = Y64.copy(), Y64.copy()
            Yp[i, d] += h
            Ym[i, d] -= h
            fd[i, d] = (ref_kl(Yp, P) - ref_kl(Ym, P)) / (2 * h)
    grad, _ = _C.tsne_gradient_exact(Y, P)
    assert_normwise_close(grad, fd, TSNE_GRAD_TOL + FD_GRAD_TOL)
    assert_normwise_close(ref_grad(Y, P), fd, FD_GRAD_TOL)


@pytest.mark.parametrize("n, density", [(2, 1.0), (30, 1.0), (300, 0.05)])
def test_bh_theta0_equals_exact(n, density):
    rng = np.random.default_rng(3 + n)
    P = random_P(n, rng, density).astype(np.float32)
    Y = (rng.normal(size=(n, 2)) * 5).astype(np.float32)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.0)
    assert_normwise_close(gb, ge, TSNE_GRAD_TOL)
    assert klb == pytest.approx(kle, rel=TSNE_KL_RTOL)


def test_bh_theta_half_close_to_exact():
    rng = np.random.default_rng(4)
    n = 2000
    X = rng.normal(size=(n, 10)).astype(np.float32)
    indptr, indices, data = _tsne.joint_probabilities(X, perplexity=10)
    Y = (rng.normal(size=(n, 2)) * 10).astype(np.float32)
    P = np.zeros((n, n), np.float32)
    rows = np.repeat(np.arange(n), np.diff(indptr))
    P[rows, indices] = data
    ge, kle = _C.tsne_gradient_exact(Y, P)
    gb, klb = _C.tsne_gradient_bh(Y, indptr, indices, data, theta=0.5)
    err = np.linalg.norm(gb.astype(np.float64) - ge) / np.linalg.norm(ge)
    assert err < BH_GRAD_REL_ERR
    assert klb == pytest.approx(kle, rel=BH_KL_RTOL)
    g0, kl0 = _C.tsne_gradient_bh(Y, indptr, indices, data, theta=0.0)
    assert_normwise_close(g0, ge, TSNE_GRAD_TOL)
    assert kl0 == pytest.approx(kle, rel=TSNE_KL_RTOL)


def test_thread_independence(threads):
    rng = np.random.default_rng(5)
    n = 3000
    X = rng.normal(size=(n, 5)).astype(np.float32)
    csr = _tsne.joint_probabilities(X, perplexity=5)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    Y[:50] = Y[0]  # duplicates too
    P = np.zeros((600, 600), np.float32)
    P[:600, :600] = random_P(600, rng)
    out = []
    for t in (1, 2, 3):
        lf.set_num_threads(t)
        gb, klb = _C.tsne_gradient_bh(Y, *csr, theta=0.5, exaggeration=12.0)
        ge, kle = _C.tsne_gradient_exact(Y[:600], P)
        out.append((gb, klb, ge, kle))
    for gb, klb, ge, kle in out[1:]:
        assert np.array_equal(gb, out[0][0]) and klb == out[0][1]
        assert np.array_equal(ge, out[0][2]) and kle == out[0][3]


def test_duplicate_points():
    rng = np.random.default_rng(6)
    n = 200
    P = random_P(n, rng, 0.1).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    Y[:40] = Y[0]
    Y[40:60] = Y[40]
    Y[100:102] = np.nextafter(Y[100], np.float32(np.inf))  # near-duplicates
    ge, kle = _C.tsne_gradient_exact(Y, P)
    for theta in (0.0, 0.5, 1.0):
        gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=theta)
        assert np.isfinite(gb).all() and np.isfinite(klb)
    gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.0)
    assert_normwise_close(gb, ge, TSNE_GRAD_TOL)
    assert klb == pytest.approx(kle, rel=TSNE_KL_RTOL)
    # Distinct points closer than the quadtree's depth limit (1e-30 apart in a 1e6-wide cloud).
    Z = rng.normal(size=(12, 2)).astype(np.float32) * 1e6
    Z[:5] = [(0, 0), (1e-30, 0), (0, 1e-30), (1e-30, 1e-30), (0, 0)]
    P12 = random_P(12, rng).astype(np.float32)
    ge12, kle12 = _C.tsne_gradient_exact(Z, P12)
    for theta in (0.0, 0.5, 2.0):
        gb, klb = _C.tsne_gradient_bh(Z, *to_csr(P12), theta=theta)
        assert_normwise_close(gb, ge12, TSNE_GRAD_TOL)
        assert klb == pytest.approx(kle12, rel=TSNE_KL_RTOL)
    # Every point identical: zero gradient from symmetry, finite KL.
    Y[:] = 1.5
    gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.5)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    assert np.array_equal(gb, np.zeros_like(gb)) and np.array_equal(ge, np.zeros_like(ge))
    assert klb == pytest.approx(kle, rel=TSNE_KL_RTOL)


def test_bad_input():
    rng = np.random.default_rng(7)
    n = 10
    P = random_P(n, rng).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    csr = to_csr(P)
    ip, ix, pv = csr
    with pytest.raises(TypeError):
        _C.tsne_gradient_exact(Y.astype(np.float64), P)
    with pytest.raises(TypeError):
        _C.tsne_gradient_exact(Y.tolist(), P)
    with pytest.raises(TypeError):
        _C.tsne_gradient_exact(Y, P.astype(np.float64))
    with pytest.raises(ValueError, match="only 2-D embeddings are supported"):
        _C.tsne_gradient_exact(np.zeros((n, 3), np.float32), P)
    with pytest.raises(ValueError, match="only 2-D embeddings are supported"):
        _C.tsne_gradient_bh(np.zeros((n, 3), np.float32), *csr)
    with pytest.raises(ValueError):
        _C.tsne_gradient_exact(Y[:, :1].reshape(n), P)
    with pytest.raises(ValueError):
        _C.tsne_gradient_exact(np.asfortranarray(np.zeros((n, 2), np.float32)), P)
    with pytest.raises(ValueError):
        _C.tsne_gradient_exact(Y, P[:5])
    with pytest.raises(ValueError):
        _C.tsne_gradient_exact(Y[:1], P[:1, :1])
    Yn = Y.copy()
    Yn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _C.tsne_gradient_exact(Yn, P)
    with pytest.raises(ValueError, match="NaN"):
        _C.tsne_gradient_bh(Yn, *csr)
    Pb = P.copy()
    Pb[1, 2] = -1
    with pytest.raises(ValueError):
        _C.tsne_gradient_exact(Y, Pb)
    with pytest.raises(TypeError):
        _C.tsne_gradient_bh(Y, ip.astype(np.int32), ix, pv)
    with pytest.raises(TypeError):
        _C.tsne_gradient_bh(Y, ip, ix.astype(np.int32), pv)
    with pytest.raises(TypeError):
        _C.tsne_gradient_bh(Y, ip, ix, pv.astype(np.float64))
    with pytest.raises(ValueError, match="n \\+ 1"):
        _C.tsne_gradient_bh(Y, ip[:-1], ix, pv)
    with pytest.raises(ValueError):
        _C.tsne_gradient_bh(Y, ip, ix, pv[:-1])
    bad = ip.copy()
    bad[3], bad[4] = bad[4], bad[3]
    with pytest.raises(ValueError, match="non-decreasing"):
        _C.tsne_gradient_bh(Y, bad, ix, pv)
    bad = ip.copy()
    bad[0] = 1
    with pytest.raises(ValueError):
        _C.tsne_gradient_bh(Y, bad, ix, pv)
    bad = ip.copy()
    bad[-1] -= 1
    with pytest.raises(ValueError):
        _C.tsne_gradient_bh(Y, bad, ix, pv)
    bad = ix.copy()
    bad[5] = n
    with pytest.raises(ValueError, match="out of range"):
        _C.tsne_gradient_bh(Y, ip, bad, pv)
    bad[5] = -1
    with pytest.raises(ValueError, match="out of range"):
        _C.tsne_gradient_bh(Y, ip, bad, pv)
    badp = pv.copy()
    badp[0] = np.inf
    with pytest.raises(ValueError):
        _C.tsne_gradient_bh(Y, ip, ix, badp)
    for theta in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="theta"):
            _C.tsne_gradient_bh(Y, *csr, theta=theta)
    with pytest.raises(ValueError):
        _C.tsne_gradient_bh(Y, *csr, exaggeration=float("nan"))


def test_compute_kl_false_skips_only_the_kl():
    rng = np.random.default_rng(21)
    n = 200
    Y = rng.standard_normal((n, 2)).astype(np.float32)
    P = rng.random((n, n))
    P = P + P.T
    np.fill_diagonal(P, 0.0)
    P = (P / P.sum()).astype(np.float32)
    g1, kl1 = _C.tsne_gradient_exact(Y, P, 2.0, True)
    g0, kl0 = _C.tsne_gradient_exact(Y, P, 2.0, False)
    np.testing.assert_array_equal(g0, g1)
    assert np.isfinite(kl1) and np.isnan(kl0)
    rows, cols = np.nonzero(P)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))]).astype(np.int64)
    args = (Y, indptr, cols.astype(np.int64), P[rows, cols].astype(np.float32), 0.5, 3.0)
    g1, kl1 = _C.tsne_gradient_bh(*args, True)
    g0, kl0 = _C.tsne_gradient_bh(*args, False)
    np.testing.assert_array_equal(g0, g1)
    assert np.isfinite(kl1) and np.isnan(kl0)
