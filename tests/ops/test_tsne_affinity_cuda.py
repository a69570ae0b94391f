"""The CUDA t-SNE perplexity calibration (csrc/ops/tsne_affinity_cuda.cuh: one thread per row,
the CPU's bisection) against the CPU kernel ``_C.tsne_perplexity``, at every launch
configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (``latentforge._emu``)
under every schedule (forward, reversed, shuffled, concurrent). The kernel repeats the CPU's
per-row loop operation for operation in double (the same shift, start, bisection steps and stopping
rule; log(perplexity) computed on the host), so the emulated P and beta equal the CPU's bit for
bit (the emulator uses the host's libm and no FMA, like the CPU kernel). ``TestDevice`` runs the
same cases through ``_C._tsne_perplexity_cuda`` on a GPU (skipped without one): the launcher is
compiled with -fmad=false, but CUDA's exp and log are within 1 ulp instead of glibc's, so P and
beta are checked within ``TSNE_PERPLEXITY_CUDA_TOL`` (not yet measured on a device).

Shapes: rows 1, 2, 7, 33 (one ragged block at config 0; at config 1, blocks of 8 threads and at
most 2 blocks, so 33 rows take three grid-stride rounds), k 1, 5, 31, perplexities near both
limits (just above 0, where the target is unreachable and the bisection runs to max_iter; just
below and at k, where P is uniform) and in between; rows of equal distances, of zeros, with a
zero nearest distance, with ties, and at scales 1e-6 to 1e6.
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu
from latentforge.testing import (
    ATOL_ACT,
    PERPLEXITY_P_RTOL,
    PROB_SUM_ATOL,
    TSNE_PERPLEXITY_CUDA_TOL,
    assert_close,
)

CONFIGS = list(range(_emu.tsne_perplexity_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 3), ("concurrent", 0)]
ROWS = [1, 2, 7, 33]
KS = [1, 5, 31]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _perplexities(k):
    """Near the lower limit (unreachable below 1: H >= 0), in between, and near / at k."""
    ps = [0.05, 1.0 + 1e-6, max(k / 3, 0.5), k - 1e-3, float(k)]
    return sorted({p for p in ps if 0 < p <= k})


def _distances(rows, k, seed):
    """Random squared distances (sorted, and not) plus the awkward rows, cycled over the rows."""
    rng = np.random.default_rng(seed)
    D = np.sort(rng.random((rows, k)) * 4.0, axis=1)
    D[1::3] = rng.random((len(D[1::3]), k)) * 7.0  # unsorted
    special = [
        np.full(k, 2.5),  # all equal: uniform, beta = 0
        np.zeros(k),  # all zero (duplicates)
        np.concatenate([[0.0], np.sort(rng.random(k - 1)) + 0.5]),  # a zero nearest distance
        np.concatenate([np.zeros(min(3, k)), np.arange(1, k - min(3, k) + 1.0)]),  # ties
        np.sort(rng.random(k)) * 1e6,  # large scale
        np.sort(rng.random(k)) * 1e-6 + 3.0,  # tiny spread on an offset
    ]
    for r in range(2, rows, 2):
        D[r] = special[(r // 2 - 1) % len(special)]
    return D.astype(np.float32)


class TestEmulated:
    #: The emulated kernel matches the CPU bit for bit; a device is checked within a tolerance.
    bitwise = True

    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernel(self, request):
        name, seed = request.param
        self.run = functools.partial(_emu.tsne_perplexity_cuda, schedule=name, seed=seed)

    def _check(self, got, ref):
        P, beta = got
        Pr, br = ref
        assert P.dtype == np.float32 and P.shape == Pr.shape
        assert beta.dtype == np.float32 and beta.shape == br.shape
        if self.bitwise:
            np.testing.assert_array_equal(P, Pr)
            np.testing.assert_array_equal(beta, br)
        else:
            assert_close(P, Pr, rtol=TSNE_PERPLEXITY_CUDA_TOL, atol=ATOL_ACT)
            assert_close(beta, br, rtol=TSNE_PERPLEXITY_CUDA_TOL, atol=0)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("k", KS)
    @pytest.mark.parametrize("rows", ROWS)
    def test_matches_cpu(self, rows, k, config):
        D = _distances(rows, k, 10 * rows + k)
        for perplexity in _perplexities(k):
            ref = _C.tsne_perplexity(D, perplexity)
            self._check(self.run(D, perplexity, config=config), ref)

    @pytest.mark.parametrize("tol,max_iter", [(1e-5, 1), (1e-5, 3), (1e-12, 200), (0.5, 200),
                                              (1e-9, 1000)])
    def test_tol_and_max_iter(self, tol, max_iter):
        D = _distances(33, 31, 5)
        for perplexity in (0.05, 10.0, 30.9):
            ref = _C.tsne_perplexity(D, perplexity, tol=tol, max_iter=max_iter)
            self._check(self.run(D, perplexity, tol=tol, max_iter=max_iter, config=1), ref)

    def test_degenerate_rows(self):
        """Equal and zero rows give uniform P and beta = 0; more ties than the perplexity still
        give finite rows summing to 1 (beta doubles up to max_iter times there and, as the CPU
        kernel's, overflows float32 to +inf)."""
        D = np.zeros((4, 6), np.float32)
        D[1] = 2.5
        D[2] = [0, 0, 0, 1, 2, 3]
        D[3] = [7, 7, 7, 7, 7, 8]
        P, beta = self.run(D, 2.0, config=1)
        self._check((P, beta), _C.tsne_perplexity(D, 2.0))
        assert np.isfinite(P).all()
        assert_close(P.astype(np.float64).sum(axis=1), np.ones(4), rtol=0, atol=PROB_SUM_ATOL)
        np.testing.assert_array_equal(P[:2], np.float32(1 / 6))
        np.testing.assert_array_equal(beta[:2], 0)

    def test_empty(self):
        P, beta = self.run(np.zeros((0, 5), np.float32), 2.0)
        assert P.shape == (0, 5) and beta.shape == (0,)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    bitwise = False

    @pytest.fixture(autouse=True)
    def _kernel(self):
        self.run = _C._tsne_perplexity_cuda


# ---- properties that hold whatever the schedule: checked under the forward one


def test_matches_the_float64_reference():
    """Not only the CPU kernel: the emulated calibration against the float64 bisection of
    tests/reference."""
    D = np.sort(np.random.default_rng(2).random((19, 12)) * 3.0, axis=1).astype(np.float32)
    P, _ = _emu.tsne_perplexity_cuda(D, 4.0, tol=1e-9, config=1)
    assert_close(P, ref64.perplexity_calibration(D, 4.0), rtol=PERPLEXITY_P_RTOL, atol=ATOL_ACT)


def test_every_element_written():
    """The emulator starts P and beta at -1e30: every row must be written, at every config."""
    D = _distances(33, 5, 1)
    for config in CONFIGS:
        P, beta = _emu.tsne_perplexity_cuda(D, 2.0, config=config)
        assert np.all(P >= 0) and np.all(beta >= 0)


def test_bad_arguments():
    D = _distances(4, 6, 3)
    run = _emu.tsne_perplexity_cuda
    with pytest.raises(ValueError, match="config"):
        run(D, 2.0, config=len(CONFIGS))
    with pytest.raises(ValueError, match="config"):
        run(D, 2.0, config=-1)
    with pytest.raises(ValueError, match="exceed"):
        run(D, 7.0)
    with pytest.raises(ValueError, match="perplexity"):
        run(D, 0.0)
    with pytest.raises(ValueError, match="perplexity"):
        run(D, float("nan"))
    with pytest.raises(ValueError, match="tol"):
        run(D, 2.0, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        run(D, 2.0, max_iter=0)
    bad = D.copy()
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match="row 2"):
        run(bad, 2.0)
    with pytest.raises(TypeError, match="float32"):
        run(D.astype(np.float64), 2.0)
    with pytest.raises(ValueError, match="2-D"):
        run(D[0], 2.0)
    with pytest.raises(ValueError, match="contiguous"):
        run(np.asfortranarray(D), 2.0)
    with pytest.raises(ValueError, match="k >= 1"):
        run(np.zeros((3, 0), np.float32), 1.0)
    with pytest.raises(ValueError, match="schedule"):
        run(D, 2.0, schedule="sideways")


def test_without_a_device_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    D = _distances(4, 6, 4)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C._tsne_perplexity_cuda(D, 2.0)
    # The device-pointer entry: the device guard refuses device 0 before any pointer is used
    # (CUDA build: "device 0 out of range (0 CUDA devices)", raised as ValueError by LF_CHECK;
    # CPU-only build: RuntimeError "built without CUDA").
    msg = r"out of range \(0 CUDA devices\)|built without CUDA"
    with pytest.raises((RuntimeError, ValueError), match=msg):
        _C.device.tsne_perplexity(0, 0, 0, 0, 0, 4, 6, 2.0, 1e-5, 200)
