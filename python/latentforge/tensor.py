"""A small reverse-mode autograd: :class:`Tensor`, :class:`Function` and the backward pass.

>>> import numpy as np, latentforge.tensor as T
>>> x = T.Tensor(np.ones((2, 3)), requires_grad=True)
>>> y = (x * 2.0).sum()
>>> y.backward()
>>> x.grad
array([[2., 2., 2.],
       [2., 2., 2.]], dtype=float32)

Design
------
* A :class:`Tensor` wraps a float32 numpy array (``.data``). float64 input is converted once,
  when the tensor is made (and so is a view that repeats its elements, ``np.broadcast_to``);
  integer and boolean arrays are rejected with ``TypeError`` (integer arrays are *index*
  arrays: use them as ``x[idx]``, an embedding lookup).
* Every op is a :class:`Function` subclass (see :mod:`latentforge.functional`) with static
  ``forward(ctx, *arrays, **params)`` and ``backward(ctx, grad_out)``. ``Function.apply``
  runs the forward on the arrays and, when grad mode is on and an input requires grad, records
  the node so that :meth:`Tensor.backward` can visit it. Each returned gradient's shape is
  asserted equal to its input's shape.
* :meth:`Tensor.backward` topologically sorts the graph iteratively (no recursion limit on
  deep graphs), then runs each node's backward once, summing gradients of tensors used more
  than once. Only leaves (tensors made by the user with ``requires_grad=True``) keep ``.grad``,
  and it accumulates across backward calls until reset (``t.grad = None`` or
  ``Module.zero_grad()``). Unless ``retain_graph=True``, the saved arrays of every node are
  freed after use and a second backward through the same nodes raises ``RuntimeError``
  before any gradient is touched.
* :func:`no_grad` turns graph recording off (inference, hand-written optimizer steps).

The float64 switch
------------------
Our native kernels compute in float32, which is too coarse for a central-difference gradient
check (an ``eps = 1e-6`` step is below float32 resolution). :func:`default_dtype` switches
the dtype new tensors are made in, per thread, for the duration of a ``with`` block::

    with default_dtype(np.float64):
        ...  # tensors are float64; matmul/linear use numpy float64 instead of native GEMM

It exists for :func:`latentforge.testing.gradcheck`, which runs the graph in float64 so the
*backward formulas* are checked exactly. Under it, ops backed by native float32 kernels fall
back to numpy float64 arithmetic (the same formulas, not the same kernels); the float32
native path itself is checked separately against float64 numpy references in
``tests/autograd``. Outside that block everything is float32 and uses the native kernels.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import _device

__all__ = [
    "Context",
    "Function",
    "Tensor",
    "default_dtype",
    "get_default_dtype",
    "is_grad_enabled",
    "no_grad",
]

_ALLOWED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class _State(threading.local):
    # Class attributes are each thread's initial values.
    grad_enabled = True
    dtype = np.dtype(np.float32)


_state = _State()


@contextmanager
def no_grad() -> Iterator[None]:
    """Context manager: ops inside record no graph (outputs have ``requires_grad=False``)."""
    previous = _state.grad_enabled
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread (False inside :func:`no_grad`)."""
    return _state.grad_enabled


@contextmanager
def default_dtype(dtype) -> Iterator[None]:
    """Context manager: make new tensors in ``dtype`` (float32 or float64) on this thread.

    float64 is meant for gradient checking only; see the module docstring.
    """
    dt = np.dtype(dtype)
    if dt not in _ALLOWED_DTYPES:
        raise ValueError(f"default dtype must be float32 or float64, got {dt}")
    previous = _state.dtype
    _state.dtype = dt
    try:
        yield
    finally:
        _state.dtype = previous


def get_default_dtype() -> np.dtype:
    """The dtype new tensors are made in on this thread (float32 unless in ``default_dtype``)."""
    return _state.dtype


def _as_data(data: Any) -> np.ndarray:
    """Convert user data to an array of the default dtype, rejecting integer/bool arrays.

    A device array (CuPy, ``__cuda_array_interface__`` or DLPack) stays on its device, as a CuPy
    array sharing its memory (see :mod:`latentforge._device`)."""
    if isinstance(data, Tensor):
        data = data.data
    if _device.on_device(data):
        arr = _device.as_cupy(data, "a Tensor on the device")
        if arr.dtype.kind != "f":
            raise TypeError(
                f"Tensor data must be floating point (float32 is the compute type), got dtype "
                f"{arr.dtype} on the device; integer arrays are index arrays: use them as t[idx]"
            )
        if arr.dtype != _state.dtype:
            arr = arr.astype(_state.dtype)
        elif any(st == 0 and n > 1 for st, n in zip(arr.strides, arr.shape)):
            arr = arr.copy()
        return arr
    if isinstance(data, (bool, np.bool_)):
        raise TypeError("Tensor data must be floating point, got a bool")
    if isinstance(data, (int, float, np.floating, np.integer)):
        # A Python/numpy scalar is unambiguous: take its value.
        return np.asarray(data, dtype=_state.dtype)
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"Tensor data cannot be converted to an array: {exc}") from None
    if arr.dtype.kind != "f":
        raise TypeError(
            f"Tensor data must be floating point (float32 is the compute type), got dtype "
            f"{arr.dtype}; integer arrays are index arrays: use them as t[idx] (an embedding "
            "lookup), or cast them"
        )
    if arr.dtype != _state.dtype:
        arr = arr.astype(_state.dtype)  # the one conversion (e.g. float64 -> float32)
    elif any(st == 0 and n > 1 for st, n in zip(arr.strides, arr.shape)):
        # A view repeating its elements (np.broadcast_to): read-only and aliased, so it could
        # not be updated in place, and its size may be far beyond memory. Materialized here,
        # once (an impossible size fails now with MemoryError, not deep inside an op).
        arr = np.array(arr, copy=True)
    return arr


class Context:
    """Per-node scratch space handed to ``forward`` and ``backward``.

    ``save_for_backward(*arrays)`` keeps what backward needs (read back as
    ``ctx.saved_tensors``); small non-array parameters may be stored as attributes.
    ``needs_input_grad[i]`` tells backward whether input ``i`` wants a gradient.
    """

    __slots__ = ("__dict__", "saved_tensors", "needs_input_grad", "parents", "freed")

    def __init__(self, needs_input_grad: tuple[bool, ...] = ()):
        self.saved_tensors: tuple[Any, ...] | None = ()
        self.needs_input_grad = needs_input_grad
        self.parents: tuple[Tensor, ...] = ()
        self.freed = False

    def save_for_backward(self, *arrays: Any) -> None:
        self.saved_tensors = arrays

    def _free(self) -> None:
        self.saved_tensors = None
        self.__dict__.clear()
        self.freed = True


class Function:
    """Base class of differentiable ops.

    Subclasses define ``forward(ctx, *arrays, **params) -> ndarray`` and
    ``backward(ctx, grad_out) -> tuple`` (one gradient or ``None`` per array input) as static
    methods, and are called as ``Op.apply(*tensors, **params)``.

    ``fresh_grads = True`` declares that every array ``backward`` returns is allocated by that
    call and referenced by nothing else (not ``grad_out`` or a view of it, not a saved array,
    not one array returned for two inputs). A leaf whose whole gradient is such an array then
    keeps it as its ``.grad`` instead of a copy (PyTorch's ``AccumulateGrad`` takes the buffer
    the same way), which saves a pass over, e.g., the input gradient of a batch of images.
    """

    fresh_grads: bool = False

    @staticmethod
    def forward(ctx: Context, *arrays: np.ndarray, **params: Any) -> np.ndarray:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_out: np.ndarray):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        tensors = tuple(x if isinstance(x, Tensor) else Tensor(x) for x in inputs)
        needs = tuple(t.requires_grad for t in tensors)
        ctx = Context(needs)
        out = cls.forward(ctx, *(t.data for t in tensors), **params)
        if not isinstance(out, np.ndarray) and not _device.on_device(out):
            out = np.asarray(out)
        record = _state.grad_enabled and any(needs)
        result = Tensor._from_op(out, requires_grad=record)
        if record:
            ctx.parents = tensors
            result._ctx = ctx
            result._op = cls
        return result


class Tensor:
    """An n-dimensional float32 array that records the ops applied to it.

    Parameters
    ----------
    data : array_like of floats
        Converted once to the default dtype (float32; float64 only inside
        :func:`default_dtype`). Integer or boolean arrays raise ``TypeError``.
    requires_grad : bool
        Whether ``backward`` should compute ``.grad`` for this (leaf) tensor.
    """

    # Make ``ndarray + Tensor`` call ``Tensor.__radd__`` instead of numpy broadcasting.
    __array_ufunc__ = None

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_op", "__weakref__")

    def __init__(self, data: Any, requires_grad: bool = False):
        self.data: np.ndarray = _as_data(data)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: Context | None = None
        self._op: type | None = None

    @classmethod
    def _from_op(cls, data: np.ndarray, requires_grad: bool) -> Tensor:
        t = cls.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t._ctx = None
        t._op = None
        return t

    # ----------------------------------------------------------------- basic attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @property
    def device(self) -> str:
        """Where ``data`` lives: ``"cpu"`` or ``"cuda:N"``."""
        return _device.device_of(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying array (not a copy). TypeError for a tensor on a CUDA device (use
        ``t.to("cpu").numpy()``, the explicit copy, or ``t.data``, the CuPy array)."""
        if _device.on_device(self.data):
            raise TypeError(f"numpy() of a tensor on {self.device}: copy it to the host first "
                            "with t.to('cpu'), or use t.data (a CuPy array)")
        return self.data

    def to(self, device: str) -> Tensor:
        """This tensor on ``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``): ``self`` when it is
        already there, otherwise a copy as a new leaf (outside the graph) with the same
        ``requires_grad``. Moving a non-leaf raises RuntimeError: the copy is not differentiable,
        move the inputs (or the module, ``Module.to``) instead."""
        kind, index = _device.use_device(device)
        here = self.device
        if kind == "cpu" and here == "cpu":
            return self
        if kind == "cuda" and here != "cpu" and (index is None or here == f"cuda:{index}"):
            return self
        if not self.is_leaf:
            raise RuntimeError(f"to({device!r}) of a tensor computed by {self._op.__name__}: the "
                               "copy is outside the graph; move the inputs instead")
        return Tensor._from_op(_device.to_device(self.data, kind, index, "tensor"),
                               self.requires_grad)

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        return float(self.data.item())

    def detach(self) -> Tensor:
        """A new leaf sharing ``data`` with this tensor, outside the graph."""
        return Tensor._from_op(self.data, requires_grad=False)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        op = f", op={self._op.__name__}" if self._op is not None else ""
        data, where = self.data, ""
        if _device.on_device(data):
            data, where = _device.to_device(data, "cpu"), f", device={self.device}"
        return f"Tensor({np.array2string(data, precision=4, threshold=20)}{extra}{op}{where})"

    # ----------------------------------------------------------------- backward
    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Parameters
        ----------
        grad : array_like, optional
            Gradient of some scalar with respect to ``self`` (same shape). May be omitted
            only when ``self`` has one element (it is then 1).
        retain_graph : bool
            Keep the saved arrays so backward can run through this graph again. Without it
            they are freed, and a second backward raises ``RuntimeError``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no input had "
                "requires_grad=True, or it was computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"grad can be omitted only for one-element outputs; this one has shape "
                    f"{self.shape}: pass grad= of that shape"
                )
            g = _device.array_module(self.data).ones(self.shape, dtype=self.data.dtype)
        else:
            g = grad.data if isinstance(grad, Tensor) else grad
            if _device.on_device(g) != _device.on_device(self.data):
                raise TypeError(f"grad is on {_device.device_of(g)} but the tensor is on "
                                f"{self.device}: pass grad where the tensor lives")
            g = _device.as_array(g, "grad")
            if g.dtype.kind != "f":
                raise TypeError(f"grad must be floating point, got dtype {g.dtype}")
            if g.shape != self.shape:
                raise ValueError(f"grad has shape {g.shape}, expected {self.shape}")
            g = g.astype(self.data.dtype, copy=False)

        order = self._topological_order()
        for t in order:
            if t._ctx is not None and t._ctx.freed:
                raise RuntimeError(
                    f"trying to backward through the graph a second time (node "
                    f"{t._op.__name__ if t._op else '?'} has already freed its saved arrays); "
                    f"pass retain_graph=True to the first backward() if you need to do this"
                )

        grads: dict[int, np.ndarray] = {id(self): g}
        fresh: set[int] = set()  # keys of grads whose array nothing else references
        for t in reversed(order):
            gt = grads.pop(id(t), None)
            if t._ctx is None:
                if gt is not None and t.requires_grad:
                    if t.grad is None:
                        adopt = (id(t) in fresh and gt.dtype == t.data.dtype
                                 and getattr(gt.flags, "writeable", True))
                        t.grad = gt if adopt else gt.astype(t.data.dtype, copy=True)
                    else:
                        t.grad += gt
                continue
            ctx = t._ctx
            if gt is not None:
                in_grads = t._op.backward(ctx, gt)
                if not isinstance(in_grads, tuple):
                    in_grads = (in_grads,)
                if len(in_grads) != len(ctx.parents):
                    raise RuntimeError(
                        f"{t._op.__name__}.backward returned {len(in_grads)} gradients for "
                        f"{len(ctx.parents)} inputs"
                    )
                for parent, pg in zip(ctx.parents, in_grads):
                    if pg is None or not parent.requires_grad:
                        continue
                    if not isinstance(pg, np.ndarray) and not _device.on_device(pg):
                        pg = np.asarray(pg)
                    assert pg.shape == parent.shape, (
                        f"{t._op.__name__}.backward: gradient shape {pg.shape} != input shape "
                        f"{parent.shape}"
                    )
                    key = id(parent)
                    prev = grads.get(key)
                    # Never add in place: a backward may return grad_out itself (or a view).
                    grads[key] = pg if prev is None else prev + pg
                    if prev is not None or (t._op.fresh_grads and pg.dtype.kind == "f"):
                        fresh.add(key)
                    else:
                        fresh.discard(key)
            if not retain_graph:
                ctx._free()

    def _topological_order(self) -> list[Tensor]:
        """Tensors reachable from ``self`` (that require grad), inputs before outputs.

        Iterative depth-first post-order, so graphs of any depth work.
        """
        order: list[Tensor] = []
        visited: set[int] = {id(self)}
        stack: list[tuple[Tensor, int]] = [(self, 0)]
        while stack:
            node, i = stack.pop()
            parents = node._ctx.parents if node._ctx is not None else ()
            while i < len(parents) and (
                id(parents[i]) in visited or not parents[i].requires_grad
            ):
                i += 1
            if i < len(parents):
                child = parents[i]
                visited.add(id(child))
                stack.append((node, i + 1))
                stack.append((child, 0))
            else:
                order.append(node)
        return order

    # ----------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        return F.Add.apply(self, _operand(other, self))

    def __radd__(self, other: Any) -> Tensor:
        return F.Add.apply(_operand(other, self), self)

    def __sub__(self, other: Any) -> Tensor:
        return F.Sub.apply(self, _operand(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return F.Sub.apply(_operand(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return F.Mul.apply(self, _operand(other, self))

    def __rmul__(self, other: Any) -> Tensor:
        return F.Mul.apply(_operand(other, self), self)

    def __truediv__(self, other: Any) -> Tensor:
        return F.Div.apply(self, _operand(other, self))

    def __rtruediv__(self, other: Any) -> Tensor:
        return F.Div.apply(_operand(other, self), self)

    def __matmul__(self, other: Any) -> Tensor:
        return F.MatMul.apply(self, _operand(other, self))

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.MatMul.apply(_operand(other, self), self)

    def __neg__(self) -> Tensor:
        return F.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __pow__(self, exponent: Any) -> Tensor:
        if isinstance(exponent, Tensor) or not np.isscalar(exponent):
            raise TypeError("Tensor ** x supports a real scalar exponent only")
        if isinstance(exponent, (bool, np.bool_, complex, str, bytes)):
            raise TypeError(f"exponent must be a real number, got {type(exponent).__name__}")
        return F.Pow.apply(self, exponent=float(exponent))

    def __getitem__(self, key: Any) -> Tensor:
        return F.GetItem.apply(self, key=key)

    # ----------------------------------------------------------------- methods
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return F.Mean.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return F.Reshape.apply(self, shape=shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return F.Transpose.apply(self, axes=axes or None)

    def matmul(self, other: Any) -> Tensor:
        return self @ other

    def sigmoid(self) -> Tensor:
        return F.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return F.Tanh.apply(self)

    def relu(self) -> Tensor:
        return F.ReLU.apply(self)

    def exp(self) -> Tensor:
        return F.Exp.apply(self)

    def log(self) -> Tensor:
        return F.Log.apply(self)

    def abs(self) -> Tensor:
        return F.Abs.apply(self)

    def clip(self, lo: float, hi: float) -> Tensor:
        return F.Clip.apply(self, lo=lo, hi=hi)

    def softmax(self, axis: int = -1) -> Tensor:
        return F.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return F.LogSoftmax.apply(self, axis=axis)


def _operand(other: Any, like: Tensor) -> Tensor:
    """Wrap a scalar/array operand as a constant tensor in ``like``'s dtype."""
    if isinstance(other, Tensor):
        return other
    if isinstance(other, (bool, np.bool_)):
        raise TypeError("cannot combine a Tensor with a bool")
    if isinstance(other, (int, float, np.integer, np.floating)):
        xp = _device.array_module(like.data)
        return Tensor._from_op(xp.asarray(other, dtype=like.data.dtype), requires_grad=False)
    return Tensor(other)


# Imported last: functional.py imports Function and Tensor from this module.
from . import functional as F  # noqa: E402
