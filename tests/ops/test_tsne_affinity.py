"""t-SNE input affinities: native perplexity calibration ``_C.tsne_perplexity`` and the Python
``_tsne.knn`` / ``_tsne.joint_probabilities`` against float64 numpy references."""

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _tsne
from latentforge.testing import assert_close


def entropy(P):
    P = np.asarray(P, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(P > 0, P * np.log(P), 0.0)
    return -t.sum(axis=1)


def ref_perplexity(D, perplexity, tol=1e-10, max_iter=200):
    """Independent float64 bisection on beta (bracket [0, inf), doubling until bracketed)."""
    D = np.asarray(D, dtype=np.float64)
    P = np.empty_like(D)
    target = np.log(perplexity)
    for i, d in enumerate(D):
        d = d - d.min()
        if d.sum() == 0:
            P[i] = 1.0 / len(d)
            continue
        beta, lo, hi = 1.0, 0.0, np.inf
        for _ in range(max_iter):
            w = np.exp(-beta * d)
            p = w / w.sum()
            H = -(p[p > 0] * np.log(p[p > 0])).sum()
            if abs(H - target) <= tol:
                break
            if H > target:
                lo, beta = beta, (beta * 2 if np.isinf(hi) else (beta + hi) / 2)
            else:
                hi, beta = beta, (beta + lo) / 2
        P[i] = p
    return P


def sorted_sq_dists(rng, n, k, scale=1.0):
    return np.sort(rng.random((n, k)) * scale, axis=1).astype(np.float32)


@pytest.mark.parametrize("perplexity,k,scale", [(5.0, 15, 1.0), (30.0, 90, 50.0), (2.5, 8, 1e-3)])
def test_calibration_hits_entropy(perplexity, k, scale):
    rng = np.random.default_rng(0)
    D = sorted_sq_dists(rng, 500, k, scale)
    P, beta = _C.tsne_perplexity(D, perplexity, tol=1e-6)
    assert P.dtype == np.float32 and P.shape == D.shape and beta.shape == (500,)
    assert np.all(P >= 0) and np.all(beta > 0)
    np.testing.assert_allclose(P.astype(np.float64).sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(entropy(P), np.log(perplexity), atol=1e-5)
    # P is exp(-beta d) normalised with the returned beta
    w = np.exp(-beta[:, None].astype(np.float64) * (D - D[:, :1]))
    assert_close(P, w / w.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-7)


def test_default_tol():
    D = sorted_sq_dists(np.random.default_rng(1), 200, 30)
    P, _ = _C.tsne_perplexity(D, 10.0)
    np.testing.assert_allclose(entropy(P), np.log(10.0), atol=1.2e-5)


def test_matches_numpy_reference():
    D = sorted_sq_dists(np.random.default_rng(2), 40, 12, 3.0)
    P, _ = _C.tsne_perplexity(D, 4.0, tol=1e-9)
    assert_close(P, ref_perplexity(D, 4.0), rtol=1e-5, atol=1e-6)


def test_duplicates_uniform_and_no_nan():
    D = np.zeros((3, 6), dtype=np.float32)
    D[1] = 2.5  # all equal, non-zero
    D[2] = [0, 0, 0, 1, 2, 3]  # three tied nearest neighbours, perplexity below 3: unreachable
    P, beta = _C.tsne_perplexity(D, 2.0)
    assert np.isfinite(P).all() and np.isfinite(P.sum())
    np.testing.assert_array_equal(P[:2], np.float32(1 / 6))
    np.testing.assert_array_equal(beta[:2], 0)
    np.testing.assert_allclose(P[2, :3], 1 / 3, atol=1e-6)
    # perplexity == k: uniform is the exact answer
    P, _ = _C.tsne_perplexity(sorted_sq_dists(np.random.default_rng(3), 5, 6), 6.0)
    np.testing.assert_allclose(entropy(P), np.log(6.0), atol=1e-5)


def test_thread_independence():
    D = sorted_sq_dists(np.random.default_rng(4), 3000, 90, 10.0)
    try:
        lf.set_num_threads(1)
        P1, b1 = _C.tsne_perplexity(D, 30.0)
        lf.set_num_threads(2)
        P2, b2 = _C.tsne_perplexity(D, 30.0)
    finally:
        lf.set_num_threads(0)
    assert P1.tobytes() == P2.tobytes() and b1.tobytes() == b2.tobytes()


def test_kernel_bad_input():
    D = sorted_sq_dists(np.random.default_rng(5), 4, 6)
    with pytest.raises(ValueError, match="exceed"):
        _C.tsne_perplexity(D, 7.0)
    with pytest.raises(ValueError, match="perplexity"):
        _C.tsne_perplexity(D, 0.0)
    with pytest.raises(ValueError, match="perplexity"):
        _C.tsne_perplexity(D, float("nan"))
    with pytest.raises(ValueError, match="tol"):
        _C.tsne_perplexity(D, 2.0, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        _C.tsne_perplexity(D, 2.0, max_iter=0)
    bad = D.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="row 2"):
        _C.tsne_perplexity(bad, 2.0)
    with pytest.raises(TypeError):
        _C.tsne_perplexity(D.astype(np.float64), 2.0)
    with pytest.raises(ValueError, match="2-D"):
        _C.tsne_perplexity(D[0], 2.0)
    with pytest.raises(ValueError, match="contiguous"):
        _C.tsne_perplexity(np.asfortranarray(D), 2.0)
    with pytest.raises(ValueError):
        _C.tsne_perplexity(np.zeros((3, 0), np.float32), 1.0)


def brute_sq(X):
    X = np.asarray(X, dtype=np.float64)
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    return D


@pytest.mark.parametrize("n,d,k", [(300, 7, 10), (2500, 3, 5), (20, 4, 19)])
def test_knn_matches_brute_force(n, d, k):
    X = np.random.default_rng(6).standard_normal((n, d)).astype(np.float32)
    X[5] = X[9]  # a duplicate pair
    idx, dist = _tsne.knn(X, k)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (n, k)
    D = brute_sq(X)
    ref_idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    ref_d = np.take_along_axis(D, ref_idx, axis=1)
    tol = 1e-5 * (1 + np.abs(X.astype(np.float64)).sum(1).max() ** 2)
    np.testing.assert_allclose(dist, ref_d, atol=tol)
    assert np.all(np.diff(dist, axis=1) >= 0)
    assert not np.any(idx == np.arange(n)[:, None])
    # the returned indices carry the returned distances
    np.testing.assert_allclose(np.take_along_axis(D, idx, axis=1), ref_d, atol=tol)
    # where the reference distances are well separated, the indices match
    gaps = np.diff(np.concatenate([ref_d, np.take_along_axis(
        D, np.argsort(D, axis=1)[:, k:k + 1], axis=1)], axis=1), axis=1)
    sep = np.concatenate([np.full((n, 1), np.inf), gaps], axis=1)
    distinct = (sep[:, :-1] > 10 * tol) & (sep[:, 1:] > 10 * tol)
    np.testing.assert_array_equal(idx[distinct], ref_idx[distinct])


def dense_joint_reference(X, perplexity, k):
    D = brute_sq(X)
    n = len(X)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    Pc = ref_perplexity(np.take_along_axis(D, idx, axis=1), perplexity)
    M = np.zeros((n, n))
    np.put_along_axis(M, idx, Pc, axis=1)
    return (M + M.T) / (2 * n)


def to_dense(indptr, indices, data, n):
    M = np.zeros((n, n))
    for i in range(n):
        M[i, indices[indptr[i]:indptr[i + 1]]] = data[indptr[i]:indptr[i + 1]]
    return M


def test_joint_probabilities_dense_reference():
    n = 60
    X = np.random.default_rng(7).standard_normal((n, 5)).astype(np.float32)
    indptr, indices, data = _tsne.joint_probabilities(X, perplexity=5.0, tol=1e-9)
    assert indptr.shape == (n + 1,) and indptr[0] == 0 and indptr[-1] == len(data)
    assert data.dtype == np.float32 and indices.dtype == np.int64
    for i in range(n):  # sorted columns, no diagonal
        row = indices[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(row) > 0) and i not in row
    M = to_dense(indptr, indices, data, n)
    np.testing.assert_array_equal(M, M.T)
    assert np.all(data > 0)
    assert abs(data.astype(np.float64).sum() - 1.0) < 1e-5
    assert_close(M, dense_joint_reference(X, 5.0, 15), rtol=1e-4, atol=1e-8)


def test_joint_probabilities_duplicates():
    X = np.random.default_rng(8).standard_normal((50, 3)).astype(np.float32)
    X[10:30] = X[0]  # 21 identical points
    indptr, indices, data = _tsne.joint_probabilities(X, perplexity=4.0)
    assert np.isfinite(data).all() and np.all(data >= 0)
    assert abs(data.astype(np.float64).sum() - 1.0) < 1e-5
    X2 = np.zeros((40, 2), np.float32)  # all identical
    _, _, data = _tsne.joint_probabilities(X2, perplexity=3.0)
    assert np.isfinite(data).all() and abs(data.astype(np.float64).sum() - 1.0) < 1e-5


def test_joint_probabilities_bad_input():
    X = np.random.default_rng(9).standard_normal((50, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="at least 91 samples"):
        _tsne.joint_probabilities(X, perplexity=30.0)
    with pytest.raises(ValueError, match="2-D"):
        _tsne.joint_probabilities(X[:, 0], perplexity=5.0)
    bad = X.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        _tsne.joint_probabilities(bad, perplexity=5.0)
    with pytest.raises(ValueError, match="perplexity"):
        _tsne.joint_probabilities(X, perplexity=-1.0)
    with pytest.raises(ValueError, match="exceed"):
        _tsne.joint_probabilities(X, perplexity=10.0, k=5)
    with pytest.raises(ValueError, match="k must"):
        _tsne.joint_probabilities(X, perplexity=5.0, k=50)
    with pytest.raises(TypeError):
        _tsne.joint_probabilities(np.array([["a", "b"]] * 10), perplexity=1.0)
    with pytest.raises(ValueError, match="k must"):
        _tsne.knn(X, 0)
