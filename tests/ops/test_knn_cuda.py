"""The CUDA exact kNN pipeline (csrc/ops/knn_cuda.cuh: device GEMM tiles, norms from the GEMM's
own diagonal, per-row exact radix selection) against the double-precision oracle ``_C.knn_naive``.

``TestEmulated`` runs the whole pipeline on the CPU through the emulator (``latentforge._emu``:
the emulated device GEMM kernel included) under every schedule, for n = 2 .. 70, d = 1 .. 9,
k = 1 .. n - 1, tiles of 1, 7 or all query rows, at every launch configuration. Three checks:

* bit for bit against the values the contract documents (ops/knn.h), recomputed in numpy from one
  whole-matrix emulated device GEMM ``g = -2 X X^T``: ``s_i = -g_ii / 2``,
  ``d = max(0, (s_i + s_j) + g_ij)``, sorted by (distance, index). This pins the tiling
  independence, the norms and the selection (ties by index) exactly;
* against the exact oracle: each returned distance is within the float32 rounding bound
  ``tol = DOT_FACTOR u (1 + max |x|^2)`` of the exact one, and the neighbour SETS are the oracle's
  except within that tolerance of the k-th distance: every returned j has exact distance
  <= D_k + 2 tol and every j with exact distance < D_k - 2 tol is returned (D_k: the oracle's k-th
  distance); positions separated from both neighbours by more than 2 tol hold the oracle's index;
* on small-integer data (exact in float32 with or without FMA: real ties and duplicates) the
  indices and distances equal the oracle's exactly.

Non-finite X or an overflowing squared norm sets the pipeline's error flag (``_C._knn_cuda``
raises ValueError from it). ``TestDevice`` runs the oracle checks on a GPU (skipped without one).
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu
from latentforge.testing import DOT_FACTOR, F32_U

CONFIGS = list(range(_emu.knn_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
# (n, d, k, tile_rows): odd sizes, k = 1 and k = n - 1, one-row tiles, ragged tiles, one tile.
CASES = [(2, 1, 1, 0), (5, 3, 4, 1), (13, 9, 6, 7), (33, 2, 1, 7), (70, 5, 17, 0), (41, 1, 40, 9)]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _gaussian(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _integers(n, d, seed):
    return np.random.default_rng(seed).integers(0, 3, size=(n, d)).astype(np.float32)


def documented_values(X, k, config):
    """The distances and selection of ops/knn.h from one whole-matrix emulated device GEMM."""
    G = _emu.gemm_cuda(X, X, trans_b=True, alpha=-2.0, config=config)
    s = np.float32(-0.5) * np.diag(G).astype(np.float32)
    D = np.maximum((s[:, None] + s[None, :]) + G, np.float32(0.0))
    np.fill_diagonal(D, np.inf)
    idx = np.argsort(D, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(D, idx, axis=1)


def sq_tol(X):
    """Float32 rounding bound of |x|^2 + |y|^2 - 2 x.y (as tests/ops/test_knn.py)."""
    scale = np.float64(np.einsum("ij,ij->i", X, X, dtype=np.float64).max())
    return DOT_FACTOR * F32_U * (1.0 + scale)


def assert_matches_oracle(X, k, idx, dist):
    n = X.shape[0]
    assert idx.dtype == np.int64 and dist.dtype == np.float32 and idx.shape == (n, k)
    nidx, ndist = _C.knn_naive(X, k)
    D64 = ref64.sq_distances(X)
    tol = sq_tol(X)
    for i in range(n):
        got = idx[i]
        assert len(set(got.tolist())) == k and i not in got and got.min() >= 0 and got.max() < n
    # Sorted by (distance, index) on the returned values.
    assert (np.diff(dist, axis=1) >= 0).all()
    same = np.diff(dist, axis=1) == 0
    assert (np.diff(idx, axis=1)[same] > 0).all()
    # Distances within tol of the exact ones of the returned indices.
    exact = np.take_along_axis(D64, idx, axis=1)
    assert (np.abs(dist - exact) <= tol).all()
    # Same sets except within 2 tol of the k-th distance.
    Dk = ndist[:, -1:]
    assert (exact <= Dk + 2 * tol).all()
    for i in range(n):
        must = np.flatnonzero(D64[i] < Dk[i, 0] - 2 * tol)
        assert set(must.tolist()) <= set(idx[i].tolist())
    # Positions whose exact distance is separated from both neighbours hold the oracle's index.
    nxt = np.sort(D64, axis=1)[:, k:k + 1]
    gaps = np.diff(np.concatenate([ndist, nxt], axis=1), axis=1)
    before = np.concatenate([np.full((n, 1), np.inf), gaps[:, :-1]], axis=1)
    separated = (before > 2 * tol) & (gaps > 2 * tol)
    np.testing.assert_array_equal(idx[separated], nidx[separated])


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.schedule = name
        emu = functools.partial(_emu.knn_cuda, schedule=name, seed=seed)

        def run(X, k, tile_rows=0, config=0):
            idx, dist, bad = emu(X, k, tile_rows=tile_rows, config=config)
            assert not bad
            return idx, dist

        self.run = run
        self.run_flagged = emu

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n,d,k,tile_rows", CASES, ids=str)
    def test_documented_values_and_oracle(self, n, d, k, tile_rows, config):
        X = _gaussian(n, d, n * 10 + d)
        if n > 9:
            X[9] = X[4]  # an exact duplicate pair: distance exactly 0
        idx, dist = self.run(X, k, tile_rows, config)
        ref_idx, ref_d = documented_values(X, k, config)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(dist.view(np.uint32), ref_d.view(np.uint32))
        assert_matches_oracle(X, k, idx, dist)
        if n > 9:
            assert dist[4, 0] == 0.0 and idx[4, 0] == 9 and idx[9, 0] == 4

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n,d,k,tile_rows", [(31, 2, 30, 4), (64, 3, 9, 0), (17, 1, 5, 1)],
                             ids=str)
    def test_integer_points_exact_ties(self, n, d, k, tile_rows, config):
        X = _integers(n, d, n + d)
        idx, dist = self.run(X, k, tile_rows, config)
        nidx, ndist = _C.knn_naive(X, k)
        np.testing.assert_array_equal(idx, nidx)
        np.testing.assert_array_equal(dist, ndist.astype(np.float32))

    def test_symmetric_and_tiling_independent(self):
        X = _gaussian(23, 7, 5) * 10 + 5  # offset: the rounding of s_i + s_j - 2 x.y shows
        n = X.shape[0]
        full = []
        for tile_rows in (1, 6, 0):
            idx, dist = self.run(X, n - 1, tile_rows)
            M = np.zeros((n, n), np.float32)
            M[np.arange(n)[:, None], idx] = dist
            np.testing.assert_array_equal(M, M.T)
            full.append(M)
        np.testing.assert_array_equal(full[0], full[1])
        np.testing.assert_array_equal(full[0], full[2])

    def test_error_flag(self):
        X = _gaussian(6, 3, 1)
        for bad in (np.nan, np.inf, -np.inf, 3e19):  # 3e19^2 overflows the float32 norm
            Xb = X.copy()
            Xb[2, 1] = bad
            idx, dist, flag = self.run_flagged(Xb, 3, tile_rows=4)
            assert flag
            assert ((idx >= 0) & (idx < 6)).all()  # unspecified, but written and in range
        Xs = X.copy()
        Xs[2] = 1e18  # large but finite squared norm (3e36 < FLT_MAX / 4): no flag
        assert not self.run_flagged(Xs, 3)[2]

    def test_bad_arguments(self):
        X = _gaussian(5, 2, 0)
        for k in (0, 5, -1):
            with pytest.raises(ValueError, match="k must"):
                self.run(X, k)
        with pytest.raises(ValueError, match="config"):
            self.run(X, 1, config=len(CONFIGS))
        with pytest.raises(ValueError, match="tile_rows"):
            self.run(X, 1, tile_rows=-1)
        with pytest.raises(ValueError, match="feature"):
            self.run(np.zeros((5, 0), np.float32), 1)
        with pytest.raises(ValueError, match="k must"):
            self.run(np.zeros((1, 3), np.float32), 1)
        with pytest.raises(TypeError, match="float32"):
            self.run(X.astype(np.float64), 1)
        with pytest.raises(ValueError, match="2-D"):
            self.run(np.ones(3, np.float32), 1)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice:
    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n,d,k,tile_rows",
                             CASES + [(1500, 50, 90, 0), (1500, 50, 90, 333), (300, 7, 299, 0)],
                             ids=str)
    def test_oracle(self, n, d, k, tile_rows, config):
        X = _gaussian(n, d, n + d)
        idx, dist = _C._knn_cuda(X, k, tile_rows=tile_rows, config=config)
        assert_matches_oracle(X, k, idx, dist)
        Xi = _integers(n, d, n)
        idx, dist = _C._knn_cuda(Xi, k, tile_rows=tile_rows, config=config)
        nidx, ndist = _C.knn_naive(Xi, k)
        np.testing.assert_array_equal(idx, nidx)
        np.testing.assert_array_equal(dist, ndist.astype(np.float32))

    def test_error_flag_raises(self):
        X = _gaussian(6, 3, 1)
        X[2, 1] = np.nan
        with pytest.raises(ValueError, match="NaN or Inf"):
            _C._knn_cuda(X, 2)
        assert _C._knn_cuda(_gaussian(6, 3, 1), 2)[0].shape == (6, 2)  # the flag starts clear


def test_without_cuda_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError):
        _C._knn_cuda(_gaussian(5, 2, 0), 2)
    # CUDA build without a device: the device guard's ValueError; CPU-only build: the stubs'.
    err, msg = ((ValueError, r"device 0 out of range \(0 CUDA devices\)") if _C.cuda_compiled()
                else (RuntimeError, "built without CUDA"))
    with pytest.raises(err, match=msg):
        _C.device.knn(0, 1, 0, 0, 0, 0, 5, 2, 2)
