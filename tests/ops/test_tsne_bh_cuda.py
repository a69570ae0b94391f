"""The CUDA t-SNE gradients (csrc/ops/tsne_bh_cuda.cuh: exact, and Barnes-Hut with the quadtree
built on the host and traversed on the device) against the CPU kernels ``_C.tsne_gradient_exact``
and ``_C.tsne_gradient_bh``, at every launch configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (``latentforge._emu``)
under every schedule (forward, reversed, shuffled, concurrent). The device kernels repeat the CPU's
per-point loops operation for operation in double (one thread per point, the same order over j,
the same traversal), add the per-point sums in index order (one block, thread 0) and round once,
so the emulated gradient and KL equal the CPU's bit for bit (the emulator uses the host's libm and
no FMA, like the CPU kernels). ``TestDevice`` runs the same cases through
``_C._tsne_gradient_*_cuda`` on a GPU (skipped without one): the launcher is compiled with
-fmad=false and double division is IEEE in CUDA, so the gradient should match bit for bit too,
but that is not yet measured on a device, so it is checked within ``TSNE_CUDA_GRAD_TOL``; the KL
uses CUDA's log (within 1 ulp), checked within ``TSNE_CUDA_KL_RTOL``.

Shapes: n = 2, 3, 17, 61 (one to two blocks at config 0; at config 1, 32 threads and at most 3
blocks, so n = 61 is two ragged blocks and the reduction takes two rounds), theta 0 and 0.5,
exaggeration 1 and 12, plus degenerate trees (duplicates, distinct points below the depth limit,
all points identical).
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu
from latentforge.testing import (
    TSNE_CUDA_GRAD_TOL,
    TSNE_CUDA_KL_RTOL,
    TSNE_GRAD_TOL,
    TSNE_KL_RTOL,
    assert_normwise_close,
)

CONFIGS = list(range(_emu.tsne_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 3), ("concurrent", 0)]
SIZES = [2, 3, 17, 61]
EXAGGERATIONS = [1.0, 12.0]
THETAS = [0.0, 0.5]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _problem(n, seed, density=1.0):
    rng = np.random.default_rng(seed)
    Y = (rng.standard_normal((n, 2)) * 3).astype(np.float32)
    P = ref64.random_joint_p(n, rng, density).astype(np.float32)
    return Y, P


def _csr_with_extras(P, rng):
    """CSR of P plus stored entries the kernels must skip: explicit zeros and diagonal entries."""
    n = P.shape[0]
    Q = P.copy()
    Q[np.arange(n), np.arange(n)] = 0.01  # diagonal entries are stored but ignored
    indptr, indices, vals = ref64.dense_to_csr(Q)
    # An explicit zero in row 0 (column n - 1 when absent) keeps the CSR valid.
    if n > 2 and Q[0, n - 1] == 0:
        indices = np.insert(indices, indptr[1], n - 1)
        vals = np.insert(vals, indptr[1], np.float32(0.0))
        indptr = indptr.copy()
        indptr[1:] += 1
    return indptr, indices, vals


def _degenerate_embeddings():
    rng = np.random.default_rng(11)
    dup = (rng.standard_normal((29, 2)) * 2).astype(np.float32)
    dup[:7] = dup[0]  # a leaf of identical points
    dup[10:13] = dup[10]
    dup[20] = np.nextafter(dup[21], np.float32(np.inf))  # near-duplicates: a deep split
    deep = (rng.standard_normal((13, 2)) * 1e6).astype(np.float32)
    # Distinct points closer than side / 2**50: a leaf at the depth limit, visited point by point.
    deep[:5] = [(0, 0), (1e-30, 0), (0, 1e-30), (1e-30, 1e-30), (0, 0)]
    same = np.full((7, 2), 1.5, np.float32)  # every point identical
    return {"duplicates": dup, "depth-limit": deep, "identical": same}


class TestEmulated:
    #: The emulated kernels match the CPU bit for bit; a device is checked within tolerances.
    bitwise = True

    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.exact = functools.partial(_emu.tsne_gradient_exact_cuda, schedule=name, seed=seed)
        self.bh = functools.partial(_emu.tsne_gradient_bh_cuda, schedule=name, seed=seed)

    def _check(self, got, ref):
        g, kl = got
        gr, klr = ref
        assert g.dtype == np.float32 and g.shape == gr.shape
        if self.bitwise:
            np.testing.assert_array_equal(g, gr)
            assert kl == klr or (np.isnan(kl) and np.isnan(klr))
        else:
            assert_normwise_close(g, gr, TSNE_CUDA_GRAD_TOL)
            if np.isnan(klr):
                assert np.isnan(kl)
            else:
                assert kl == pytest.approx(klr, rel=TSNE_CUDA_KL_RTOL, abs=TSNE_CUDA_KL_RTOL)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("exaggeration", EXAGGERATIONS)
    @pytest.mark.parametrize("n", SIZES)
    def test_exact_matches_cpu(self, n, exaggeration, config):
        Y, P = _problem(n, n)
        P[0, 0] = 0.5  # the diagonal is ignored
        ref = _C.tsne_gradient_exact(Y, P, exaggeration=exaggeration)
        self._check(self.exact(Y, P, exaggeration=exaggeration, config=config), ref)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("exaggeration", EXAGGERATIONS)
    @pytest.mark.parametrize("theta", THETAS)
    @pytest.mark.parametrize("n", SIZES)
    def test_bh_matches_cpu(self, n, theta, exaggeration, config):
        Y, P = _problem(n, 100 + n, density=0.4)
        csr = _csr_with_extras(P, np.random.default_rng(n))
        ref = _C.tsne_gradient_bh(Y, *csr, theta=theta, exaggeration=exaggeration)
        self._check(self.bh(Y, *csr, theta=theta, exaggeration=exaggeration, config=config), ref)

    @pytest.mark.parametrize("case", ["duplicates", "depth-limit", "identical"])
    def test_bh_degenerate_trees(self, case):
        Y = _degenerate_embeddings()[case]
        n = Y.shape[0]
        P = ref64.random_joint_p(n, np.random.default_rng(n), 0.5).astype(np.float32)
        csr = ref64.dense_to_csr(P)
        for theta in (0.0, 0.5, 2.0):
            ref = _C.tsne_gradient_bh(Y, *csr, theta=theta, exaggeration=4.0)
            self._check(self.bh(Y, *csr, theta=theta, exaggeration=4.0, config=1), ref)
        self._check(self.exact(Y, P, config=1), _C.tsne_gradient_exact(Y, P))

    def test_compute_kl_false(self):
        Y, P = _problem(17, 5)
        g, kl = self.exact(Y, P, compute_kl=False)
        assert np.isnan(kl)
        self._check((g, kl), _C.tsne_gradient_exact(Y, P, compute_kl=False))
        csr = ref64.dense_to_csr(P)
        g, kl = self.bh(Y, *csr, theta=0.5, compute_kl=False)
        assert np.isnan(kl)
        self._check((g, kl), _C.tsne_gradient_bh(Y, *csr, theta=0.5, compute_kl=False))

    def test_empty_rows_of_p(self):
        """Points with no stored neighbour (empty CSR rows; all-zero dense rows): repulsion only."""
        Y, P = _problem(17, 6)
        P[3, :] = P[:, 3] = 0
        P[9, :] = P[:, 9] = 0
        csr = ref64.dense_to_csr(P)
        assert csr[0][4] == csr[0][3]
        self._check(self.bh(Y, *csr, theta=0.5), _C.tsne_gradient_bh(Y, *csr, theta=0.5))
        self._check(self.exact(Y, P), _C.tsne_gradient_exact(Y, P))


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    bitwise = False

    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.exact = _C._tsne_gradient_exact_cuda
        self.bh = _C._tsne_gradient_bh_cuda


# ---- properties that hold whatever the schedule: checked under the forward one


def test_matches_the_float64_formula():
    """Not only the CPU kernel: the emulated exact and theta = 0 gradients against the float64
    formula of tests/reference."""
    Y, P = _problem(31, 7)
    g, kl = _emu.tsne_gradient_exact_cuda(Y, P, exaggeration=3.0, config=1)
    G = ref64.tsne_gradient(Y, P, 3.0)
    assert_normwise_close(g, G, TSNE_GRAD_TOL)
    assert kl == pytest.approx(ref64.tsne_kl(Y, P), rel=TSNE_KL_RTOL)
    gb, klb = _emu.tsne_gradient_bh_cuda(Y, *ref64.dense_to_csr(P), theta=0.0, exaggeration=3.0)
    assert_normwise_close(gb, G, TSNE_GRAD_TOL)
    assert klb == pytest.approx(kl, rel=TSNE_KL_RTOL)


def test_bad_arguments():
    Y, P = _problem(5, 8)
    csr = ref64.dense_to_csr(P)
    exact, bh = _emu.tsne_gradient_exact_cuda, _emu.tsne_gradient_bh_cuda
    with pytest.raises(ValueError, match="config"):
        exact(Y, P, config=len(CONFIGS))
    with pytest.raises(ValueError, match="config"):
        bh(Y, *csr, config=-1)
    with pytest.raises(ValueError, match="at least 2 points"):
        exact(Y[:1], P[:1, :1])
    with pytest.raises(ValueError, match="theta"):
        bh(Y, *csr, theta=-0.1)
    with pytest.raises(ValueError, match="exaggeration"):
        exact(Y, P, exaggeration=np.inf)
    Yn = Y.copy()
    Yn[2, 1] = np.nan
    with pytest.raises(ValueError, match="Y contains NaN"):
        exact(Yn, P)
    with pytest.raises(ValueError, match="Y contains NaN"):
        bh(Yn, *csr)
    Pn = P.copy()
    Pn[1, 3] = -1e-3
    with pytest.raises(ValueError, match="P must be finite and >= 0"):
        exact(Y, Pn)
    with pytest.raises(ValueError, match="P must have shape"):
        exact(Y, P[:, :4].copy())
    with pytest.raises(ValueError, match="shape \\(n, 2\\)"):
        exact(np.zeros((5, 3), np.float32), P)
    with pytest.raises(TypeError, match="float32"):
        exact(Y.astype(np.float64), P)
    indptr, indices, vals = csr
    bad = indices.copy()
    bad[0] = 5
    with pytest.raises(ValueError, match="out of range"):
        bh(Y, indptr, bad, vals)
    with pytest.raises(ValueError, match="indptr must have length"):
        bh(Y, indptr[:-1].copy(), indices, vals)
    badp = indptr.copy()
    badp[2] = badp[3] + 1
    with pytest.raises(ValueError, match="non-decreasing"):
        bh(Y, badp, indices, vals)
    badv = vals.copy()
    badv[0] = np.nan
    with pytest.raises(ValueError, match="pvals"):
        bh(Y, indptr, indices, badv)
    with pytest.raises(TypeError, match="int64"):
        bh(Y, indptr.astype(np.int32), indices, vals)


def test_without_a_device_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    Y, P = _problem(5, 9)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C._tsne_gradient_exact_cuda(Y, P)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C._tsne_gradient_bh_cuda(Y, *ref64.dense_to_csr(P))
    # The device-pointer entries: the device guard refuses device 0 before any pointer is used
    # (CUDA build: "device 0 out of range (0 CUDA devices)", raised as ValueError by LF_CHECK;
    # CPU-only build: RuntimeError "built without CUDA").
    msg = r"out of range \(0 CUDA devices\)|built without CUDA"
    with pytest.raises((RuntimeError, ValueError), match=msg):
        _C.device.tsne_gradient_exact(0, 0, 0, 0, 0, 0, 5, 1.0)
    with pytest.raises((RuntimeError, ValueError), match=msg):
        _C.device.tsne_gradient_bh(0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0.5, 1.0)
