"""The CUDA row-wise top-k kernels (csrc/ops/topk_cuda.cuh) against the CPU kernel, at every
launch configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (``latentforge._emu``)
under every schedule (forward, reversed, shuffled, concurrent). The kernel is an exact radix
select of the CPU kernel's unique 64-bit keys (value descending, then the lower column), so the
kept set, y and the mask equal ``_C.topk_rows`` (and its naive full-sort reference) bit for bit:
odd column counts (1, 7, 33, 257, and 1000 > the block size), k = 1 .. cols, heavy ties, +0 / -0
(tie, lower index first), +-inf. The backward equals ``_C.topk_rows_backward`` bit for bit.

NaN (the CPU kernel raises before writing): the device cannot raise, so a row holding a NaN is
written as zeros with mask 0 and sets the NaN flag; the other rows are unaffected. The host
entry ``_C._topk_rows_cuda`` reads the flag and raises ValueError like the CPU kernel.

``TestDevice`` runs the same comparisons on a GPU through ``_C._topk_rows_cuda`` (skipped without
one). Config 1 (32 threads, at most 3 blocks; backward 96 threads, at most 5 blocks) makes blocks
take several rows and threads many columns.
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu

CONFIGS = list(range(_emu.topk_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
COLS = [1, 7, 33, 257]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _ks(cols):
    return sorted({1, 2, cols // 2, cols - 1, cols} & set(range(1, cols + 1)))


def _tied_input(rows, cols, seed):
    """Small integers (many ties), with +0 / -0 and +-inf mixed in."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(rows, cols)).astype(np.float32)
    x[x == 0] = np.where(rng.random(int((x == 0).sum())) < 0.5, 0.0, -0.0)
    if cols >= 4:
        x[0, :4] = [np.inf, -np.inf, -0.0, np.inf]
    if rows > 1:
        x[1] = 3.0  # a constant row: the lowest k columns win
    return x


def _assert_equals_cpu(y, mask, x, k):
    yc, mc = _C.topk_rows(x, k)
    np.testing.assert_array_equal(mask, mc)
    np.testing.assert_array_equal(y.view(np.uint32), yc.view(np.uint32))
    np.testing.assert_array_equal(mask, ref64.topk_mask(x, k))
    _, mn = _C.topk_rows(x, k, naive=True)
    np.testing.assert_array_equal(mask, mn)


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.schedule = name
        fwd = functools.partial(_emu.topk_rows_cuda, schedule=name, seed=seed)

        def run(x, k, config=0):
            y, mask, flag = fwd(x, k, config=config)
            assert flag == 0
            return y, mask

        self.run = run
        self.run_flagged = fwd
        self.backward = functools.partial(_emu.topk_rows_backward_cuda, schedule=name, seed=seed)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("cols", COLS)
    def test_matches_cpu_with_ties(self, cols, config):
        rows = 2 if self.schedule == "concurrent" else 4
        x = _tied_input(rows, cols, cols + config)
        for k in _ks(cols):
            y, mask = self.run(x, k, config)
            assert y.dtype == np.float32 and mask.dtype == np.uint8 and y.shape == x.shape
            _assert_equals_cpu(y, mask, x, k)
            assert (mask.sum(axis=1) == k).all()

    @pytest.mark.parametrize("config", CONFIGS)
    def test_distinct_values_wider_than_a_block(self, config):
        """Gaussian rows of 1000 columns (> 256 threads): the select stops after the value bytes."""
        x = np.random.default_rng(config).standard_normal((2, 1000)).astype(np.float32)
        for k in (1, 37, 999):
            y, mask = self.run(x, k, config)
            _assert_equals_cpu(y, mask, x, k)

    @pytest.mark.parametrize("config", CONFIGS)
    def test_backward_matches_cpu(self, config):
        rng = np.random.default_rng(7)
        x = _tied_input(5, 33, 3)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        dy[0, 0] = np.nan  # passed through where kept, like the CPU kernel
        _, mask = _C.topk_rows(x, 5)
        dx = self.backward(dy, mask, config=config)
        np.testing.assert_array_equal(dx.view(np.uint32),
                                      _C.topk_rows_backward(dy, mask).view(np.uint32))

    def test_nan_rows_are_zeroed_and_flagged(self):
        x = _tied_input(4, 7, 11)
        x[1, 3] = np.nan
        x[3, :] = np.nan
        for config in CONFIGS:
            y, mask, flag = self.run_flagged(x, 3, config=config)
            assert flag == 1
            for r in (1, 3):
                assert not mask[r].any() and not y[r].any()
            for r in (0, 2):
                yc, mc = _C.topk_rows(x[r:r + 1], 3)
                np.testing.assert_array_equal(mask[r:r + 1], mc)
                np.testing.assert_array_equal(y[r:r + 1].view(np.uint32), yc.view(np.uint32))
        y, mask, flag = self.run_flagged(np.full((1, 5), np.nan, np.float32), 5)
        assert flag == 1 and not mask.any() and not y.any()

    def test_empty_and_errors(self):
        y, mask, flag = self.run_flagged(np.zeros((0, 5), np.float32), 2)
        assert y.shape == (0, 5) and mask.shape == (0, 5) and flag == 0  # cleared, no rows
        with pytest.raises(ValueError, match="k must"):  # as _C.topk_rows: no k fits 0 columns
            self.run(np.zeros((3, 0), np.float32), 1)
        e, em = np.zeros((3, 0), np.float32), np.zeros((3, 0), np.uint8)
        assert _C.topk_rows_backward(e, em).shape == (3, 0) == self.backward(e, em).shape
        x = np.ones((2, 3), np.float32)
        for k in (0, 4, -1):
            with pytest.raises(ValueError, match="k must"):
                self.run(x, k)
        with pytest.raises(ValueError, match="config"):
            self.run(x, 1, config=len(CONFIGS))
        with pytest.raises(TypeError, match="float32"):
            self.run(x.astype(np.float64), 1)
        with pytest.raises(ValueError, match="2-D"):
            self.run(np.ones(3, np.float32), 1)
        with pytest.raises(ValueError, match="same shape"):
            self.backward(x, np.ones((3, 2), np.uint8))
        with pytest.raises(TypeError, match="mask"):
            self.backward(x, np.ones((2, 3), bool))


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice:
    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("cols", COLS + [1000, 4099])
    def test_matches_cpu(self, cols, config):
        x = _tied_input(300, cols, cols)
        for k in _ks(cols):
            y, mask = _C._topk_rows_cuda(x, k, config=config)
            _assert_equals_cpu(y, mask, x, k)
        xg = np.random.default_rng(cols).standard_normal((50, cols)).astype(np.float32)
        for k in _ks(cols):
            y, mask = _C._topk_rows_cuda(xg, k, config=config)
            _assert_equals_cpu(y, mask, xg, k)
        dy = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
        _, mask = _C.topk_rows(x, _ks(cols)[-1])
        np.testing.assert_array_equal(_C._topk_rows_backward_cuda(dy, mask, config=config),
                                      _C.topk_rows_backward(dy, mask))

    def test_nan_raises(self):
        x = np.ones((3, 4), np.float32)
        x[2, 1] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            _C._topk_rows_cuda(x, 2)
        y, mask = _C._topk_rows_cuda(np.ones((3, 4), np.float32), 2)  # the flag starts clear
        assert (mask.sum(axis=1) == 2).all()


def test_without_cuda_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError):
        _C._topk_rows_cuda(np.ones((2, 3), np.float32), 1)
    with pytest.raises(RuntimeError):
        _C._topk_rows_backward_cuda(np.ones((2, 3), np.float32), np.ones((2, 3), np.uint8))
    # The device-pointer entries: the device guard refuses before anything is dereferenced.
    # CUDA build without a device: the device guard's ValueError; CPU-only build: the stubs'.
    err, msg = ((ValueError, r"device 0 out of range \(0 CUDA devices\)") if _C.cuda_compiled()
                else (RuntimeError, "built without CUDA"))
    with pytest.raises(err, match=msg):
        _C.device.topk_rows(0, 1, 0, 0, 0, 0, 2, 3, 1)
    with pytest.raises(err, match=msg):
        _C.device.topk_rows_backward(0, 1, 0, 0, 0, 2, 3)
