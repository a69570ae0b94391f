"""The CUDA RBM kernels (csrc/ops/rbm_gibbs_cuda.cuh) against the CPU kernels, at every launch
configuration.

``TestEmulated`` runs the kernel source on the CPU through the emulator (``latentforge._emu``)
under every schedule (forward, reversed, shuffled, concurrent):

* fused sigmoid + Bernoulli: the draws are the CPU's bit for bit (test_philox_cuda.py), p is the
  device sigmoid ``1 / (1 + expf(-z))`` (bitwise the CUDA elementwise sigmoid), within
  ``ACT_CUDA_RTOL`` of the CPU's SIMD sigmoid; s is exactly ``u < p`` on the device's p, so it
  equals the CPU's s wherever the draw u is farther from p than that tolerance (checked, and the
  other places counted: they must be rare).
* Bernoulli: bit for bit the CPU's s for valid p (run in place on a copy of p, as on the device).
  A kernel cannot throw: invalid p (NaN, < 0, > 1) gives NaN samples there and sets the device
  flag, which the host entry turns into the CPU's ValueError (check=True) or returns (check=False).
* free energy: one block per row, double per-thread sums combined in a fixed tree, within
  ``RBM_FREE_ENERGY_CUDA_RTOL`` (+ the double-sum bound) of the CPU's in-order double sums.

Sizes are odd (1, 3, 4097) and offsets not multiples of 4. ``TestDevice`` runs the same cases on
a real GPU through the ``_C._*_cuda`` host entries (skipped without one).
"""

import functools

import numpy as np
import pytest

import reference as ref64
from latentforge import _C, _emu
from latentforge.testing import (
    ACT_CUDA_RTOL,
    ATOL_ACT,
    DOT_FACTOR,
    F64_U,
    RBM_FREE_ENERGY_CUDA_RTOL,
    assert_close,
)

CONFIGS = list(range(_emu.rbm_gibbs_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
SIZES = [1, 3, 4, 5, 33, 4097]
OFFSETS = [0, 1, 2, 3, 2**64 - 6]
SHAPES = [(1, 1, 1), (3, 7, 5), (5, 300, 257), (4, 0, 3), (2, 3, 0), (0, 3, 4), (7, 1, 33)]


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _z(n, seed):
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(n) * 4).astype(np.float32)
    special = np.array([0.0, -0.0, 30.0, -30.0, 100.0, -100.0, 1e-30, 8.5], np.float32)
    k = min(n, special.size)
    z[:k] = special[:k]
    return z


def _probs(n, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(n, dtype=np.float32)
    special = np.array([0.0, 1.0, 1.0 - 2**-24, 2**-24, 0.5, 1e-30], np.float32)
    k = min(n, special.size)
    p[:k] = special[:k]
    return p


def _free_energy_inputs(rows, nv, nh, seed):
    rng = np.random.default_rng(seed)
    V = (rng.random((rows, nv)) < 0.4).astype(np.float32)
    b_v = rng.standard_normal(nv).astype(np.float32)
    Z = (rng.standard_normal((rows, nh)) * 5).astype(np.float32)
    return V, b_v, Z


def _free_energy_atol(V, b_v, Z):
    terms = np.abs(V.astype(np.float64)) @ np.abs(b_v.astype(np.float64))
    terms = terms + ref64.softplus(Z).sum(axis=1)
    return DOT_FACTOR * F64_U * terms


def _assert_bits(got, ref):
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        kw = dict(schedule=name, schedule_seed=seed)
        self.sigmoid_bernoulli = functools.partial(_emu.sigmoid_bernoulli_cuda, **kw)
        self.bernoulli = functools.partial(_emu.bernoulli_cuda, **kw)
        self.free_energy = functools.partial(_emu.rbm_free_energy_cuda, **kw)
        self.sigmoid = functools.partial(_emu.elementwise_cuda, "activation_forward", act=1,
                                         schedule=name, seed=seed)

    # ---- fused sigmoid + Bernoulli

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n", SIZES)
    def test_sigmoid_bernoulli_matches_cpu(self, n, config):
        z = _z(n, n)
        for offset in OFFSETS if n < 100 else [3, 2**40 + 1]:
            p, s = self.sigmoid_bernoulli(z, 11, 12, offset, config=config)
            u = _C.uniform(n, 11, 12, offset)
            p_cpu, s_cpu = _C.sigmoid_bernoulli(z, 11, 12, offset)
            assert_close(p, p_cpu, rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
            _assert_bits(p, self.sigmoid(z, config=config))  # the device sigmoid, bit for bit
            # s is exactly the draw test on the device's own p ...
            _assert_bits(s, (u < p).astype(np.float32))
            # ... so it equals the CPU's s wherever the draw is not within the sigmoids'
            # difference of p.
            far = np.abs(u.astype(np.float64) - p_cpu) > ACT_CUDA_RTOL * p_cpu + ATOL_ACT
            np.testing.assert_array_equal(s[far], s_cpu[far])
            assert np.count_nonzero(~far) <= max(2, n // 1000)

    def test_sigmoid_bernoulli_any_shape_nan_inf(self):
        z = np.array([[np.nan, np.inf, -np.inf], [0.25, -0.25, 88.0]], np.float32)
        p, s = self.sigmoid_bernoulli(z, 1, 2, 1, config=1)
        assert p.shape == s.shape == z.shape
        p_cpu, s_cpu = _C.sigmoid_bernoulli(z, 1, 2, 1)
        assert np.isnan(p[0, 0]) and s[0, 0] == 0.0  # NaN < anything is false
        np.testing.assert_array_equal(p[0, 1:], [1.0, 0.0])
        np.testing.assert_array_equal(s[0, 1:], [1.0, 0.0])  # u < 1 always, never u < 0
        assert_close(p[1], p_cpu[1], rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
        assert self.sigmoid_bernoulli(np.zeros(0, np.float32), 1, 2)[0].shape == (0,)

    # ---- Bernoulli

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n", SIZES)
    def test_bernoulli_matches_cpu_bitwise(self, n, config):
        p = _probs(n, n + 1)
        for offset in OFFSETS if n < 100 else [1, 2**33 + 2]:
            ref = _C.bernoulli(p, 5, 2**64 - 1, offset)
            _assert_bits(self.bernoulli(p, 5, 2**64 - 1, offset, config=config), ref)
            s, invalid = self.bernoulli(p, 5, 2**64 - 1, offset, config=config, check=False)
            _assert_bits(s, ref)
            assert invalid == 0

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("bad", [np.nan, -0.25, 1.0 + 2**-23, np.inf, -np.inf])
    def test_bernoulli_invalid_p(self, bad, config):
        n = 37
        p = _probs(n, 3)
        p[[9, 30]] = bad
        # The host entry checks the device flag and raises the CPU's error (first bad index).
        with pytest.raises(ValueError, match=r"p\[9\]"):
            self.bernoulli(p, 1, 2, 3, config=config)
        with pytest.raises(ValueError, match=r"p\[9\]"):
            _C.bernoulli(p, 1, 2, 3)
        # What the kernel itself writes: NaN samples at the invalid p, the flag set, and the
        # valid samples unchanged.
        s, invalid = self.bernoulli(p, 1, 2, 3, config=config, check=False)
        assert invalid == 1
        assert np.isnan(s[[9, 30]]).all()
        ok = np.ones(n, bool)
        ok[[9, 30]] = False
        clean = p.copy()
        clean[~ok] = 0.5
        np.testing.assert_array_equal(s[ok], _C.bernoulli(clean, 1, 2, 3)[ok])

    def test_bernoulli_empty(self):
        assert self.bernoulli(np.zeros(0, np.float32), 1, 2).shape == (0,)
        s, invalid = self.bernoulli(np.zeros((0, 3), np.float32), 1, 2, check=False)
        assert s.shape == (0, 3) and invalid == 0

    # ---- free energy

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
    def test_free_energy_matches_cpu(self, shape, config):
        V, b_v, Z = _free_energy_inputs(*shape, seed=sum(shape))
        F = self.free_energy(V, b_v, Z, config=config)
        F_cpu = _C.rbm_free_energy(V, b_v, Z)
        assert F.shape == (shape[0],) and F.dtype == np.float32
        assert_close(F, F_cpu, rtol=RBM_FREE_ENERGY_CUDA_RTOL,
                     atol=_free_energy_atol(V, b_v, Z) + 1e-30)

    def test_free_energy_non_finite(self):
        V, b_v, Z = _free_energy_inputs(4, 5, 6, seed=2)
        Z[0, 3] = np.nan
        Z[1, 1] = np.inf
        Z[2, 2] = -np.inf
        V[3, 0] = np.nan
        for config in CONFIGS:
            F = self.free_energy(V, b_v, Z, config=config)
            F_cpu = _C.rbm_free_energy(V, b_v, Z)
            assert np.isnan(F[0]) and np.isnan(F[3]) and F[1] == -np.inf
            assert_close(F[2], F_cpu[2], rtol=RBM_FREE_ENERGY_CUDA_RTOL,
                         atol=float(_free_energy_atol(V[2:3], b_v, Z[2:3])[0]))

    def test_free_energy_arguments(self):
        V, b_v, Z = _free_energy_inputs(3, 4, 5, seed=1)
        with pytest.raises(ValueError, match="b_v"):
            self.free_energy(V, b_v[:3], Z)
        with pytest.raises(ValueError, match="rows"):
            self.free_energy(V, b_v, Z[:2])
        with pytest.raises(TypeError, match="float32"):
            self.free_energy(V.astype(np.float64), b_v, Z)
        with pytest.raises(ValueError, match="config"):
            self.free_energy(V, b_v, Z, config=len(CONFIGS))


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.sigmoid_bernoulli = _C._sigmoid_bernoulli_cuda
        self.bernoulli = _C._bernoulli_cuda
        self.free_energy = _C._rbm_free_energy_cuda
        self.sigmoid = functools.partial(_C._elementwise_cuda, "activation_forward", act=1)

    def test_large(self):
        n = 1000003
        z = _z(n, 4)
        p, s = _C._sigmoid_bernoulli_cuda(z, 3, 4, 1)
        p_cpu, s_cpu = _C.sigmoid_bernoulli(z, 3, 4, 1)
        assert_close(p, p_cpu, rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
        u = _C.uniform(n, 3, 4, 1)
        _assert_bits(s, (u < p).astype(np.float32))
        pr = _probs(n, 5)
        _assert_bits(_C._bernoulli_cuda(pr, 3, 4, 1), _C.bernoulli(pr, 3, 4, 1))
        V, b_v, Z = _free_energy_inputs(300, 784, 500, seed=6)
        assert_close(_C._rbm_free_energy_cuda(V, b_v, Z), _C.rbm_free_energy(V, b_v, Z),
                     rtol=RBM_FREE_ENERGY_CUDA_RTOL, atol=_free_energy_atol(V, b_v, Z))


def test_larger_one_schedule():
    """Several grid-stride rounds of config 0 under the forward schedule only."""
    n = 100003
    z = _z(n, 8)
    p, s = _emu.sigmoid_bernoulli_cuda(z, 7, 8, 2)
    _assert_bits(s, (_C.uniform(n, 7, 8, 2) < p).astype(np.float32))
    assert_close(p, _C.sigmoid_bernoulli(z, 7, 8, 2)[0], rtol=ACT_CUDA_RTOL, atol=ATOL_ACT)
    pr = _probs(n, 9)
    _assert_bits(_emu.bernoulli_cuda(pr, 7, 8, 5), _C.bernoulli(pr, 7, 8, 5))
    V, b_v, Z = _free_energy_inputs(40, 784, 500, seed=3)
    assert_close(_emu.rbm_free_energy_cuda(V, b_v, Z), _C.rbm_free_energy(V, b_v, Z),
                 rtol=RBM_FREE_ENERGY_CUDA_RTOL, atol=_free_energy_atol(V, b_v, Z))


def test_without_a_device_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    x = np.ones(3, np.float32)
    with pytest.raises(RuntimeError):
        _C._sigmoid_bernoulli_cuda(x, 1, 2)
    with pytest.raises(RuntimeError):
        _C._bernoulli_cuda(x * 0.5, 1, 2)
    with pytest.raises(RuntimeError):
        _C._rbm_free_energy_cuda(x.reshape(1, 3), x, x.reshape(1, 3))
    # The device-pointer entries: "built without CUDA" (RuntimeError) in a CPU-only build, the
    # device guard's "out of range (0 CUDA devices)" (ValueError) in a CUDA build without a GPU.
    match = r"without CUDA|out of range \(0 CUDA devices\)"
    with pytest.raises((RuntimeError, ValueError), match=match):
        _C.device.sigmoid_bernoulli(0, 1, 0, 0, 0, 3, 1, 2, 0)
    with pytest.raises((RuntimeError, ValueError), match=match):
        _C.device.bernoulli(0, 1, 0, 0, 0, 3, 1, 2, 0)
    with pytest.raises((RuntimeError, ValueError), match=match):
        _C.device.rbm_free_energy(0, 1, 0, 0, 0, 0, 1, 3, 3)
