"""Dense linear algebra and 2-D pooling on latentforge's native kernels.

Input rules are those of :mod:`latentforge._backend`: float32 inputs are used in place,
float64/float16 and non-contiguous inputs are converted to float32 once per call, and
integer/bool/complex/object inputs raise ``TypeError``. The GIL is released while the kernel
runs, so calls from several Python threads run in parallel.

Every op also takes CUDA device arrays (CuPy, or anything with ``__cuda_array_interface__`` or
a CUDA DLPack capsule) and then runs its CUDA kernel on them in place, on CuPy's current stream,
returning a CuPy array: the rules of :mod:`latentforge._device` (float32, C-contiguous, one
device, no mixing with host arrays, never an implicit copy).
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _C, _device
from ._backend import Activation, as_float32, as_float32_matrix
from ._backend import activation as _activation

__all__ = ["avg_pool2d", "conv2d", "gemm", "l2_pool2d", "linear", "max_pool2d"]


def _check_output(C: np.ndarray, shape: tuple[int, int], *inputs: np.ndarray) -> None:
    if not isinstance(C, np.ndarray):
        raise TypeError(f"C must be a numpy array, got {type(C).__name__}")
    if C.dtype != np.float32:
        raise TypeError(f"C must be float32 (it is written in place), got dtype {C.dtype}")
    if C.ndim != 2 or C.shape != shape:
        raise ValueError(f"C must have shape {shape}, got {C.shape}")
    if not C.flags.c_contiguous:
        raise ValueError("C must be C-contiguous (it is written in place)")
    if not C.flags.writeable:
        raise ValueError("C must be writable")
    for x in inputs:
        if np.may_share_memory(C, x):
            raise ValueError("C must not overlap A, B or bias")


def _check_scalar(v: float, name: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}") from None
    if not np.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    if abs(f) > float(np.finfo(np.float32).max):
        # The kernels compute in float32: such a factor would become infinity there.
        raise ValueError(f"{name} must be within the float32 range (|{name}| <= 3.4e38), got {f}")
    return f


def _device_matrix(call: _device.Call, name: str) -> tuple[_device.DeviceArray, bool, int]:
    """A 2-D device operand as ``(array, transposed, leading dimension)``: a C-ordered matrix is
    read as is, a Fortran-ordered one (a ``.T`` view) as the transpose of a C-ordered one."""
    arr = call[name]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got {arr.ndim}-D array of shape {arr.shape}")
    if arr.c_contiguous:
        return arr, False, max(arr.shape[1], 1)
    if arr.f_contiguous_matrix:
        return arr, True, max(arr.shape[0], 1)
    raise ValueError(
        f"{call.what}: {name} must be C- or Fortran-contiguous on the device (got strides "
        f"{arr.strides} for shape {arr.shape}); use cupy.ascontiguousarray({name})"
    )


def _matmul_device(A, B, C, trans_a, trans_b, alpha, beta, bias, act, names):
    call = _device.Call("gemm", **{names[0]: A, names[1]: B, names[2]: bias})
    a, flip_a, lda = _device_matrix(call, names[0])
    b, flip_b, ldb = _device_matrix(call, names[1])
    # A Fortran-ordered (r, c) matrix is the C-ordered (c, r) one transposed.
    sa = a.shape[::-1] if flip_a else a.shape
    sb = b.shape[::-1] if flip_b else b.shape
    ta, tb = bool(trans_a) ^ flip_a, bool(trans_b) ^ flip_b
    M, K = (sa[1], sa[0]) if ta else sa
    Kb, N = (sb[1], sb[0]) if tb else sb
    if K != Kb:
        raise ValueError(
            f"inner dimensions do not match: op({names[0]}) has shape ({M}, {K}) and "
            f"op({names[1]}) has shape ({Kb}, {N})"
        )
    bias_ptr = 0
    if bias is not None:
        bv = call.contiguous(names[2])
        if bv.shape != (N,):
            raise ValueError(f"{names[2]} must have shape ({N},), got {bv.shape}")
        bias_ptr = bv.ptr
    if C is not None:
        out = _device.output_check(call, C, "C", (M, N))
        for arr in call.arrays.values():
            if arr.ptr == out.ptr and arr.size:
                raise ValueError("C must not overlap A, B or bias")
    elif beta != 0.0:
        raise ValueError("beta != 0 needs an input C (C=None means C is treated as absent)")
    else:
        C = call.empty((M, N))
    call.launch(_C.device.gemm, _device.ptr(C), max(N, 1), a.ptr, lda, ta, b.ptr, ldb, tb, M, N,
                K, alpha, beta, bias_ptr, act)
    return C


def _matmul(A, B, C, trans_a, trans_b, alpha, beta, bias, act,
            names=("A", "B", "bias")) -> np.ndarray:
    if _device.classify({names[0]: A, names[1]: B, names[2]: bias, "C": C}):
        return _matmul_device(A, B, C, trans_a, trans_b, alpha, beta, bias, act, names)
    a, flip_a = as_float32_matrix(A, names[0])
    b, flip_b = as_float32_matrix(B, names[1])
    ta, tb = bool(trans_a) ^ flip_a, bool(trans_b) ^ flip_b
    M = a.shape[1] if ta else a.shape[0]
    K = a.shape[0] if ta else a.shape[1]
    Kb = b.shape[1] if tb else b.shape[0]
    N = b.shape[0] if tb else b.shape[1]
    if K != Kb:
        raise ValueError(
            f"inner dimensions do not match: op({names[0]}) has shape ({M}, {K}) and "
            f"op({names[1]}) has shape ({Kb}, {N})"
        )
    if M * N * 4 >= 2**63:
        raise ValueError(f"output of shape ({M}, {N}) overflows a 64-bit size")
    if bias is not None:
        bias = as_float32(bias, names[2], ndim=1)
        if bias.shape[0] != N:
            raise ValueError(f"{names[2]} must have shape ({N},), got {bias.shape}")
        bias = np.ascontiguousarray(bias)
    if C is not None:
        _check_output(C, (M, N), a, b, *(() if bias is None else (bias,)))
    elif beta != 0.0:
        raise ValueError("beta != 0 needs an input C (C=None means C is treated as absent)")
    return _C.gemm(a, b, C, ta, tb, alpha, beta, bias, act)


def gemm(
    A,
    B,
    C: np.ndarray | None = None,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> np.ndarray:
    """General matrix multiply: ``C = alpha * op(A) @ op(B) + beta * C`` in float32.

    Parameters
    ----------
    A, B : array_like, 2-D
        ``op(A)`` is ``A.T`` when ``trans_a`` else ``A`` (shape ``(M, K)``); likewise ``op(B)``
        with shape ``(K, N)``. float32 inputs with unit column stride (and transposed views of
        C-ordered float32 matrices) are read in place; float64 input is converted once.
    C : ndarray, optional
        float32, C-contiguous, shape ``(M, N)``, not overlapping A or B. Written in place and
        returned. Read only when ``beta != 0`` (with ``beta == 0`` its old contents, NaN
        included, are ignored, as in BLAS). When omitted a new array is returned.
    alpha, beta : float
        Finite scalars.

    Returns
    -------
    ndarray of float32, shape ``(M, N)``.
    """
    alpha = _check_scalar(alpha, "alpha")
    beta = _check_scalar(beta, "beta")
    return _matmul(A, B, C, trans_a, trans_b, alpha, beta, None, Activation.none)


def linear(X, W, b=None, activation: str | None = None, *, trans_w: bool = False) -> np.ndarray:
    """Fused dense layer: ``activation(X @ W + b)`` in one pass over the output.

    Parameters
    ----------
    X : array_like, shape ``(batch, in_features)``
    W : array_like, shape ``(in_features, out_features)``, or ``(out_features, in_features)``
        with ``trans_w=True`` (PyTorch's layout, and the tied-weight case ``X @ W.T``).
    b : array_like, shape ``(out_features,)``, optional
    activation : None, "sigmoid", "tanh" or "relu"
        Applied in the GEMM epilogue together with the bias, on each output tile while it is in
        cache, instead of separate passes over the output.

    Returns
    -------
    ndarray of float32, shape ``(batch, out_features)``.
    """
    act = _activation(activation)
    return _matmul(X, W, None, False, trans_w, 1.0, 0.0, b, act, names=("X", "W", "b (the bias)"))


# ------------------------------------------------------------------------------------ pooling
def pool_pair(v: Any, name: str) -> tuple[int, int]:
    """``v`` (an int or a pair of ints) as an ``(h, w)`` pair; TypeError/ValueError name it."""
    items = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints (h, w), got {len(items)} values")
    out = []
    for item in items:
        if isinstance(item, (bool, np.bool_)):
            raise TypeError(f"{name} must be an int or a pair of ints, got a bool")
        try:
            out.append(operator.index(item))
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a pair of ints (h, w), got {type(item).__name__}"
            ) from None
    return out[0], out[1]


def pool_geometry(shape: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any):
    """Validated ``(kernel, stride, padding, (OH, OW))`` pairs for an input of ``shape``
    ``(N, C, H, W)``: the rules of ``csrc/ops/pool2d.h`` (stride None = kernel_size; stride >= 1;
    0 <= padding <= kernel_size // 2; the window must fit the padded input)."""
    k = pool_pair(kernel_size, "kernel_size")
    s = k if stride is None else pool_pair(stride, "stride")
    p = pool_pair(padding, "padding")
    if min(k) < 1:
        raise ValueError(f"kernel_size must be >= 1, got {k}")
    if min(s) < 1:
        raise ValueError(f"stride must be >= 1, got {s}")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(
            f"padding must satisfy 0 <= padding <= kernel_size // 2, got padding {p} for "
            f"kernel_size {k}"
        )
    if max(k + s + p) >= 2**31:
        raise ValueError("kernel_size, stride and padding must be below 2**31")
    H, W = shape[2], shape[3]
    if H < 1 or W < 1:
        raise ValueError(f"x must have H >= 1 and W >= 1, got shape {tuple(shape)}")
    if k[0] > H + 2 * p[0] or k[1] > W + 2 * p[1]:
        raise ValueError(
            f"kernel_size {k} is larger than the padded input ({H + 2 * p[0]}, {W + 2 * p[1]})"
        )
    out = ((H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1)
    return k, s, p, out


_POOL_MODES = {"max_pool2d": 0, "avg_pool2d": 1, "l2_pool2d": 2}


def _pool_device(what: str, x, kernel_size, stride, padding):
    """Device pooling: ``(y, argmax or None)`` as CuPy arrays."""
    call = _device.Call(what, x=x)
    xa = call.contiguous("x")
    if xa.ndim != 4:
        raise ValueError(f"x must be 4-D, got {xa.ndim}-D array of shape {xa.shape}")
    k, s, p, (oh, ow) = pool_geometry(xa.shape, kernel_size, stride, padding)
    n, c = xa.shape[:2]
    y = call.empty((n, c, oh, ow))
    mode = _POOL_MODES[what]
    argmax = call.empty((n, c, oh, ow), np.int32) if mode == 0 else None
    geometry = (n, c, xa.shape[2], xa.shape[3], *k, *s, *p)
    call.launch(_C.device.pool2d_forward, _device.ptr(y),
                0 if argmax is None else _device.ptr(argmax), xa.ptr, geometry, mode)
    return y, argmax


def _pool_input(x: Any) -> np.ndarray:
    x = as_float32(x, "x", ndim=4)
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def max_pool2d(x, kernel_size, stride=None, padding=0, *, return_indices: bool = False):
    """2-D max pooling of ``x`` of shape ``(N, C, H, W)`` (native float32 kernel).

    ``kernel_size``, ``stride`` (None: ``kernel_size``) and ``padding`` are ints or ``(h, w)``
    pairs, as in PyTorch (``0 <= padding <= kernel_size // 2``; padded positions are -inf).
    Each output is the first maximum of its window in row-major order; a NaN in the window
    makes it NaN. With ``return_indices=True`` also returns the int32 argmax: the flat index
    ``h * W + w`` of the selected element in its input plane.
    """
    if _device.classify({"x": x}):
        y, argmax = _pool_device("max_pool2d", x, kernel_size, stride, padding)
    else:
        x = _pool_input(x)
        k, s, p, _ = pool_geometry(x.shape, kernel_size, stride, padding)
        y, argmax = _C.max_pool2d_forward(x, k, s, p)
    return (y, argmax) if return_indices else y


def avg_pool2d(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """2-D average pooling of ``(N, C, H, W)`` ``x``: window sums divided by ``kh * kw``
    (padding counts as zeros: PyTorch's ``count_include_pad=True``). Arguments as in
    :func:`max_pool2d`."""
    if _device.classify({"x": x}):
        return _pool_device("avg_pool2d", x, kernel_size, stride, padding)[0]
    x = _pool_input(x)
    k, s, p, _ = pool_geometry(x.shape, kernel_size, stride, padding)
    return _C.avg_pool2d_forward(x, k, s, p)


def l2_pool2d(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    """2-D L2 pooling of ``(N, C, H, W)`` ``x``: ``sqrt(sum of x**2 over the window)``, padding
    contributing 0 (``torch.nn.functional.lp_pool2d`` with ``p=2``, plus padding). Arguments as
    in :func:`max_pool2d`."""
    if _device.classify({"x": x}):
        return _pool_device("l2_pool2d", x, kernel_size, stride, padding)[0]
    x = _pool_input(x)
    k, s, p, _ = pool_geometry(x.shape, kernel_size, stride, padding)
    return _C.l2_pool2d_forward(x, k, s, p)
# --------------------------------------------------------------------------------- conv2d
_INT64_LIMIT = 2**62  # sizes beyond this overflow the native geometry (and any memory)


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints as a pair (``stride=2`` is ``(2, 2)``); TypeError naming ``name``
    for anything else."""
    def is_int(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    if is_int(value):
        pair = (int(value), int(value))
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(
                f"{name} must be an int or a pair of ints, got {type(value).__name__}"
            ) from None
        if len(items) != 2 or not all(is_int(v) for v in items):
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
        pair = (int(items[0]), int(items[1]))
    if max(abs(pair[0]), abs(pair[1])) > _INT64_LIMIT:
        raise ValueError(f"{name} {pair} is too large")
    return pair


def conv2d_params(stride, padding) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validated ``(stride, padding)`` pairs of a 2-D convolution (stride >= 1, padding >= 0)."""
    s, p = _pair(stride, "stride"), _pair(padding, "padding")
    if min(s) < 1:
        raise ValueError(f"stride must be >= 1, got {s}")
    if min(p) < 0:
        raise ValueError(f"padding must be >= 0, got {p}")
    return s, p


def conv2d_check_shapes(x_shape, w_shape, b_shape=None) -> None:
    """ValueError naming the argument unless x (N, C_in, H, W), weight (C_out, C_in, kh, kw) and
    bias (C_out,) fit together."""
    if len(x_shape) != 4:
        raise ValueError(f"conv2d: x must be 4-D (N, C_in, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(
            f"conv2d: weight must be 4-D (C_out, C_in, kh, kw), got shape {tuple(w_shape)}"
        )
    if x_shape[1] != w_shape[1]:
        raise ValueError(
            f"conv2d: x has {x_shape[1]} input channels (shape {tuple(x_shape)}) but weight of "
            f"shape {tuple(w_shape)} expects {w_shape[1]}"
        )
    if b_shape is not None and tuple(b_shape) != (w_shape[0],):
        raise ValueError(f"conv2d: bias must have shape ({w_shape[0]},), got {tuple(b_shape)}")


def conv2d(x, weight, bias=None, stride=1, padding=0) -> np.ndarray:
    """2-D convolution (PyTorch's ``conv2d``: cross-correlation, zero padding) in float32.

    Parameters
    ----------
    x : array_like, shape ``(N, C_in, H, W)``
    weight : array_like, shape ``(C_out, C_in, kh, kw)``
    bias : array_like, shape ``(C_out,)``, optional
    stride, padding : int or pair of ints
        ``stride >= 1``, zero ``padding >= 0`` on each side; the kernel must fit in the padded
        input.

    Returns
    -------
    ndarray of float32, shape ``(N, C_out, OH, OW)`` with ``OH = (H + 2 ph - kh) // sh + 1``.
    """
    s, p = conv2d_params(stride, padding)
    if _device.classify({"x": x, "weight": weight, "bias": bias}):
        return _conv2d_device(x, weight, bias, s, p)
    xa = np.ascontiguousarray(as_float32(x, "x"))
    wa = np.ascontiguousarray(as_float32(weight, "weight"))
    ba = None if bias is None else np.ascontiguousarray(as_float32(bias, "bias", ndim=1))
    conv2d_check_shapes(xa.shape, wa.shape, None if ba is None else ba.shape)
    return _C.conv2d_forward(xa, wa, ba, s, p)


def _conv2d_device(x, weight, bias, s, p):
    call = _device.Call("conv2d", x=x, weight=weight, bias=bias)
    xa, wa = call.contiguous("x"), call.contiguous("weight")
    ba = None if bias is None else call.contiguous("bias")
    conv2d_check_shapes(xa.shape, wa.shape, None if ba is None else ba.shape)
    N, C_in, H, W = xa.shape
    C_out, _, kh, kw = wa.shape
    if kh > H + 2 * p[0] or kw > W + 2 * p[1]:
        raise ValueError(
            f"conv2d: kernel ({kh}, {kw}) is larger than the padded input "
            f"({H + 2 * p[0]}, {W + 2 * p[1]})"
        )
    oh, ow = (H + 2 * p[0] - kh) // s[0] + 1, (W + 2 * p[1] - kw) // s[1] + 1
    y = call.empty((N, C_out, oh, ow))
    call.launch(_C.device.conv2d_forward, _device.ptr(y), xa.ptr, wa.ptr,
                0 if ba is None else ba.ptr, (N, C_in, H, W, C_out, kh, kw, *s, *p))
    return y
