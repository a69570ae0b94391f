"""Differentiable ops: one :class:`~latentforge.tensor.Function` subclass per op.

Each op has static ``forward(ctx, *arrays, **params)`` and ``backward(ctx, grad_out)``; it
saves only what its backward needs, and :meth:`Tensor.backward` asserts that every gradient
it returns has its input's shape.

Where the compute happens
-------------------------
* :class:`MatMul` and :class:`Linear` run on latentforge's native float32 GEMM
  (:func:`latentforge.ops.gemm` / :func:`latentforge.ops.linear`). Their backward passes use
  the GEMM's transpose flags (``dA = G @ B^T`` is ``gemm(G, B, trans_b=True)``), so no
  transposed copies are made. ``Linear`` fuses bias and activation into the GEMM epilogue
  and differentiates the activation from its saved *output*.
* :class:`Sigmoid`, :class:`Tanh`, :class:`ReLU` and :class:`Softmax` (over the last axis)
  run on native float32 kernels (``_C.activation_forward`` / ``_C.softmax_rows`` and their
  backward passes, which use the saved *output*); the activations share the GEMM epilogue's
  vectorized math, so ``Linear(act)`` and ``act(Linear)`` agree. Float64 arrays (gradcheck),
  and softmax over another axis, use numpy.
* The other elementwise ops, reductions, indexing and :class:`LogSoftmax` use numpy for now
  (they are memory-bound; native fused versions can replace them without changing this API).
* Under ``latentforge.tensor.default_dtype(np.float64)`` (used by
  :func:`latentforge.testing.gradcheck`), MatMul and Linear compute with numpy float64
  ``@`` instead, because the native GEMM is float32 only. See :mod:`latentforge.tensor`.

Device tensors (CuPy data)
--------------------------
Every Function runs on tensors whose data is a CUDA device array, with the same code: the
array work is written against ``xp = _device.array_module(...)`` (numpy on the host, CuPy on a
device), and where the host path calls a native ``_C`` kernel on float32 data, the device path
calls its CUDA sibling through :mod:`latentforge._dkernels` (MatMul, Linear, conv2d and the
pooling forwards through :mod:`latentforge.ops`, which take device arrays). Results and
gradients stay on the device; a host array mixed with device data raises ``TypeError`` (never
an implicit copy). Row log-softmax has a CUDA kernel but no CPU one: on a device, float32 over
the last axis runs it (sums in double), the host runs numpy. Under ``default_dtype(np.float64)``
the device runs the same xp formulas as the host's float64 fallbacks (``np.add.at`` scatters
dispatch to ``cupy.add.at``, CuPy >= 12.1), so gradient checks can run there.

The functional helpers at the end (:func:`linear`, :func:`softmax`, ...) take Tensors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _C, _device
from . import _dkernels as _dk
from . import ops as _ops
from ._backend import Activation
from ._backend import activation as _check_activation
from .tensor import Context, Function, Tensor, get_default_dtype

__all__ = [
    "Abs",
    "Add",
    "Clip",
    "Div",
    "Exp",
    "GetItem",
    "Linear",
    "Log",
    "LogSoftmax",
    "MatMul",
    "Mean",
    "Mul",
    "Neg",
    "Pow",
    "ReLU",
    "Reshape",
    "Sigmoid",
    "Softmax",
    "Sub",
    "Sum",
    "Tanh",
    "Transpose",
    "linear",
    "log_softmax",
    "matmul",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]



def _native() -> bool:
    """True when arrays are float32 and should go to the native kernels."""
    return get_default_dtype() == np.float32


_on_device = _device.on_device


def _xp(a: Any, b: Any = None):
    """numpy, or the cupy module when ``a`` or ``b`` is a device array
    (:func:`latentforge._device.array_module`, after a fast check for numpy arrays)."""
    if type(a) is np.ndarray and (b is None or type(b) is np.ndarray):
        return np
    return _device.array_module(a, b)


def _same_place(**arrays: Any) -> None:
    """The TypeError of :func:`latentforge._device.classify` when some of ``arrays`` are on a
    device and others on the host (free when they are all numpy arrays)."""
    if not all(a is None or isinstance(a, np.ndarray) for a in arrays.values()):
        _device.classify(arrays)


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return _xp(g).asarray(g).reshape(shape)


def _norm_axes(axis: Any, ndim: int) -> tuple[int, ...] | None:
    if axis is None:
        return None
    try:
        axes = (axis,) if np.isscalar(axis) else tuple(axis)
    except TypeError:
        raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}") from None
    out = []
    for a in axes:
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a {ndim}-D tensor")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def _broadcastable(a: np.ndarray, b: np.ndarray, op: str) -> None:
    """ValueError naming the operation and both shapes unless they broadcast together; the
    TypeError of :func:`latentforge._device.classify` when one is on a device and the other
    not."""
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        try:
            _device.classify({"a": a, "b": b})
        except TypeError as exc:
            raise TypeError(f"{op}: {exc}") from None
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: the shapes {a.shape} and {b.shape} of the operands do not "
                         "broadcast together (numpy broadcasting rules)") from None


# --------------------------------------------------------------------------- elementwise
class Add(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcastable(a, b, "add")
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        sa, sb = ctx.shapes
        return _unbroadcast(g, sa), _unbroadcast(g, sb)


class Sub(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcastable(a, b, "subtract")
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        sa, sb = ctx.shapes
        return _unbroadcast(g, sa), _unbroadcast(-g, sb)


class Mul(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcastable(a, b, "multiply")
        # Save only the factor each needed gradient uses.
        ctx.save_for_backward(
            b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None
        )
        ctx.shapes = (a.shape, b.shape)
        return a * b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        b, a = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = _unbroadcast(g * b, sa) if b is not None else None
        gb = _unbroadcast(g * a, sb) if a is not None else None
        return ga, gb


class Div(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcastable(a, b, "divide")
        out = a / b
        ctx.save_for_backward(b, out if ctx.needs_input_grad[1] else None)
        ctx.shapes = (a.shape, b.shape)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        b, out = ctx.saved_tensors
        sa, sb = ctx.shapes
        gq = g / b
        ga = _unbroadcast(gq, sa) if ctx.needs_input_grad[0] else None
        # d(a/b)/db = -a/b^2 = -(a/b)/b
        gb = _unbroadcast(-gq * out, sb) if out is not None else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        return -a

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (-g,)


class Pow(Function):
    """``a ** p`` for a real scalar ``p``."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, exponent: float) -> np.ndarray:
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a**exponent

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 0.0:
            return (_xp(a).zeros_like(a),)
        return (g * (p * a ** (p - 1.0)),)


class Exp(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = _xp(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved_tensors
        return (g * out,)


class Log(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return _xp(a).log(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved_tensors
        return (g / a,)


class Abs(Function):
    """``|a|``; the gradient at 0 is taken as 0 (a kink: gradient checks avoid it)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(a)
        return _xp(a).abs(a)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (a,) = ctx.saved_tensors
        return (g * _xp(a).sign(a),)


class Clip(Function):
    """``clip(a, lo, hi)``; the gradient passes where ``lo <= a <= hi`` and is 0 elsewhere."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, lo: float, hi: float) -> np.ndarray:
        for name, v in (("lo", lo), ("hi", hi)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                     np.floating)):
                raise TypeError(f"clip: {name} must be a real number, got {v!r}")
            if np.isnan(v):
                raise ValueError(f"clip: {name} must not be NaN")
        if lo > hi:
            raise ValueError(f"clip needs lo <= hi, got lo={lo}, hi={hi}")
        ctx.save_for_backward((a >= lo) & (a <= hi))
        return _xp(a).clip(a, lo, hi).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (inside,) = ctx.saved_tensors
        return (g * inside,)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive argument never overflows; both branches are exact rearrangements.
    xp = _xp(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


def _f32(*arrays: np.ndarray) -> bool:
    """True when every array is float32, so the native elementwise kernels apply."""
    return all(a.dtype == np.float32 for a in arrays)


def _contig(a: np.ndarray) -> np.ndarray:
    """``a`` as the native kernels take it: C-contiguous and aligned (copied otherwise; a device
    array is copied on its device)."""
    if not isinstance(a, np.ndarray):
        return _dk.contiguous(a)
    if a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.array(a, order="C", copy=True)


def _act_forward(a: np.ndarray, code: Activation) -> np.ndarray:
    """The native float32 activation: ``_C.activation_forward``, or its CUDA sibling."""
    if isinstance(a, np.ndarray):
        return _C.activation_forward(_contig(a), code)
    return _dk.activation_forward(a, code)


def _act_backward(g: np.ndarray, out: np.ndarray, code: Activation):
    """Native dx from the saved float32 output, or None when numpy must be used."""
    if _f32(g, out) and g.shape == out.shape:
        if isinstance(out, np.ndarray):
            return _C.activation_backward(_contig(g), _contig(out), code)
        return _dk.activation_backward(g, out, code)
    return None


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = _act_forward(a, Activation.sigmoid) if _f32(a) else _sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved_tensors
        dx = _act_backward(g, out, Activation.sigmoid)
        return (g * out * (1.0 - out) if dx is None else dx,)


class Tanh(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        out = _act_forward(a, Activation.tanh) if _f32(a) else _xp(a).tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved_tensors
        dx = _act_backward(g, out, Activation.tanh)
        return (g * (1.0 - out * out) if dx is None else dx,)


class ReLU(Function):
    """``max(a, 0)``; the gradient at exactly 0 is taken as 0."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray) -> np.ndarray:
        if _f32(a):
            out = _act_forward(a, Activation.relu)
        else:
            out = _xp(a).maximum(a, 0).astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved_tensors
        dx = _act_backward(g, out, Activation.relu)
        return (g * (out > 0) if dx is None else dx,)


# --------------------------------------------------------------------------- reductions, shape
class Sum(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, axis: Any = None, keepdims: bool = False):
        axes = _norm_axes(axis, a.ndim)
        keepdims = _check_keepdims(keepdims)
        ctx.in_shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return _xp(a).asarray(a.sum(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (_expand_reduced(g, ctx.in_shape, ctx.axes, ctx.keepdims),)


class Mean(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, axis: Any = None, keepdims: bool = False):
        axes = _norm_axes(axis, a.ndim)
        keepdims = _check_keepdims(keepdims)
        ctx.in_shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        n = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        if n == 0:
            raise ValueError("mean over an empty axis")
        ctx.n = n
        return _xp(a).asarray(a.mean(axis=axes, keepdims=keepdims))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        g = _expand_reduced(g, ctx.in_shape, ctx.axes, ctx.keepdims)
        return (g * (1.0 / ctx.n),)


def _check_keepdims(keepdims: Any) -> bool:
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"keepdims must be a bool, got {keepdims!r}")
    return bool(keepdims)


def _expand_reduced(g: np.ndarray, in_shape, axes, keepdims) -> np.ndarray:
    """Broadcast the gradient of a reduction back to the input shape (a read-only view)."""
    xp = _xp(g)
    if axes is None:
        return xp.broadcast_to(xp.asarray(g).reshape((1,) * len(in_shape)), in_shape)
    if not keepdims:
        g = xp.expand_dims(g, axes)
    return xp.broadcast_to(g, in_shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, shape: tuple) -> np.ndarray:
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        if any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer))
               for d in dims):
            raise TypeError(f"reshape: shape must be ints (one may be -1), got {shape!r}")
        known = [int(d) for d in dims if d != -1]
        if any(d < 0 for d in known) or len(dims) - len(known) > 1:
            raise ValueError(f"reshape: shape must be sizes >= 0 and at most one -1, got "
                             f"{shape!r}")
        n = int(np.prod(known, dtype=object)) if known else 1
        if (len(known) == len(dims) and n != a.size) or (
                len(known) < len(dims) and (n == 0 or a.size % n)):
            raise ValueError(f"reshape: a tensor of shape {a.shape} ({a.size} elements) cannot "
                             f"take the shape {shape!r}")
        ctx.in_shape = a.shape
        return a.reshape(tuple(int(d) for d in dims))

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (g.reshape(ctx.in_shape),)


class Transpose(Function):
    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, axes: tuple | None = None) -> np.ndarray:
        if axes is not None and (not isinstance(axes, (tuple, list)) or any(
                isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer))
                for x in axes)):
            raise TypeError(f"transpose: axes must be a tuple of ints, got {axes!r}")
        axes = tuple(reversed(range(a.ndim))) if axes is None else tuple(int(x) for x in axes)
        if sorted(x % max(a.ndim, 1) for x in axes) != list(range(a.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of {a.ndim} axes")
        ctx.inverse = tuple(int(i) for i in np.argsort([x % a.ndim for x in axes]))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return (g.transpose(ctx.inverse),)


_HOST_KEYS = (slice, int, np.integer, np.bool_, type(None), type(Ellipsis))  # not arrays


def _check_key(key: Any, host: bool = True) -> Any:
    """Validate an index: slices, ints, None, Ellipsis, integer or boolean arrays (numpy, or
    device arrays when the indexed array is on a device: ``host=False``)."""
    if isinstance(key, tuple):
        return tuple(_check_key(k, host) for k in key)
    if isinstance(key, int) and not isinstance(key, bool) and not -(2**63) <= key < 2**63:
        raise IndexError(f"index {key} is out of bounds")
    if isinstance(key, Tensor):
        raise TypeError(
            "index with an integer numpy array, not a Tensor (Tensors hold float data)"
        )
    if isinstance(key, (list, np.ndarray)):
        key = np.asarray(key)
        if key.dtype.kind not in "iub":
            raise TypeError(f"index arrays must be integer or boolean, got dtype {key.dtype}")
    elif not isinstance(key, _HOST_KEYS) and _on_device(key):
        if host:
            raise TypeError("a CUDA device index array cannot index a host tensor: move the "
                            "index to the host (idx.get()) or the tensor to the device "
                            "(t.to('cuda')); latentforge never copies implicitly")
        key = _device.as_cupy(key, "an index array")
        if key.dtype.kind not in "iub":
            raise TypeError(f"index arrays must be integer or boolean, got dtype {key.dtype}")
    return key


def _device_key(key: Any, xp) -> Any:
    """A checked ``key`` for a device array: numpy index arrays copied to the device with
    ``xp`` (an index is the caller's choice of where to look, so a numpy one is accepted)."""
    if isinstance(key, tuple):
        return tuple(_device_key(k, xp) for k in key)
    return xp.asarray(key) if isinstance(key, np.ndarray) else key


def _is_basic(key: Any) -> bool:
    """True unless ``key`` holds an index array (numpy or device)."""
    keys = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, _HOST_KEYS) for k in keys)


class GetItem(Function):
    """``a[key]``: slicing, and integer-array indexing (an embedding lookup ``W[ids]``).

    The backward scatters with ``np.add.at``, so repeated indices accumulate. On a device, a
    numpy index array is copied to the device (the index is data the caller chose to keep on
    the host); ``np.add.at`` dispatches to ``cupy.add.at`` there (CuPy >= 12.1).
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, key: Any) -> np.ndarray:
        host = isinstance(a, np.ndarray)
        key = _check_key(key, host)
        if not host:
            key = _device_key(key, _xp(a))
        out = a[key]
        ctx.key, ctx.in_shape, ctx.dtype = key, a.shape, a.dtype
        # Basic indexing returns a view; copy so later in-place edits of `a` cannot leak in.
        return np.array(out, copy=True) if host else out.copy()

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        grad = _xp(g).zeros(ctx.in_shape, dtype=ctx.dtype)
        if _is_basic(ctx.key):
            grad[ctx.key] = g  # basic indexing never selects an element twice
        else:
            np.add.at(grad, ctx.key, g)
        return (grad,)


# --------------------------------------------------------------------------- softmax family
def _check_softmax_axis(a: np.ndarray, axis: Any, what: str) -> Any:
    """``axis`` of a softmax over ``a``: None (all elements) or an int naming an axis, along
    which ``a`` is not empty; TypeError/ValueError naming ``x`` or ``axis`` otherwise."""
    if a.ndim == 0:
        raise ValueError(f"{what}: x must have at least one dimension, got a 0-d tensor")
    if axis is None:
        if a.size == 0:
            raise ValueError(f"{what}: x is empty (shape {a.shape})")
        return None
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{what}: axis must be an int or None, got {axis!r}")
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"{what}: axis {axis} is out of range for x of shape {a.shape}")
    if a.shape[axis] == 0:
        raise ValueError(f"{what}: x has length 0 along axis {axis} (shape {a.shape})")
    return int(axis)


def _last_axis(a: np.ndarray, axis: Any) -> bool:
    """True when ``axis`` is an int naming the last axis of ``a`` (ndim >= 1)."""
    if a.ndim == 0 or not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        return False
    return int(axis) in (-1, a.ndim - 1)


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` viewed as a C-contiguous (rows, last-axis) matrix."""
    return _contig(a).reshape(int(np.prod(a.shape[:-1], dtype=np.int64)), a.shape[-1])


class Softmax(Function):
    """Numerically stable softmax along ``axis`` (the max is subtracted first).

    Float32 input over the last axis runs on the native row-softmax kernel (its CUDA sibling
    on a device)."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, axis: int = -1) -> np.ndarray:
        axis = _check_softmax_axis(a, axis, "softmax")
        ctx.native = _f32(a) and _last_axis(a, axis)
        if ctx.native and _on_device(a):
            out = _dk.softmax_rows(a)
        elif ctx.native:
            out = _C.softmax_rows(_rows(a)).reshape(a.shape)
        else:
            z = a - a.max(axis=axis, keepdims=True)
            e = _xp(a).exp(z)
            out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (s,) = ctx.saved_tensors
        if ctx.native and _f32(g) and g.shape == s.shape:
            if _on_device(s):
                return (_dk.softmax_rows_backward(g, s),)
            return (_C.softmax_rows_backward(_rows(g), _rows(s)).reshape(s.shape),)
        return (s * (g - (g * s).sum(axis=ctx.axis, keepdims=True)),)


class LogSoftmax(Function):
    """Numerically stable ``a - logsumexp(a)`` along ``axis``.

    numpy on the host. On a device, float32 over the last axis runs the CUDA row kernel
    (``_C.device.log_softmax_rows``: the sums in double, so it can differ from the host's
    float32 numpy in the last bits); other cases the same formula with CuPy."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, axis: int = -1) -> np.ndarray:
        axis = _check_softmax_axis(a, axis, "log_softmax")
        ctx.native = _on_device(a) and _f32(a) and _last_axis(a, axis)
        if ctx.native:
            out = _dk.log_softmax_rows(a)
        else:
            xp = _xp(a)
            z = a - a.max(axis=axis, keepdims=True)
            out = z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (out,) = ctx.saved_tensors
        if ctx.native and _f32(g) and g.shape == out.shape:
            return (_dk.log_softmax_rows_backward(g, out),)
        return (g - _xp(out).exp(out) * g.sum(axis=ctx.axis, keepdims=True),)


# --------------------------------------------------------------------------- dense (native)
def _check_2d(x: np.ndarray, name: str) -> None:
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {x.shape}")


def _gemm_operand(a):
    """``a`` as :func:`latentforge.ops.gemm` takes it: a host array as is (ops converts it); a
    device matrix that is neither C- nor Fortran-ordered (a strided slice) copied to C order
    on its device (a transposed view is read in place, as on the host)."""
    if a is None or isinstance(a, np.ndarray) or a.flags.c_contiguous or a.flags.f_contiguous:
        return a
    return _dk.contiguous(a)


class MatMul(Function):
    """``A @ B`` for 2-D operands on the native float32 GEMM.

    Backward: ``dA = G @ B^T`` and ``dB = A^T @ G``, each one GEMM with a transpose flag.
    """

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _check_2d(a, "matmul: a")
        _check_2d(b, "matmul: b")
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: a of shape {a.shape} and b of shape {b.shape} do not "
                             "align (a.shape[1] must equal b.shape[0])")
        ctx.save_for_backward(
            b if ctx.needs_input_grad[0] else None, a if ctx.needs_input_grad[1] else None
        )
        if _native():
            return _ops.gemm(_gemm_operand(a), _gemm_operand(b))
        return a @ b

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        b, a = ctx.saved_tensors
        ga = gb = None
        if _native():
            g, a, b = _gemm_operand(g), _gemm_operand(a), _gemm_operand(b)
            if b is not None:
                ga = _ops.gemm(g, b, trans_b=True)
            if a is not None:
                gb = _ops.gemm(a, g, trans_a=True)
        else:
            if b is not None:
                ga = g @ b.T
            if a is not None:
                gb = a.T @ g
        return ga, gb


_DERIV_FROM_OUTPUT = {
    None: None,
    "sigmoid": lambda y: y * (1.0 - y),
    "tanh": lambda y: 1.0 - y * y,
    "relu": lambda y: y > 0,
}


class Linear(Function):
    """Fused dense layer ``act(x @ W + b)`` (``x @ W.T + b`` with ``trans_w=True``).

    Forward is one native GEMM with bias and activation in its epilogue. Backward
    differentiates the activation from the saved output (sigmoid ``y(1-y)``, tanh ``1-y^2``,
    relu ``y>0``), then ``dx = gz @ op(W)^T`` and ``dW`` are GEMMs with transpose flags and
    ``db`` is a column sum of ``gz``.

    Inputs are ``(x, W)`` or ``(x, W, b)``.
    """

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        W: np.ndarray,
        b: np.ndarray | None = None,
        *,
        activation: str | None = None,
        trans_w: bool = False,
    ) -> np.ndarray:
        if activation == "none" or activation is Activation.none:
            activation = None
        elif isinstance(activation, Activation):
            activation = activation.name
        _check_activation(activation)  # ValueError naming the valid choices
        _check_2d(x, "linear input x")
        _check_2d(W, "linear weight W")
        k_w = W.shape[1] if trans_w else W.shape[0]
        n_out = W.shape[0] if trans_w else W.shape[1]
        if x.shape[1] != k_w:
            layout = "(out, in)" if trans_w else "(in, out)"
            raise ValueError(
                f"linear: x has {x.shape[1]} features but W of shape {W.shape} (layout "
                f"{layout}) expects {k_w}"
            )
        if b is not None and b.shape != (n_out,):
            raise ValueError(f"linear: b (the bias) must have shape ({n_out},), got {b.shape}")
        if _native():
            out = _ops.linear(_gemm_operand(x), _gemm_operand(W), _dk.contiguous(b)
                              if _on_device(b) else b, activation, trans_w=trans_w)
        else:
            z = x @ (W.T if trans_w else W)
            if b is not None:
                z = z + b
            out = _apply_activation(z, activation)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(
            x if need_w else None, W if need_x else None, out if activation else None
        )
        ctx.activation, ctx.trans_w, ctx.has_bias = activation, trans_w, b is not None
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, W, out = ctx.saved_tensors
        deriv = _DERIV_FROM_OUTPUT[ctx.activation]
        gz = g if deriv is None else g * deriv(out)
        native = _native()
        if native:
            gz, x, W = _gemm_operand(gz), _gemm_operand(x), _gemm_operand(W)
        gx = gw = None
        if W is not None:
            # dx = gz @ op(W)^T: op(W) = W (in,out) -> gz @ W^T; op(W) = W^T -> gz @ W.
            if native:
                gx = _ops.gemm(gz, W, trans_b=not ctx.trans_w)
            else:
                gx = gz @ (W if ctx.trans_w else W.T)
        if x is not None:
            # dW = x^T @ gz, shape (in,out); with trans_w, dW = gz^T @ x, shape (out,in).
            if native:
                gw = _ops.gemm(gz, x, trans_a=True) if ctx.trans_w else _ops.gemm(
                    x, gz, trans_a=True
                )
            else:
                gw = gz.T @ x if ctx.trans_w else x.T @ gz
        if not ctx.has_bias:
            return gx, gw
        gb = gz.sum(axis=0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def _apply_activation(z: np.ndarray, activation: str | None) -> np.ndarray:
    if activation is None:
        return z
    if activation == "sigmoid":
        return _sigmoid(z)
    if activation == "tanh":
        return _xp(z).tanh(z)
    return _xp(z).maximum(z, 0).astype(z.dtype, copy=False)


# --------------------------------------------------------------------------- helpers on Tensors
def _input(x: Any, name: str, optional: bool = False) -> Any:
    """``x`` as a Tensor (an array-like becomes a constant one), the TypeError of a value that
    cannot be one naming the argument ``name``; None stays None when ``optional``."""
    if isinstance(x, Tensor) or (x is None and optional):
        return x
    if x is None:
        raise TypeError(f"{name} must be a Tensor or an array, got None")
    try:
        return Tensor(x)
    except TypeError as exc:
        raise TypeError(f"{name}: {exc}") from None


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for 2-D tensors (native float32 GEMM)."""
    return MatMul.apply(_input(a, "a"), _input(b, "b"))


def linear(
    x: Tensor,
    W: Tensor,
    b: Tensor | None = None,
    activation: str | None = None,
    *,
    trans_w: bool = False,
) -> Tensor:
    """Fused ``activation(x @ W + b)``; with ``trans_w=True`` W is ``(out, in)``."""
    x, W, b = _input(x, "x"), _input(W, "W"), _input(b, "b", optional=True)
    inputs = (x, W) if b is None else (x, W, b)
    return Linear.apply(*inputs, activation=activation, trans_w=trans_w)


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(_input(x, "x"))


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(_input(x, "x"))


def relu(x: Tensor) -> Tensor:
    return ReLU.apply(_input(x, "x"))


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    return Softmax.apply(_input(x, "x"), axis=axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return LogSoftmax.apply(_input(x, "x"), axis=axis)


# --------------------------------------------------------------------------- k-sparse (top-k)
def _check_k(x: np.ndarray, k: Any) -> int:
    if x.ndim != 2:
        raise ValueError(f"top-k needs a 2-D tensor (rows x units), got shape {x.shape}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {type(k).__name__}")
    k = int(k)
    if not 1 <= k <= x.shape[1]:
        raise ValueError(f"k must satisfy 1 <= k <= {x.shape[1]} (the row length), got {k}")
    return k


def _topk_mask_numpy(x: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k largest values per row (ties: lower column index wins); numpy, or
    CuPy for a device ``x``."""
    xp = _xp(x)
    if bool(xp.isnan(x).any()):
        raise ValueError("top-k: x contains NaN")
    # A stable sort of -x orders by value descending, then by index ascending.
    order = xp.argsort(-x, axis=1, kind="stable")[:, :k]
    mask = xp.zeros(x.shape, dtype=bool)
    mask[xp.arange(x.shape[0])[:, None], order] = True
    return mask


def _topk_rows(a: np.ndarray, k: int):
    """(y, uint8 mask) of the native float32 top-k: ``_C.topk_rows`` or its CUDA sibling."""
    if _on_device(a):
        return _dk.topk_rows(a, k)
    return _C.topk_rows(_contig(a), k)


def topk_mask(x: Any, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest entries of each row of a 2-D tensor/array (ties
    broken by the lower column index); not differentiable. NaN raises ValueError. A numpy
    mask for host data, a CuPy one (computed there) for device data."""
    try:
        a = x.data if isinstance(x, Tensor) else (
            _device.as_cupy(x, "x") if _on_device(x) else np.asarray(x))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"x cannot be converted to an array: {exc}") from None
    if a.dtype.kind not in "fiu":
        raise TypeError(f"x must be a real (floating-point or integer) array, got dtype {a.dtype}")
    if a.dtype.kind in "iu":
        a = a.astype(np.float64)  # ranked as numbers (-x of an unsigned array wraps around)
    k = _check_k(a, k)
    if a.dtype == np.float32:
        return _topk_rows(a, k)[1].view(bool)
    return _topk_mask_numpy(a, k)


class TopK(Function):
    """k-sparse activation (Makhzani & Frey, 2013): keep the ``k`` largest values of each row
    of a 2-D input, zero the rest; ties go to the lower column index.

    Backward routes the gradient only through the kept units (``dx = mask * g``). Float32 runs
    on the native row kernel (``_C.topk_rows``; on a device ``_C.device.topk_rows``, whose NaN
    flag is read back, a small synchronisation, to raise the same error); float64 (gradcheck)
    uses numpy (CuPy on a device) with the same tie rule. NaN in the input raises ValueError."""

    @staticmethod
    def forward(ctx: Context, a: np.ndarray, *, k: int) -> np.ndarray:
        k = _check_k(a, k)
        if _f32(a):
            out, mask = _topk_rows(a, k)
        else:
            mask = _topk_mask_numpy(a, k)
            out = _xp(a).where(mask, a, 0).astype(a.dtype, copy=False)
            mask = mask.view(np.uint8)
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        (mask,) = ctx.saved_tensors
        if _f32(g) and g.shape == mask.shape:
            if _on_device(mask):
                return (_dk.topk_rows_backward(g, mask),)
            return (_C.topk_rows_backward(_contig(g), mask),)
        return (_xp(g).where(mask.view(bool), g, 0).astype(g.dtype, copy=False),)


def ksparse(x: Tensor, k: int) -> Tensor:
    """Differentiable k-sparse activation of a 2-D tensor: see :class:`TopK`."""
    return TopK.apply(_input(x, "x"), k=k)


# --------------------------------------------------------------------------- batch norm
def _check_eps(eps: Any, who: str) -> float:
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (int, float, np.integer,
                                                                 np.floating)):
        raise TypeError(f"{who}: eps must be a positive number, got {eps!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"{who}: eps must be a finite number > 0, got {eps!r}")
    return float(eps)


def _check_momentum(momentum: Any, who: str) -> float:
    if isinstance(momentum, (bool, np.bool_)) or not isinstance(
        momentum, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{who}: momentum must be a number in [0, 1], got {momentum!r}")
    if not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"{who}: momentum must be in [0, 1], got {momentum!r}")
    return float(momentum)


def _running(v: Any, name: str, c: int, who: str) -> np.ndarray | None:
    """A running statistic updated in place: a writable float ndarray of shape ``(c,)`` (a
    CuPy array, or a Tensor holding one, for device data)."""
    if v is None:
        return None
    arr = v.data if isinstance(v, Tensor) else v
    if _on_device(arr):
        arr = _device.as_cupy(arr, name)
    elif not isinstance(arr, np.ndarray):
        raise TypeError(f"{who}: {name} must be a numpy array or a Tensor (updated in place), "
                        f"got {type(v).__name__}")
    if arr.dtype.kind != "f":
        raise TypeError(f"{who}: {name} must be a floating-point array, got dtype {arr.dtype}")
    if arr.shape != (c,):
        raise ValueError(f"{who}: {name} must have shape ({c},), got {arr.shape}")
    if not getattr(arr.flags, "writeable", True):
        raise ValueError(f"{who}: {name} must be writable (it is updated in place)")
    return arr


def _native_f32(a: np.ndarray | None) -> np.ndarray | None:
    """``a`` as float32, C-contiguous and aligned (a copy only when needed, on the array's side
    of the bus); None stays None."""
    if a is None:
        return None
    if _on_device(a):
        return _dk.contiguous(a.astype(np.float32, copy=False))
    return _contig(np.asarray(a, dtype=np.float32))


def _bn_forward(ctx: Context, x, gamma, beta, eps, mean, var, running_mean, running_var,
                momentum, who: str) -> np.ndarray:
    """Batch norm over every axis but 1 of a 2-D or 4-D ``x``; see :class:`BatchNorm`."""
    c = x.shape[1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and p.shape != (c,):
            raise ValueError(f"{who}: {name} must have shape ({c},), got {p.shape}")
    eps = _check_eps(eps, who)
    if (mean is None) != (var is None):
        raise ValueError(f"{who}: pass both mean and var (evaluation), or neither")
    if mean is not None:
        mean, var = (_statistic(v, n, c) for v, n in ((mean, "mean"), (var, "var")))
    training = mean is None
    running = (_running(running_mean, "running_mean", c, who),
               _running(running_var, "running_var", c, who))
    if not training and (running[0] is not None or running[1] is not None):
        raise ValueError(f"{who}: running statistics are updated in training only")
    momentum = _check_momentum(momentum, who)
    if not isinstance(x, np.ndarray) or any(
            a is not None and not isinstance(a, np.ndarray)
            for a in (gamma, beta, mean, var, *running)):
        _device.classify({"x": x, "gamma": gamma, "beta": beta, "mean": mean, "var": var,
                          "running_mean": running[0], "running_var": running[1]})
    count = x.size // c if c else 0
    if training and count < 2:
        if x.ndim == 2:
            raise ValueError(
                f"batch_norm in training mode needs more than 1 sample per feature: x "
                f"must have at least 2 rows, got shape {x.shape}"
            )
        raise ValueError(f"{who}: expected more than 1 value per channel when training, got x "
                         f"of shape {x.shape}")
    ctx.training, ctx.has_affine = training, gamma is not None
    if x.dtype == np.float32:
        return _bn_forward_native(ctx, x, gamma, beta, eps, mean, var, running, momentum)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shp = (1, c) + (1,) * (x.ndim - 2)
    if training:
        bmean = x.mean(axis=axes)
        bvar = x.var(axis=axes)
        _update_running(running, momentum, bmean, bvar, count)
        mean, var = bmean, bvar
    dt, xp = x.dtype, _xp(x)
    mean = xp.asarray(mean, dtype=dt)
    invstd = (1.0 / xp.sqrt(xp.asarray(var, dtype=dt) + dt.type(eps))).astype(dt, copy=False)
    xhat = (x - mean.reshape(shp)) * invstd.reshape(shp)
    out = xhat if gamma is None else xhat * gamma.reshape(shp)
    if beta is not None:
        out = out + beta.reshape(shp)
    ctx.native = False
    ctx.save_for_backward(xhat, invstd, gamma)
    return out.astype(dt, copy=False)


def _update_running(running, momentum: float, bmean, bvar, count: int) -> None:
    """PyTorch's update: ``r = (1 - m) r + m stat``, the unbiased variance for running_var."""
    rm, rv = running
    if rm is not None:
        rm[...] = (1.0 - momentum) * rm + momentum * bmean
    if rv is not None:
        rv[...] = (1.0 - momentum) * rv + momentum * (bvar * (count / (count - 1)))


def _bn_forward_native(ctx, x, gamma, beta, eps, mean, var, running, momentum) -> np.ndarray:
    x, gamma, beta = _contig(x), _native_f32(gamma), _native_f32(beta)
    ctx.native = True
    dev = _on_device(x)
    if not ctx.training:
        mean, var = _native_f32(mean), _native_f32(var)
        if dev:
            out = _dk.batch_norm_forward_eval(x, gamma, beta, mean, var, eps)
            invstd = _dk.batch_norm_invstd(var, eps)
        else:
            out = _C.batch_norm_forward_eval(x, gamma, beta, mean, var, eps)
            invstd = _C.batch_norm_invstd(var, eps)
        ctx.save_for_backward(x, mean, invstd, gamma)
        return out
    # The kernel updates float32 running statistics in place. Others (another dtype, or not
    # contiguous) get the batch statistics from it (momentum 1 on zeroed float32 buffers: the
    # mean and the unbiased variance) and are updated here with the same rule.
    direct = all(r is None or (r.dtype == np.float32 and r.flags.c_contiguous
                               and getattr(r.flags, "aligned", True)) for r in running)
    train = _dk.batch_norm_forward_train if dev else _C.batch_norm_forward_train
    if direct:
        out, bmean, invstd = train(x, gamma, beta, running[0], running[1], momentum, eps)
    else:
        xp = _xp(x)
        stats = [None if r is None else xp.zeros(x.shape[1], np.float32) for r in running]
        out, bmean, invstd = train(x, gamma, beta, stats[0], stats[1], 1.0, eps)
        for r, st in zip(running, stats):
            if r is not None:
                r[...] = (1.0 - momentum) * r + momentum * st
    ctx.save_for_backward(x, bmean, invstd, gamma)
    return out


def _bn_backward(ctx: Context, g: np.ndarray):
    if ctx.native:
        x, mean, invstd, gamma = ctx.saved_tensors
        if _on_device(x):
            gx, ggamma, gbeta = _dk.batch_norm_backward(_native_f32(g), x, mean, invstd, gamma,
                                                        ctx.training)
        else:
            fn = _C.batch_norm_backward_train if ctx.training else _C.batch_norm_backward_eval
            gx, ggamma, gbeta = fn(_native_f32(g), x, mean, invstd, gamma)
        if not ctx.needs_input_grad[0]:
            gx = None
    else:
        xhat, invstd, gamma = ctx.saved_tensors
        c = xhat.shape[1]
        axes = (0,) if xhat.ndim == 2 else (0, 2, 3)
        shp = (1, c) + (1,) * (xhat.ndim - 2)
        invstd = invstd.reshape(shp)
        dxhat = g if gamma is None else g * gamma.reshape(shp)
        gx = None
        if ctx.needs_input_grad[0]:
            if ctx.training:
                n = xhat.size // c
                gx = (invstd / n) * (
                    n * dxhat
                    - dxhat.sum(axis=axes, keepdims=True)
                    - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True)
                )
            else:
                gx = dxhat * invstd
        ggamma = (g * xhat).sum(axis=axes) if ctx.has_affine else None
        gbeta = g.sum(axis=axes) if ctx.has_affine else None
    if not ctx.has_affine:
        return (gx,)
    return (gx, ggamma if ctx.needs_input_grad[1] else None,
            gbeta if ctx.needs_input_grad[2] else None)


class BatchNorm(Function):
    """Batch normalisation over axis 0 of an ``(N, C)`` input; inputs ``(x)`` or
    ``(x, gamma, beta)``.

    Training (``mean``/``var`` None): ``xhat = (x - mu) / sqrt(var + eps)`` with the batch mean
    and the biased batch variance, and the closed-form backward
    ``dx = invstd / N * (N * dxhat - sum(dxhat) - xhat * sum(dxhat * xhat))`` with
    ``dxhat = g * gamma``. Evaluation (``mean``/``var`` given, e.g. running statistics): the
    statistics are constants, so ``dx = g * gamma * invstd``. In both modes
    ``dgamma = sum(g * xhat)`` and ``dbeta = sum(g)`` over the batch.

    In training, ``running_mean`` / ``running_var`` (writable float arrays of shape ``(C,)``,
    optional) are updated in place as PyTorch does: ``r = (1 - momentum) * r + momentum * stat``
    with the *unbiased* batch variance ``var * n / (n - 1)`` for ``running_var``.

    float32 input runs on the native kernels (``_C.batch_norm_forward_train`` / ``_eval`` and
    their backward passes: fused, numerically careful for large means, bitwise independent of
    the thread count); float64 (gradcheck) uses numpy, the reference. Device data runs the
    CUDA siblings (``_C.device.batch_norm_*``; float64: the same formulas with CuPy), and its
    statistics and running statistics must be device arrays too (TypeError otherwise).
    """

    fresh_grads = True

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        gamma: np.ndarray | None = None,
        beta: np.ndarray | None = None,
        *,
        eps: float = 1e-5,
        mean: np.ndarray | None = None,
        var: np.ndarray | None = None,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
        momentum: float = 0.1,
    ) -> np.ndarray:
        if x.ndim != 2:
            raise ValueError(f"batch_norm: x must be 2-D (batch, features), got shape {x.shape}")
        return _bn_forward(ctx, x, gamma, beta, eps, mean, var, running_mean, running_var,
                           momentum, "batch_norm")

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return _bn_backward(ctx, g)


class BatchNorm2d(Function):
    """:class:`BatchNorm` of an ``(N, C, H, W)`` input, per channel over N, H and W (the same
    keyword arguments; ``n = N * H * W`` values per channel)."""

    fresh_grads = True

    @staticmethod
    def forward(
        ctx: Context,
        x: np.ndarray,
        gamma: np.ndarray | None = None,
        beta: np.ndarray | None = None,
        *,
        eps: float = 1e-5,
        mean: np.ndarray | None = None,
        var: np.ndarray | None = None,
        running_mean: np.ndarray | None = None,
        running_var: np.ndarray | None = None,
        momentum: float = 0.1,
    ) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"batch_norm2d: x must be 4-D (N, C, H, W), got shape {x.shape}")
        return _bn_forward(ctx, x, gamma, beta, eps, mean, var, running_mean, running_var,
                           momentum, "batch_norm2d")

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return _bn_backward(ctx, g)


def _statistic(v: Any, name: str, c: int) -> np.ndarray:
    """A running statistic of batch_norm: a real array of shape ``(c,)`` (a CuPy array for
    device data)."""
    v = v.data if isinstance(v, Tensor) else v
    try:
        arr = _device.as_cupy(v, name) if _on_device(v) else np.asarray(v)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"batch_norm: {name} cannot be converted to an array: {exc}") from None
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"batch_norm: {name} must be a real array, got dtype {arr.dtype}")
    if arr.shape != (c,):
        raise ValueError(f"batch_norm: {name} must have shape ({c},), got {arr.shape}")
    return arr


def batch_norm(
    x: Tensor,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    *,
    eps: float = 1e-5,
    mean: np.ndarray | None = None,
    var: np.ndarray | None = None,
) -> Tensor:
    """Functional batch normalisation of an ``(N, C)`` tensor (see :class:`BatchNorm`):
    batch statistics when ``mean``/``var`` are None, else the given (running) statistics.
    ``gamma`` and ``beta`` go together (both or neither)."""
    if (gamma is None) != (beta is None):
        raise ValueError("batch_norm: pass both gamma and beta, or neither")
    x = _input(x, "x")
    gamma, beta = _input(gamma, "gamma", optional=True), _input(beta, "beta", optional=True)
    inputs = (x,) if gamma is None else (x, gamma, beta)
    return BatchNorm.apply(*inputs, eps=eps, mean=mean, var=var)


def batch_norm2d(
    x: Tensor,
    gamma: Tensor | None = None,
    beta: Tensor | None = None,
    *,
    running_mean: Any = None,
    running_var: Any = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation of an ``(N, C, H, W)`` tensor per channel (see :class:`BatchNorm2d`).

    ``training=True``: batch statistics; ``running_mean`` / ``running_var`` (numpy arrays or
    Tensors of shape ``(C,)``, optional) are updated in place with ``momentum`` (PyTorch's rule,
    unbiased variance). ``training=False``: normalise with ``running_mean`` / ``running_var``
    (both required), which are left unchanged. ``gamma`` and ``beta`` go together."""
    if (gamma is None) != (beta is None):
        raise ValueError("batch_norm2d: pass both gamma and beta, or neither")
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"batch_norm2d: training must be a bool, got {training!r}")
    x = _input(x, "x")
    gamma, beta = _input(gamma, "gamma", optional=True), _input(beta, "beta", optional=True)
    inputs = (x,) if gamma is None else (x, gamma, beta)
    if training:
        return BatchNorm2d.apply(*inputs, eps=eps, running_mean=running_mean,
                                 running_var=running_var, momentum=momentum)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm2d: training=False needs running_mean and running_var")
    _check_momentum(momentum, "batch_norm2d")
    return BatchNorm2d.apply(*inputs, eps=eps, mean=running_mean, var=running_var)


__all__ += ["BatchNorm", "BatchNorm2d", "TopK", "batch_norm", "batch_norm2d", "ksparse",
            "topk_mask"]


# ------------------------------------------------------------------------------ 2-D pooling
# Float32 runs on the native kernels (csrc/ops/pool2d.h: _C.max_pool2d_forward and friends; on
# a device lf.ops' pooling forward and _C.device.pool2d_backward); float64 (gradcheck) runs the
# same rules in numpy (CuPy on a device), one vectorized step per window offset.
def _pool_offsets(shape, k, s, p, out, xp=np):
    """For each window offset (i, j) in row-major order: the input rows/columns it reaches for
    every output row/column and whether they lie inside the input (not padding); as ``xp``
    arrays (index arrays are made on the host, then copied to the device for device data)."""
    if xp is not np:
        for rows, cols, valid in _pool_offsets(shape, k, s, p, out):
            yield xp.asarray(rows), xp.asarray(cols), xp.asarray(valid)
        return
    H, W = shape[2], shape[3]
    oh, ow = np.arange(out[0]), np.arange(out[1])
    for i in range(k[0]):
        rows = oh * s[0] - p[0] + i
        rin = (rows >= 0) & (rows < H)
        for j in range(k[1]):
            cols = ow * s[1] - p[1] + j
            cin = (cols >= 0) & (cols < W)
            yield np.clip(rows, 0, H - 1), np.clip(cols, 0, W - 1), rin[:, None] & cin[None, :]


def _pool_forward_numpy(x: np.ndarray, mode: str, k, s, p, out):
    """(y, argmax or None) by the kernels' rules, in x's dtype (numpy, or CuPy for device x)."""
    W, xp = x.shape[3], _xp(x)
    y = argmax = started = None
    for rows, cols, valid in _pool_offsets(x.shape, k, s, p, out, xp):
        v = x[:, :, rows[:, None], cols[None, :]]
        if mode == "max":
            if y is None:
                y = xp.full(v.shape, -np.inf, x.dtype)
                argmax = xp.zeros(v.shape, np.int32)
                started = xp.zeros(v.shape[2:], bool)
            with np.errstate(invalid="ignore"):
                take = valid & (~started | (v > y) | (xp.isnan(v) & ~xp.isnan(y)))
            y = xp.where(take, v, y)
            argmax = xp.where(take, (rows[:, None] * W + cols[None, :]).astype(np.int32), argmax)
            started = started | valid
        else:
            term = xp.where(valid, v if mode == "avg" else v * v, 0)
            y = term if y is None else y + term
    if mode == "avg":
        y = y / (k[0] * k[1])
    elif mode == "l2":
        y = xp.sqrt(y)
    return y.astype(x.dtype, copy=False), argmax


def _pool_backward_numpy(g: np.ndarray, mode: str, in_shape, k, s, p, out, argmax=None,
                         x=None, y=None) -> np.ndarray:
    N, C, H, W = in_shape
    xp = _xp(g)
    # np.add.at dispatches to cupy.add.at for device arrays (CuPy >= 12.1).
    if mode == "max":
        dx = xp.zeros((N * C, H * W), g.dtype)
        planes = xp.repeat(xp.arange(N * C), out[0] * out[1])
        np.add.at(dx, (planes, argmax.reshape(-1)), g.reshape(-1))
        return dx.reshape(in_shape)
    dx = xp.zeros(in_shape, g.dtype)
    if mode == "avg":
        coef = g / (k[0] * k[1])
    else:
        with np.errstate(divide="ignore"):
            coef = g * xp.where(y != 0, 1 / xp.where(y != 0, y, 1), 0)
    n_idx, c_idx = xp.arange(N)[:, None, None, None], xp.arange(C)[None, :, None, None]
    for rows, cols, valid in _pool_offsets(in_shape, k, s, p, out, xp):
        r, c = rows[:, None], cols[None, :]
        term = coef if mode == "avg" else coef * x[:, :, r, c]
        np.add.at(dx, (n_idx, c_idx, r, c), xp.where(valid, term, 0))
    return dx


class _Pool2d(Function):
    """Shared forward/backward of the three pooling Functions (``_mode`` picks the kernel)."""

    fresh_grads = True

    _mode = "max"

    @classmethod
    def _forward(cls, ctx: Context, x: np.ndarray, kernel_size, stride, padding) -> np.ndarray:
        if x.ndim != 4:
            raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
        k, s, p, out = _ops.pool_geometry(x.shape, kernel_size, stride, padding)
        ctx.geometry = (x.shape, k, s, p, out)
        mode = cls._mode
        argmax = None
        if _f32(x) and _on_device(x):
            x = _contig(x)  # lf.ops pools device arrays (CuPy in, CuPy out)
            if mode == "max":
                y, argmax = _ops.max_pool2d(x, k, s, p, return_indices=True)
            else:
                y = getattr(_ops, f"{mode}_pool2d")(x, k, s, p)
        elif _f32(x):
            xc = _contig(x)
            if mode == "max":
                y, argmax = _C.max_pool2d_forward(xc, k, s, p)
            else:
                y = getattr(_C, f"{mode}_pool2d_forward")(xc, k, s, p)
        else:
            y, argmax = _pool_forward_numpy(x, mode, k, s, p, out)
        if mode == "max":
            ctx.save_for_backward(argmax)
        elif mode == "l2":
            ctx.save_for_backward(x, y)
        return y

    @classmethod
    def _backward(cls, ctx: Context, g: np.ndarray):
        in_shape, k, s, p, out = ctx.geometry
        mode = cls._mode
        saved = ctx.saved_tensors
        if _f32(g) and all(a.dtype != np.float64 for a in saved) and _on_device(g):
            if mode == "max":
                return (_dk.pool2d_backward(mode, g, in_shape, k, s, p, argmax=saved[0]),)
            if mode == "avg":
                return (_dk.pool2d_backward(mode, g, in_shape, k, s, p),)
            x, y = saved
            return (_dk.pool2d_backward(mode, g, in_shape, k, s, p, x=x, y=y),)
        if _f32(g) and all(a.dtype != np.float64 for a in saved):
            gc = _contig(g)
            if mode == "max":
                return (_C.max_pool2d_backward(gc, saved[0], in_shape[2:], k, s, p),)
            if mode == "avg":
                return (_C.avg_pool2d_backward(gc, in_shape[2:], k, s, p),)
            x, y = saved
            return (_C.l2_pool2d_backward(gc, _contig(x), _contig(y), k, s, p),)
        if mode == "max":
            return (_pool_backward_numpy(g, mode, in_shape, k, s, p, out, argmax=saved[0]),)
        if mode == "avg":
            return (_pool_backward_numpy(g, mode, in_shape, k, s, p, out),)
        x, y = saved
        return (_pool_backward_numpy(g, mode, in_shape, k, s, p, out, x=x, y=y),)


class MaxPool2d(_Pool2d):
    """2-D max pooling of an ``(N, C, H, W)`` input (see :func:`max_pool2d`).

    Forward keeps the int32 argmax (first maximum of each window in row-major order; a NaN
    wins); backward routes each output's gradient to it, summing where overlapping windows
    pick the same input (one fixed order: bitwise independent of the thread count)."""

    _mode = "max"

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kernel_size, stride=None, padding=0):
        return MaxPool2d._forward(ctx, x, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return MaxPool2d._backward(ctx, g)


class AvgPool2d(_Pool2d):
    """2-D average pooling (``count_include_pad=True``: window sum / ``kh * kw``); backward
    spreads ``g / (kh * kw)`` over each window."""

    _mode = "avg"

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kernel_size, stride=None, padding=0):
        return AvgPool2d._forward(ctx, x, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return AvgPool2d._backward(ctx, g)


class L2Pool2d(_Pool2d):
    """2-D L2 pooling ``y = sqrt(sum over the window of x**2)`` (padding contributes 0).

    Backward: ``dx += g * x / y`` over each window, and 0 where ``y == 0`` (an all-zero window:
    the subgradient 0, never NaN). Compared with ``torch.nn.functional.lp_pool2d(x, 2, ...)``:
    that one has no padding, and its gradient at an all-zero window is NaN; otherwise both
    compute the same function (it goes through ``avg_pool2d(x**2) * kh * kw``)."""

    _mode = "l2"

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, kernel_size, stride=None, padding=0):
        return L2Pool2d._forward(ctx, x, kernel_size, stride, padding)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        return L2Pool2d._backward(ctx, g)


def max_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Differentiable 2-D max pooling of an ``(N, C, H, W)`` tensor. ``kernel_size``, ``stride``
    (None: ``kernel_size``) and ``padding`` are ints or ``(h, w)`` pairs, as in PyTorch
    (``0 <= padding <= kernel_size // 2``, padded positions are -inf)."""
    return MaxPool2d.apply(_input(x, "x"), kernel_size=kernel_size, stride=stride,
                           padding=padding)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Differentiable 2-D average pooling (padding counts as zeros in the mean, as PyTorch's
    default ``count_include_pad=True``). Arguments as in :func:`max_pool2d`."""
    return AvgPool2d.apply(_input(x, "x"), kernel_size=kernel_size, stride=stride,
                           padding=padding)


def l2_pool2d(x: Tensor, kernel_size, stride=None, padding=0) -> Tensor:
    """Differentiable 2-D L2 pooling ``sqrt(sum of x**2 over each window)``: see
    :class:`L2Pool2d`. Arguments as in :func:`max_pool2d`."""
    return L2Pool2d.apply(_input(x, "x"), kernel_size=kernel_size, stride=stride,
                          padding=padding)


__all__ += ["AvgPool2d", "L2Pool2d", "MaxPool2d", "avg_pool2d", "l2_pool2d", "max_pool2d"]


# --------------------------------------------------------------------------- 2-D convolution
def _conv2d_windows(x: np.ndarray, kh: int, kw: int, s, p) -> np.ndarray:
    """numpy (CuPy for device x) im2col view: windows[n, c, oh, ow, i, j] = padded
    x[n, c, oh*sh + i, ow*sw + j]."""
    xp = _xp(x)
    padded = xp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    win = xp.lib.stride_tricks.sliding_window_view(padded, (kh, kw), axis=(2, 3))
    return win[:, :, :: s[0], :: s[1]]


def _conv2d_backward_data_numpy(g: np.ndarray, w: np.ndarray, hw, s, p) -> np.ndarray:
    n, _, oh, ow = g.shape
    c_in, kh, kw = w.shape[1:]
    H, W = hw
    xp = _xp(g, w)
    gxp = xp.zeros((n, c_in, H + 2 * p[0], W + 2 * p[1]), dtype=np.result_type(g.dtype, w.dtype))
    for i in range(kh):
        for j in range(kw):
            gxp[:, :, i : i + s[0] * (oh - 1) + 1 : s[0], j : j + s[1] * (ow - 1) + 1 : s[1]] += (
                xp.einsum("nohw,oc->nchw", g, w[:, :, i, j], optimize=True)
            )
    return gxp[:, :, p[0] : p[0] + H, p[1] : p[1] + W]


class Conv2d(Function):
    """2-D convolution ``y = conv2d(x, w) + b`` on NCHW arrays (PyTorch's cross-correlation,
    zero padding, dilation 1, groups 1); inputs ``(x, w)`` or ``(x, w, b)``, keyword ``stride``
    and ``padding`` (an int or a pair each).

    float32 runs on the native implicit-GEMM kernels (``_C.conv2d_forward``,
    ``_C.conv2d_backward_data``, ``_C.conv2d_backward_weights``); other dtypes (float64 under
    gradcheck) on numpy (sliding windows and einsum). Backward: ``dx`` is the transposed
    convolution of ``g`` with ``w``, ``dw`` the correlation of ``g`` with ``x``, ``db`` the sum of
    ``g`` over batch and space; each is computed only when its input needs a gradient.
    Device data runs the CUDA siblings (``_C.device.conv2d_*``; float64: CuPy's einsum).
    """

    fresh_grads = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                stride: Any = 1, padding: Any = 0) -> np.ndarray:
        s, p = _ops.conv2d_params(stride, padding)
        _ops.conv2d_check_shapes(x.shape, w.shape, None if b is None else b.shape)
        kh, kw = w.shape[2:]
        H, W = x.shape[2:]
        if kh > H + 2 * p[0] or kw > W + 2 * p[1]:
            raise ValueError(
                f"conv2d: kernel {kh}x{kw} is larger than the padded input "
                f"{H + 2 * p[0]}x{W + 2 * p[1]} (H + 2*padding x W + 2*padding)"
            )
        native = _native() and _f32(x, w, *(() if b is None else (b,)))
        if native and not (isinstance(x, np.ndarray) and isinstance(w, np.ndarray)
                           and (b is None or isinstance(b, np.ndarray))):
            # Device data (ops.conv2d: the TypeError of a host/device mix).
            y = _ops.conv2d(_contig(x), _contig(w), None if b is None else _contig(b), s, p)
        elif native:
            y = _C.conv2d_forward(_contig(x), _contig(w), None if b is None else _contig(b), s, p)
        else:
            _same_place(x=x, weight=w, bias=b)
            xp = _xp(x)
            win = _conv2d_windows(x, kh, kw, s, p)
            y = xp.einsum("nchwij,ocij->nohw", win, w, optimize=True)
            if b is not None:
                y = y + b[None, :, None, None]
            y = xp.ascontiguousarray(y, dtype=np.result_type(x.dtype, w.dtype))
        need = ctx.needs_input_grad
        ctx.save_for_backward(x if need[1] else None, w if need[0] else None)
        ctx.stride, ctx.padding, ctx.native = s, p, native
        ctx.x_hw, ctx.k_hw, ctx.has_bias = (H, W), (kh, kw), b is not None
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, w = ctx.saved_tensors
        s, p = ctx.stride, ctx.padding
        need = ctx.needs_input_grad
        want_b = ctx.has_bias and need[2]
        gx = gw = gb = None
        if ctx.native and _f32(g):
            g = _contig(g)
            dev = _on_device(g)
            if w is not None:
                gx = (_dk.conv2d_backward_data(g, w, ctx.x_hw, s, p) if dev else
                      _C.conv2d_backward_data(g, _contig(w), ctx.x_hw, s, p))
            if x is not None:
                gw, gb = (_dk.conv2d_backward_weights(g, x, ctx.k_hw, s, p, want_b) if dev else
                          _C.conv2d_backward_weights(g, _contig(x), ctx.k_hw, s, p, bias=want_b))
            elif want_b:
                gb = g.sum(axis=(0, 2, 3), dtype=np.float64).astype(g.dtype)
        else:
            if w is not None:
                gx = _conv2d_backward_data_numpy(g, w, ctx.x_hw, s, p)
            if x is not None:
                win = _conv2d_windows(x, *ctx.k_hw, s, p)
                gw = _xp(g).einsum("nchwij,nohw->ocij", win, g, optimize=True)
            if want_b:
                gb = g.sum(axis=(0, 2, 3))
        if not ctx.has_bias:
            return gx, gw
        return gx, gw, gb


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
           padding: Any = 0) -> Tensor:
    """Differentiable 2-D convolution of an ``(N, C_in, H, W)`` tensor with a
    ``(C_out, C_in, kh, kw)`` weight (and an optional ``(C_out,)`` bias): see :class:`Conv2d`.
    ``stride`` and ``padding`` are an int or a pair of ints."""
    x, weight = _input(x, "x"), _input(weight, "weight")
    bias = _input(bias, "bias", optional=True)
    _ops.conv2d_params(stride, padding)  # TypeError/ValueError naming the argument, up front
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Conv2d.apply(*inputs, stride=stride, padding=padding)


__all__ += ["Conv2d", "conv2d"]


# ------------------------------------------------------------- local contrast normalisation
# Float32 runs on the native kernels (csrc/ops/local_contrast_norm2d.h); float64 (gradcheck) runs
# the same formulas in numpy, one vectorized step per window offset.
def _lcn_params(size: Any, sigma: Any, eps: Any) -> tuple[int, float, float]:
    """(size, sigma, eps) checked: size an odd int >= 1, sigma (None: size / 4) and eps finite
    numbers > 0; TypeError/ValueError naming the argument."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)):
        raise TypeError(f"size must be an odd int >= 1, got {size!r}")
    if size < 1 or size % 2 == 0 or size >= 2**31:
        raise ValueError(f"size must be an odd int >= 1 (and < 2**31), got {size}")
    if sigma is None:
        sigma = size / 4.0
    for name, v in (("sigma", sigma), ("eps", eps)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                                  np.floating)):
            raise TypeError(f"{name} must be a number > 0, got {v!r}")
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
    return int(size), float(sigma), float(eps)


def _lcn_window(size: int, sigma: float, H: int, W: int, dtype):
    """The 1-D taps (offset p at index p + rr, rr = min(size // 2, max(H, W) - 1)) and the
    in-bounds tap sums along H and W (the separable window normaliser Z = A[:, None] * B)."""
    rr = min(size // 2, max(H, W) - 1)
    t = np.arange(-rr, rr + 1, dtype=np.float64) / sigma  # no 0/0 for a sigma near 0
    a = np.exp(-0.5 * t * t)
    a = (a / a.sum()).astype(dtype)

    def tap_sums(n):
        idx = np.arange(n)[:, None] + np.arange(-rr, rr + 1)[None, :]
        return (((idx >= 0) & (idx < n)) * a).sum(axis=1)

    return a, rr, tap_sums(H), tap_sums(W)


def _lcn_blur(f: np.ndarray, a: np.ndarray, rr: int) -> np.ndarray:
    """Zero-padded separable window sum of (..., H, W) planes: sum_{p,q} a_p a_q f[x+p, y+q]."""
    H, W = f.shape[-2:]
    xp = _xp(f)
    t = xp.zeros_like(f)
    for q in range(max(-rr, -(W - 1)), min(rr, W - 1) + 1):
        lo, hi = max(0, -q), min(W, W - q)
        t[..., lo:hi] += a[q + rr] * f[..., lo + q:hi + q]
    out = xp.zeros_like(f)
    for p in range(max(-rr, -(H - 1)), min(rr, H - 1) + 1):
        lo, hi = max(0, -p), min(H, H - p)
        out[..., lo:hi, :] += a[p + rr] * t[..., lo + p:hi + p, :]
    return out


def _lcn_select(c: np.ndarray, s: np.ndarray, eps: float):
    """d = max(c, sigma, eps) and the branch taken (0: c, 1: sigma, 2: eps); ties go to c, then
    to sigma."""
    xp = _xp(s)
    c = c[:, None, None]
    sel = xp.where((c >= s) & (c >= eps), 0, xp.where(s >= eps, 1, 2))
    d = xp.where(sel == 0, c, xp.where(sel == 1, s, eps)).astype(s.dtype, copy=False)
    return d, sel


def _lcn_forward_numpy(x: np.ndarray, size: int, sigma: float, eps: float):
    N, C, H, W = x.shape
    xp = _xp(x)
    a, rr, A, B = _lcn_window(size, sigma, H, W, x.dtype)
    zc = xp.asarray(A[:, None] * B[None, :] * C)  # the taps: host scalars; Z: where x is
    x0 = x[:, :1, :1, :1]  # centred on each sample's first element, as the native kernels
    m = x0[:, 0] + _lcn_blur((x - x0).sum(axis=1), a, rr) / zc
    v = x - m[:, None]
    s = xp.sqrt(_lcn_blur((v * v).sum(axis=1), a, rr) / zc)
    c = s.mean(axis=(1, 2))
    d, _ = _lcn_select(c, s, eps)
    return v / d[:, None], m, s, c


def _lcn_backward_numpy(g: np.ndarray, x, m, s, c, size: int, sigma: float, eps: float):
    N, C, H, W = x.shape
    xp = _xp(x)
    a, rr, A, B = _lcn_window(size, sigma, H, W, x.dtype)
    zc = xp.asarray(A[:, None] * B[None, :] * C)
    v = x - m[:, None]
    d, sel = _lcn_select(c, s, eps)
    gd = -(g * v).sum(axis=1) / (d * d)
    gc = xp.where(sel == 0, gd, 0).sum(axis=(1, 2))
    gsig = xp.where(sel == 1, gd, 0) + gc[:, None, None] / (H * W)
    with np.errstate(divide="ignore", invalid="ignore"):
        gs2 = xp.where(s > 0, gsig / (2 * xp.where(s > 0, s, 1)), 0)
    R = _lcn_blur(gs2 / zc, a, rr)
    gv = g / d[:, None] + 2 * v * R[:, None]
    gm = -gv.sum(axis=1)
    return gv + _lcn_blur(gm / zc, a, rr)[:, None]


class LocalContrastNorm2d(Function):
    """Local contrast normalisation of an ``(N, C, H, W)`` input (Jarrett et al. 2009; Le et al.
    2012), each sample on its own, with a Gaussian window of side ``size`` and std ``sigma``
    spread across the C maps (weights ``w_pq / C``):

    * subtractive: ``v = x - m``, ``m`` the window average of all maps at each position;
    * divisive: ``sigma_xy`` = sqrt of the window average of ``v**2`` over all maps,
      ``c`` = its mean over the image, ``y = v / max(c, sigma_xy, eps)``.

    Zero padding, with the window renormalised at each position by the sum of its in-bounds
    weights (a constant image gives 0 everywhere, the border included); a window larger than
    the image is allowed. Backward is the exact (sub)gradient, including ``c``'s dependence on
    every ``sigma_xy``; at ties the max takes ``c``, then ``sigma_xy`` (``eps`` contributes no
    gradient), and the gradient through ``sigma_xy == 0`` is 0.

    float32 runs on the native kernels (``_C.local_contrast_norm2d_forward`` / ``_backward``,
    csrc/ops/local_contrast_norm2d.h; their CUDA siblings for device data); float64 (gradcheck)
    on numpy (CuPy for device data)."""

    fresh_grads = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, size: int = 5, sigma: Any = None,
                eps: float = 1e-4) -> np.ndarray:
        size, sigma, eps = _lcn_params(size, sigma, eps)
        if x.ndim != 4:
            raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
        if min(x.shape[1:]) < 1:
            raise ValueError(f"x must have C, H, W >= 1, got shape {x.shape}")
        ctx.params = (size, sigma, eps)
        if _f32(x):
            xc = _contig(x)
            fwd = (_dk.local_contrast_norm2d_forward if _on_device(xc)
                   else _C.local_contrast_norm2d_forward)
            y, m, s, c = fwd(xc, size, sigma, eps)
        else:
            xc = x
            y, m, s, c = _lcn_forward_numpy(x, size, sigma, eps)
        ctx.save_for_backward(xc, m, s, c)
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, m, s, c = ctx.saved_tensors
        size, sigma, eps = ctx.params
        if _f32(g, x):
            bwd = (_dk.local_contrast_norm2d_backward if _on_device(x)
                   else _C.local_contrast_norm2d_backward)
            return (bwd(_contig(g), x, m, s, c, size, sigma, eps),)
        return (_lcn_backward_numpy(g, x, m, s, c, size, sigma, eps),)


def local_contrast_norm2d(x: Tensor, size: int = 5, sigma: float | None = None,
                          eps: float = 1e-4) -> Tensor:
    """Differentiable local contrast normalisation of an ``(N, C, H, W)`` tensor: see
    :class:`LocalContrastNorm2d`.

    ``size`` is the odd side of the Gaussian window (default 5); ``sigma`` its standard deviation
    in pixels (default ``size / 4``, torch7's ``image.gaussian`` convention, so the window edge
    sits at 2 sigma); ``eps`` (default 1e-4) bounds the divisor from below, which keeps flat
    regions (and a constant image, whose output is 0) finite."""
    x = _input(x, "x")
    size, sigma, eps = _lcn_params(size, sigma, eps)
    if x.ndim != 4:
        raise ValueError(f"x must be 4-D (N, C, H, W), got shape {x.shape}")
    return LocalContrastNorm2d.apply(x, size=size, sigma=sigma, eps=eps)


__all__ += ["LocalContrastNorm2d", "local_contrast_norm2d"]


# --------------------------------------------------------------------------- locally connected
def _lc2d_stride(stride: Any) -> tuple[int, int]:
    """The validated ``(sh, sw)`` stride of a locally connected layer (an int or a pair, >= 1)."""
    s = _ops._pair(stride, "stride")
    if min(s) < 1:
        raise ValueError(f"stride must be >= 1, got {s}")
    return s


def _lc2d_check_shapes(x_shape, w_shape, b_shape, s) -> tuple[int, int]:
    """ValueError naming the argument unless x ``(N, C_in, H, W)``, weight ``(OH, OW, C_out,
    C_in, kh, kw)`` and bias ``(C_out, OH, OW)`` fit together with stride ``s``; returns
    ``(OH, OW)``."""
    if len(x_shape) != 4:
        raise ValueError(
            f"locally_connected2d: x must be 4-D (N, C_in, H, W), got shape {tuple(x_shape)}"
        )
    if len(w_shape) != 6:
        raise ValueError("locally_connected2d: weight must be 6-D (OH, OW, C_out, C_in, kh, kw), "
                         f"got shape {tuple(w_shape)}")
    oh, ow, c_out, c_in, kh, kw = w_shape
    H, W = x_shape[2:]
    if x_shape[1] != c_in:
        raise ValueError(
            f"locally_connected2d: x has {x_shape[1]} input channels (shape {tuple(x_shape)}) but "
            f"weight of shape {tuple(w_shape)} expects {c_in}"
        )
    if kh < 1 or kw < 1 or kh > H or kw > W:
        raise ValueError(f"locally_connected2d: kernel {kh}x{kw} does not fit in the input "
                         f"{H}x{W} (no padding)")
    want = ((H - kh) // s[0] + 1, (W - kw) // s[1] + 1)
    if (oh, ow) != want:
        raise ValueError(
            f"locally_connected2d: weight of shape {tuple(w_shape)} has {oh}x{ow} output "
            f"positions, but a {H}x{W} input with kernel {kh}x{kw} and stride {s} gives "
            f"{want[0]}x{want[1]}"
        )
    if b_shape is not None and tuple(b_shape) != (c_out, oh, ow):
        raise ValueError(f"locally_connected2d: bias must have shape {(c_out, oh, ow)} "
                         f"(C_out, OH, OW), got {tuple(b_shape)}")
    return want


def _lc2d_windows(x: np.ndarray, kh: int, kw: int, s) -> np.ndarray:
    """windows[n, c, oh, ow, i, j] = x[n, c, oh*sh + i, ow*sw + j] (a view; CuPy's for device
    x)."""
    win = _xp(x).lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    return win[:, :, :: s[0], :: s[1]]


def _lc2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s, native: bool):
    """y of the locally connected layer: the native kernel for float32, else numpy."""
    if native and _on_device(x):
        return _dk.locally_connected2d_forward(x, w, b, s)
    if native:
        return _C.locally_connected2d_forward(_contig(x), _contig(w),
                                              None if b is None else _contig(b), s)
    xp = _xp(x)
    win = _lc2d_windows(x, *w.shape[4:], s)
    y = xp.einsum("nchwij,hwocij->nohw", win, w, optimize=True)
    if b is not None:
        y = y + b[None]
    return xp.ascontiguousarray(y, dtype=np.result_type(x.dtype, w.dtype))


def _lc2d_backward_data(g: np.ndarray, w: np.ndarray, x_hw, s, native: bool) -> np.ndarray:
    """dx = the transpose of the layer applied to g (every window gets g * w)."""
    if native and _on_device(g):
        return _dk.locally_connected2d_backward_data(g, w, tuple(x_hw), s)
    if native:
        return _C.locally_connected2d_backward_data(_contig(g), _contig(w), tuple(x_hw), s)
    xp = _xp(g)
    kh, kw = w.shape[4:]
    n, _, oh, ow = g.shape
    gx = xp.zeros((n, w.shape[3], *x_hw), dtype=np.result_type(g.dtype, w.dtype))
    for i in range(kh):
        for j in range(kw):
            gx[:, :, i : i + s[0] * (oh - 1) + 1 : s[0],
               j : j + s[1] * (ow - 1) + 1 : s[1]] += xp.einsum(
                "nohw,hwoc->nchw", g, w[..., i, j], optimize=True)
    return gx


def _lc2d_backward_weights(g: np.ndarray, x: np.ndarray, k_hw, s, want_b: bool, native: bool):
    """(dw, db): g times each window summed over the batch, and g summed over the batch (None
    unless ``want_b``)."""
    if native and _on_device(g):
        return _dk.locally_connected2d_backward_weights(g, x, tuple(k_hw), s, want_b)
    if native:
        return _C.locally_connected2d_backward_weights(_contig(g), _contig(x), tuple(k_hw), s,
                                                       bias=want_b)
    win = _lc2d_windows(x, *k_hw, s)
    gw = _xp(g).einsum("nchwij,nohw->hwocij", win, g, optimize=True)
    return gw, (g.sum(axis=0) if want_b else None)


class LocallyConnected2d(Function):
    """2-D locally connected layer (Le et al. 2012): a convolution whose weights are *untied*,
    one ``(C_out, C_in, kh, kw)`` filter (and one bias) per output position, no padding.
    Inputs ``(x, w)`` or ``(x, w, b)`` with x ``(N, C_in, H, W)``, w ``(OH, OW, C_out, C_in,
    kh, kw)``, b ``(C_out, OH, OW)``; keyword ``stride`` (an int or a pair)::

        y[n, o, oh, ow] = b[o, oh, ow] + sum_{c, i, j} w[oh, ow, o, c, i, j]
                                                      * x[n, c, oh*sh + i, ow*sw + j]

    float32 runs on the native kernels (``_C.locally_connected2d_forward``,
    ``_C.locally_connected2d_backward_data``, ``_C.locally_connected2d_backward_weights``);
    other dtypes (float64 under gradcheck) on numpy (sliding windows and einsum). Backward:
    ``dx`` sends ``g * w`` back to every window, ``dw`` is ``g`` times each window summed over
    the batch, ``db`` the sum of ``g`` over the batch; each is computed only when its input
    needs a gradient. Device data runs the CUDA siblings (``_C.device.locally_connected2d_*``;
    float64: CuPy's einsum).
    """

    fresh_grads = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, *,
                stride: Any = 1) -> np.ndarray:
        s = _lc2d_stride(stride)
        _lc2d_check_shapes(x.shape, w.shape, None if b is None else b.shape, s)
        _same_place(x=x, weight=w, bias=b)
        native = _native() and _f32(x, w, *(() if b is None else (b,)))
        y = _lc2d_forward(x, w, b, s, native)
        need = ctx.needs_input_grad
        ctx.save_for_backward(x if need[1] else None, w if need[0] else None)
        ctx.stride, ctx.native = s, native
        ctx.x_hw, ctx.k_hw, ctx.has_bias = x.shape[2:], w.shape[4:], b is not None
        return y

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        x, w = ctx.saved_tensors
        s = ctx.stride
        want_b = ctx.has_bias and ctx.needs_input_grad[2]
        native = ctx.native and _f32(g)
        gx = gw = gb = None
        if w is not None:
            gx = _lc2d_backward_data(g, w, ctx.x_hw, s, native)
        if x is not None:
            gw, gb = _lc2d_backward_weights(g, x, ctx.k_hw, s, want_b, native)
        elif want_b:
            gb = g.sum(axis=0, dtype=np.float64).astype(g.dtype)
        if not ctx.has_bias:
            return gx, gw
        return gx, gw, gb


class LocallyConnectedTranspose2d(Function):
    """The transpose (adjoint) of a locally connected layer without bias: inputs ``(h, w)``
    with h ``(N, C_out, OH, OW)`` and w ``(OH, OW, C_out, C_in, kh, kw)``, keywords
    ``input_size`` (H, W) and ``stride``; output ``(N, C_in, H, W)``::

        x[n, c, oh*sh + i, ow*sw + j] += sum_o w[oh, ow, o, c, i, j] * h[n, o, oh, ow]

    It is the layer's data gradient used forward (a decoder: ``W2^T h`` of Le et al.'s
    reconstruction objective). Its gradients are the layer's forward (for ``h``) and the
    layer's weight gradient with the roles of data and gradient swapped (for ``w``), on the
    same native kernels.
    """

    fresh_grads = True

    @staticmethod
    def forward(ctx: Context, h: np.ndarray, w: np.ndarray, *, input_size: Any,
                stride: Any = 1) -> np.ndarray:
        s = _lc2d_stride(stride)
        x_hw = tuple(int(v) for v in input_size)
        _lc2d_check_shapes((h.shape[0], w.shape[3]) + x_hw, w.shape, None, s)
        if h.ndim != 4 or tuple(h.shape[1:]) != (w.shape[2], w.shape[0], w.shape[1]):
            raise ValueError(f"locally_connected2d_transpose: h must have shape (N, "
                             f"{w.shape[2]}, {w.shape[0]}, {w.shape[1]}) for weight of shape "
                             f"{tuple(w.shape)}, got {tuple(h.shape)}")
        _same_place(h=h, weight=w)
        native = _native() and _f32(h, w)
        need = ctx.needs_input_grad
        ctx.save_for_backward(h if need[1] else None, w if need[0] else None)
        ctx.stride, ctx.native, ctx.k_hw = s, native, w.shape[4:]
        return _lc2d_backward_data(h, w, x_hw, s, native)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        h, w = ctx.saved_tensors
        native = ctx.native and _f32(g)
        gh = None if w is None else _lc2d_forward(g, w, None, ctx.stride, native)
        gw = None if h is None else _lc2d_backward_weights(h, g, ctx.k_hw, ctx.stride, False,
                                                           native)[0]
        return gh, gw


def locally_connected2d(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                        stride: Any = 1) -> Tensor:
    """Differentiable 2-D locally connected layer (untied weights, no padding) of an
    ``(N, C_in, H, W)`` tensor with an ``(OH, OW, C_out, C_in, kh, kw)`` weight (and an
    optional ``(C_out, OH, OW)`` bias): see :class:`LocallyConnected2d`. ``stride`` is an int
    or a pair of ints."""
    x, weight = _input(x, "x"), _input(weight, "weight")
    bias = _input(bias, "bias", optional=True)
    s = _lc2d_stride(stride)  # TypeError/ValueError naming the argument, up front
    _lc2d_check_shapes(x.shape, weight.shape, None if bias is None else bias.shape, s)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return LocallyConnected2d.apply(*inputs, stride=s)


def locally_connected2d_transpose(h: Tensor, weight: Tensor, input_size: Any,
                                  stride: Any = 1) -> Tensor:
    """Differentiable transpose of :func:`locally_connected2d` (no bias): maps ``(N, C_out, OH,
    OW)`` back to ``(N, C_in, *input_size)`` with an ``(OH, OW, C_out, C_in, kh, kw)`` weight;
    see :class:`LocallyConnectedTranspose2d`."""
    h, weight = _input(h, "h"), _input(weight, "weight")
    s = _lc2d_stride(stride)
    return LocallyConnectedTranspose2d.apply(h, weight, input_size=tuple(input_size), stride=s)


__all__ += ["LocallyConnected2d", "locally_connected2d", "LocallyConnectedTranspose2d",
            "locally_connected2d_transpose"]
