"""The CUDA uniform draws (csrc/ops/philox_cuda.cuh) against the CPU kernel, at every launch
configuration: bit for bit, not within a tolerance. The kernel computes the same Philox words
with the same ``core/rng.h`` code (one thread per Philox block of 4 draws) and the conversion of
a word to a float is exact, so any difference is a bug (a wrong lane, block or offset).

``TestEmulated`` runs the kernel source on the CPU through the emulator (``latentforge._emu``)
under every schedule (forward, reversed, shuffled, concurrent); ``TestDevice`` runs the same cases
on a real GPU through ``_C._uniform_cuda`` (skipped without one). Sizes are odd (1, 3, 4097, ...)
and offsets are not multiples of 4, so partial leading and trailing Philox blocks are covered, as
is the index wrapping modulo 2**64. Config 1 (96 threads, at most 5 blocks) makes the grid-stride
loop take several rounds.
"""

import functools

import numpy as np
import pytest

from latentforge import _C, _emu

CONFIGS = list(range(_emu.philox_cuda_num_configs()))
SCHEDULES = [("forward", 0), ("reverse", 0), ("shuffled", 1), ("concurrent", 0)]
SIZES = [1, 2, 3, 4, 5, 31, 4097]
OFFSETS = [0, 1, 2, 3, 7, 2**32 - 3, 2**62 + 5]
M64 = 2**64


def _schedule_id(run):
    return f"{run[0]}{run[1]}" if run[0] == "shuffled" else run[0]


def _bits(a):
    return np.ascontiguousarray(a, np.float32).view(np.uint32)


def _assert_bitwise(got, ref):
    assert got.dtype == np.float32 and got.shape == ref.shape
    np.testing.assert_array_equal(_bits(got), _bits(ref))


class TestEmulated:
    @pytest.fixture(autouse=True, params=SCHEDULES, ids=_schedule_id)
    def _kernels(self, request):
        name, seed = request.param
        self.uniform = functools.partial(_emu.uniform_cuda, schedule=name, schedule_seed=seed)

    @pytest.mark.parametrize("config", CONFIGS)
    @pytest.mark.parametrize("n", SIZES)
    def test_matches_cpu_bitwise(self, n, config):
        for offset in (OFFSETS if n < 100 else [0, 3, 2**40 + 1]):
            seed, stream = 0x1234_5678_9ABC_DEF0 + n, 2**63 + offset % 5
            got = self.uniform(n, seed, stream, offset, config=config)
            _assert_bitwise(got, _C.uniform(n, seed, stream, offset))
            _assert_bitwise(got, _C.uniform(n, seed, stream, offset, naive=True))

    @pytest.mark.parametrize("config", CONFIGS)
    def test_offset_tail_and_wrap(self, config):
        """A call from offset k is the tail of a call from k - j; the index wraps modulo 2**64
        (the draws after 2**64 - 1 are those of indices 0, 1, ...)."""
        full = self.uniform(41, 9, 2, 2**64 - 11, config=config)
        for j in (1, 2, 3, 6):
            _assert_bitwise(self.uniform(41 - j, 9, 2, 2**64 - 11 + j, config=config), full[j:])
        _assert_bitwise(full[11:], _C.uniform(30, 9, 2, 0))
        _assert_bitwise(full[:11], _C.uniform(11, 9, 2, M64 - 11))

    def test_empty_and_arguments(self):
        assert self.uniform(0, 1, 2, 3).shape == (0,)
        with pytest.raises(ValueError, match="config"):
            self.uniform(3, 1, 2, config=len(CONFIGS))
        with pytest.raises(ValueError, match="seed"):
            self.uniform(3, -1, 2)
        with pytest.raises(ValueError, match="offset"):
            self.uniform(3, 1, 2, M64)
        with pytest.raises(TypeError, match="stream"):
            self.uniform(3, 1, 2.5)
        with pytest.raises(ValueError, match="n must"):
            self.uniform(-1, 1, 2)


@pytest.mark.cuda
@pytest.mark.skipif(_C.cuda_device_count() == 0, reason="no CUDA device")
class TestDevice(TestEmulated):
    @pytest.fixture(autouse=True)
    def _kernels(self):
        self.uniform = _C._uniform_cuda

    @pytest.mark.parametrize("n", [1000003, 2**22 + 5])
    def test_large_bitwise(self, n):
        for offset in (0, 5):
            _assert_bitwise(_C._uniform_cuda(n, 77, 3, offset), _C.uniform(n, 77, 3, offset))


def test_large_n_one_schedule():
    """n = 100003 (98 blocks of config 0, a ragged last one) under the forward schedule only."""
    n = 100003
    got = _emu.uniform_cuda(n, 5, 6, 2**33 + 2)
    _assert_bitwise(got, _C.uniform(n, 5, 6, 2**33 + 2))


def test_without_a_device_the_entries_raise():
    if _C.cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError):
        _C._uniform_cuda(3, 1, 2)
    # The device-pointer entry: "built without CUDA" (RuntimeError) in a CPU-only build, the
    # device guard's "out of range (0 CUDA devices)" (ValueError) in a CUDA build without a GPU.
    with pytest.raises((RuntimeError, ValueError),
                       match=r"without CUDA|out of range \(0 CUDA devices\)"):
        _C.device.uniform(0, 1, 0, 3, 1, 2, 0)
