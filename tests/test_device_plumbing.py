"""The device path of lf.ops without a device: what latentforge._device and lf.ops hand to the
device entry points (pointers, leading dimensions, transpose flags, sizes, geometry, outputs,
stream waits), checked on the CPU.

Host memory plays device memory: the inputs expose __cuda_array_interface__ over numpy arrays,
a stand-in for ``_C.device`` runs the CPU kernels on the raw pointers it is given (so a wrong
leading dimension, flag or size shows up as a wrong result), and a stand-in for CuPy allocates
the outputs. Only the CUDA kernels themselves are not involved: they are compared with the CPU
kernels through the emulator in tests/ops/test_*_cuda.py, and on a GPU in
tests/test_device_cupy.py."""

from __future__ import annotations

import types

import numpy as np
import pytest

import latentforge as lf
from _fakedevice import FakeArray, FakeCupy, FakeDeviceEntries
from latentforge import _C, _device
from latentforge.testing import assert_dot_close


class Dev:
    """A 'device' array over host memory (the same interface CuPy exposes)."""

    def __init__(self, a: np.ndarray, stream: int | None = None, readonly: bool = False):
        self.a = a
        self.__cuda_array_interface__ = {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "data": (a.ctypes.data, readonly),
            "version": 3,
            "strides": None if a.flags.c_contiguous else a.strides,
            "stream": stream,
        }

    @property
    def T(self):
        return Dev(self.a.T)


@pytest.fixture
def fake(monkeypatch):
    # Not strict: the Dev inputs here are plain host memory playing device memory.
    entries, cupy = FakeDeviceEntries(strict=False), FakeCupy()
    monkeypatch.setattr(_C, "device", entries)
    monkeypatch.setattr(_device, "require_cuda", lambda what: None)
    monkeypatch.setattr(_device, "_cupy", lambda what: cupy)
    return types.SimpleNamespace(entries=entries, cupy=cupy)


def _host(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("order_a", ["C", "F"])
@pytest.mark.parametrize("order_b", ["C", "F"])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_layouts(fake, order_a, order_b, trans_a, trans_b):
    rng = np.random.default_rng(1)
    M, K, N = 7, 5, 3
    A = _host(rng, *((K, M) if trans_a else (M, K)))
    B = _host(rng, *((N, K) if trans_b else (K, N)))
    A = np.asfortranarray(A) if order_a == "F" else A
    B = np.asfortranarray(B) if order_b == "F" else B
    out = lf.ops.gemm(Dev(A), Dev(B), trans_a=trans_a, trans_b=trans_b)
    assert isinstance(out, FakeArray) and out.a.shape == (M, N)
    ref = (A.T if trans_a else A).astype(np.float64) @ (B.T if trans_b else B)
    absref = np.abs(A.T if trans_a else A) @ np.abs(B.T if trans_b else B)
    assert_dot_close(out.a, ref, absref)
    assert fake.entries.launches == [("gemm", 0, 0)]


def test_linear_bias_activation_and_output(fake):
    rng = np.random.default_rng(2)
    X, W, b = _host(rng, 6, 4), _host(rng, 5, 4), _host(rng, 5)
    out = lf.ops.linear(Dev(X), Dev(W), Dev(b), activation="relu", trans_w=True)
    np.testing.assert_array_equal(out.a, lf.ops.linear(X, W, b, "relu", trans_w=True))
    C = Dev(np.ones((6, 5), np.float32))
    res = lf.ops.gemm(Dev(X), Dev(W), C, trans_b=True, alpha=2.0, beta=0.5)
    assert res is C
    np.testing.assert_array_equal(
        C.a, lf.ops.gemm(X, W, np.ones((6, 5), np.float32), trans_b=True, alpha=2.0, beta=0.5)
    )


def test_gemm_device_errors(fake):
    A = Dev(np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match="inner dimensions"):
        lf.ops.gemm(A, Dev(np.ones((3, 2), np.float32)))
    with pytest.raises(ValueError, match="C- or Fortran-contiguous"):
        lf.ops.gemm(Dev(np.ones((4, 8), np.float32)[:, ::2]), A)
    with pytest.raises(TypeError, match="float32 on the device, got float64"):
        lf.ops.gemm(Dev(np.ones((4, 4))), A)
    with pytest.raises(ValueError, match=r"b \(the bias\) must have shape \(4,\)"):
        lf.ops.linear(A, A, Dev(np.ones(3, np.float32)))
    with pytest.raises(ValueError, match="C must have shape"):
        lf.ops.gemm(A, A, Dev(np.ones((4, 3), np.float32)))
    with pytest.raises(ValueError, match="writable"):
        lf.ops.gemm(A, A, Dev(np.ones((4, 4), np.float32), readonly=True))
    with pytest.raises(ValueError, match="must not overlap"):
        lf.ops.gemm(A, Dev(np.ones((4, 4), np.float32)), A)
    with pytest.raises(ValueError, match="beta != 0 needs an input C"):
        lf.ops.gemm(A, A, beta=1.0)
    with pytest.raises(ValueError, match="must be 2-D"):
        lf.ops.gemm(Dev(np.ones(4, np.float32)), A)
    assert fake.entries.launches == []  # nothing was launched for a bad call


def test_arguments_on_two_devices(fake):
    A, B = Dev(np.ones((2, 2), np.float32)), Dev(np.ones((2, 2), np.float32))
    fake.entries.devices[B.__cuda_array_interface__["data"][0]] = 1
    with pytest.raises(ValueError, match="A is on CUDA device 0 but B is on device 1"):
        lf.ops.gemm(A, B)


def test_host_memory_posing_as_device_memory(fake):
    A = Dev(np.ones((2, 2), np.float32))
    fake.entries.devices[A.__cuda_array_interface__["data"][0]] = -1
    with pytest.raises(ValueError, match="is host memory"):
        lf.ops.gemm(A, A)


def test_producer_streams_are_waited_on(fake):
    A = np.ones((3, 3), np.float32)
    fake.cupy.stream_ptr = 0  # CuPy's null stream: the legacy default (1 in the interface)
    lf.ops.gemm(Dev(A, stream=1), Dev(A, stream=None))
    assert fake.entries.waits == []  # same stream, or nothing to wait for
    lf.ops.gemm(Dev(A, stream=77), Dev(A, stream=2))
    assert fake.entries.waits == [(0, 77), (0, 2)]
    fake.entries.waits.clear()
    fake.cupy.stream_ptr = 77  # launching on the producer's own stream needs no wait
    lf.ops.gemm(Dev(A, stream=77), Dev(A))
    assert fake.entries.waits == [] and fake.entries.launches[-1] == ("gemm", 0, 77)


@pytest.mark.parametrize("fn, mode", [("max_pool2d", 0), ("avg_pool2d", 1), ("l2_pool2d", 2)])
def test_pooling(fake, fn, mode):
    rng = np.random.default_rng(3)
    x = _host(rng, 2, 3, 7, 6)
    got = getattr(lf.ops, fn)(Dev(x), (3, 2), (2, 1), (1, 1))
    np.testing.assert_array_equal(got.a, getattr(lf.ops, fn)(x, (3, 2), (2, 1), (1, 1)))
    if mode == 0:
        y, idx = lf.ops.max_pool2d(Dev(x), 3, 2, 1, return_indices=True)
        ry, ridx = lf.ops.max_pool2d(x, 3, 2, 1, return_indices=True)
        np.testing.assert_array_equal(y.a, ry)
        np.testing.assert_array_equal(idx.a, ridx)
        assert idx.a.dtype == np.int32
    with pytest.raises(ValueError, match="C-contiguous"):
        getattr(lf.ops, fn)(Dev(x[:, :, ::2]), 2)
    with pytest.raises(ValueError, match="larger than the padded input"):
        getattr(lf.ops, fn)(Dev(x), 9)


def test_conv2d(fake):
    rng = np.random.default_rng(4)
    x, w, b = _host(rng, 2, 3, 9, 8), _host(rng, 4, 3, 3, 2), _host(rng, 4)
    got = lf.ops.conv2d(Dev(x), Dev(w), Dev(b), stride=(2, 1), padding=(1, 2))
    np.testing.assert_array_equal(got.a, lf.ops.conv2d(x, w, b, stride=(2, 1), padding=(1, 2)))
    got = lf.ops.conv2d(Dev(x), Dev(w))
    np.testing.assert_array_equal(got.a, lf.ops.conv2d(x, w))
    with pytest.raises(ValueError, match="input channels"):
        lf.ops.conv2d(Dev(x), Dev(w[:, :2].copy()))
    with pytest.raises(ValueError, match="larger than the padded input"):
        lf.ops.conv2d(Dev(x), Dev(_host(rng, 4, 3, 11, 2)))
