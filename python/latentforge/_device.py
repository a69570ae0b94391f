"""Device arrays: CuPy (or any ``__cuda_array_interface__`` / DLPack producer) in, CuPy out.

How a device array comes in
---------------------------
:func:`device_array` reads an object's ``__cuda_array_interface__`` (versions 2 and 3: ``data``
pointer and read-only flag, ``shape``, ``typestr``, ``strides``, ``mask``, ``stream``). An object
that only speaks DLPack (``__dlpack__`` with a CUDA ``__dlpack_device__``) is imported through
``cupy.from_dlpack``, which shares its memory. Nothing is copied either way.

Streams (``__cuda_array_interface__`` v3): every kernel is enqueued on CuPy's current stream of
the array's device. An input that names a producer stream different from it makes the launch
stream wait for that producer first (an event, not a host block); ``stream=None`` means the
producer promises the data is ready.

Rules, each a clear error rather than a silent copy (and never a copy to the host):

* all array arguments of one call on the same device (``ValueError`` naming both arguments and
  their devices); a host array mixed with device arrays: ``TypeError``;
* device arrays must be float32 (``TypeError``; cast on the device with ``x.astype(cupy.float32)``)
  and C-contiguous (``ValueError``; a transposed matrix is accepted where the op takes a
  transposed operand, as on the host);
* masked arrays are refused; an output must be writable;
* a device array on a build without CUDA, or on a machine without a CUDA device:
  ``RuntimeError`` saying which.

Outputs are allocated with CuPy on the input's device. ``cupy`` is an optional dependency
(``pip install "latentforge[cuda]"``): it is imported only when a device array comes in.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import _C

#: DLPack device types (dlpack.h): kDLCPU, kDLCUDA, kDLCUDAHost, kDLCUDAManaged.
_DLPACK_CPU, _DLPACK_CUDA, _DLPACK_CUDA_HOST, _DLPACK_CUDA_MANAGED = 1, 2, 3, 13


@dataclasses.dataclass(frozen=True)
class DeviceArray:
    """What the ``__cuda_array_interface__`` of ``obj`` says (pointer, layout, stream).

    ``strides`` are in bytes, always filled in (C-order strides when the interface gives
    ``None``). ``stream`` is the producer's stream handle, ``None`` when no synchronisation is
    needed. ``device`` is the owning device index, or ``None`` until :func:`resolve_device`
    asks the driver (the interface itself does not say).
    """

    obj: Any
    ptr: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: np.dtype
    readonly: bool
    stream: int | None
    version: int
    device: int | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def c_contiguous(self) -> bool:
        return self.size <= 1 or _contiguous_ignoring_unit_dims(
            self.shape, self.strides, self.dtype.itemsize
        )

    @property
    def f_contiguous_matrix(self) -> bool:
        """A 2-D matrix stored column by column (the transpose of a C-contiguous one)."""
        if self.ndim != 2:
            return False
        rows, cols = self.shape
        item = self.dtype.itemsize
        return (rows <= 1 or self.strides[0] == item) and (
            cols <= 1 or self.strides[1] == rows * item
        )


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for extent in reversed(shape):
        strides.append(step)
        step *= max(extent, 1)
    return tuple(reversed(strides))


def _contiguous_ignoring_unit_dims(shape, strides, itemsize) -> bool:
    expected = itemsize
    for extent, stride in zip(reversed(shape), reversed(strides)):
        if extent == 1:
            continue
        if stride != expected:
            return False
        expected *= extent
    return True


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def parse_cuda_array_interface(obj: Any, name: str = "array") -> DeviceArray:
    """Validate and read ``obj.__cuda_array_interface__`` (v2 or v3).

    Raises ``TypeError`` when ``obj`` has no such interface and ``ValueError`` naming ``name``
    and the offending field when the interface is malformed or describes something the kernels
    cannot use in place (a mask, a zero stream handle, negative or misaligned strides).
    """
    try:
        cai = obj.__cuda_array_interface__
    except AttributeError:
        raise TypeError(f"{name} has no __cuda_array_interface__") from None
    if not isinstance(cai, dict):
        raise ValueError(
            f"{name}.__cuda_array_interface__ must be a dict, got {type(cai).__name__}"
        )
    for field in ("shape", "typestr", "data", "version"):
        if field not in cai:
            raise ValueError(f"{name}.__cuda_array_interface__ lacks the required field {field!r}")
    version = cai["version"]
    if not _is_int(version) or version < 2:
        raise ValueError(
            f"{name}.__cuda_array_interface__ version {version!r} is not supported (2 or 3 needed)"
        )
    shape = cai["shape"]
    if not isinstance(shape, tuple) or not all(_is_int(e) and e >= 0 for e in shape):
        raise ValueError(f"{name}: shape must be a tuple of non-negative ints, got {shape!r}")
    shape = tuple(int(e) for e in shape)
    try:
        dtype = np.dtype(cai["typestr"])
    except TypeError:
        raise ValueError(f"{name}: unreadable typestr {cai['typestr']!r}") from None
    if dtype.byteorder == ">" or (dtype.byteorder == "=" and not np.little_endian):
        raise ValueError(f"{name}: big-endian data ({cai['typestr']!r}) is not supported")
    data = cai["data"]
    if (
        not isinstance(data, tuple)
        or len(data) != 2
        or not _is_int(data[0])
        or not isinstance(data[1], (bool, np.bool_))
    ):
        raise ValueError(
            f"{name}: data must be a (pointer: int, read_only: bool) pair, got {data!r}"
        )
    ptr, readonly = int(data[0]), bool(data[1])
    size = math.prod(shape)
    if ptr == 0 and size > 0:
        raise ValueError(f"{name}: null data pointer for a non-empty array of shape {shape}")
    strides = cai.get("strides")
    if strides is None:
        strides = _c_strides(shape, dtype.itemsize)
    else:
        if (
            not isinstance(strides, tuple)
            or len(strides) != len(shape)
            or not all(_is_int(s) for s in strides)
        ):
            raise ValueError(
                f"{name}: strides must be None or a tuple of {len(shape)} ints, got {strides!r}"
            )
        strides = tuple(int(s) for s in strides)
        if any(s % dtype.itemsize for s, e in zip(strides, shape) if e > 1):
            raise ValueError(f"{name}: strides {strides} are not multiples of the item size")
    if cai.get("mask") is not None:
        raise ValueError(f"{name}: masked device arrays are not supported")
    stream = cai.get("stream") if version >= 3 else None
    if stream is not None:
        if not _is_int(stream):
            raise ValueError(f"{name}: stream must be None or an int, got {stream!r}")
        if stream == 0:
            # The interface forbids 0: it cannot tell the legacy from the per-thread default.
            raise ValueError(f"{name}: stream 0 is disallowed by __cuda_array_interface__ v3")
        stream = int(stream)
    return DeviceArray(obj, ptr, shape, strides, dtype, readonly, stream, int(version))


def _dlpack_device(obj: Any) -> tuple[int, int] | None:
    get = getattr(obj, "__dlpack_device__", None)
    if get is None or not hasattr(obj, "__dlpack__"):
        return None
    try:
        kind, index = get()
    except Exception:  # noqa: BLE001 - a producer that cannot say is not a device array
        return None
    return int(kind), int(index)


def is_device_array(obj: Any) -> bool:
    """True for objects that live in CUDA device memory: ``__cuda_array_interface__``, or DLPack
    with a CUDA device. numpy arrays and Python sequences are host data."""
    if isinstance(obj, np.ndarray):
        return False
    if hasattr(type(obj), "__cuda_array_interface__") or hasattr(obj, "__cuda_array_interface__"):
        return True
    dev = _dlpack_device(obj)
    return dev is not None and dev[0] in (_DLPACK_CUDA, _DLPACK_CUDA_MANAGED)


def _cupy(what: str):
    try:
        import cupy
    except ImportError:
        raise RuntimeError(
            f"{what} needs CuPy, which is not installed: pip install 'latentforge[cuda]' "
            "(cupy-cuda13x)"
        ) from None
    return cupy


def require_cuda(what: str) -> None:
    """RuntimeError unless this build has CUDA kernels and the machine has a CUDA device."""
    if not _C.cuda_compiled():
        raise RuntimeError(
            f"{what}: this copy of latentforge was built without CUDA "
            "(build_info()['cuda_compiled'] is False); reinstall from source with nvcc on PATH "
            "to use device arrays"
        )
    if _C.cuda_device_count() == 0:
        raise RuntimeError(
            f"{what}: no CUDA device was found on this machine (no GPU or no driver)"
        )


def device_array(obj: Any, name: str) -> DeviceArray:
    """The :class:`DeviceArray` of a device argument (``__cuda_array_interface__`` or DLPack)."""
    if not hasattr(obj, "__cuda_array_interface__"):
        dev = _dlpack_device(obj)
        if dev is None or dev[0] not in (_DLPACK_CUDA, _DLPACK_CUDA_MANAGED):
            raise TypeError(f"{name} is not a CUDA device array")
        obj = _cupy(f"{name} (a DLPack device array)").from_dlpack(obj)
    return parse_cuda_array_interface(obj, name)


def resolve_device(arr: DeviceArray, name: str) -> DeviceArray:
    """``arr`` with its owning device filled in (asks the driver); ValueError for host memory
    that claims to be a device array."""
    if arr.device is not None:
        return arr
    if arr.size == 0 or arr.ptr == 0:
        return dataclasses.replace(arr, device=int(_C.device.current_device()))
    dev = int(_C.device.pointer_device(arr.ptr))
    if dev < 0:
        raise ValueError(
            f"{name} exposes __cuda_array_interface__ but its memory (0x{arr.ptr:x}) is host "
            "memory, not CUDA device memory"
        )
    return dataclasses.replace(arr, device=dev)


def classify(args: dict[str, Any]) -> bool:
    """True when the (non-None) arguments are device arrays, False when they are all host data.

    Mixed host and device arguments raise ``TypeError`` naming one of each.
    """
    on_device = {k: is_device_array(v) for k, v in args.items() if v is not None}
    if not on_device or not any(on_device.values()):
        return False
    if all(on_device.values()):
        return True
    dev = next(k for k, d in on_device.items() if d)
    host = next(k for k, d in on_device.items() if not d)
    raise TypeError(
        f"{dev} is a CUDA device array but {host} is host data: pass both on the same device "
        f"(cupy.asarray({host}) to move it there, or {dev}.get() to bring {dev} back); "
        "latentforge never copies between host and device implicitly"
    )


class Call:
    """The device arrays of one op call: checks them together and launches on one stream.

    ``Call(what, x=x, w=w)`` parses every argument, checks float32, that they share one device
    and the CUDA build/device; ``call.contiguous("x")`` insists on C order; ``call.empty(shape)``
    allocates an output on that device; ``call.launch(fn, ...)`` makes the launch stream wait for
    every input's producer stream and calls ``fn(device, stream, ...)``.
    """

    def __init__(self, what: str, **arrays: Any) -> None:
        require_cuda(what)
        self.what = what
        self.arrays: dict[str, DeviceArray] = {}
        for name, obj in arrays.items():
            if obj is None:
                continue
            arr = device_array(obj, name)
            if arr.dtype != np.float32:
                raise TypeError(
                    f"{what}: {name} must be float32 on the device, got {arr.dtype} (cast it "
                    f"there with {name}.astype(cupy.float32); device arrays are never converted "
                    "implicitly)"
                )
            self.arrays[name] = resolve_device(arr, name)
        devices = {name: a.device for name, a in self.arrays.items()}
        if devices:
            first, first_dev = next(iter(devices.items()))
            for name, dev in devices.items():
                if dev != first_dev:
                    raise ValueError(
                        f"{what}: {first} is on CUDA device {first_dev} but {name} is on device "
                        f"{dev}; put every argument on one device"
                    )
        self.device = next(iter(devices.values())) if devices else int(_C.device.current_device())
        self._cupy = _cupy(what)

    def __getitem__(self, name: str) -> DeviceArray:
        return self.arrays[name]

    def contiguous(self, name: str) -> DeviceArray:
        arr = self.arrays[name]
        if not arr.c_contiguous:
            raise ValueError(
                f"{self.what}: {name} must be C-contiguous on the device (got strides "
                f"{arr.strides} for shape {arr.shape}); use cupy.ascontiguousarray({name}) "
                "(device arrays are never copied implicitly)"
            )
        return arr

    def stream(self) -> int:
        with self._cupy.cuda.Device(self.device):
            return int(self._cupy.cuda.get_current_stream().ptr)

    def empty(self, shape: tuple[int, ...], dtype: Any = np.float32):
        with self._cupy.cuda.Device(self.device):
            return self._cupy.empty(shape, dtype=dtype)

    def zeros(self, shape: tuple[int, ...], dtype: Any = np.float32):
        with self._cupy.cuda.Device(self.device):
            return self._cupy.zeros(shape, dtype=dtype)

    def launch(self, fn, *args: Any) -> None:
        stream = self.stream()
        # The launch stream handle in the interface's convention: CuPy's null stream is 0.
        for arr in self.arrays.values():
            # CuPy's null stream (0) is the legacy default stream (1 in the interface).
            if arr.stream is not None and arr.stream != (stream or 1):
                _C.device.stream_wait(stream, arr.stream)
        fn(self.device, stream, *args)


def ptr(obj: Any) -> int:
    """The device address of a CuPy array (or any ``__cuda_array_interface__`` producer)."""
    return int(obj.__cuda_array_interface__["data"][0])


def output_check(call: Call, out: Any, name: str, shape: tuple[int, ...]) -> DeviceArray:
    """Validate a caller-provided device output: float32, writable, C-contiguous, ``shape``, on
    the call's device."""
    arr = resolve_device(device_array(out, name), name)
    if arr.dtype != np.float32:
        raise TypeError(
            f"{call.what}: {name} must be float32 (it is written in place), got {arr.dtype}"
        )
    if arr.readonly:
        raise ValueError(f"{call.what}: {name} must be writable (its interface says read-only)")
    if arr.shape != shape:
        raise ValueError(f"{call.what}: {name} must have shape {shape}, got {arr.shape}")
    if not arr.c_contiguous:
        raise ValueError(f"{call.what}: {name} must be C-contiguous (it is written in place)")
    if arr.device != call.device:
        raise ValueError(
            f"{call.what}: {name} is on CUDA device {arr.device} but the inputs are on device "
            f"{call.device}"
        )
    return arr


# ---------------------------------------------------------------------- the array-module switch
#
# lf.Tensor, the autograd functions, the optimizers, the losses and the models hold either numpy
# arrays (host) or CuPy arrays (device) and run one code path for both: the non-hot array work
# is written against ``xp = array_module(...)`` (numpy or cupy, which share the API), and each
# native kernel call goes to ``_C`` or ``_C.device`` by where its operands live.

_HOST_TYPES = (np.ndarray, np.generic, int, float, bool)


def array_module(*arrays: Any):
    """``numpy``, or the ``cupy`` module when any of ``arrays`` is a device array (CuPy or any
    ``__cuda_array_interface__`` / DLPack producer); ``None`` entries are ignored. Mixing is not
    checked here (the kernels' :func:`classify` and CuPy itself refuse it)."""
    for a in arrays:
        if a is None or isinstance(a, _HOST_TYPES):
            continue
        if is_device_array(a):
            return _cupy("a device array")
    return np


def on_device(a: Any) -> bool:
    """True when ``a`` is a device array (cheap for numpy arrays, the common case)."""
    return a is not None and not isinstance(a, _HOST_TYPES) and is_device_array(a)


def as_cupy(obj: Any, what: str):
    """``obj`` (a device array) as a CuPy array sharing its memory: a CuPy array is returned
    unchanged, a ``__cuda_array_interface__`` producer is wrapped, a DLPack one imported."""
    cupy = _cupy(what)
    if isinstance(obj, cupy.ndarray):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return cupy.asarray(obj)
    return cupy.from_dlpack(obj)


def as_array(obj: Any, name: str):
    """``obj`` as an array where it lives: a CuPy array (sharing memory) for a device array,
    ``np.asarray(obj)`` otherwise (TypeError naming ``name`` when it cannot be converted)."""
    if on_device(obj):
        return as_cupy(obj, name)
    try:
        return np.asarray(obj)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} cannot be converted to an array: {exc}") from None


def parse_device(device: Any, name: str = "device") -> tuple[str, int | None]:
    """Read a ``device=`` argument: ``None`` (follow the input), ``"cpu"``, ``"cuda"`` (the
    current CUDA device) or ``"cuda:N"``. Returns ``(kind, index)`` with kind ``"auto"``,
    ``"cpu"`` or ``"cuda"``; ValueError naming ``name`` for anything else. Whether CUDA is usable
    is checked when the device is used (:func:`use_device`), not here."""
    if device is None:
        return "auto", None
    if not isinstance(device, str):
        raise TypeError(f"{name} must be None, 'cpu', 'cuda' or 'cuda:N', got "
                        f"{type(device).__name__}")
    spec = device.strip().lower()
    if spec == "cpu":
        return "cpu", None
    if spec == "cuda":
        return "cuda", None
    if spec.startswith("cuda:") and spec[5:].isdigit():
        return "cuda", int(spec[5:])
    raise ValueError(f"{name} must be None, 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def use_device(device: Any, name: str = "device") -> tuple[str, int | None]:
    """:func:`parse_device`, and for a CUDA device: RuntimeError when this build or machine has
    no CUDA (saying which), ValueError for an index beyond the machine's devices."""
    kind, index = parse_device(device, name)
    if kind == "cuda":
        require_cuda(f"{name}={device!r}")
        count = int(_C.cuda_device_count())
        if index is not None and index >= count:
            raise ValueError(f"{name}={device!r}: CUDA device {index} is out of range "
                             f"({count} CUDA device{'s' if count != 1 else ''} on this machine)")
        _cupy(f"{name}={device!r}")
    return kind, index


def device_of(a: Any) -> str:
    """``"cpu"`` for host data, ``"cuda:N"`` for a device array on device N."""
    if not on_device(a):
        return "cpu"
    arr = resolve_device(device_array(a, "array"), "array")
    return f"cuda:{arr.device}"


def to_device(a: Any, kind: str, index: int | None = None, name: str = "array"):
    """``a`` moved where ``kind`` says, on request (this is the one place data crosses):
    ``"cuda"``: a CuPy array on device ``index`` (the current one when None), copied from the
    host if ``a`` is host data; ``"cpu"``: a numpy array, copied back if ``a`` is on a device.
    An array already there is returned as it is (a device array on another device than
    ``index``: ValueError, never a silent peer copy)."""
    if kind == "cpu":
        if on_device(a):
            return _cupy(name).asnumpy(as_cupy(a, name))
        return a
    cupy = _cupy(name)
    if on_device(a):
        a = as_cupy(a, name)
        if index is not None and int(a.device.id) != index:
            raise ValueError(f"{name} is on CUDA device {int(a.device.id)}, not cuda:{index}; "
                             f"move it first (cupy.asarray under cupy.cuda.Device({index}))")
        return a
    if index is None:
        return cupy.asarray(a)
    with cupy.cuda.Device(index):
        return cupy.asarray(a)
