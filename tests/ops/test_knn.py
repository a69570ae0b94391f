"""Native exact kNN ``_C.knn`` (tiled GEMM + bounded heaps), its double-precision oracle
``_C.knn_naive``, and the ``_tsne.knn`` wrapper (the symmetrisation ``_C.tsne_symmetrize`` is in
test_tsne_symmetrize.py).

``_C.knn`` is checked three ways: bit for bit against a numpy re-computation of the values it
documents (the float32 GEMM identity ``max(0, (s_i + s_j) + g_ij)`` with ``g = -2 X X^T`` from
``lf.ops.gemm`` and ``s_i = -g_ii / 2``, sorted by (distance, index)); against the float64
oracle and an independent numpy float64 brute force (same neighbours wherever the exact distances
are separated by more than float32 rounding, exactly equal on integer data where float32 is
exact); and for bitwise independence of the thread count.
"""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C, _tsne, ops
from latentforge.testing import DOT_FACTOR, F32_U, F64_U, assert_close

# Tile sizes of the kernel (csrc/ops/knn.h): sizes around and between them exercise partial tiles.
QUERY_BLOCK, REF_BLOCK = 98, 1024


# ----------------------------------------------------------------------------- references


def computed_sq_distances(X):
    """The float32 distances knn documents, from one whole-matrix GEMM (diagonal = +inf)."""
    G = ops.gemm(X, X, trans_b=True, alpha=-2.0)
    s = np.float32(-0.5) * np.diag(G).astype(np.float32)
    D = np.maximum((s[:, None] + s[None, :]) + G, np.float32(0.0))
    np.fill_diagonal(D, np.inf)
    return D


def select_by_distance_then_index(D, k):
    """k smallest per row by (distance, index) -- a stable sort on the distance."""
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


brute_sq64 = ref64.sq_distances


def sq_distance_atol(X, u):
    """Rounding bound of squared distances |x|^2 + |y|^2 - 2 x.y computed in precision u: a
    reduction whose terms sum to <= 2 (|x|^2 + |y|^2), so DOT_FACTOR u (1 + max |x|^2)."""
    scale = np.float64(np.einsum("ij,ij->i", X, X, dtype=np.float64).max())
    return DOT_FACTOR * u * (1.0 + scale)


def gaussian(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def integer_points(n, d, seed, high=3):
    """Small integers: float32 products and sums are exact, so every distance is exact and ties
    (many of them: duplicates and equal distances) are real ties."""
    return np.random.default_rng(seed).integers(0, high, size=(n, d)).astype(np.float32)


# ----------------------------------------------------------------------------- knn


@pytest.mark.parametrize(
    "n,d,k",
    [(2, 1, 1), (20, 4, 19), (113, 3, 7), (300, 7, 10), (1025, 5, 30), (2500, 50, 90),
     (2 * REF_BLOCK + QUERY_BLOCK + 1, 16, 5)],
    ids=str,
)
def test_knn_bitwise_equals_documented_values(n, d, k):
    X = gaussian(n, d, n + d)
    X[5 % n] = X[9 % n]  # an exact duplicate pair (when n > 9)
    idx, dist = _C.knn(X, k)
    assert idx.dtype == np.int64 and dist.dtype == np.float32
    assert idx.shape == (n, k) and dist.shape == (n, k)
    assert idx.flags.c_contiguous and dist.flags.c_contiguous
    D = computed_sq_distances(X)
    ref_idx, ref_d = select_by_distance_then_index(D, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(dist, ref_d)
    if n > 9:
        assert dist[5, 0] == 0.0 and idx[5, 0] == 9  # an exact duplicate is at distance 0


def test_computed_distances_are_symmetric_and_tiling_independent():
    n = REF_BLOCK + 300
    X = gaussian(n, 33, 1) * 10 + 5  # offset: rounding of |x|^2 + |y|^2 - 2 x.y is visible
    idx, dist = _C.knn(X, n - 1)  # every pair, computed in many different tile positions
    full = np.empty((n, n), np.float32)
    full[np.arange(n)[:, None], idx] = dist
    np.fill_diagonal(full, 0.0)
    np.testing.assert_array_equal(full, full.T)
    D = computed_sq_distances(X)  # one whole-matrix GEMM
    np.fill_diagonal(D, 0.0)
    np.testing.assert_array_equal(full, D)


def test_knn_every_isa(isa):
    X = gaussian(1300, 20, 3)
    idx, dist = _C.knn(X, 12)
    ref_idx, ref_d = select_by_distance_then_index(computed_sq_distances(X), 12)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(dist, ref_d)


@pytest.mark.parametrize("n,d,k", [(300, 7, 10), (1200, 50, 90), (50, 2, 49)], ids=str)
def test_knn_against_oracle_and_float64_brute_force(n, d, k):
    X = gaussian(n, d, 11 * n + d)
    idx, dist = _C.knn(X, k)
    nidx, ndist = _C.knn_naive(X, k)
    assert nidx.dtype == np.int64 and ndist.dtype == np.float64
    D64 = brute_sq64(X)
    ref_idx, ref_d = select_by_distance_then_index(D64, k)
    # The oracle is the float64 brute force (same rule, ties by index).
    np.testing.assert_array_equal(nidx, ref_idx)
    assert_close(ndist, ref_d, rtol=0, atol=sq_distance_atol(X, F64_U))
    # The float32 kernel: distances within float32 rounding of the exact ones ...
    tol = sq_distance_atol(X, F32_U)
    assert_close(dist, ref_d, rtol=0, atol=tol)
    assert_close(np.take_along_axis(D64, idx, axis=1), ref_d, rtol=0, atol=tol)
    # ... and the same neighbours wherever the exact distances are separated by more than that.
    nxt = np.sort(D64, axis=1)[:, k:k + 1]
    gaps = np.diff(np.concatenate([ref_d, nxt], axis=1), axis=1)
    before = np.concatenate([np.full((n, 1), np.inf), gaps[:, :-1]], axis=1)
    separated = (before > 2 * tol) & (gaps > 2 * tol)
    assert separated.mean() > 0.9
    np.testing.assert_array_equal(idx[separated], ref_idx[separated])


@pytest.mark.parametrize("n,d,k", [(200, 3, 15), (1150, 4, 40), (64, 2, 63)], ids=str)
def test_knn_duplicates_and_ties_exact(n, d, k):
    X = integer_points(n, d, n)  # 3^d distinct points only: many duplicates and tied distances
    idx, dist = _C.knn(X, k)
    nidx, ndist = _C.knn_naive(X, k)
    ref_idx, ref_d = select_by_distance_then_index(brute_sq64(X), k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(nidx, ref_idx)
    np.testing.assert_array_equal(dist, ref_d.astype(np.float32))
    np.testing.assert_array_equal(ndist, ref_d)


def test_knn_all_identical_points():
    X = np.full((30, 4), 2.5, np.float32)
    idx, dist = _C.knn(X, 29)
    assert np.all(dist == 0.0)
    expected = np.array([[j for j in range(30) if j != i] for i in range(30)])
    np.testing.assert_array_equal(idx, expected)


def test_knn_k1_and_k_all():
    X = gaussian(150, 3, 4)
    D = brute_sq64(X)
    idx, dist = _C.knn(X, 1)
    np.testing.assert_array_equal(idx[:, 0], np.argmin(D, axis=1))
    idx, dist = _C.knn(X, 149)
    assert np.all(np.sort(idx, axis=1) == np.array([[j for j in range(150) if j != i]
                                                    for i in range(150)]))
    assert np.all(np.diff(dist, axis=1) >= 0)


@pytest.mark.parametrize("n", [QUERY_BLOCK * 3 + 5, 2 * REF_BLOCK + 77])
def test_knn_thread_count_independent(n, threads):
    X = gaussian(n, 50, n)
    X[::7] = np.round(X[::7])  # some exact ties too
    lf.set_num_threads(1)
    i1, d1 = _C.knn(X, 25)
    lf.set_num_threads(2)
    i2, d2 = _C.knn(X, 25)
    lf.set_num_threads(3)  # more threads than cores, odd split of the query blocks
    i3, d3 = _C.knn(X, 25)
    for i, d in ((i2, d2), (i3, d3)):
        np.testing.assert_array_equal(i, i1)
        assert d.tobytes() == d1.tobytes()


def test_tsne_knn_wrapper_uses_native():
    X = gaussian(400, 6, 8).astype(np.float64)  # converted once to float32 by the wrapper
    idx, dist = _tsne.knn(X, 9)
    ref_idx, ref_d = _C.knn(np.ascontiguousarray(X, dtype=np.float32), 9)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(dist, ref_d)


@pytest.mark.parametrize("n,d,k", [(300, 7, 10), (2500, 3, 5), (20, 4, 19)])
def test_tsne_knn_matches_brute_force(n, d, k):
    X = np.random.default_rng(6).standard_normal((n, d)).astype(np.float32)
    X[5] = X[9]  # a duplicate pair
    idx, dist = _tsne.knn(X, k)
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (n, k)
    D = ref64.sq_distances(X)
    ref_idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    ref_d = np.take_along_axis(D, ref_idx, axis=1)
    tol = sq_distance_atol(X, F32_U)
    assert_close(dist, ref_d, rtol=0, atol=tol)
    assert np.all(np.diff(dist, axis=1) >= 0)
    assert not np.any(idx == np.arange(n)[:, None])
    # the returned indices carry the returned distances
    assert_close(np.take_along_axis(D, idx, axis=1), ref_d, rtol=0, atol=tol)
    # where the reference distances are well separated, the indices match
    gaps = np.diff(np.concatenate([ref_d, np.take_along_axis(
        D, np.argsort(D, axis=1)[:, k:k + 1], axis=1)], axis=1), axis=1)
    sep = np.concatenate([np.full((n, 1), np.inf), gaps], axis=1)
    distinct = (sep[:, :-1] > 10 * tol) & (sep[:, 1:] > 10 * tol)
    np.testing.assert_array_equal(idx[distinct], ref_idx[distinct])


@pytest.mark.parametrize("fn", [_C.knn, _C.knn_naive], ids=["knn", "knn_naive"])
def test_knn_bad_input(fn):
    X = gaussian(20, 3, 0)
    with pytest.raises(TypeError, match="numpy array"):
        fn([[0.0, 1.0]] * 5, 1)
    with pytest.raises(TypeError, match="float32"):
        fn(X.astype(np.float64), 2)
    with pytest.raises(ValueError, match="2-D"):
        fn(X[:, 0], 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(np.asfortranarray(X), 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        fn(X[::2], 2)
    with pytest.raises(ValueError, match="at least one feature"):
        fn(np.zeros((5, 0), np.float32), 1)
    for k in (0, -1, 20, 2**62):
        with pytest.raises(ValueError, match="k must"):
            fn(X, k)
    with pytest.raises(ValueError, match="k must"):
        fn(np.zeros((1, 3), np.float32), 1)
    with pytest.raises(ValueError, match="k must"):
        fn(np.zeros((0, 3), np.float32), 1)
    with pytest.raises(TypeError):
        fn(X, 2**70)  # not representable: pybind11 refuses the conversion
    for bad in (np.nan, np.inf, -np.inf):
        Xb = X.copy()
        Xb[13, 2] = bad
        with pytest.raises(ValueError, match="row 13"):
            fn(Xb, 3)
    if fn is _C.knn:
        Xb = X.copy()
        Xb[4] = 1e19  # finite, but |x|^2 overflows float32
        with pytest.raises(ValueError, match="rescale"):
            fn(Xb, 3)
