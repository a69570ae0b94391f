"""The grouped Barnes-Hut t-SNE gradient and optimiser step (``_C.TsneBarnesHut``, the fast
path): against the exact gradient, the per-point Barnes-Hut reference, the numpy gains step,
and for bitwise independence of thread count, relabelling and call history."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C, _tsne
from latentforge.testing import (
    BH_GRAD_REL_ERR,
    BH_GRAD_REL_ERR_DEGENERATE,
    TSNE_GRAD_TOL,
    TSNE_GROUPED_GRAD_TOL,
    TSNE_GROUPED_KL_ATOL,
    TSNE_GROUPED_KL_RTOL,
    assert_normwise_close,
)

random_P = ref64.random_joint_p
to_csr = ref64.dense_to_csr



def grouped(P):
    return _C.TsneBarnesHut(*to_csr(P))


@pytest.mark.parametrize("n, density", [(2, 1.0), (30, 1.0), (300, 0.05), (2500, 0.002)])
def test_grouped_theta0_equals_exact(n, density, isa):
    rng = np.random.default_rng(30 + n)
    P = random_P(n, rng, density).astype(np.float32)
    Y = (rng.normal(size=(n, 2)) * 5).astype(np.float32)
    ge, kle = _C.tsne_gradient_exact(Y, P, 3.0)
    g, kl = grouped(P).gradient(Y, theta=0.0, exaggeration=3.0)
    assert_normwise_close(g, ge, TSNE_GROUPED_GRAD_TOL)
    # n = 2: KL is 0 (Q = P)
    assert kl == pytest.approx(kle, rel=TSNE_GROUPED_KL_RTOL, abs=TSNE_GROUPED_KL_ATOL)
    assert_normwise_close(ge, ref64.tsne_gradient(Y, P, 3.0), TSNE_GRAD_TOL)


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
        assert err_g < BH_GRAD_REL_ERR and err_g <= 1.5 * err_p, (theta, err_g, err_p)
        assert abs(klg - kl0) <= max(1.5 * abs(klp - kl0), TSNE_GROUPED_KL_RTOL * kl0)
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
    assert_normwise_close(g, ge, TSNE_GROUPED_GRAD_TOL)
    assert kl == pytest.approx(kle, rel=TSNE_GROUPED_KL_RTOL)
    for theta in (0.5, 1.0, 5.0):
        g, kl = bh.gradient(Y, theta=theta)
        assert np.isfinite(g).all() and np.isfinite(kl)
        if theta > 1.0:
            continue
        err = np.linalg.norm(g.astype(np.float64) - ge) / np.linalg.norm(ge)
        assert err < BH_GRAD_REL_ERR_DEGENERATE, (theta, err)
    Y[:] = -2.5  # every point identical: zero gradient, the exact KL
    g, kl = bh.gradient(Y, theta=0.5)
    ge, kle = _C.tsne_gradient_exact(Y, P)
    assert np.array_equal(g, np.zeros_like(g))
    assert kl == pytest.approx(kle, rel=TSNE_GROUPED_KL_RTOL)


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
    with pytest.raises(ValueError, match="writ(e)?able"):
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
