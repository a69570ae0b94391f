"""The CUDA pooling kernels (csrc/ops/pool2d_cuda.cuh) against the CPU kernels, at every launch
configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (module
``latentforge._emu``) under every schedule (forward, reversed, shuffled, concurrent): forward is
one thread per output, backward one thread per input element gathering from the outputs whose
windows cover it, in the CPU's order, so every result equals the CPU kernel's bit for bit.
``TestDevice`` runs the same cases on a real GPU (skipped without one); there nvcc may contract
the L2 backward's multiply-add, so that one is compared within the float32 reduction bound.
Shapes are small and odd (one OS thread per CUDA thread in the concurrent schedule); config 1
(96 threads, at most 5 blocks) makes the grid-stride loops take several rounds.
"""

import functools

import numpy as np
import pytest

from latentforge import _C, _emu
from latentforge.testing import RTOL_F32, assert_close, dot_atol

CONFIGS = list(range(_emu.pool2d_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
# (N, C, H, W), kernel, stride, padding
CASES = [
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0)),
    ((1, 2, 11, 13), (3, 3), (2, 2), (1, 1)),
    ((2, 1, 5, 7), (3, 2), (1, 3), (1, 1)),
    ((1, 2, 6, 5), (5, 5), (3, 3), (2, 2)),
    ((1, 1, 3, 4), (1, 1), (2, 1), (0, 0)),
]
MODES = ["max", "avg", "l2"]


def _cid(c):
    return "x".join(map(str, c[0])) + f"-k{c[1][0]}{c[1][1]}s{c[2][0]}{c[2][1]}p{c[3][0]}{c[3][1]}"


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _cpu(mode, x, k, s, p, rng):
    if mode == "max":
        y, a = _C.max_pool2d_forward(x, k, s, p)
    else:
        y, a = getattr(_C, f"{mode}_pool2d_forward")(x, k, s, p), None
    dy = rng.standard_normal(y.shape).astype(np.float32)
    if mode == "max":
        dx = _C.max_pool2d_backward(dy, a, x.shape[2:], k, s, p)
    elif mode == "avg":
        dx = _C.avg_pool2d_backward(dy, x.shape[2:], k, s, p)
    else:
        dx = _C.l2_pool2d_backward(dy, x, y, k, s, p)
    return y, a, dy, dx


class TestEmulated:
    exact_l2_backward = True

    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.fwd = functools.partial(_emu.pool2d_cuda_forward, schedule=name, seed=seed)
        self.bwd = functools.partial(_emu.pool2d_cuda_backward, schedule=name, seed=seed)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("case", CASES, ids=_cid)
    def test_matches_cpu(self, case, mode, config):
        shape, k, s, p = case
        rng = np.random.default_rng(sum(shape) * 13 + k[0])
        x = rng.standard_normal(shape).astype(np.float32)
        x.reshape(-1)[::5] = np.round(x.reshape(-1)[::5])  # ties
        if mode == "l2":
            x[0, 0, :2, :2] = 0  # an all-zero window where the window fits
        y, a, dy, dx = _cpu(mode, x, k, s, p, rng)
        yg, ag = self.fwd(x, mode, k, s, p, config=config)
        np.testing.assert_array_equal(yg, y)
        if mode == "max":
            np.testing.assert_array_equal(ag, a)
        else:
            assert ag is None
        dxg = self.bwd(dy, a, x if mode == "l2" else None, y if mode == "l2" else None,
                       x.shape[2:], mode, k, s, p, config=config)
        if mode != "l2" or self.exact_l2_backward:
            np.testing.assert_array_equal(dxg, dx)
        else:
            terms = np.abs(_C.l2_pool2d_backward(np.abs(dy), np.abs(x), y, k, s, p))
            assert_close(dxg, dx, rtol=RTOL_F32, atol=2 * dot_atol(terms) + 1e-30)

    @pytest.mark.parametrize("config", CONFIGS)
    def test_nan_and_empty_batch(self, config):
        x = np.random.default_rng(1).standard_normal((1, 2, 6, 8)).astype(np.float32)
        x[0, 0, 1, 1] = x[0, 0, 2, 2] = np.nan
        y, a = _C.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
        yg, ag = self.fwd(x, "max", (3, 3), (2, 2), (1, 1), config=config)
        np.testing.assert_array_equal(yg, y)  # NaN positions equal too
        np.testing.assert_array_equal(ag, a)
        empty = np.zeros((0, 2, 6, 8), np.float32)
        yg, ag = self.fwd(empty, "max", (2, 2), (2, 2), (0, 0), config=config)
        assert yg.shape == ag.shape == (0, 2, 3, 4)
        dx = self.bwd(yg, ag, None, None, (6, 8), "max", (2, 2), (2, 2), (0, 0), config=config)
        assert dx.shape == (0, 2, 6, 8)

    def test_argument_errors(self):
        x = np.zeros((1, 1, 4, 4), np.float32)
        with pytest.raises(ValueError, match="config"):
            self.fwd(x, "max", (2, 2), (2, 2), (0, 0), config=len(CONFIGS))
        with pytest.raises(ValueError, match="mode"):
            self.fwd(x, "min", (2, 2), (2, 2), (0, 0))
        with pytest.raises(ValueError, match="padding"):
            self.fwd(x, "avg", (2, 2), (2, 2), (2, 2))
        y, a = _C.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
        with pytest.raises(ValueError, match="argmax holds an index"):
            self.bwd(y, a + 16, None, None, (4, 4), "max", (2, 2), (2, 2), (0, 0))
        with pytest.raises(TypeError, match="argmax"):
            self.bwd(y, None, None, None, (4, 4), "max", (2, 2), (2, 2), (0, 0))


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    exact_l2_backward = False

    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.fwd = _C._pool2d_cuda_forward
        self.bwd = _C._pool2d_cuda_backward


def test_without_cuda_the_device_entry_raises():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(RuntimeError):
        _C._pool2d_cuda_forward(x, "max", (2, 2), (2, 2), (0, 0))
