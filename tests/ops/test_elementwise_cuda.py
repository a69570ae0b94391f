"""The CUDA elementwise kernels (csrc/ops/elementwise_cuda.cuh) against the CPU kernels, at every
launch configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (module
``latentforge._emu``) under every schedule (forward, reversed, shuffled, concurrent):

* activations, one thread per element: forward uses the device's expf / tanhf (the GEMM
  epilogue's formulas), which differ from the CPU's SIMD polynomials by a few ulp
  (``ACT_CUDA_RTOL``); relu and none are exact; the backward passes are the CPU's formulas
  without FMA, so they equal the CPU kernel bit for bit.
* row softmax, one block per row, tree reductions (NaN-propagating max, double sum) through shared
  memory: forward within ``ACT_CUDA_RTOL`` of the CPU kernel (only exp differs), backward within
  the float32 reduction bound of the CPU kernel (the double row sum is added in another order).
* row log-softmax, which has no CPU kernel (``functional.LogSoftmax`` is numpy): forward and
  backward against the float64 formulas below (the contract of ops/elementwise.h), within
  ``LOG_SOFTMAX_CUDA_TOL``.

NaN, +-inf rows, a single column and rows longer than a block are covered. ``TestDevice`` runs the
same cases on a real GPU through ``_C._elementwise_cuda`` (skipped without one). Shapes are small
(one OS thread per CUDA thread in the concurrent schedule); config 1 (96 threads and at most 5
blocks for the activations, 32 threads and at most 3 blocks for the rows) makes the grid-stride
loops take several rounds.
"""

import functools

import numpy as np
import pytest

from latentforge import _C, _emu, functional
from latentforge.tensor import Tensor
from latentforge.testing import (
    ACT_CUDA_RTOL,
    ATOL_ACT,
    F32_U,
    LOG_SOFTMAX_CUDA_TOL,
    assert_close,
    dot_atol,
)

CONFIGS = list(range(_emu.elementwise_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
ACTS = [0, 1, 2, 3]  # none, sigmoid, tanh, relu (lf.Activation values)
ACT_IDS = ["none", "sigmoid", "tanh", "relu"]
SIZES = [1, 31, 33, 1000]
SHAPES = [(1, 1), (4, 1), (3, 7), (2, 1025), (5, 33)]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _act_input(n, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    special = np.array([0.0, -0.0, 90.0, -90.0, 1e-30, -1e-30, 8.5, -8.5], np.float32)
    k = min(n, special.size)
    x[:k] = special[:k]
    return x


def _rows_input(shape, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    if shape[1] > 3:
        x[0, 2] = 40.0  # a dominant entry
    return x


def _assert_act_close(got, ref):
    """NaN and +-inf at the same places with the same values; the rest within ACT_CUDA_RTOL."""
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(got[~fin], ref[~fin])
    assert_close(got[fin], ref[fin], rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)


def _log_softmax_ref(x):
    x = x.astype(np.float64)
    z = x - x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    return z - lse, z, lse


def _log_softmax_backward_ref(dy, y):
    dy, y = dy.astype(np.float64), y.astype(np.float64)
    return dy - np.exp(y) * dy.sum(axis=1, keepdims=True)


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.run = functools.partial(_emu.elementwise_cuda, schedule=name, seed=seed)

    # ---- activations

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n", SIZES)
    @pytest.mark.parametrize("act", ACTS, ids=ACT_IDS)
    def test_activation_matches_cpu(self, act, n, config):
        x = _act_input(n, n + act)
        y = _C.activation_forward(x, act)
        yg = self.run("activation_forward", x, act=act, config=config)
        if act in (0, 3):
            np.testing.assert_array_equal(yg, y)
        else:
            assert_close(yg, y, rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
            assert_close(yg, _C.activation_forward(x, act, naive=True), rtol=ACT_CUDA_RTOL,
                         atol=ATOL_ACT)
        dy = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        dx = self.run("activation_backward", dy, y, act=act, config=config)
        np.testing.assert_array_equal(dx, _C.activation_backward(dy, y, act))

    @pytest.mark.parametrize("act", ACTS, ids=ACT_IDS)
    def test_activation_nan_inf_and_shape(self, act):
        x = np.array([[np.nan, np.inf, -np.inf], [0.5, -0.5, np.nan]], np.float32)
        y = self.run("activation_forward", x, act=act, config=1)
        assert y.shape == x.shape
        _assert_act_close(y, _C.activation_forward(x, act))
        dy = np.ones_like(x)
        dy[1, 1] = np.nan
        yc = _C.activation_forward(x, act)
        np.testing.assert_array_equal(self.run("activation_backward", dy, yc, act=act),
                                      _C.activation_backward(dy, yc, act))

    # ---- softmax

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_softmax_matches_cpu(self, shape, config):
        x = _rows_input(shape, sum(shape))
        y = _C.softmax_rows(x)
        yg = self.run("softmax_forward", x, config=config)
        assert_close(yg, y, rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
        assert_close(yg, _C.softmax_rows(x, naive=True), rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
        dy = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        dx = self.run("softmax_backward", dy, y, config=config)
        # dx = y (dy - s): s is a row sum in double rounded to float, added in another order.
        s_terms = np.abs(dy * y).sum(axis=1, keepdims=True)
        assert_close(dx, _C.softmax_rows_backward(dy, y), rtol=0.0,
                     atol=np.abs(y) * dot_atol(s_terms) + 1e-30)

    def test_softmax_nan_and_inf_rows(self):
        x = np.zeros((5, 7), np.float32)
        x[0, 3] = np.nan  # NaN row
        x[1] = -np.inf  # all -inf: NaN, as numpy
        x[2, 4] = np.inf  # +inf: inf - inf = NaN
        x[3, :] = np.arange(7)
        x[4, 1] = -np.inf  # one -inf: exactly 0 there
        for config in CONFIGS:
            _assert_act_close(self.run("softmax_forward", x, config=config), _C.softmax_rows(x))
            y = self.run("log_softmax_forward", x, config=config)
            assert np.isnan(y[:3]).all()
            assert y[4, 1] == -np.inf
            assert np.isfinite(y[3:]).sum() == 13

    # ---- log-softmax (device only: the reference is the float64 formula)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
    def test_log_softmax_matches_reference(self, shape, config):
        x = _rows_input(shape, sum(shape) + 1)
        ref, z, lse = _log_softmax_ref(x)
        y = self.run("log_softmax_forward", x, config=config)
        assert_close(y, ref, rtol=0.0,
                     atol=LOG_SOFTMAX_CUDA_TOL * F32_U * (np.abs(z) + np.abs(lse) + 1.0))
        # The Python op (numpy, float32) computes the same function.
        py = functional.log_softmax(Tensor(x)).data
        assert_close(y, py, rtol=0.0,
                     atol=2 * LOG_SOFTMAX_CUDA_TOL * F32_U * (np.abs(z) + np.abs(lse) + 1.0))
        dy = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
        dx = self.run("log_softmax_backward", dy, y, config=config)
        terms = np.abs(dy) + np.exp(y.astype(np.float64)) * np.abs(dy).sum(axis=1, keepdims=True)
        assert_close(dx, _log_softmax_backward_ref(dy, y), rtol=0.0,
                     atol=LOG_SOFTMAX_CUDA_TOL * F32_U * terms)

    def test_log_softmax_backward_is_the_gradient(self):
        """The backward formula of the contract is the derivative of the forward (float64
        central differences of sum(log_softmax(x) * R))."""
        rng = np.random.default_rng(3)
        x = rng.standard_normal((3, 5))
        R = rng.standard_normal((3, 5))
        y, _, _ = _log_softmax_ref(x)
        analytic = _log_softmax_backward_ref(R, y)
        h = 1e-6
        numeric = np.zeros_like(x)
        for idx in np.ndindex(*x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += h
            xm[idx] -= h
            numeric[idx] = ((_log_softmax_ref(xp)[0] * R).sum()
                            - (_log_softmax_ref(xm)[0] * R).sum()) / (2 * h)
        np.testing.assert_allclose(analytic, numeric, rtol=0, atol=1e-7)

    # ---- shapes and errors

    def test_empty_in_place_shapes_and_errors(self):
        for op in ("softmax_forward", "log_softmax_forward"):
            assert self.run(op, np.zeros((0, 5), np.float32)).shape == (0, 5)
            assert self.run(op, np.zeros((3, 0), np.float32)).shape == (3, 0)
        assert self.run("activation_forward", np.zeros(0, np.float32), act=1).shape == (0,)
        x = np.ones((2, 3), np.float32)
        with pytest.raises(ValueError, match="config"):
            self.run("activation_forward", x, config=len(CONFIGS))
        with pytest.raises(ValueError, match="op must be"):
            self.run("gelu_forward", x)
        with pytest.raises(ValueError, match="activation"):
            self.run("activation_forward", x, act=4)
        with pytest.raises(ValueError, match="2-D"):
            self.run("softmax_forward", np.ones(3, np.float32))
        with pytest.raises(ValueError, match="same shape"):
            self.run("softmax_backward", x, np.ones((3, 2), np.float32))
        with pytest.raises(TypeError, match="y"):
            self.run("activation_backward", x, None)
        with pytest.raises(TypeError, match="float32"):
            self.run("activation_forward", x.astype(np.float64))
        with pytest.raises(ValueError, match="None"):
            self.run("activation_forward", x, x)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.run = _C._elementwise_cuda


def test_large_n_one_schedule():
    """n = 1000003 (3907 blocks of config 0, a ragged last one) under the forward schedule only."""
    n = 1000003
    x = _act_input(n, 9)
    for act in (1, 2):  # sigmoid, tanh: the transcendental paths
        y = _C.activation_forward(x, act)
        _assert_act_close(_emu.elementwise_cuda("activation_forward", x, act=act), y)
        dy = np.random.default_rng(act).standard_normal(n).astype(np.float32)
        np.testing.assert_array_equal(_emu.elementwise_cuda("activation_backward", dy, y, act=act),
                                      _C.activation_backward(dy, y, act))


def test_without_cuda_the_device_entry_raises():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError):
        _C._elementwise_cuda("activation_forward", np.ones(3, np.float32), act=1)
