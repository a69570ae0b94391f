"""The t-SNE affinity symmetrisation ``_C.tsne_symmetrize`` (P = (P_cond + P_cond^T) / 2n as a
CSR matrix), compared bit for bit with the numpy code it replaced in
``_tsne.joint_probabilities``, for thread-count independence and for its input validation."""

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _tsne


def gaussian(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def old_symmetrize(nbr, Pc, n):
    """The numpy code _tsne.joint_probabilities used before _C.tsne_symmetrize (verbatim)."""
    k = nbr.shape[1]
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = nbr.ravel()
    vals = Pc.ravel().astype(np.float64)
    keys = np.concatenate([rows * n + cols, cols * n + rows])
    vals = np.concatenate([vals, vals])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    vals = vals[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ukeys = keys[start]
    data = np.add.reduceat(vals, start) / (2.0 * n)
    out_rows = ukeys // n
    indices = ukeys - out_rows * n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_rows, minlength=n), out=indptr[1:])
    return indptr, indices.astype(np.int64), data.astype(np.float32)


def random_conditional(nbr, seed):
    rng = np.random.default_rng(seed)
    P = rng.random(nbr.shape) ** 3 + 1e-9
    return (P / P.sum(axis=1, keepdims=True)).astype(np.float32)


def assert_csr_identical(got, ref):
    for g, r, dtype in zip(got, ref, (np.int64, np.int64, np.float32)):
        assert g.dtype == dtype and g.ndim == 1
        np.testing.assert_array_equal(g, r)
    assert got[2].tobytes() == ref[2].tobytes()  # bitwise, signed zeros included


@pytest.mark.parametrize("n,k", [(2, 1), (40, 39), (500, 15), (3000, 90)], ids=str)
def test_symmetrize_bitwise_equals_old_numpy(n, k):
    X = gaussian(n, 5, n)
    nbr, _ = _C.knn(X, k)
    Pc = random_conditional(nbr, k)
    got = _C.tsne_symmetrize(nbr, Pc, n)
    ref = old_symmetrize(nbr, Pc, n)
    assert_csr_identical(got, ref)
    indptr, cols, _ = got
    for i in range(0, n, max(1, n // 50)):
        row = cols[indptr[i]:indptr[i + 1]]
        assert np.all(np.diff(row) > 0) and i not in row


def test_symmetrize_real_affinities_and_arbitrary_graphs():
    X = gaussian(700, 10, 5)
    nbr, d = _C.knn(X, 30)
    Pc, _ = _C.tsne_perplexity(d, 10.0)
    assert_csr_identical(_C.tsne_symmetrize(nbr, Pc, 700), old_symmetrize(nbr, Pc, 700))
    # Any graph without self loops or repeated neighbours, in any column order, with zeros and
    # negative zeros in P (both directions of a pair present in some rows only).
    rng = np.random.default_rng(6)
    n, k = 257, 11
    nbr = np.stack([rng.choice(np.delete(np.arange(n), i), size=k, replace=False)
                    for i in range(n)]).astype(np.int64)
    Pc = random_conditional(nbr, 7)
    Pc[::5, 3] = 0.0
    Pc[1::5, 4] = -0.0
    assert_csr_identical(_C.tsne_symmetrize(nbr, Pc, n), old_symmetrize(nbr, Pc, n))


def test_symmetrize_thread_count_independent(threads):
    n, k = 6000, 20
    X = gaussian(n, 8, 12)
    nbr, _ = _C.knn(X, k)
    Pc = random_conditional(nbr, 2)
    outs = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        outs.append(_C.tsne_symmetrize(nbr, Pc, n))
    for o in outs[1:]:
        assert_csr_identical(o, outs[0])


def test_symmetrize_empty():
    indptr, cols, data = _C.tsne_symmetrize(np.zeros((0, 3), np.int64),
                                            np.zeros((0, 3), np.float32), 0)
    np.testing.assert_array_equal(indptr, [0])
    assert cols.shape == (0,) and data.shape == (0,)
    indptr, cols, data = _C.tsne_symmetrize(np.zeros((4, 0), np.int64),
                                            np.zeros((4, 0), np.float32), 4)
    np.testing.assert_array_equal(indptr, [0, 0, 0, 0, 0])


def test_symmetrize_bad_input():
    n, k = 10, 3
    nbr = np.array([[(i + t + 1) % n for t in range(k)] for i in range(n)], np.int64)
    Pc = np.full((n, k), 1 / 3, np.float32)
    _C.tsne_symmetrize(nbr, Pc, n)  # valid
    with pytest.raises(TypeError, match="numpy array"):
        _C.tsne_symmetrize(nbr.tolist(), Pc, n)
    with pytest.raises(TypeError, match="int64"):
        _C.tsne_symmetrize(nbr.astype(np.int32), Pc, n)
    with pytest.raises(TypeError, match="float32"):
        _C.tsne_symmetrize(nbr, Pc.astype(np.float64), n)
    with pytest.raises(ValueError, match="2-D"):
        _C.tsne_symmetrize(nbr.ravel(), Pc, n)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.tsne_symmetrize(np.asfortranarray(nbr), Pc, n)
    with pytest.raises(ValueError, match="rows"):
        _C.tsne_symmetrize(nbr, Pc, n + 1)
    with pytest.raises(ValueError, match="n must"):
        _C.tsne_symmetrize(nbr, Pc, -1)
    with pytest.raises(ValueError, match="shape of indices"):
        _C.tsne_symmetrize(nbr, Pc[:, :2].copy(), n)
    for value, match in ((n, "out of range"), (-1, "out of range"), (4, "itself"),
                         (nbr[4, 0], "more than once")):
        bad = nbr.copy()
        bad[4, 1] = value
        with pytest.raises(ValueError, match=match):
            _C.tsne_symmetrize(bad, Pc, n)
    for value in (np.nan, np.inf):
        bad = Pc.copy()
        bad[6, 2] = value
        with pytest.raises(ValueError, match=r"P_cond\[6, 2\]"):
            _C.tsne_symmetrize(nbr, bad, n)


def test_joint_probabilities_uses_native_symmetrize():
    X = gaussian(300, 6, 9)
    indptr, cols, data = _tsne.joint_probabilities(X, perplexity=8.0)
    nbr, d = _tsne.knn(X, 24)
    Pc, _ = _tsne.conditional_probabilities(d, 8.0)
    assert_csr_identical((indptr, cols, data), old_symmetrize(nbr, Pc, 300))


@pytest.mark.parametrize("n, k", [(2, 1), (50, 7), (1000, 30)])
def test_merge_matches_naive_reference_bitwise(n, k, threads):
    """The per-row merge against the sort-all-keys reference beside it: the same CSR, bit for
    bit, at any thread count."""
    rng = np.random.default_rng(n + k)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    idx, _ = _C.knn(X, k)
    P = rng.random((n, k)).astype(np.float32)
    want = _C.tsne_symmetrize(idx, P, n, naive=True)
    for t in (1, 2):
        lf.set_num_threads(t)
        got = _C.tsne_symmetrize(idx, P, n)
        for a, b in zip(got, want):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_naive_reference_validates_like_the_kernel():
    idx = np.array([[1], [1]], np.int64)  # row 1 lists itself
    P = np.ones((2, 1), np.float32)
    for naive in (False, True):
        with pytest.raises(ValueError, match="row itself"):
            _C.tsne_symmetrize(idx, P, 2, naive=naive)
