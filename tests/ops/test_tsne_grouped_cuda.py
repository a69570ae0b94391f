"""The CUDA t-SNE optimiser step (csrc/ops/tsne_grouped_cuda.cuh) against the CPU's
``_C.TsneBarnesHut.step``, at every launch configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (``latentforge._emu``)
under every schedule (forward, reversed, shuffled, concurrent):

* ``tsne_step_cuda``: the step's update given a gradient. The CPU step's gradient is
  ``TsneBarnesHut.gradient(float32(Y))`` (deterministic), so the emulated step given that gradient
  must leave Y, update and gains bit for bit where ``TsneBarnesHut.step`` leaves them, over several
  iterations in a row (the kernel repeats step()'s double operations in the same order).
* ``tsne_step_bh_cuda``: the whole iteration with tsne_bh's per-point Barnes-Hut gradient (not the
  grouped one), against ``_C.tsne_gradient_bh`` at float32(Y) followed by the numpy step
  (``models.tsne._gains_step``, the reference of step()): bit for bit, KL included.

``TestDevice`` runs the same cases through ``_C._tsne_step_*cuda`` on a GPU (skipped without one):
the launcher is compiled with -fmad=false, so the update should match bit for bit too, but that is
not yet measured on a device, so it is checked within ``TSNE_CUDA_GRAD_TOL`` (the KL within
``TSNE_CUDA_KL_RTOL``, CUDA's log).

Shapes: n = 1 (the plain step), 2, 3, 17, 61 (config 1: 32 threads, at most 2 blocks: 122
coordinates take two grid-stride rounds and four finiteness rounds).
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu
from latentforge.models.tsne import _gains_step
from latentforge.testing import TSNE_CUDA_GRAD_TOL, TSNE_CUDA_KL_RTOL, assert_normwise_close

CONFIGS = list(range(_emu.tsne_step_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 3), ("concurrent", 0)]
SIZES = [2, 3, 17, 61]
#: (exaggeration, momentum, learning_rate): early exaggeration, then the usual schedule.
ITERATIONS = [(12.0, 0.5, 50.0)] * 2 + [(1.0, 0.8, 200.0)] * 2


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _problem(n, seed, density=0.5):
    rng = np.random.default_rng(seed)
    Y = rng.standard_normal((n, 2)) * 2.0
    P = ref64.random_joint_p(n, rng, density if n > 5 else 1.0).astype(np.float32)
    return Y, P, ref64.dense_to_csr(P)


def _state(Y):
    return Y.copy(), np.zeros_like(Y), np.ones_like(Y)


class TestEmulated:
    #: The emulated kernels match the CPU bit for bit; a device is checked within tolerances.
    bitwise = True

    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.step = functools.partial(_emu.tsne_step_cuda, schedule=name, seed=seed)
        self.step_bh = functools.partial(_emu.tsne_step_bh_cuda, schedule=name, seed=seed)

    def _same(self, got, ref):
        for a, b in zip(got, ref):
            if self.bitwise:
                np.testing.assert_array_equal(a, b)
            else:
                assert_normwise_close(a, b, TSNE_CUDA_GRAD_TOL)

    def _same_kl(self, kl, klr):
        if np.isnan(klr):
            assert np.isnan(kl)
        elif self.bitwise:
            assert kl == klr
        else:
            assert kl == pytest.approx(klr, rel=TSNE_CUDA_KL_RTOL, abs=TSNE_CUDA_KL_RTOL)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n", SIZES)
    def test_step_matches_cpu_step(self, n, config):
        """Given the CPU step's own gradient, several iterations in a row."""
        Y0, _, csr = _problem(n, n)
        bh = _C.TsneBarnesHut(*csr)
        cpu, dev = _state(Y0), _state(Y0)
        for ex, mom, lr in ITERATIONS:
            g, _ = bh.gradient(np.ascontiguousarray(cpu[0], np.float32), 0.5, ex, False)
            _, finite = bh.step(*cpu, 0.5, ex, mom, lr, 0.01, False)
            assert finite
            assert self.step(*dev, g, mom, lr, 0.01, config=config)
            self._same(dev, cpu)
        assert (dev[2] != 1.0).any()

    @pytest.mark.parametrize("config", CONFIGS)
    def test_step_single_point_and_gain_floor(self, config):
        """n = 1 and a min_gain that binds (gains shrink by 0.8 until they reach it), against
        step()'s operations written out in numpy (float64, the same order)."""
        rng = np.random.default_rng(5)
        Y, upd, gains = rng.standard_normal((1, 2)), np.array([[0.5, -0.5]]), np.ones((1, 2))
        Yr, ur, gr = Y.copy(), upd.copy(), gains.copy()
        for it in range(6):
            # Alternating signs: update * g > 0 from the second step on, so the gains shrink.
            g = np.array([[0.25, -0.75]], np.float32) * np.float32((-1) ** it)
            gd = g.astype(np.float64)
            gr = np.maximum(np.where(ur * gd < 0.0, gr + 0.2, gr * 0.8), 0.5)
            ur = ur * 0.9 - (10.0 * gr) * gd
            Yr = Yr + ur
            assert self.step(Y, upd, gains, g, 0.9, 10.0, 0.5, config=config)
            self._same((Y, upd, gains), (Yr, ur, gr))
        assert (gains == 0.5).any()

    @pytest.mark.parametrize("config", CONFIGS)
    def test_step_non_finite_gradient_changes_nothing(self, config):
        Y0, _, _ = _problem(17, 3)
        dev = _state(Y0)
        dev[1][:] = 0.25
        before = tuple(a.copy() for a in dev)
        for bad in (np.inf, -np.inf, np.nan):
            g = np.ones((17, 2), np.float32)
            g[16, 1] = bad  # the last element: the last finiteness round
            assert not self.step(*dev, g, 0.8, 200.0, config=config)
            for a, b in zip(dev, before):
                np.testing.assert_array_equal(a, b)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("theta", [0.0, 0.5])
    @pytest.mark.parametrize("n", SIZES)
    def test_bh_step_matches_bh_gradient_and_numpy_step(self, n, theta, config):
        Y0, _, csr = _problem(n, 50 + n)
        dev = _state(Y0)
        Yr, ur, gr = _state(Y0)
        for it, (ex, mom, lr) in enumerate(ITERATIONS):
            want_kl = it % 2 == 0
            g, klr = _C.tsne_gradient_bh(
                np.ascontiguousarray(Yr, np.float32),
                *csr,
                theta=theta,
                exaggeration=ex,
                compute_kl=want_kl,
            )
            assert _gains_step(Yr, ur, gr, g, mom, lr)
            kl, finite = self.step_bh(*dev, *csr, theta, ex, mom, lr, 0.01, want_kl, config=config)
            assert finite
            self._same_kl(kl, klr)
            self._same(dev, (Yr, ur, gr))

    def test_bh_step_non_finite(self):
        Y0, _, csr = _problem(17, 4)
        dev = _state(Y0)
        before = tuple(a.copy() for a in dev)
        # An overflowing exaggeration: a non-finite gradient, nothing modified, the KL computed.
        kl, finite = self.step_bh(*dev, *csr, 0.5, 1e300, 0.8, 200.0, 0.01, True, config=1)
        assert not finite
        for a, b in zip(dev, before):
            np.testing.assert_array_equal(a, b)
        # An embedding beyond float32 range: nothing modified, KL NaN (as the CPU step).
        dev[0][3, 0] = 1e300
        kl, finite = self.step_bh(*dev, *csr, 0.5, 1.0, 0.8, 200.0, 0.01, True, config=1)
        assert not finite and np.isnan(kl) and dev[0][3, 0] == 1e300
        np.testing.assert_array_equal(dev[1], before[1])


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    bitwise = False

    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.step = _C._tsne_step_cuda
        self.step_bh = _C._tsne_step_bh_cuda


def test_bad_arguments():
    Y0, _, csr = _problem(5, 8)
    Y, u, g = _state(Y0)
    grad = np.ones((5, 2), np.float32)
    step, step_bh = _emu.tsne_step_cuda, _emu.tsne_step_bh_cuda
    with pytest.raises(ValueError, match="config"):
        step(Y, u, g, grad, 0.8, 200.0, config=len(CONFIGS))
    with pytest.raises(ValueError, match="must be finite"):
        step(Y, u, g, grad, np.nan, 200.0)
    with pytest.raises(ValueError, match="grad must have shape"):
        step(Y, u, g, grad[:4].copy(), 0.8, 200.0)
    with pytest.raises(TypeError, match="float32"):
        step(Y, u, g, grad.astype(np.float64), 0.8, 200.0)
    with pytest.raises(TypeError, match="float64"):
        step(Y.astype(np.float32), u, g, grad, 0.8, 200.0)
    with pytest.raises(ValueError, match="gains must have shape"):
        step(Y, u, g[:3].copy(), grad, 0.8, 200.0)
    with pytest.raises(ValueError, match="must not share memory"):
        step(Y, u, u, grad, 0.8, 200.0)
    ro = g.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        step(Y, u, ro, grad, 0.8, 200.0)
    with pytest.raises(ValueError, match="theta"):
        step_bh(Y, u, g, *csr, -0.5, 1.0, 0.8, 200.0)
    with pytest.raises(ValueError, match="indptr must have length"):
        step_bh(Y, u, g, csr[0][:-1].copy(), csr[1], csr[2], 0.5, 1.0, 0.8, 200.0)
    bad = csr[1].copy()
    bad[0] = 5
    with pytest.raises(ValueError, match="out of range"):
        step_bh(Y, u, g, csr[0], bad, csr[2], 0.5, 1.0, 0.8, 200.0)
    with pytest.raises(ValueError, match="at least 2 points"):
        step_bh(
            Y[:1].copy(),
            u[:1].copy(),
            g[:1].copy(),
            np.zeros(2, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            0.5,
            1.0,
            0.8,
            200.0,
        )
    # Nothing was modified by the refused calls.
    np.testing.assert_array_equal(Y, Y0)
    assert (u == 0).all() and (g == 1).all()


def test_without_a_device_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    Y0, _, csr = _problem(5, 9)
    Y, u, g = _state(Y0)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C._tsne_step_cuda(Y, u, g, np.ones((5, 2), np.float32), 0.8, 200.0)
    with pytest.raises(RuntimeError, match="CUDA"):
        _C._tsne_step_bh_cuda(Y, u, g, *csr, 0.5, 1.0, 0.8, 200.0)
    # The device-pointer entries: the device guard refuses device 0 before any pointer is used
    # (CUDA build: "device 0 out of range (0 CUDA devices)", a ValueError from LF_CHECK;
    # CPU-only build: RuntimeError "built without CUDA").
    msg = r"out of range \(0 CUDA devices\)|built without CUDA"
    with pytest.raises((RuntimeError, ValueError), match=msg):
        _C.device.tsne_step(0, 0, 0, 0, 0, 0, 0, 5, 0.8, 200.0, 0.01)
    with pytest.raises((RuntimeError, ValueError), match=msg):
        _C.device.tsne_step_bh(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0.5, 1.0, 0.8, 200.0, 0.01)
