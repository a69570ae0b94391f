"""The CUDA local contrast normalisation kernels (csrc/ops/local_contrast_norm2d_cuda.cuh) against
the CPU kernels, at every launch configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (module
``latentforge._emu``) under every schedule (forward, reversed, shuffled, concurrent). Each
per-position kernel does the CPU kernel's float32 operations in its order, so mean and sigma equal
the CPU's bit for bit; c and gc are double block reductions in another order than the CPU's row
order, so y, c and dx may differ in the last bits (checked normwise within ``LCN_CUDA_TOL``).
``TestDevice`` runs the same cases on a real GPU (skipped without one), where nvcc also contracts
multiply-adds into FMAs: there mean and sigma are compared within the same bound. Shapes are small
and odd (one OS thread per CUDA thread in the concurrent schedule); config 1 (96 threads, at most
5 blocks; reduction blocks of 64, at most 3) makes the grid-stride loops take several rounds.
"""

import functools

import numpy as np
import pytest

from latentforge import _C, _emu
from latentforge.testing import LCN_CUDA_TOL, assert_normwise_close

CONFIGS = list(range(_emu.local_contrast_norm2d_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
EPS = 1e-4
# (N, C, H, W), size, sigma
CASES = [
    ((2, 3, 7, 9), 5, 1.25),
    ((1, 1, 5, 4), 7, 1.75),
    ((4, 2, 6, 5), 3, 0.9),
    ((2, 1, 1, 1), 5, 1.25),
    ((1, 4, 11, 13), 1, 0.25),
]


def _cid(c):
    return "x".join(map(str, c[0])) + f"-k{c[1]}"


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


class TestEmulated:
    exact_statistics = True

    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.fwd = functools.partial(_emu.local_contrast_norm2d_cuda_forward, schedule=name,
                                     seed=seed)
        self.bwd = functools.partial(_emu.local_contrast_norm2d_cuda_backward, schedule=name,
                                     seed=seed)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("case", CASES, ids=_cid)
    def test_matches_cpu(self, case, config):
        shape, size, sigma = case
        rng = np.random.default_rng(sum(shape) * 13 + size)
        x = rng.standard_normal(shape).astype(np.float32)
        x[0, :, :2, :2] = 0.5  # a flat patch
        dy = rng.standard_normal(shape).astype(np.float32)
        y, m, s, c = _C.local_contrast_norm2d_forward(x, size, sigma, EPS)
        dx = _C.local_contrast_norm2d_backward(dy, x, m, s, c, size, sigma, EPS)
        yg, mg, sg, cg = self.fwd(x, size, sigma, EPS, config=config)
        if self.exact_statistics:
            np.testing.assert_array_equal(mg, m)
            np.testing.assert_array_equal(sg, s)
        else:
            assert_normwise_close(mg, m, LCN_CUDA_TOL)
            assert_normwise_close(sg, s, LCN_CUDA_TOL)
        assert_normwise_close(cg, c, LCN_CUDA_TOL)
        assert_normwise_close(yg, y, LCN_CUDA_TOL)
        # The backward from the CPU's saved statistics, so that only the kernels differ.
        dxg = self.bwd(dy, x, m, s, c, size, sigma, EPS, config=config)
        assert_normwise_close(dxg, dx, LCN_CUDA_TOL)

    @pytest.mark.parametrize("config", CONFIGS)
    def test_constant_sample_and_empty_batch(self, config):
        x = np.full((2, 3, 5, 6), 0.7, np.float32)
        x[1] = np.random.default_rng(2).standard_normal((3, 5, 6))
        y, m, s, c = self.fwd(x, 5, 1.25, EPS, config=config)
        np.testing.assert_array_equal(y[0], 0.0)
        np.testing.assert_array_equal(c[0], 0.0)
        empty = np.zeros((0, 2, 4, 4), np.float32)
        y, m, s, c = self.fwd(empty, 3, 1.0, EPS, config=config)
        assert y.shape == empty.shape and m.shape == (0, 4, 4) and c.shape == (0,)
        assert self.bwd(y, empty, m, s, c, 3, 1.0, EPS, config=config).shape == empty.shape

    def test_argument_errors(self):
        x = np.zeros((1, 1, 4, 4), np.float32)
        with pytest.raises(ValueError, match="config"):
            self.fwd(x, 3, 1.0, EPS, config=len(CONFIGS))
        with pytest.raises(ValueError, match="size"):
            self.fwd(x, 4, 1.0, EPS)
        with pytest.raises(ValueError, match="radius"):  # the taps travel in kernel arguments
            self.fwd(np.zeros((1, 1, 200, 3), np.float32), 201, 50.0, EPS)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    exact_statistics = False

    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.fwd = _C._local_contrast_norm2d_cuda_forward
        self.bwd = _C._local_contrast_norm2d_cuda_backward


def test_without_cuda_the_device_entry_raises():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(RuntimeError):
        _C._local_contrast_norm2d_cuda_forward(x, 3, 1.0, EPS)
