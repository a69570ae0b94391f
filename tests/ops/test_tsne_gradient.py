"""t-SNE gradients: ``_C.tsne_gradient_exact`` and the Barnes-Hut ``_C.tsne_gradient_bh``
against float64 numpy references of the formulas, and the formula against a finite-difference
gradient of KL(P || Q)."""

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _tsne


def random_P(n, rng, density=1.0):
    """Random symmetric P with zero diagonal summing to 1 (float64)."""
    P = rng.random((n, n))
    if density < 1.0:
        P *= rng.random((n, n)) < density
    P = P + P.T
    np.fill_diagonal(P, 0.0)
    return P / P.sum()


def to_csr(P):
    P = np.asarray(P, dtype=np.float32)
    rows, cols = np.nonzero(P)
    indptr = np.zeros(P.shape[0] + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    return np.cumsum(indptr), cols.astype(np.int64), P[rows, cols].astype(np.float32)


def ref_kl(Y, P):
    Y = np.asarray(Y, np.float64)
    P = np.asarray(P, np.float64)
    D = ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    W = 1.0 / (1.0 + D)
    np.fill_diagonal(W, 0.0)
    Q = W / W.sum()
    m = P > 0
    return float((P[m] * np.log(P[m] / Q[m])).sum())


def ref_grad(Y, P, exaggeration=1.0):
    Y = np.asarray(Y, np.float64)
    P = np.asarray(P, np.float64)
    diff = Y[:, None, :] - Y[None, :, :]
    W = 1.0 / (1.0 + (diff**2).sum(-1))
    np.fill_diagonal(W, 0.0)
    Q = W / W.sum()
    return 4.0 * (((exaggeration * P - Q) * W)[:, :, None] * diff).sum(1)


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
    np.testing.assert_allclose(grad, G, rtol=1e-4, atol=1e-6 * np.abs(G).max())
    assert isinstance(kl, float)
    assert kl == pytest.approx(ref_kl(Y, P.astype(np.float32)), rel=1e-6)


def test_exaggeration_only_scales_attraction():
    rng = np.random.default_rng(1)
    n = 30
    P = random_P(n, rng).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    g1, kl1 = _C.tsne_gradient_exact(Y, P, exaggeration=1.0)
    g12, kl12 = _C.tsne_gradient_exact(Y, P, exaggeration=12.0)
    G12 = ref_grad(Y, P, 12.0)
    np.testing.assert_allclose(g12, G12, rtol=1e-4, atol=1e-6 * np.abs(G12).max())
    # grad(e) = e * attr - rep: linear in e with slope 4 * attr (the P-only term).
    g0, _ = _C.tsne_gradient_exact(Y, P, exaggeration=0.0)
    attr = (g1.astype(np.float64) - g0) / 1.0
    np.testing.assert_allclose(g12, g0 + 12.0 * attr, rtol=1e-3, atol=1e-5 * np.abs(G12).max())
    assert kl12 == kl1  # KL uses the un-exaggerated P
    for e in (1.0, 4.0):
        gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.0, exaggeration=e)
        ge, _ = _C.tsne_gradient_exact(Y, P, exaggeration=e)
        np.testing.assert_allclose(gb, ge, rtol=1e-4, atol=1e-5 * np.abs(ge).max())
        assert klb == pytest.approx(kl1, rel=1e-6)


def test_formula_is_gradient_of_kl():
    """Central finite differences of KL (float64 numpy) against the kernel's gradient."""
    rng = np.random.default_rng(2)
    n = 10
    P = random_P(n, rng).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    Y64 = Y.astype(np.float64)
    h = 1e-6
    fd = np.zeros((n, 2))
    for i in range(n):
        for d in range(2):
            Yp, Ym = Y64.copy(), Y64.copy()
            Yp[i, d] += h
            Ym[i, d] -= h
            fd[i, d] = (ref_kl(Yp, P) - ref_kl(Ym, P)) / (2 * h)
    grad, _ = _C.tsne_gradient_exact(Y, P)
    np.testing.assert_allclose(grad, fd, rtol=1e-4, atol=1e-6 * np.abs(fd).max())
    np.testing.assert_allclose(ref_grad(Y, P), fd, rtol=1e-6, atol=1e-8 * np.abs(fd).max())


@pytest.mark.parametrize("n, density", [(2, 1.0), (30, 1.0), (300, 0.05)])
def test_bh_theta0_equals_exact(n, density):
    rng = np.random.default_rng(3 + n)
    P = random_P(n, rng, density).astype(np.float32)
    Y = (rng.normal(size=(n, 2)) * 5).astype(np.float32)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.0)
    np.testing.assert_allclose(gb, ge, rtol=1e-4, atol=1e-5 * np.abs(ge).max())
    assert klb == pytest.approx(kle, rel=1e-6)


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
    assert err < 0.05
    assert klb == pytest.approx(kle, rel=0.02)
    g0, kl0 = _C.tsne_gradient_bh(Y, indptr, indices, data, theta=0.0)
    np.testing.assert_allclose(g0, ge, rtol=1e-3, atol=1e-4 * np.abs(ge).max())
    assert kl0 == pytest.approx(kle, rel=1e-6)


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
    np.testing.assert_allclose(gb, ge, rtol=1e-4, atol=1e-5 * np.abs(ge).max())
    assert klb == pytest.approx(kle, rel=1e-6)
    # Distinct points closer than the quadtree's depth limit (1e-30 apart in a 1e6-wide cloud).
    Z = rng.normal(size=(12, 2)).astype(np.float32) * 1e6
    Z[:5] = [(0, 0), (1e-30, 0), (0, 1e-30), (1e-30, 1e-30), (0, 0)]
    P12 = random_P(12, rng).astype(np.float32)
    ge12, kle12 = _C.tsne_gradient_exact(Z, P12)
    for theta in (0.0, 0.5, 2.0):
        gb, klb = _C.tsne_gradient_bh(Z, *to_csr(P12), theta=theta)
        np.testing.assert_allclose(gb, ge12, rtol=1e-4, atol=1e-5 * np.abs(ge12).max())
        assert klb == pytest.approx(kle12, rel=1e-6)
    # Every point identical: zero gradient from symmetry, finite KL.
    Y[:] = 1.5
    gb, klb = _C.tsne_gradient_bh(Y, *to_csr(P), theta=0.5)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    assert np.array_equal(gb, np.zeros_like(gb)) and np.array_equal(ge, np.zeros_like(ge))
    assert klb == pytest.approx(kle, rel=1e-6)


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


# ---------------------------------------------------------------- grouped Barnes-Hut (the fast path)


def grouped(P):
    return _C.TsneBarnesHut(*to_csr(P))


@pytest.mark.parametrize("n, density", [(2, 1.0), (30, 1.0), (300, 0.05), (2500, 0.002)])
def test_grouped_theta0_equals_exact(n, density, isa):
    rng = np.random.default_rng(30 + n)
    P = random_P(n, rng, density).astype(np.float32)
    Y = (rng.normal(size=(n, 2)) * 5).astype(np.float32)
    ge, kle = _C.tsne_gradient_exact(Y, P, 3.0)
    g, kl = grouped(P).gradient(Y, theta=0.0, exaggeration=3.0)
    np.testing.assert_allclose(g, ge, rtol=1e-4, atol=1e-5 * np.abs(ge).max())
    assert kl == pytest.approx(kle, rel=1e-5, abs=1e-7)  # n = 2: KL is 0 (Q = P)
    np.testing.assert_allclose(ref_grad(Y, P, 3.0), ge, rtol=1e-4, atol=1e-5 * np.abs(ge).max())


def test_grouped_theta_half_at_least_as_accurate_as_per_point(isa):
    # The group criterion implies the per-point one for every member: the approximation error
    # must be of the per-point Barnes-Hut's order or smaller (measured: about 4x smaller).
    rng = np.random.default_rng(31)
    n = 3000
    X = rng.normal(size=(n, 10)).astype(np.float32)
    csr = _tsne.joint_probabilities(X, perplexity=10)
    Y = (rng.normal(size=(n, 2)) * 10).astype(np.float32)
    Y[:400] = Y[:400] * 0.01 + 30.0  # a dense cluster, far from the rest
    g0, kl0 = _C.tsne_gradient_bh(Y, *csr, theta=0.0, exaggeration=4.0)  # exact
    bh = _C.TsneBarnesHut(*csr)
    for theta in (0.3, 0.5, 1.0):
        gp, klp = _C.tsne_gradient_bh(Y, *csr, theta=theta, exaggeration=4.0)
        gg, klg = bh.gradient(Y, theta=theta, exaggeration=4.0)
        err_p = np.linalg.norm(gp.astype(np.float64) - g0) / np.linalg.norm(g0)
        err_g = np.linalg.norm(gg.astype(np.float64) - g0) / np.linalg.norm(g0)
        assert err_g < 0.05 and err_g <= 1.5 * err_p, (theta, err_g, err_p)
        assert abs(klg - kl0) <= max(1.5 * abs(klp - kl0), 1e-5 * kl0)
    # Fewer interactions than the exact n (n - 1) once the embedding is spread out.
    bh.gradient(Y, theta=0.5)
    assert 0 < bh.last_interactions < 0.5 * n * n


def test_grouped_duplicates_and_collapsed_points(isa):
    rng = np.random.default_rng(32)
    n = 400
    P = random_P(n, rng, 0.05).astype(np.float32)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    Y[:150] = Y[0]  # more identical points than a group holds
    Y[150:170] = Y[150]
    Y[200:210] = Y[200] + rng.normal(size=(10, 2)).astype(np.float32) * 1e-7  # below the grid
    bh = grouped(P)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    g, kl = bh.gradient(Y, theta=0.0)
    np.testing.assert_allclose(g, ge, rtol=1e-4, atol=1e-5 * np.abs(ge).max())
    assert kl == pytest.approx(kle, rel=1e-5)
    for theta in (0.5, 1.0, 5.0):
        g, kl = bh.gradient(Y, theta=theta)
        assert np.isfinite(g).all() and np.isfinite(kl)
        if theta > 1.0:
            continue
        err = np.linalg.norm(g.astype(np.float64) - ge) / np.linalg.norm(ge)
        assert err < 0.1, (theta, err)
    Y[:] = -2.5  # every point identical: zero gradient, the exact KL
    g, kl = bh.gradient(Y, theta=0.5)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    assert np.array_equal(g, np.zeros_like(g))
    assert kl == pytest.approx(kle, rel=1e-5)


def test_grouped_thread_independence_and_step(threads):
    rng = np.random.default_rng(33)
    n = 6000
    X = rng.normal(size=(n, 5)).astype(np.float32)
    csr = _tsne.joint_probabilities(X, perplexity=5)
    Y0 = rng.normal(size=(n, 2)) * 3
    Y0[:50] = Y0[0]
    out = []
    for t in (1, 2, 3):
        lf.set_num_threads(t)
        bh = _C.TsneBarnesHut(*csr)
        g, kl = bh.gradient(np.ascontiguousarray(Y0, np.float32), 0.5, 12.0)
        Y, upd, gains = Y0.copy(), np.zeros_like(Y0), np.ones_like(Y0)
        kls = [bh.step(Y, upd, gains, 0.5, 12.0, 0.5, 500.0, 0.01, True)[0] for _ in range(5)]
        out.append((g, kl, Y, kls))
    for g, kl, Y, kls in out[1:]:
        assert np.array_equal(g, out[0][0]) and kl == out[0][1]
        assert np.array_equal(Y, out[0][2]) and kls == out[0][3]


def test_grouped_step_matches_numpy_reference():
    from latentforge.models.tsne import _gains_step

    rng = np.random.default_rng(34)
    n = 500
    P = random_P(n, rng, 0.05).astype(np.float32)
    bh = grouped(P)
    Y = rng.normal(size=(n, 2))
    upd, gains = np.zeros_like(Y), np.ones_like(Y)
    Yr, updr, gainsr = Y.copy(), upd.copy(), gains.copy()
    for it in range(8):
        ex, mom, lr = (4.0, 0.5, 50.0) if it < 4 else (1.0, 0.8, 200.0)
        g, klr = bh.gradient(np.ascontiguousarray(Yr, np.float32), 0.5, ex, True)
        assert _gains_step(Yr, updr, gainsr, g, mom, lr)
        kl, finite = bh.step(Y, upd, gains, 0.5, ex, mom, lr, 0.01, True)
        assert finite and kl == klr
        np.testing.assert_array_equal(Y, Yr)
        np.testing.assert_array_equal(upd, updr)
        np.testing.assert_array_equal(gains, gainsr)
    assert (gains != 1.0).any() and (gains >= 0.01).all()
    kl, finite = bh.step(Y, upd, gains, 0.5, 1.0, 0.8, 200.0, 0.01, False)
    assert finite and np.isnan(kl)
    # A non-finite gradient (overflowing exaggeration) changes nothing and says so.
    before = (Y.copy(), upd.copy(), gains.copy())
    kl, finite = bh.step(Y, upd, gains, 0.5, 1e300, 0.8, 200.0)
    assert not finite
    for a, b in zip((Y, upd, gains), before):
        np.testing.assert_array_equal(a, b)
    # So does an embedding beyond float32 range (a diverged run), instead of a ValueError.
    Y[3, 0] = 1e300
    kl, finite = bh.step(Y, upd, gains, 0.5, 1.0, 0.8, 200.0)
    assert not finite and np.isnan(kl) and Y[3, 0] == 1e300


def test_grouped_memory_is_linear_in_n():
    rng = np.random.default_rng(35)
    per_point = []
    for n in (2000, 8000):
        X = rng.normal(size=(n, 5)).astype(np.float32)
        csr = _tsne.joint_probabilities(X, perplexity=10)
        bh = _C.TsneBarnesHut(*csr)
        bh.gradient(rng.normal(size=(n, 2)).astype(np.float32), 0.5)
        assert bh.n == n and bh.nnz == len(csr[1])
        # P (8 bytes per stored entry) plus a bounded number of bytes per point.
        per_point.append((bh.nbytes - 8 * bh.nnz) / n)
    assert all(p < 200 for p in per_point), per_point
    assert per_point[1] < 1.2 * per_point[0]


def test_grouped_bad_input():
    rng = np.random.default_rng(36)
    n = 10
    P = random_P(n, rng).astype(np.float32)
    ip, ix, pv = to_csr(P)
    Y = rng.normal(size=(n, 2)).astype(np.float32)
    with pytest.raises(TypeError):
        _C.TsneBarnesHut(ip.astype(np.int32), ix, pv)
    with pytest.raises(TypeError):
        _C.TsneBarnesHut(ip, ix, pv.astype(np.float64))
    with pytest.raises(ValueError, match="n >= 2"):
        _C.TsneBarnesHut(np.zeros(2, np.int64), ix[:0], pv[:0])
    with pytest.raises(ValueError):
        _C.TsneBarnesHut(ip, ix, pv[:-1])
    bad = ix.copy()
    bad[3] = n
    with pytest.raises(ValueError, match="out of range"):
        _C.TsneBarnesHut(ip, bad, pv)
    bad = ip.copy()
    bad[3], bad[4] = bad[4], bad[3]
    with pytest.raises(ValueError, match="non-decreasing"):
        _C.TsneBarnesHut(bad, ix, pv)
    badp = pv.copy()
    badp[2] = np.nan
    with pytest.raises(ValueError, match="pvals"):
        _C.TsneBarnesHut(ip, ix, badp)
    bh = _C.TsneBarnesHut(ip, ix, pv)
    with pytest.raises(TypeError):
        bh.gradient(Y.astype(np.float64))
    with pytest.raises(ValueError, match="rows"):
        bh.gradient(Y[:5])
    with pytest.raises(ValueError, match="only 2-D"):
        bh.gradient(np.zeros((n, 3), np.float32))
    Yn = Y.copy()
    Yn[4, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        bh.gradient(Yn)
    for theta in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="theta"):
            bh.gradient(Y, theta=theta)
    Y64, u, g = Y.astype(np.float64), np.zeros((n, 2)), np.ones((n, 2))
    with pytest.raises(TypeError, match="update"):
        bh.step(Y64, u.astype(np.float32), g, 0.5, 1.0, 0.5, 10.0)
    with pytest.raises(ValueError, match="gains"):
        bh.step(Y64, u, g[:3], 0.5, 1.0, 0.5, 10.0)
    with pytest.raises(ValueError, match="share memory"):
        bh.step(Y64, u, u, 0.5, 1.0, 0.5, 10.0)
    ro = g.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writeable"):
        bh.step(Y64, u, ro, 0.5, 1.0, 0.5, 10.0)
    with pytest.raises(ValueError, match="finite"):
        bh.step(Y64, u, g, 0.5, 1.0, float("nan"), 10.0)


def test_grouped_result_is_a_function_of_y_alone(threads):
    # P is re-ordered internally every 100 calls (for memory locality) and the tree build
    # overlaps the attraction on most calls: neither may change a single bit of the result.
    rng = np.random.default_rng(37)
    n = 3000
    X = rng.normal(size=(n, 5)).astype(np.float32)
    csr = _tsne.joint_probabilities(X, perplexity=5)
    Y = (rng.normal(size=(n, 2)) * 4).astype(np.float32)
    lf.set_num_threads(2)
    fresh = _C.TsneBarnesHut(*csr).gradient(Y, 0.5, 2.0, True)
    used = _C.TsneBarnesHut(*csr)
    for k in range(130):
        g, kl = used.gradient((rng.normal(size=(n, 2)) * (1 + k)).astype(np.float32), 0.5,
                              2.0, k % 7 == 0)
        if k in (0, 1, 57, 99, 100, 101, 129):
            again = used.gradient(Y, 0.5, 2.0, True)
            assert np.array_equal(again[0], fresh[0]) and again[1] == fresh[1], k
