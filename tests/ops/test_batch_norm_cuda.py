"""The CUDA batch-norm kernels (csrc/ops/batch_norm_cuda.cuh) against the CPU kernels and
float64, at every launch configuration (256 and 64 threads per block).

``TestEmulated`` runs the kernel source on the CPU through the emulator (module
``latentforge._emu``) under every schedule: the deterministic ones, where a missing
``__syncthreads()`` or a read of stale (poisoned) shared memory fails every time, and the
concurrent one. ``TestDevice`` runs the same cases on a real GPU and is skipped without one.
Shapes are small and odd: channels of 1 to 300 values (fewer values than threads, and more),
(N, C) and (N, C, H, W) layouts.
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu
from latentforge.testing import (
    BATCH_NORM_GRAD_TOL,
    RTOL_F32,
    assert_close,
    assert_normwise_close,
)

CONFIGS = list(range(_emu.batch_norm_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
SHAPES = [(2, 3), (7, 5), (3, 2, 1, 1), (3, 5, 3, 7), (5, 3, 6, 10)]


def _data(shape, seed, offset=0.5):
    rng = np.random.default_rng([seed, *shape])
    x = (offset + 2.0 * rng.standard_normal(shape)).astype(np.float32)
    c = shape[1]
    return (rng, x, rng.uniform(0.5, 1.5, c).astype(np.float32),
            rng.standard_normal(c).astype(np.float32))


def _sid(s):
    return "x".join(map(str, s))


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        kw = dict(schedule=name, seed=seed)
        self.forward_train = functools.partial(_emu.batch_norm_forward_train_cuda, **kw)
        self.backward = functools.partial(_emu.batch_norm_backward_cuda, **kw)
        self.forward_eval = functools.partial(_emu.batch_norm_forward_eval_cuda, **kw)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("shape", SHAPES, ids=_sid)
    def test_training_matches_cpu(self, config, shape):
        rng, x, gamma, beta = _data(shape, 1)
        c = shape[1]
        rm0, rv0 = rng.standard_normal(c).astype(np.float32), np.ones(c, np.float32)
        rm, rv = rm0.copy(), rv0.copy()
        y, mean, invstd = self.forward_train(x, gamma, beta, rm, rv, 0.3, 1e-4, config=config)
        crm, crv = rm0.copy(), rv0.copy()
        cy, cmean, cinv = _C.batch_norm_forward_train(x, gamma, beta, crm, crv, 0.3, 1e-4,
                                                      naive=True)
        ry = ref64.batch_norm_train(x, gamma, beta, 1e-4)[0]
        assert_close(y, ry, rtol=RTOL_F32, atol=4 * RTOL_F32)
        for ours, cpu in ((mean, cmean), (invstd, cinv), (rm, crm), (rv, crv)):
            assert_close(ours, cpu, rtol=RTOL_F32, atol=RTOL_F32)
        dy = rng.standard_normal(shape).astype(np.float32)
        got = self.backward(dy, x, mean, invstd, gamma, True, config=config)
        want = _C.batch_norm_backward_train(dy, x, mean, invstd, gamma, naive=True)
        scale = np.abs(gamma).max() * np.abs(invstd).max() * np.abs(dy).max()
        assert_close(got[0], want[0], rtol=0.0, atol=BATCH_NORM_GRAD_TOL * 4 * scale)
        for g, w in zip(got[1:], want[1:]):
            assert_normwise_close(g, w, BATCH_NORM_GRAD_TOL)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("shape", [(1, 4), (3, 5, 3, 7)], ids=_sid)
    def test_eval_matches_cpu(self, config, shape):
        rng, x, gamma, beta = _data(shape, 2)
        c = shape[1]
        mean = rng.standard_normal(c).astype(np.float32)
        var = rng.uniform(0.3, 2.0, c).astype(np.float32)
        y = self.forward_eval(x, gamma, beta, mean, var, 1e-3, config=config)
        assert_close(y, ref64.batch_norm_eval(x, gamma, beta, mean, var, 1e-3), rtol=RTOL_F32,
                     atol=4 * RTOL_F32)
        invstd = _C.batch_norm_invstd(var, 1e-3)
        dy = rng.standard_normal(shape).astype(np.float32)
        got = self.backward(dy, x, mean, invstd, None, False, config=config)
        want = _C.batch_norm_backward_eval(dy, x, mean, invstd, None)
        np.testing.assert_array_equal(got[0], want[0])  # one float32 product per element
        for g, w in zip(got[1:], want[1:]):
            assert_normwise_close(g, w, BATCH_NORM_GRAD_TOL)

    def test_no_affine_and_no_running(self):
        _, x, _, _ = _data((4, 3, 2, 5), 3)
        y, mean, invstd = self.forward_train(x, None, None, None, None, 0.1, 1e-5, config=1)
        cy = _C.batch_norm_forward_train(x, None, None, None, None, 0.1, 1e-5, naive=True)[0]
        assert_close(y, cy, rtol=RTOL_F32, atol=4 * RTOL_F32)

    def test_argument_errors(self):
        x = np.ones((4, 3), np.float32)
        with pytest.raises(ValueError, match="config"):
            self.forward_train(x, None, None, None, None, 0.1, 1e-5, config=len(CONFIGS))
        with pytest.raises(ValueError, match="expected more than 1 value per channel"):
            self.forward_train(x[:1], None, None, None, None, 0.1, 1e-5)
        with pytest.raises(TypeError, match="x must be a float32"):
            self.forward_eval(x.astype(np.float64), None, None, x[0], x[0], 1e-5)
        with pytest.raises(ValueError, match="momentum"):
            self.forward_train(x, None, None, None, None, -0.5, 1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.forward_train = _C._batch_norm_forward_train_cuda
        self.backward = _C._batch_norm_backward_cuda
        self.forward_eval = _C._batch_norm_forward_eval_cuda


@pytest.mark.parametrize("config", CONFIGS)
def test_emulated_schedules_agree_bitwise(config):
    # The block reduction adds the partials in a fixed tree: the same bits whatever the order of
    # the threads and blocks.
    rng, x, gamma, beta = _data((6, 5, 7, 9), 4, offset=100.0)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    runs = [*SCHEDULES, ("shuffled", 2), ("shuffled", 2**63 + 5)]
    outs = []
    for name, seed in runs:
        rm, rv = np.zeros(5, np.float32), np.ones(5, np.float32)
        y, mean, invstd = _emu.batch_norm_forward_train_cuda(x, gamma, beta, rm, rv, 0.1, 1e-5,
                                                             config, name, seed)
        grads = _emu.batch_norm_backward_cuda(dy, x, mean, invstd, gamma, True, config, name, seed)
        outs.append([y, mean, invstd, rm, rv, *grads])
    for (name, seed), out in zip(runs, outs):
        for k, (a, b) in enumerate(zip(out, outs[0])):
            np.testing.assert_array_equal(a, b, err_msg=f"{name} seed {seed} output {k}")


def test_cuda_entry_points_without_cuda():
    x = np.ones((4, 3), np.float32)
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    match = "CUDA error" if _C.cuda_compiled() else "built without CUDA"
    with pytest.raises(RuntimeError, match=match):
        _C._batch_norm_forward_train_cuda(x, None, None, None, None, 0.1, 1e-5)
    with pytest.raises(RuntimeError, match=match):
        _C._batch_norm_forward_eval_cuda(x, None, None, x[0], x[0], 1e-5)
    with pytest.raises(RuntimeError, match=match):
        _C._batch_norm_backward_cuda(x, x, x[0], x[0], None, True)
