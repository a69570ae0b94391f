"""The CUDA locally connected kernels (csrc/ops/locally_connected2d_cuda.cuh) against the CPU
kernels.

``TestEmulated`` runs the kernel source on the CPU through the emulator (module
``latentforge._emu``) under every schedule and block size; ``TestDevice`` runs the same cases on
a real GPU through ``_C._locally_connected2d_cuda`` and is skipped without one. The kernels are
one thread per output with a float32 sum in a fixed order, so they are compared with the CPU's
naive reference (double sums) within the dot-product bound, and with each other bit for bit
across schedules.
"""

import numpy as np
import pytest

from latentforge import _C, _emu
from latentforge.testing import assert_dot_close

CONFIGS = list(range(_emu.locally_connected2d_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
# (N, C_in, H, W, C_out, kh, kw, stride): small odd shapes (the concurrent schedule runs an OS
# thread per CUDA thread), ragged last blocks, stride 2 and 3, 1x1, kernel == input, C_in = 1,
# rectangular kernels.
SHAPES = [
    (2, 3, 5, 7, 3, 3, 3, (1, 1)),
    (1, 2, 9, 7, 2, 3, 2, (2, 3)),
    (3, 1, 4, 4, 2, 1, 1, (1, 1)),
    (2, 2, 3, 4, 3, 3, 4, (1, 1)),
    (2, 1, 7, 5, 4, 4, 3, (3, 2)),
]


def _ids(s):
    return "N{}c{}x{}x{}o{}k{}x{}s{}{}".format(*s[:7], *s[7])


def _data(shape):
    N, C_in, H, W, C_out, kh, kw, stride = shape
    OH, OW = (H - kh) // stride[0] + 1, (W - kw) // stride[1] + 1
    rng = np.random.default_rng([N, C_in, H, W, C_out, kh, kw, *stride])
    x = rng.uniform(-1, 1, (N, C_in, H, W)).astype(np.float32)
    w = rng.uniform(-1, 1, (OH, OW, C_out, C_in, kh, kw)).astype(np.float32)
    b = rng.uniform(-1, 1, (C_out, OH, OW)).astype(np.float32)
    dy = rng.uniform(-1, 1, (N, C_out, OH, OW)).astype(np.float32)
    return x, w, b, dy


def _run_emulated(shape, config, schedule, seed):
    x, w, b, dy = _data(shape)
    s = shape[7]
    kw = dict(config=config, schedule=schedule, seed=seed)
    y = _emu.locally_connected2d_forward_cuda(x, w, b, s, **kw)
    dx = _emu.locally_connected2d_backward_data_cuda(dy, w, x.shape[2:], s, **kw)
    dw, db = _emu.locally_connected2d_backward_weights_cuda(dy, x, w.shape[4:], s, **kw)
    return y, dx, dw, db


def _run_device(shape, config, schedule, seed):
    x, w, b, dy = _data(shape)
    s = shape[7]
    y = _C._locally_connected2d_cuda(0, x, w, b, stride=s)
    dx = _C._locally_connected2d_cuda(1, dy, w, hw=x.shape[2:], stride=s)
    dw, db = _C._locally_connected2d_cuda(2, dy, x, hw=w.shape[4:], stride=s)
    return y, dx, dw, db


class TestEmulated:
    run = staticmethod(_run_emulated)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("sched", SCHEDULES, ids=lambda r: f"{r[0]}{r[1]}")
    @pytest.mark.parametrize("shape", SHAPES, ids=_ids)
    def test_matches_cpu(self, shape, sched, config):
        x, w, b, dy = _data(shape)
        s = shape[7]
        y, dx, dw, db = self.run(shape, config, *sched)
        fwd, bwd_data = _C.locally_connected2d_forward, _C.locally_connected2d_backward_data
        bwd_w = _C.locally_connected2d_backward_weights
        hw, khw = x.shape[2:], w.shape[4:]
        abs_y = fwd(np.abs(x), np.abs(w), np.abs(b), s, naive=True)
        assert_dot_close(y, fwd(x, w, b, s, naive=True), abs_y)
        abs_dx = bwd_data(np.abs(dy), np.abs(w), hw, s, naive=True)
        assert_dot_close(dx, bwd_data(dy, w, hw, s, naive=True), abs_dx)
        rw, rb = bwd_w(dy, x, khw, s, naive=True)
        aw, ab = bwd_w(np.abs(dy), np.abs(x), khw, s, naive=True)
        assert_dot_close(dw, rw, aw)
        assert_dot_close(db, rb, ab)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    run = staticmethod(_run_device)


@pytest.mark.parametrize("shape", SHAPES[:2], ids=_ids)
def test_emulated_schedules_agree_bitwise(shape):
    # Every output is one thread's fixed-order sum: the same bits whatever the schedule or block.
    base = [a.tobytes() for a in _run_emulated(shape, 0, "forward", 0)]
    for config in CONFIGS:
        for name, seed in SCHEDULES:
            got = [a.tobytes() for a in _run_emulated(shape, config, name, seed)]
            assert got == base, (config, name, seed)


def test_emulated_argument_errors():
    x = np.ones((1, 2, 4, 4), np.float32)
    w = np.ones((2, 2, 3, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="config"):
        _emu.locally_connected2d_forward_cuda(x, w, config=len(CONFIGS))
    with pytest.raises(ValueError, match="larger than the input"):
        _emu.locally_connected2d_forward_cuda(x, np.ones((1, 1, 3, 2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="stride"):
        _emu.locally_connected2d_backward_data_cuda(np.ones((1, 3, 2, 2), np.float32), w,
                                                    (4, 4), (0, 1))
    with pytest.raises(TypeError):
        _emu.locally_connected2d_backward_weights_cuda(np.ones((1, 3, 2, 2)), x, (3, 3))


@pytest.mark.skipif(_C.cuda_device_count() > 0, reason="a CUDA device exists")
def test_device_entry_raises_without_device():
    x = np.ones((1, 2, 4, 4), np.float32)
    with pytest.raises(RuntimeError):
        _C._locally_connected2d_cuda(0, x, np.ones((2, 2, 3, 2, 3, 3), np.float32))
