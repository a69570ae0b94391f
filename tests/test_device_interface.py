"""Device arrays without a device: the __cuda_array_interface__ parsing, the host/device mixing
rules and the errors on a machine (or build) without CUDA, with objects that expose the
interface over host memory. The same paths with real CuPy arrays are in
tests/test_device_cupy.py (marked cuda)."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _device


class FakeDeviceArray:
    """Exposes __cuda_array_interface__ over a numpy array's host memory."""

    def __init__(self, a: np.ndarray, *, version: int = 3, stream=None, readonly=None, **extra):
        self.a = a
        cai = {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "data": (a.ctypes.data, (not a.flags.writeable) if readonly is None else readonly),
            "version": version,
            "strides": None if a.flags.c_contiguous else a.strides,
        }
        if version >= 3:
            cai["stream"] = stream
        cai.update(extra)
        self.__cuda_array_interface__ = cai


class FakeDLPack:
    """A DLPack producer that says it lives on a CUDA device (never exported here)."""

    def __init__(self, kind: int = 2, index: int = 0):
        self.kind, self.index = kind, index

    def __dlpack_device__(self):
        return (self.kind, self.index)

    def __dlpack__(self, stream=None):  # pragma: no cover - never consumed on this machine
        raise AssertionError("not consumed without a device")


def test_parse_contiguous_float32():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    d = _device.parse_cuda_array_interface(FakeDeviceArray(a), "x")
    assert d.ptr == a.ctypes.data
    assert d.shape == (3, 4)
    assert d.strides == (16, 4)  # filled in from C order when the interface gives None
    assert d.dtype == np.float32
    assert not d.readonly
    assert d.stream is None
    assert d.version == 3
    assert d.c_contiguous and not d.f_contiguous_matrix
    assert d.size == 12 and d.ndim == 2


def test_parse_strides_transposed_and_sliced():
    a = np.zeros((5, 7), dtype=np.float32)
    t = _device.parse_cuda_array_interface(FakeDeviceArray(a.T), "x")
    assert t.shape == (7, 5) and t.strides == (4, 28)
    assert t.f_contiguous_matrix and not t.c_contiguous
    s = _device.parse_cuda_array_interface(FakeDeviceArray(a[:, ::2]), "x")
    assert s.strides == (28, 8)
    assert not s.c_contiguous and not s.f_contiguous_matrix
    # A unit dimension's stride does not matter for contiguity.
    u = _device.parse_cuda_array_interface(FakeDeviceArray(a[:1]), "x")
    assert u.c_contiguous


def test_parse_readonly_typestr_and_stream():
    a = np.ones(4, dtype=np.float64)
    a.flags.writeable = False
    d = _device.parse_cuda_array_interface(FakeDeviceArray(a, stream=7), "x")
    assert d.readonly and d.dtype == np.float64 and d.stream == 7
    # Version 2 has no stream field: a stale one is ignored.
    d2 = _device.parse_cuda_array_interface(
        FakeDeviceArray(np.ones(3, np.float32), version=2, stream=9), "x"
    )
    assert d2.stream is None and d2.version == 2
    # 1 and 2 are the legacy and per-thread default streams.
    for s in (1, 2):
        assert _device.parse_cuda_array_interface(
            FakeDeviceArray(np.ones(2, np.float32), stream=s), "x"
        ).stream == s


@pytest.mark.parametrize(
    "override, message",
    [
        ({"stream": 0}, "stream 0 is disallowed"),
        ({"stream": 1.5}, "stream must be None or an int"),
        ({"version": 1}, "version 1 is not supported"),
        ({"shape": [3]}, "shape must be a tuple"),
        ({"shape": (-1,)}, "shape must be a tuple of non-negative ints"),
        ({"typestr": ">f4"}, "big-endian"),
        ({"typestr": "zz"}, "typestr"),
        ({"data": (0, False)}, "null data pointer"),
        ({"data": (1234,)}, "data must be a"),
        ({"strides": (4,)}, "strides must be None or a tuple of 2 ints"),
        ({"strides": (6, 2)}, "not multiples of the item size"),
        ({"mask": object()}, "masked"),
    ],
)
def test_parse_rejects_malformed(override, message):
    fake = FakeDeviceArray(np.ones((2, 3), np.float32))
    fake.__cuda_array_interface__.update(override)
    with pytest.raises(ValueError, match=message):
        _device.parse_cuda_array_interface(fake, "x")


def test_parse_missing_fields():
    fake = FakeDeviceArray(np.ones(3, np.float32))
    del fake.__cuda_array_interface__["typestr"]
    with pytest.raises(ValueError, match="lacks the required field 'typestr'"):
        _device.parse_cuda_array_interface(fake, "x")
    with pytest.raises(TypeError, match="no __cuda_array_interface__"):
        _device.parse_cuda_array_interface(np.ones(3), "x")


def test_empty_array_may_have_null_pointer():
    fake = FakeDeviceArray(np.ones((0, 3), np.float32))
    fake.__cuda_array_interface__["data"] = (0, False)
    d = _device.parse_cuda_array_interface(fake, "x")
    assert d.size == 0 and d.ptr == 0 and d.c_contiguous


def test_is_device_array():
    assert _device.is_device_array(FakeDeviceArray(np.ones(2, np.float32)))
    assert _device.is_device_array(FakeDLPack(kind=2))
    assert _device.is_device_array(FakeDLPack(kind=13))  # CUDA managed memory
    assert not _device.is_device_array(FakeDLPack(kind=1))  # a CPU DLPack producer
    assert not _device.is_device_array(np.ones(2))  # numpy speaks DLPack on the CPU
    assert not _device.is_device_array([1.0, 2.0])


def test_mixing_host_and_device_names_both():
    dev = FakeDeviceArray(np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="A is a CUDA device array but B is host data"):
        lf.ops.gemm(dev, np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="B is a CUDA device array but A is host data"):
        lf.ops.gemm(np.ones((2, 2), np.float32), dev)
    with pytest.raises(TypeError, match="bias"):
        lf.ops.linear(dev, dev, np.ones(2, np.float32))
    with pytest.raises(TypeError, match="weight is a CUDA device array but x is host data"):
        lf.ops.conv2d(np.ones((1, 1, 3, 3), np.float32), FakeDeviceArray(np.ones((1, 1, 2, 2),
                                                                                 np.float32)))


def _no_device_message() -> str:
    return "built without CUDA" if not _C.cuda_compiled() else "no CUDA device was found"


@pytest.mark.skipif(_C.cuda_device_count() > 0, reason="a CUDA device is present")
@pytest.mark.parametrize(
    "call",
    [
        lambda d: lf.ops.gemm(d, d),
        lambda d: lf.ops.linear(d, d, activation="relu"),
        lambda d: lf.ops.max_pool2d(d, 2),
        lambda d: lf.ops.avg_pool2d(d, 2),
        lambda d: lf.ops.l2_pool2d(d, 2),
        lambda d: lf.ops.conv2d(d, d),
    ],
)
def test_device_input_without_a_device_is_a_clear_error(call):
    dev = FakeDeviceArray(np.ones((2, 2), np.float32))
    with pytest.raises(RuntimeError, match=_no_device_message()):
        call(dev)
    # A DLPack-only producer fails the same way, before CuPy is needed.
    with pytest.raises(RuntimeError, match=_no_device_message()):
        call(FakeDLPack())


@pytest.mark.skipif(not _C.cuda_compiled() or _C.cuda_device_count() > 0,
                    reason="needs a CUDA build on a machine without a device")
def test_device_entry_points_refuse_without_a_device():
    # The raw entries check the device index before touching anything.
    with pytest.raises((RuntimeError, ValueError), match="out of range \\(0 CUDA devices\\)"):
        _C.device.gemm(0, 0, 0, 1, 0, 1, False, 0, 1, False, 1, 1, 1, 1.0, 0.0, 0,
                       lf.Activation.none)


def test_build_info_lists_device_kernels_and_architectures():
    info = lf.build_info()
    assert isinstance(info["cuda_architectures"], list)
    if _C.cuda_compiled():
        assert info["cuda_architectures"], "a CUDA build names its architectures"
        assert all(a.isdigit() or a.endswith(("-real", "-virtual")) for a in
                   info["cuda_architectures"])
        assert "gemm" in info["cuda_ops"]
    else:
        assert info["cuda_architectures"] == [] and info["cuda_ops"] == []


@pytest.mark.skipif(_C.cuda_device_count() > 0, reason="a CUDA device is present")
def test_bench_device_cuda_says_no_gpu(capsys):
    from latentforge import cli

    assert cli.main(["bench", "--device", "cuda", "--smoke"]) == 0
    out = capsys.readouterr().out
    assert "no GPU:" in out and "were not run" in out
    assert "Traceback" not in out
    assert cli.main(["bench", "--device", "cuda", "--suite", "gemm"]) == 2


def test_bench_device_training_runs_on_the_fake_device(fake_device):
    """The device training benchmark's latentforge side (modules moved to the device, CuPy
    batches, the loss read back every step) runs through the device path, here on the fake
    device; PyTorch CUDA is absent here, which the table says."""
    import io

    import latentforge as lf
    from latentforge.bench import device

    out = io.StringIO()
    results = device._training(lf, fake_device.cupy, 1, out, io.StringIO(), smoke=True)
    assert [r.get("error") for r in results] == [None, None], results
    assert all(r["lf_samples_per_s"] > 0 and "ratio" not in r for r in results)
    assert {"gemm", "optim_step"} <= set(fake_device.entries.names())
    text = out.getvalue()
    assert "PyTorch CUDA not measured" in text and "mlp 784-1000-750-500-10" in text


def test_bench_device_tsne_runs_on_the_fake_device(fake_device):
    """The device t-SNE benchmark's latentforge rows run (on the fake device here, small);
    the GPU t-SNEs that are not installed are named."""
    import io

    import latentforge as lf
    from latentforge.bench import device

    out = io.StringIO()
    results = device._tsne(lf, fake_device.cupy, out, io.StringIO(), smoke=True, n=120, it=250)
    ours = [r for r in results if r["case"].startswith("tsne latentforge")]
    assert [r.get("error") for r in ours] == [None, None], ours
    assert all(r["seconds"] > 0 and r["kl"] > 0 for r in ours)
    assert "tsne_step_bh" in fake_device.entries.names()
    assert "not installed, not measured: tsnecuda, cuML" in out.getvalue()
