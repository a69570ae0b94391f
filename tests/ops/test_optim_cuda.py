"""The CUDA optimizer kernels (csrc/ops/optim_cuda.cuh) against the CPU optimizers, at every
launch configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (module
``latentforge._emu``) under every schedule (forward, reversed, shuffled, concurrent). Each update is
the CPU kernel's per-element arithmetic in the same order (no FMA contraction: the emulator is
built by the host compiler, the device file with ``-fmad=false``), with Adam's bias corrections
computed on the host in double as on the CPU, so several steps in a row give the CPU optimizer's
parameters AND state buffers bit for bit (``latentforge.optim`` drives the CPU side). Max-norm over
columns sums each column in the CPU's row order (bitwise); over rows the block sums in a tree, so
the norms may differ in the last double bits (``MAX_NORM_CUDA_RTOL``).
``TestDevice`` runs the same cases on a real GPU through ``_C._optim_cuda_*`` (skipped without
one). Sizes are odd and small (one OS thread per CUDA thread in the concurrent schedule); config 1
(96 threads, at most 5 blocks) makes the grid-stride loops take several rounds.
"""

import functools

import numpy as np
import pytest

from latentforge import _C, _emu, optim
from latentforge.testing import MAX_NORM_CUDA_RTOL, assert_close

CONFIGS = list(range(_emu.optim_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
SIZES = [1, 31, 33, 1000]
STEPS = 4

# (id, optimizer class, its kwargs, the rule of the CUDA entry, its state names, the entry's
# hyperparameters)
RULES = [
    ("sgd", optim.SGD, dict(lr=0.1), "sgd", (), dict(lr=0.1)),
    ("sgd-decay-l1", optim.SGD, dict(lr=0.1, weight_decay=0.01, l1=0.003), "sgd", (),
     dict(lr=0.1, weight_decay=0.01, l1=0.003)),
    ("momentum", optim.SGD, dict(lr=0.05, momentum=0.9), "momentum", ("momentum_buffer",),
     dict(lr=0.05, momentum=0.9)),
    ("nesterov-decay", optim.SGD, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3),
     "nesterov", ("momentum_buffer",), dict(lr=0.05, momentum=0.8, weight_decay=1e-3)),
    ("adagrad-l1", optim.AdaGrad, dict(lr=0.1, eps=1e-10, l1=1e-3), "adagrad", ("sum",),
     dict(lr=0.1, eps=1e-10, l1=1e-3)),
    ("rmsprop", optim.RMSProp, dict(lr=0.01, alpha=0.99, eps=1e-8), "rmsprop", ("square_avg",),
     dict(lr=0.01, alpha=0.99, eps=1e-8)),
    ("rmsprop-momentum-decay", optim.RMSProp,
     dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5, weight_decay=0.01), "rmsprop",
     ("square_avg", "momentum_buffer"),
     dict(lr=0.01, alpha=0.9, eps=1e-6, momentum=0.5, weight_decay=0.01)),
    ("adam", optim.Adam, dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8), "adam",
     ("exp_avg", "exp_avg_sq"), dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)),
    ("adam-decay-l1", optim.Adam, dict(lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1,
                                       l1=1e-4),
     "adam", ("exp_avg", "exp_avg_sq"),
     dict(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, l1=1e-4)),
    ("adadelta", optim.AdaDelta, dict(lr=1.0, rho=0.9, eps=1e-6), "adadelta",
     ("square_avg", "acc_delta"), dict(lr=1.0, rho=0.9, eps=1e-6)),
]


class _P:
    def __init__(self, data):
        self.data, self.grad = data, None


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _run_both(step_fn, rule, n, config, grads):
    """Drive the CPU optimizer and the CUDA kernel from the same start; compare after every step."""
    _, cls, kwargs, name, states, hyper = rule
    rng = np.random.default_rng(n * 7 + len(name))
    p0 = rng.standard_normal(n).astype(np.float32)
    p0[::7] = 0.0  # sign(0) = 0 for L1
    cpu = _P(p0.copy())
    opt = cls([cpu], **kwargs)
    dev = p0.copy()
    dev_states = [np.zeros(n, np.float32) for _ in states]
    for t, g in enumerate(grads, start=1):
        cpu.grad = g
        opt.step()
        extra = {"step": t} if name == "adam" else {}
        step_fn(name, dev, g, *dev_states, **hyper, **extra, config=config)
        np.testing.assert_array_equal(dev, cpu.data, err_msg=f"param after step {t}")
        for s, arr in zip(states, dev_states):
            np.testing.assert_array_equal(arr, opt.state[0][s], err_msg=f"{s} after step {t}")


class TestEmulated:
    exact_rows = False  # the row max-norm sums in a tree: allow the last bits of the norm

    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.step = functools.partial(_emu.optim_cuda_step, schedule=name, seed=seed)
        emu_max_norm = functools.partial(_emu.optim_cuda_max_norm, schedule=name, seed=seed)

        def max_norm(W, c, axis, config):
            count, flags = emu_max_norm(W, c, axis, config)
            if W.size:
                assert set(np.unique(flags)) <= {0, 1}, "a vector's flag was not written"
                assert count == flags.sum()
            return count

        self.max_norm = max_norm

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n", SIZES)
    @pytest.mark.parametrize("rule", RULES, ids=[r[0] for r in RULES])
    def test_steps_match_cpu_optimizer(self, rule, n, config):
        rng = np.random.default_rng(n + config)
        grads = [rng.standard_normal(n).astype(np.float32) for _ in range(STEPS)]
        _run_both(self.step, rule, n, config, grads)

    @pytest.mark.parametrize("rule", RULES, ids=[r[0] for r in RULES])
    def test_nan_and_inf_gradients(self, rule):
        n = 33
        rng = np.random.default_rng(5)
        grads = [rng.standard_normal(n).astype(np.float32) for _ in range(3)]
        grads[0][3] = np.nan
        grads[1][10] = np.inf
        grads[2][20] = -np.inf
        _run_both(self.step, rule, n, 1, grads)

    def test_empty_and_argument_errors(self):
        p, g = np.zeros(0, np.float32), np.zeros(0, np.float32)
        self.step("sgd", p, g, lr=0.1)  # nothing to do, no launch
        p, g = np.ones(5, np.float32), np.ones(5, np.float32)
        with pytest.raises(ValueError, match="config"):
            self.step("sgd", p, g, lr=0.1, config=len(CONFIGS))
        with pytest.raises(ValueError, match="rule"):
            self.step("lion", p, g, lr=0.1)
        with pytest.raises(ValueError, match="lr"):
            self.step("sgd", p, g, lr=-1.0)
        with pytest.raises(ValueError, match="beta1"):
            self.step("adam", p, g, np.zeros(5, np.float32), np.zeros(5, np.float32), lr=0.1,
                      beta1=1.0, beta2=0.9)
        with pytest.raises(ValueError, match="step"):
            self.step("adam", p, g, np.zeros(5, np.float32), np.zeros(5, np.float32), lr=0.1,
                      beta1=0.9, beta2=0.9, step=0)
        with pytest.raises(TypeError, match="momentum_buffer"):
            self.step("momentum", p, g, lr=0.1, momentum=0.9)
        with pytest.raises(ValueError, match="momentum_buffer"):
            self.step("rmsprop", p, g, np.zeros(5, np.float32), lr=0.1, alpha=0.9, momentum=0.5)
        with pytest.raises(ValueError, match="exp_avg_sq must have the shape of param"):
            self.step("adam", p, g, np.zeros(5, np.float32), np.zeros(4, np.float32), lr=0.1,
                      beta1=0.9, beta2=0.9)
        with pytest.raises(ValueError, match="share memory"):
            self.step("adagrad", p, g, p, lr=0.1, eps=1e-8)
        with pytest.raises(ValueError, match="state0 must be None"):
            self.step("sgd", p, g, np.zeros(5, np.float32), lr=0.1)
        with pytest.raises(ValueError, match="max_norm"):
            self.max_norm(np.ones((2, 2), np.float32), 0.0, 1, 0)
        with pytest.raises(ValueError, match="axis"):
            self.max_norm(np.ones((2, 2), np.float32), 1.0, 2, 0)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("axis", [0, 1])
    @pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 1), (2, 1025), (7, 33)])
    def test_max_norm_matches_cpu(self, shape, axis, config):
        rng = np.random.default_rng(sum(shape) + axis)
        W = rng.standard_normal(shape).astype(np.float32)
        W *= rng.uniform(0.2, 2.0, (shape[0], 1) if axis == 1 else (1, shape[1])).astype(
            np.float32)
        if axis == 1 and shape[0] > 2:
            W[1] = 0.0  # a zero vector: norm 0, never rescaled
            W[2, 0] = np.nan  # a NaN norm: not rescaled (as on the CPU)
        if axis == 0 and shape[1] > 2:
            W[:, 1] = 0.0
            W[0, 2] = np.nan
        c = float(np.median(np.sqrt(np.nansum(W.astype(np.float64) ** 2, axis=axis))))
        c = max(c, 1e-3)
        ref = W.copy()
        count_cpu = _C.optim_max_norm(ref, c, axis)
        got = W.copy()
        count = self.max_norm(got, c, axis, config)
        assert count == count_cpu
        if axis == 0 or self.exact_rows:
            np.testing.assert_array_equal(got, ref)
        else:
            assert_close(got, ref, rtol=MAX_NORM_CUDA_RTOL, atol=0.0)

    def test_max_norm_empty(self):
        for shape in [(0, 3), (3, 0)]:
            assert self.max_norm(np.zeros(shape, np.float32), 1.0, 1, 0) == 0
            assert self.max_norm(np.zeros(shape, np.float32), 1.0, 0, 0) == 0


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.step = _C._optim_cuda_step
        self.max_norm = lambda W, c, axis, config: _C._optim_cuda_max_norm(W, c, axis, config)


@pytest.mark.parametrize("rule", [RULES[3], RULES[6], RULES[8], RULES[9]],
                         ids=["nesterov", "rmsprop-momentum", "adam", "adadelta"])
def test_large_n_one_schedule(rule):
    """n = 1000003 (3907 blocks of config 0, a ragged last one) under the forward schedule only."""
    n = 1000003
    rng = np.random.default_rng(11)
    grads = [rng.standard_normal(n).astype(np.float32) for _ in range(2)]
    _run_both(functools.partial(_emu.optim_cuda_step, schedule="forward"), rule, n, 0, grads)


def test_without_cuda_the_device_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    p, g = np.ones(4, np.float32), np.ones(4, np.float32)
    with pytest.raises(RuntimeError):
        _C._optim_cuda_step("sgd", p, g, lr=0.1)
    with pytest.raises(RuntimeError):
        _C._optim_cuda_max_norm(np.ones((2, 2), np.float32), 1.0)
