"""A CUDA device played by host memory, for testing the device paths on a machine without a GPU.

* :class:`FakeArray` is a CuPy-like array over a numpy array. It is as strict as CuPy where
  CuPy is strict: ``np.asarray(x)`` and every other implicit conversion to numpy raise
  ``TypeError``; a numpy array (not a scalar) mixed into one of its ufuncs, numpy functions or
  indexing raises ``TypeError``; a reduction returns a 0-d array, not a scalar. It exposes
  ``__cuda_array_interface__`` (v3) over its host memory.
* :class:`FakeCupy` is the ``cupy`` module over numpy: ``cupy.asarray`` copies host data "to the
  device", ``cupy.asnumpy`` / ``.get()`` copy back, every other function refuses numpy arrays.
* :class:`FakeDeviceEntries` stands in for ``latentforge._C.device``: each entry runs the CPU
  kernel on the raw pointers it is given, so a wrong pointer, leading dimension, flag or size
  shows up as a wrong result. With ``strict=True`` (the default) its ``pointer_device`` says -1
  (host memory) for any address outside a live :class:`FakeArray`, so a numpy array handed to a
  device kernel is refused as it would be on a GPU.

The CUDA kernels themselves are not involved: they are compared with the CPU kernels through the
emulator (tests/ops/test_*_cuda.py) and on a GPU (tests/test_device_cupy.py).
"""

from __future__ import annotations

import ctypes
import types
import weakref
from typing import Any

import numpy as np

from latentforge import _C, _device

_LIVE: weakref.WeakValueDictionary[int, np.ndarray] = weakref.WeakValueDictionary()


def _base(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _register(a: np.ndarray) -> None:
    b = _base(a)
    if b.nbytes:
        _LIVE[id(b)] = b


def fake_pointer_device(ptr: int) -> int:
    """0 when ``ptr`` lies in the memory of a live FakeArray, -1 otherwise (host memory)."""
    for b in list(_LIVE.values()):
        start = b.ctypes.data
        if start <= ptr < start + b.nbytes:
            return 0
    return -1


def _refuse_host(x: Any, where: str) -> None:
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(f"Unsupported type {type(x)} in {where} (fake CuPy: a host numpy array "
                        "mixed with device arrays)")


def _unwrap(x: Any, where: str) -> Any:
    if isinstance(x, FakeArray):
        return x.a
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, where) for v in x)
    _refuse_host(x, where)
    return x


def _wrap(r: Any) -> Any:
    if isinstance(r, np.ndarray):
        return FakeArray(r)
    if isinstance(r, np.generic) and r.dtype.kind in "biufc":
        return FakeArray(np.asarray(r))  # CuPy reductions return 0-d arrays
    if isinstance(r, tuple):
        return tuple(_wrap(v) for v in r)
    if isinstance(r, list):
        return [_wrap(v) for v in r]
    return r


class FakeArray(np.lib.mixins.NDArrayOperatorsMixin):
    """A CuPy-like device array over host memory (see the module docstring)."""

    __slots__ = ("a", "__weakref__")

    def __init__(self, a: np.ndarray):
        object.__setattr__(self, "a", a)
        _register(a)

    @property
    def __cuda_array_interface__(self) -> dict:
        a = self.a
        return {
            "shape": a.shape,
            "typestr": a.dtype.str,
            "data": (a.ctypes.data if a.size else 0, False),
            "version": 3,
            "strides": None if a.flags.c_contiguous else a.strides,
            "stream": None,
        }

    @property
    def device(self):
        return types.SimpleNamespace(id=0)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` to construct a NumPy array explicitly. (fake CuPy)")

    def get(self) -> np.ndarray:
        return self.a.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        where = f"{ufunc.__name__}.{method}"
        args = [_unwrap(x, where) for x in inputs]
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, where) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        where = func.__name__
        args = _unwrap(args, where)
        kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
        return _wrap(func(*args, **kwargs))

    def __getattr__(self, name: str):
        if name.startswith("__"):  # no __array_interface__ / __array_struct__: CuPy has none
            raise AttributeError(name)
        attr = getattr(self.a, name)
        if callable(attr):
            def method(*args, **kwargs):
                args = _unwrap(args, name)
                kwargs = {k: _unwrap(v, name) for k, v in kwargs.items()}
                return _wrap(attr(*args, **kwargs))
            return method
        return _wrap(attr)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "shape":
            self.a.shape = value
        else:
            raise AttributeError(name)

    def __getitem__(self, key):
        return _wrap(self.a[_unwrap(key, "__getitem__")])

    def __setitem__(self, key, value) -> None:
        self.a[_unwrap(key, "__setitem__")] = _unwrap(value, "__setitem__")

    def __len__(self) -> int:
        return len(self.a)

    def __iter__(self):
        return (_wrap(v) for v in self.a)

    def __float__(self) -> float:
        return float(self.a)

    def __int__(self) -> int:
        return int(self.a)

    def __bool__(self) -> bool:
        return bool(self.a)

    def __repr__(self) -> str:
        return f"fake_device_array({self.a!r})"

    def __deepcopy__(self, memo):
        return FakeArray(self.a.copy())

    def __copy__(self):
        return FakeArray(self.a.copy())

    def __reduce__(self):
        raise TypeError("fake device arrays are not pickled (as a test guard)")


class FakeCupy:
    """The ``cupy`` module over numpy (see the module docstring)."""

    ndarray = FakeArray

    def __init__(self):
        self.stream_ptr = 0
        outer = self

        class Device:
            def __init__(self, index=0):
                self.id = int(index)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

        self.cuda = types.SimpleNamespace(
            Device=Device,
            get_current_stream=lambda: types.SimpleNamespace(ptr=outer.stream_ptr,
                                                             synchronize=lambda: None),
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        )

    def asarray(self, a, dtype=None, order=None):
        if isinstance(a, FakeArray):
            return a if dtype is None or np.dtype(dtype) == a.dtype else FakeArray(
                a.a.astype(dtype))
        if hasattr(a, "__cuda_array_interface__"):  # another producer: share its memory
            cai = a.__cuda_array_interface__
            shape, dt = cai["shape"], np.dtype(cai["typestr"])
            n = int(np.prod(shape)) * dt.itemsize
            buf = (ctypes.c_byte * n).from_address(cai["data"][0]) if n else bytearray()
            view = np.frombuffer(buf, dtype=dt).reshape(shape)
            return FakeArray(view if dtype is None else view.astype(dtype))
        return FakeArray(np.array(a, dtype=dtype, order=order or "K", copy=True))

    def array(self, a, dtype=None, copy=True, order="K"):
        if isinstance(a, FakeArray):
            return FakeArray(np.array(a.a, dtype=dtype, copy=True, order=order))
        return FakeArray(np.array(a, dtype=dtype, copy=True, order=order))

    def asnumpy(self, a):
        return a.get() if isinstance(a, FakeArray) else np.asarray(a)

    def ascontiguousarray(self, a, dtype=None):
        return FakeArray(np.ascontiguousarray(_unwrap(a, "ascontiguousarray"), dtype=dtype))

    def get_array_module(self, *args):
        return self if any(isinstance(a, FakeArray) for a in args) else np

    def __getattr__(self, name: str):
        f = getattr(np, name)
        if isinstance(f, type) or not callable(f):
            return f

        def fn(*args, **kwargs):
            args = _unwrap(args, name)
            kwargs = {k: _unwrap(v, name) for k, v in kwargs.items()}
            return _wrap(f(*args, **kwargs))

        return fn


def view(ptr: int, shape, row_stride: int | None = None, dtype=np.float32) -> np.ndarray:
    """A numpy view of ``shape`` at host address ``ptr`` (2-D: rows ``row_stride`` items apart)."""
    dtype = np.dtype(dtype)
    shape = tuple(int(e) for e in shape)
    if not ptr or 0 in shape:
        return np.zeros(shape, dtype)
    rows_stride = shape[-1] if row_stride is None else row_stride
    extent = (shape[0] - 1) * rows_stride + shape[-1] if len(shape) == 2 else int(np.prod(shape))
    buf = (ctypes.c_byte * (extent * dtype.itemsize)).from_address(ptr)
    flat = np.frombuffer(buf, dtype=dtype)
    if len(shape) == 2:
        return np.lib.stride_tricks.as_strided(
            flat, shape, (rows_stride * dtype.itemsize, dtype.itemsize)
        )
    return flat.reshape(shape)


class FakeDeviceEntries:
    """Stands in for ``_C.device``: the CPU kernels run on the pointers the Python layer passes.

    ``launches`` records ``(entry, device, stream)`` for every launch; ``waits`` the stream waits.
    """

    def __init__(self, strict: bool = True):
        self.strict = strict
        self.waits: list[tuple[int, int]] = []
        self.launches: list[tuple[str, int, int]] = []
        self.devices: dict[int, int] = {}  # ptr -> device, for tests that place arrays

    def names(self) -> list[str]:
        return [name for name, _, _ in self.launches]

    def current_device(self):
        return 0

    def pointer_device(self, ptr):
        if ptr in self.devices:
            return self.devices[ptr]
        return fake_pointer_device(ptr) if self.strict else 0

    def stream_wait(self, consumer, producer):
        self.waits.append((consumer, producer))

    def stream_synchronize(self, stream):
        pass

    def _launch(self, name, device, stream):
        self.launches.append((name, device, stream))

    # ----------------------------------------------------------- optimizer entries (optim.py)
    # (and nn.py: the Philox draws of Dropout)

    def optim_step(self, device, stream, rule, param, state0, state1, grad, n, lr,
                   momentum=0.0, alpha=0.0, rho=0.0, beta1=0.0, beta2=0.0, eps=0.0,
                   weight_decay=0.0, l1=0.0, step=1):
        self._launch("optim_step", device, stream)
        p, g = view(param, (n,)), view(grad, (n,))
        s0 = view(state0, (n,)) if state0 else None
        s1 = view(state1, (n,)) if state1 else None
        if rule == 0:
            _C.optim_sgd(p, g, lr, weight_decay, l1)
        elif rule in (1, 2):
            _C.optim_momentum(p, g, s0, lr, momentum, rule == 2, weight_decay, l1)
        elif rule == 3:
            _C.optim_adagrad(p, g, s0, lr, eps, weight_decay, l1)
        elif rule == 4:
            _C.optim_rmsprop(p, g, s0, s1, lr, alpha, eps, momentum, weight_decay, l1)
        elif rule == 5:
            _C.optim_adam(p, g, s0, s1, step, lr, beta1, beta2, eps, weight_decay, l1)
        elif rule == 6:
            _C.optim_adadelta(p, g, s0, s1, lr, rho, eps, weight_decay, l1)
        else:
            raise ValueError(f"optim_step: unknown rule {rule}")

    def max_norm(self, device, stream, W, rescaled, rows, cols, max_norm, axis):
        self._launch("max_norm", device, stream)
        if axis not in (0, 1):
            raise ValueError("axis must be 0 or 1")
        w = view(W, (rows, cols))
        if rescaled and rows and cols:
            norms = np.sqrt((w.astype(np.float64) ** 2).sum(axis=1 - axis))
            view(rescaled, norms.shape, dtype=np.int32)[...] = norms > max_norm
        _C.optim_max_norm(w, max_norm, axis)

    def uniform(self, device, stream, u, n, seed, stream_id, offset):
        self._launch("uniform", device, stream)
        view(u, (n,))[...] = _C.uniform(n, seed, stream_id, offset)

    # ----------------------------------------------------------- RBM entries (models/rbm.py)

    def sigmoid_bernoulli(self, device, stream, p, s, z, n, seed, stream_id, offset):
        self._launch("sigmoid_bernoulli", device, stream)
        rp, rs = _C.sigmoid_bernoulli(view(z, (n,)).copy(), seed, stream_id, offset)
        view(p, (n,))[...] = rp
        view(s, (n,))[...] = rs

    def rbm_free_energy(self, device, stream, F, V, b_v, Z, rows, n_visible, n_hidden):
        self._launch("rbm_free_energy", device, stream)
        view(F, (rows,))[...] = _C.rbm_free_energy(
            view(V, (rows, n_visible)), view(b_v, (n_visible,)), view(Z, (rows, n_hidden)))

    # ----------------------------------------------------------- lf.ops entries (ops.py)

    def gemm(self, device, stream, C, ldc, A, lda, ta, B, ldb, tb, M, N, K, alpha, beta, bias,
             act):
        self._launch("gemm", device, stream)
        a = view(A, (K, M) if ta else (M, K), lda)
        b = view(B, (N, K) if tb else (K, N), ldb)
        c = view(C, (M, N), ldc)
        bv = view(bias, (N,)) if bias else None
        c[...] = _C.gemm(a, b, c.copy() if beta else None, ta, tb, alpha, beta, bv, act)

    def pool2d_forward(self, device, stream, y, argmax, x, g, mode):
        self._launch("pool2d_forward", device, stream)
        n, c, h, w, kh, kw, sh, sw, ph, pw = g
        args = (view(x, (n, c, h, w)), (kh, kw), (sh, sw), (ph, pw))
        if mode == 0:
            ref, idx = _C.max_pool2d_forward(*args)
            view(argmax, idx.shape, dtype=np.int32)[...] = idx
        else:
            ref = (_C.avg_pool2d_forward if mode == 1 else _C.l2_pool2d_forward)(*args)
        view(y, ref.shape)[...] = ref

    def conv2d_forward(self, device, stream, y, x, w, bias, g):
        self._launch("conv2d_forward", device, stream)
        N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw = g
        ref = _C.conv2d_forward(
            view(x, (N, C_in, H, W)), view(w, (C_out, C_in, kh, kw)),
            view(bias, (C_out,)) if bias else None, (sh, sw), (ph, pw),
        )
        view(y, ref.shape)[...] = ref

    # ----------------------------------------------------------- autograd entries (functional.py)
    # Each runs the CPU kernel of the host path (log-softmax, which has none, runs the CUDA
    # kernel's source through the emulator when it is built, else the kernel's float64 contract).

    def activation_forward(self, device, stream, y, x, n, activation):
        self._launch("activation_forward", device, stream)
        view(y, (n,))[...] = _C.activation_forward(view(x, (n,)), activation)

    def activation_backward(self, device, stream, dx, dy, y, n, activation):
        self._launch("activation_backward", device, stream)
        view(dx, (n,))[...] = _C.activation_backward(view(dy, (n,)), view(y, (n,)), activation)

    def softmax_rows(self, device, stream, y, x, rows, cols):
        self._launch("softmax_rows", device, stream)
        view(y, (rows, cols))[...] = _C.softmax_rows(view(x, (rows, cols)))

    def softmax_rows_backward(self, device, stream, dx, dy, y, rows, cols):
        self._launch("softmax_rows_backward", device, stream)
        view(dx, (rows, cols))[...] = _C.softmax_rows_backward(view(dy, (rows, cols)),
                                                               view(y, (rows, cols)))

    @staticmethod
    def _emu():
        """The CUDA emulator (test-only; None in a LATENTFORGE_EMU=OFF build)."""
        try:
            from latentforge import _emu
        except ImportError:
            return None
        return _emu

    def log_softmax_rows(self, device, stream, y, x, rows, cols):
        self._launch("log_softmax_rows", device, stream)
        xa = view(x, (rows, cols))
        emu = self._emu()
        if emu is not None:
            out = emu.elementwise_cuda("log_softmax_forward", xa.copy())
        else:
            z = xa.astype(np.float64) - xa.max(axis=1, keepdims=True)
            out = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        view(y, (rows, cols))[...] = out

    def log_softmax_rows_backward(self, device, stream, dx, dy, y, rows, cols):
        self._launch("log_softmax_rows_backward", device, stream)
        dya, ya = view(dy, (rows, cols)), view(y, (rows, cols))
        emu = self._emu()
        if emu is not None:
            out = emu.elementwise_cuda("log_softmax_backward", dya.copy(), ya.copy())
        else:
            d64 = dya.astype(np.float64)
            out = d64 - np.exp(ya.astype(np.float64)) * d64.sum(axis=1, keepdims=True)
        view(dx, (rows, cols))[...] = out

    def conv2d_backward_data(self, device, stream, dx, dy, w, g):
        self._launch("conv2d_backward_data", device, stream)
        N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw = g
        oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        view(dx, (N, C_in, H, W))[...] = _C.conv2d_backward_data(
            view(dy, (N, C_out, oh, ow)), view(w, (C_out, C_in, kh, kw)), (H, W), (sh, sw),
            (ph, pw))

    def conv2d_backward_weights(self, device, stream, dw, db, dy, x, g):
        self._launch("conv2d_backward_weights", device, stream)
        N, C_in, H, W, C_out, kh, kw, sh, sw, ph, pw = g
        oh, ow = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        gw, gb = _C.conv2d_backward_weights(view(dy, (N, C_out, oh, ow)),
                                            view(x, (N, C_in, H, W)), (kh, kw), (sh, sw),
                                            (ph, pw), bias=bool(db))
        view(dw, gw.shape)[...] = gw
        if db:
            view(db, gb.shape)[...] = gb

    def pool2d_backward(self, device, stream, dx, dy, argmax, x, y, g, mode):
        self._launch("pool2d_backward", device, stream)
        n, c, h, w, kh, kw, sh, sw, ph, pw = g
        oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
        dya = view(dy, (n, c, oh, ow))
        k, s, p = (kh, kw), (sh, sw), (ph, pw)
        if mode == 0:
            ref = _C.max_pool2d_backward(dya, view(argmax, (n, c, oh, ow), dtype=np.int32),
                                         (h, w), k, s, p)
        elif mode == 1:
            ref = _C.avg_pool2d_backward(dya, (h, w), k, s, p)
        else:
            ref = _C.l2_pool2d_backward(dya, view(x, (n, c, h, w)), view(y, (n, c, oh, ow)), k, s,
                                        p)
        view(dx, (n, c, h, w))[...] = ref

    def batch_norm_forward_train(self, device, stream, y, mean, invstd, running_mean,
                                 running_var, x, gamma, beta, N, C, HW, momentum, eps):
        self._launch("batch_norm_forward_train", device, stream)
        opt = [None if q == 0 else view(q, (C,)) for q in (gamma, beta, running_mean, running_var)]
        out, m, inv = _C.batch_norm_forward_train(view(x, (N, C, HW, 1)), opt[0], opt[1], opt[2],
                                                  opt[3], momentum, eps)
        view(y, (N, C, HW, 1))[...] = out
        view(mean, (C,))[...] = m
        view(invstd, (C,))[...] = inv

    def batch_norm_forward_eval(self, device, stream, y, x, gamma, beta, mean, var, N, C, HW,
                                eps):
        self._launch("batch_norm_forward_eval", device, stream)
        opt = [None if q == 0 else view(q, (C,)) for q in (gamma, beta)]
        view(y, (N, C, HW, 1))[...] = _C.batch_norm_forward_eval(
            view(x, (N, C, HW, 1)), opt[0], opt[1], view(mean, (C,)), view(var, (C,)), eps)

    def batch_norm_backward(self, device, stream, dx, dgamma, dbeta, dy, x, mean, invstd, gamma,
                            N, C, HW, training):
        self._launch("batch_norm_backward", device, stream)
        fn = _C.batch_norm_backward_train if training else _C.batch_norm_backward_eval
        gx, gg, gb = fn(view(dy, (N, C, HW, 1)), view(x, (N, C, HW, 1)), view(mean, (C,)),
                        view(invstd, (C,)), None if gamma == 0 else view(gamma, (C,)))
        view(dx, (N, C, HW, 1))[...] = gx
        for ptr, val in ((dgamma, gg), (dbeta, gb)):
            if ptr:
                view(ptr, (C,))[...] = val

    def topk_rows(self, device, stream, y, mask, nan_flag, x, rows, cols, k):
        self._launch("topk_rows", device, stream)
        xa = view(x, (rows, cols))
        bad = np.isnan(xa).any(axis=1)
        out, m = _C.topk_rows(np.where(bad[:, None], 0, xa).astype(np.float32), k)
        out[bad], m[bad] = 0, 0  # a NaN row: y = 0, mask = 0 and the flag set (ops/topk.h)
        view(y, (rows, cols))[...] = out
        view(mask, (rows, cols), dtype=np.uint8)[...] = m
        if nan_flag:
            view(nan_flag, (1,), dtype=np.int32)[...] = int(bad.any())

    def topk_rows_backward(self, device, stream, dx, dy, mask, rows, cols):
        self._launch("topk_rows_backward", device, stream)
        view(dx, (rows, cols))[...] = _C.topk_rows_backward(
            view(dy, (rows, cols)), view(mask, (rows, cols), dtype=np.uint8))

    def local_contrast_norm2d_forward(self, device, stream, y, mean, sigma_map, c, x, N, C, H,
                                      W, size, sigma, eps):
        self._launch("local_contrast_norm2d_forward", device, stream)
        out = _C.local_contrast_norm2d_forward(view(x, (N, C, H, W)), size, sigma, eps)
        for ptr, val in zip((y, mean, sigma_map, c), out):
            view(ptr, val.shape)[...] = val

    def local_contrast_norm2d_backward(self, device, stream, dx, work, dy, x, mean, sigma_map, c,
                                       N, C, H, W, size, sigma, eps):
        self._launch("local_contrast_norm2d_backward", device, stream)
        assert work and fake_pointer_device(work) == 0, "the work buffer must be device memory"
        view(dx, (N, C, H, W))[...] = _C.local_contrast_norm2d_backward(
            view(dy, (N, C, H, W)), view(x, (N, C, H, W)), view(mean, (N, H, W)),
            view(sigma_map, (N, H, W)), view(c, (N,)), size, sigma, eps)

    def locally_connected2d_forward(self, device, stream, y, x, w, bias, g):
        self._launch("locally_connected2d_forward", device, stream)
        N, C_in, H, W, C_out, kh, kw, sh, sw = g
        oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
        ref = _C.locally_connected2d_forward(
            view(x, (N, C_in, H, W)), view(w, (oh, ow, C_out, C_in, kh, kw)),
            view(bias, (C_out, oh, ow)) if bias else None, (sh, sw))
        view(y, ref.shape)[...] = ref

    def locally_connected2d_backward_data(self, device, stream, dx, dy, w, g):
        self._launch("locally_connected2d_backward_data", device, stream)
        N, C_in, H, W, C_out, kh, kw, sh, sw = g
        oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
        view(dx, (N, C_in, H, W))[...] = _C.locally_connected2d_backward_data(
            view(dy, (N, C_out, oh, ow)), view(w, (oh, ow, C_out, C_in, kh, kw)), (H, W),
            (sh, sw))

    def locally_connected2d_backward_weights(self, device, stream, dw, db, dy, x, g):
        self._launch("locally_connected2d_backward_weights", device, stream)
        N, C_in, H, W, C_out, kh, kw, sh, sw = g
        oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
        gw, gb = _C.locally_connected2d_backward_weights(
            view(dy, (N, C_out, oh, ow)), view(x, (N, C_in, H, W)), (kh, kw), (sh, sw),
            bias=bool(db))
        view(dw, gw.shape)[...] = gw
        if db:
            view(db, gb.shape)[...] = gb

    # ----------------------------------------------------------- t-SNE entries (_tsne.py)
    # knn, the perplexity calibration, the symmetrisation and the exact gradient run the host
    # kernels (so device affinities and exact gradients equal the host's bit for bit); the
    # Barnes-Hut gradient and the optimiser steps run the CUDA kernels' source through the
    # emulator when it is built (the per-point criterion of csrc/ops/tsne_bh.h), else their CPU
    # twins (_C.tsne_gradient_bh and the step's numpy reference). Error flags are set as the
    # device kernels set them (the host kernels would raise instead).

    def knn(self, device, stream, indices, sq_distances, error_flag, X, n, d, k):
        self._launch("knn", device, stream)
        if not 1 <= k <= n - 1:  # argument errors are raised before any launch
            raise ValueError(f"k must satisfy 1 <= k <= n - 1 = {n - 1}, got {k}")
        x = view(X, (n, d))
        idx, dist = view(indices, (n, k), dtype=np.int64), view(sq_distances, (n, k))
        flag = view(error_flag, (1,), dtype=np.int32) if error_flag else None
        try:
            ri, rd = _C.knn(x.copy(), k)
        except ValueError:  # non-finite X or an overflowing squared norm: the device's flag
            if flag is None:
                raise
            flag[0] = 1
            idx[...], dist[...] = 0, 0.0  # written, indices in [0, n)
            return
        idx[...], dist[...] = ri, rd
        if flag is not None:
            flag[0] = 0

    def tsne_perplexity(self, device, stream, P, beta, D, rows, k, perplexity, tol, max_iter):
        self._launch("tsne_perplexity", device, stream)
        rp, rb = _C.tsne_perplexity(view(D, (rows, k)).copy(), perplexity, tol, max_iter)
        view(P, (rows, k))[...] = rp
        view(beta, (rows,))[...] = rb

    def tsne_symmetrize(self, device, stream, indptr, indices, data, error, nbr, P, n, k):
        self._launch("tsne_symmetrize", device, stream)
        nb = view(nbr, (n, k), dtype=np.int64).copy()
        pc = view(P, (n, k)).copy()
        ip = view(indptr, (n + 1,), dtype=np.int64)
        err = view(error, (1,), dtype=np.int32)
        # The first invalid row (out of range, self, non-finite, repeated), as the kernel flags.
        s = np.sort(nb, axis=1)
        bad = ((nb < 0) | (nb >= n) | (nb == np.arange(n)[:, None]) | ~np.isfinite(pc)).any(1)
        bad |= (s[:, 1:] == s[:, :-1]).any(axis=1)
        if bad.any():
            err[0] = int(np.argmax(bad))
            ip[...] = 0
            return
        ri, rj, rv = _C.tsne_symmetrize(nb, pc, n)
        ip[...] = ri
        view(indices, (len(rj),), dtype=np.int64)[...] = rj
        view(data, (len(rv),))[...] = rv
        err[0] = -1

    def tsne_gradient_exact(self, device, stream, grad, kl, Y, P, n, exaggeration):
        self._launch("tsne_gradient_exact", device, stream)
        g, k = _C.tsne_gradient_exact(view(Y, (n, 2)).copy(), view(P, (n, n)).copy(),
                                      exaggeration, bool(kl))
        view(grad, (n, 2))[...] = g
        if kl:
            view(kl, (1,), dtype=np.float64)[0] = k

    def tsne_gradient_bh(self, device, stream, grad, kl, Y, indptr, indices, pvals, n, nnz,
                         theta, exaggeration):
        self._launch("tsne_gradient_bh", device, stream)
        csr = (view(indptr, (n + 1,), dtype=np.int64).copy(),
               view(indices, (nnz,), dtype=np.int64).copy(), view(pvals, (nnz,)).copy())
        emu = self._emu()
        fn = _C.tsne_gradient_bh if emu is None else emu.tsne_gradient_bh_cuda
        g, k = fn(view(Y, (n, 2)).copy(), *csr, theta, exaggeration, bool(kl))
        view(grad, (n, 2))[...] = g
        if kl:
            view(kl, (1,), dtype=np.float64)[0] = k

    @staticmethod
    def _step_state(Y, update, gains, n):
        return tuple(view(p, (n, 2), dtype=np.float64) for p in (Y, update, gains))

    def tsne_step(self, device, stream, Y, update, gains, finite, grad, n, momentum,
                  learning_rate, min_gain):
        self._launch("tsne_step", device, stream)
        views = self._step_state(Y, update, gains, n)
        state = tuple(v.copy() for v in views)
        g = view(grad, (n, 2)).copy()
        emu = self._emu()
        if emu is not None:
            ok = emu.tsne_step_cuda(*state, g, momentum, learning_rate, min_gain)
        else:
            from latentforge.models.tsne import _gains_step

            assert min_gain == 0.01, "the numpy fallback of the fake tsne_step"
            ok = _gains_step(*state, g, momentum, learning_rate)
        for v, s in zip(views, state):
            v[...] = s
        if finite:
            view(finite, (1,), dtype=np.int32)[0] = int(ok)

    def tsne_step_bh(self, device, stream, Y, update, gains, finite, kl, indptr, indices,
                     pvals, n, nnz, theta, exaggeration, momentum, learning_rate, min_gain):
        self._launch("tsne_step_bh", device, stream)
        views = self._step_state(Y, update, gains, n)
        state = tuple(v.copy() for v in views)
        csr = (view(indptr, (n + 1,), dtype=np.int64).copy(),
               view(indices, (nnz,), dtype=np.int64).copy(), view(pvals, (nnz,)).copy())
        emu = self._emu()
        if emu is not None:
            k, ok = emu.tsne_step_bh_cuda(*state, *csr, theta, exaggeration, momentum,
                                          learning_rate, min_gain, bool(kl))
        else:
            from latentforge.models.tsne import _gains_step

            assert min_gain == 0.01, "the numpy fallback of the fake tsne_step_bh"
            y32 = state[0].astype(np.float32)
            if not np.isfinite(y32).all():
                k, ok = np.nan, False
            else:
                g, k = _C.tsne_gradient_bh(y32, *csr, theta, exaggeration, bool(kl))
                ok = _gains_step(*state, g, momentum, learning_rate)
        for v, s in zip(views, state):
            v[...] = s
        view(finite, (1,), dtype=np.int32)[0] = int(ok)
        if kl:
            view(kl, (1,), dtype=np.float64)[0] = k

    # ----------------------------------------------------------- word2vec entries
    # (models/word2vec.py). The noise sampler runs the CPU samplers, whose draws the CUDA
    # sampler's equal exactly (tests/ops/test_word2vec_cuda.py). The training step runs the CUDA
    # kernel's own source through the emulator (its shards one after another, i.e. the serial
    # order of the job), which is not the CPU kernel bit for bit (other dot-product order, no
    # batched variant); without the emulator, the CPU kernel's classic updates on one thread.
    # The emulator returns only the totals: they go to shard 0's slots, the others get 0 (the
    # Python side sums the slots).

    def alias_sample(self, device, stream, out, prob, alias, V, n, seed, counter):
        self._launch("alias_sample", device, stream)
        if prob:
            draws = _C.alias_sample(view(prob, (V,)).copy(),
                                    view(alias, (V,), dtype=np.int32).copy(), n, seed, counter)
        else:  # no table: the log-uniform sampler (ops/word2vec_cuda.cuh)
            draws = _C.log_uniform_sample(V, n, seed, counter)
        view(out, (n,), dtype=np.int32)[...] = draws

    def word2vec_train(self, device, stream, syn0, syn1, bias, ids, n, sent_ends, S, keep_prob,
                       noise_prob, noise_alias, noise_logq, V, D, blocks, loss_per_block,
                       pairs_per_block, sg, loss, negative, window, alpha, alpha_end, seed,
                       counter, remove_accidental_hits):
        self._launch("word2vec_train", device, stream)
        for ptr in (syn0, syn1, bias, ids, sent_ends, keep_prob, noise_prob, noise_alias,
                    noise_logq, loss_per_block, pairs_per_block):
            assert not ptr or fake_pointer_device(ptr) == 0, "word2vec_train: a host pointer"
        if S == 0:  # the launcher returns without launching
            return
        s0, s1 = view(syn0, (V, D)), view(syn1, (V, D))
        b = view(bias, (V,)) if bias else None

        def opt(ptr, dtype=np.float32):
            return view(ptr, (V,), dtype=dtype).copy() if ptr else None

        args = [view(ids, (n,), dtype=np.int32).copy(),
                view(sent_ends, (S,), dtype=np.int64).copy(), opt(keep_prob), opt(noise_prob),
                opt(noise_alias, np.int32), opt(noise_logq)]
        kw = dict(sg=sg, loss=loss, negative=negative, window=window, alpha=alpha,
                  alpha_end=alpha_end, seed=seed, counter=counter,
                  remove_accidental_hits=remove_accidental_hits)
        a0, a1, ab = s0.copy(), s1.copy(), None if b is None else b.copy()
        emu = self._emu()
        if emu is not None:
            r = emu.word2vec_train_cuda(a0, a1, ab, *args, blocks=blocks, schedule="forward", **kw)
        else:
            r = _C.word2vec_train(a0, a1, ab, *args, batched=False, num_threads=1, **kw)
        s0[...], s1[...] = a0, a1
        if b is not None:
            b[...] = ab
        shards = max(1, min(blocks, S))  # word2vec_cuda_blocks: the slots the kernel writes
        lv = view(loss_per_block, (shards,), dtype=np.float64)
        pv = view(pairs_per_block, (shards,), dtype=np.int64)
        lv[...], pv[...] = 0, 0
        lv[0], pv[0] = r[0], r[2]


def install(monkeypatch):
    """``_C.device`` and ``cupy`` replaced by the fakes (the ``fake_device`` fixture of
    tests/conftest.py); returns a namespace with ``entries`` (the :class:`FakeDeviceEntries`),
    ``cupy`` (the :class:`FakeCupy`) and ``to(a)`` (a host array copied to the fake device)."""
    entries, cupy = FakeDeviceEntries(), FakeCupy()
    monkeypatch.setattr(_C, "device", entries, raising=False)
    monkeypatch.setattr(_C, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(_device, "require_cuda", lambda what: None)
    monkeypatch.setattr(_device, "_cupy", lambda what: cupy)
    return types.SimpleNamespace(entries=entries, cupy=cupy, to=cupy.asarray)
