"""Optimizers on latentforge's fused native update kernels.

Each ``step()`` updates every parameter in one pass over its elements (OpenMP-parallel, float32
math, results independent of the thread count), with L2 weight decay and L1 decay folded into
the gradient in the same pass, then applies the optional max-norm constraint.

Parameters are duck-typed: any object with

* ``.data``: a float32, C-contiguous, writable numpy array, updated **in place** (the optimizer
  never rebinds ``.data``), and
* ``.grad``: ``None`` (the parameter is skipped this step) or a float32, C-contiguous numpy array
  of the same shape.

Arrays of any other dtype or layout raise ``TypeError``/``ValueError`` rather than being converted
on every step (a per-step copy would also break the in-place update).

Parameters on a CUDA device
---------------------------
A parameter whose ``.data`` is a device array (CuPy, see :mod:`latentforge._device`) is updated
on its device by the fused kernel ``_C.device.optim_step`` (one launch per parameter, on CuPy's
current stream; ``max_norm`` through ``_C.device.max_norm``), with the same rules, state names
and float32 math as on the host. Its ``.grad`` must be a float32 C-contiguous device array on the
same device (a host gradient for a device parameter, or the reverse: ``TypeError``; nothing is
ever copied between host and device), and its state buffers are allocated on that device. The
path is chosen per parameter by where ``.data`` lives; host parameters take the numpy path
unchanged. Make the optimizer *after* moving the model (``Module.to("cuda")``), as in PyTorch:
state created on the host for a parameter later moved to the device is refused with a
``TypeError`` at the next step. :meth:`Optimizer.load_state_dict` copies each state buffer to
where its parameter lives (the one explicit host<->device copy here), and
:meth:`Optimizer.state_dict` returns copies where the state lives.

Update rules (``g`` is the gradient after regularisation, ``p`` the parameter before the step)::

    g = grad + weight_decay * p + l1 * sign(p)                     (sign(0) = 0)
    SGD:       p -= lr * g
    momentum:  b = momentum * b + g;  p -= lr * b
    nesterov:  b = momentum * b + g;  p -= lr * (g + momentum * b)
    AdaGrad:   s += g**2;  p -= lr * g / (sqrt(s) + eps)
    RMSProp:   s = alpha * s + (1 - alpha) * g**2
               momentum == 0:  p -= lr * g / (sqrt(s) + eps)
               momentum  > 0:  b = momentum * b + g / (sqrt(s) + eps);  p -= lr * b
    Adam:      m = b1 * m + (1 - b1) * g;  v = b2 * v + (1 - b2) * g**2;  t = step count
               p -= lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)
    AdaDelta:  s = rho * s + (1 - rho) * g**2;  dx = sqrt(a + eps) / sqrt(s + eps) * g
               a = rho * a + (1 - rho) * dx**2;  p -= lr * dx

These are the formulas (and state names) of ``torch.optim``. Momentum uses the PyTorch form, in
which the buffer ``b`` accumulates gradients and ``lr`` multiplies it at each step; with a
constant ``lr`` it is identical to the heavy-ball form ``v = momentum * v - lr * g; p += v``
(``v = -lr * b``). Weight decay is coupled L2 (Adam with L2, not AdamW).

Max-norm: with ``max_norm=c``, after each update every 2-D parameter ``W`` has each row
``W[i, :]`` whose L2 norm exceeds ``c`` rescaled to norm ``c``. Rows are the incoming weight
vectors of the output units for weights stored ``(out_features, in_features)``, as
:class:`latentforge.nn.Linear` stores them (a tied decoder shares, and so constrains, its
encoder's rows). Parameters that are not 2-D (biases) are left alone. For a matrix kept in the
``(in_features, out_features)`` layout of ``latentforge.ops.linear(X, W, b)``, constrain its
columns yourself with ``latentforge._C.optim_max_norm(W, c, axis=0)``.

Examples
--------
>>> import numpy as np
>>> from latentforge.optim import SGD
>>> class P:
...     def __init__(self, x):
...         self.data, self.grad = np.asarray(x, np.float32), None
>>> w = P([1.0, -2.0])
>>> opt = SGD([w], lr=0.5)
>>> w.grad = np.array([2.0, 2.0], np.float32)
>>> opt.step()
>>> w.data
array([ 0., -3.], dtype=float32)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import _C, _device

__all__ = ["SGD", "AdaDelta", "AdaGrad", "Adam", "Optimizer", "RMSProp"]


# Rule codes of _C.device.optim_step (lf::OptimRule, csrc/ops/optim.h) and its hyperparameters
# that a rule does not read.
_SGD, _MOMENTUM, _NESTEROV, _ADAGRAD, _RMSPROP, _ADAM, _ADADELTA = range(7)
_NO_HYPER = dict(momentum=0.0, alpha=0.0, rho=0.0, beta1=0.0, beta2=0.0, eps=0.0)


# ----------------------------------------------------------------------------- validation


def _real(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    f = float(value)
    if not math.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    if abs(f) > float(np.finfo(np.float32).max):
        # The update kernels compute in float32, where it would be infinite.
        raise ValueError(f"{name} must be within the float32 range (|{name}| <= 3.4e38), got {f}")
    return f


def _positive(value: Any, name: str) -> float:
    f = _real(value, name)
    if f <= 0.0:
        raise ValueError(f"{name} must be > 0, got {f}")
    return f


def _nonneg(value: Any, name: str) -> float:
    f = _real(value, name)
    if f < 0.0:
        raise ValueError(f"{name} must be >= 0, got {f}")
    return f


def _unit(value: Any, name: str) -> float:
    f = _real(value, name)
    if not 0.0 <= f < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {f}")
    return f


def _common(lr: Any, weight_decay: Any, l1: Any, max_norm: Any) -> dict[str, Any]:
    return {
        "lr": _positive(lr, "lr"),
        "weight_decay": _nonneg(weight_decay, "weight_decay"),
        "l1": _nonneg(l1, "l1"),
        "max_norm": None if max_norm is None else _positive(max_norm, "max_norm"),
    }


def _check_data(data: Any, i: int) -> np.ndarray:
    if not isinstance(data, np.ndarray):
        if _device.on_device(data):
            return _check_device_data(data, i)
        raise TypeError(f"parameter {i}: .data must be a numpy array, got {type(data).__name__}")
    if data.dtype != np.float32:
        raise TypeError(
            f"parameter {i}: .data must be float32 (it is updated in place), got dtype "
            f"{data.dtype}; convert it once with .astype(np.float32)"
        )
    if not data.flags.c_contiguous:
        raise ValueError(f"parameter {i}: .data must be C-contiguous (it is updated in place)")
    if not data.flags.writeable:
        raise ValueError(f"parameter {i}: .data must be writable")
    if not data.flags.aligned:
        raise ValueError(f"parameter {i}: .data must be aligned to 4 bytes (it is updated in "
                         "place)")
    return data


def _check_device_data(data: Any, i: int) -> Any:
    """The checks of :func:`_check_data` for a parameter on a CUDA device (read from its
    ``__cuda_array_interface__``; the device itself is checked when the step launches)."""
    arr = _device.device_array(data, f"parameter {i} .data")
    if arr.dtype != np.float32:
        raise TypeError(
            f"parameter {i}: .data must be float32 (it is updated in place), got dtype "
            f"{arr.dtype} on the device; convert it once with .astype(cupy.float32)"
        )
    if not arr.c_contiguous:
        raise ValueError(f"parameter {i}: .data must be C-contiguous (it is updated in place)")
    if arr.readonly:
        raise ValueError(f"parameter {i}: .data must be writable")
    return data


def _check_grad(grad: Any, data: np.ndarray, i: int) -> np.ndarray:
    if not isinstance(grad, np.ndarray):
        if _device.on_device(grad):
            raise TypeError(
                f"parameter {i}: .grad is on {_device.device_of(grad)} but .data is on the "
                "host; keep both on one device (latentforge never copies between host and "
                "device implicitly)"
            )
        raise TypeError(f"parameter {i}: .grad must be a numpy array or None, got "
                        f"{type(grad).__name__}")
    if grad.dtype != np.float32:
        raise TypeError(f"parameter {i}: .grad must be float32, got dtype {grad.dtype}")
    if grad.shape != data.shape:
        raise ValueError(
            f"parameter {i}: .grad has shape {grad.shape} but .data has shape {data.shape}"
        )
    if not grad.flags.c_contiguous:
        raise ValueError(f"parameter {i}: .grad must be C-contiguous")
    if not grad.flags.aligned:
        raise ValueError(f"parameter {i}: .grad must be aligned to 4 bytes")
    if np.may_share_memory(grad, data):
        raise ValueError(f"parameter {i}: .grad must not share memory with .data")
    return grad


def _copy_state(v: Any) -> Any:
    """A copy of a state buffer where it lives (a device buffer stays on its device)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    if _device.on_device(v):
        cupy = _device.array_module(v)
        with cupy.cuda.Device(v.device.id):
            return v.copy()
    return v


def _placed_like(arr: Any, data: Any, name: str) -> Any:
    """A float32 C-contiguous copy of ``arr`` (numpy or CuPy) where ``data`` lives: the
    explicit host<->device copy of :meth:`Optimizer.load_state_dict`."""
    if isinstance(data, np.ndarray) or not _device.on_device(data):
        if _device.on_device(arr):
            arr = _device.to_device(arr, "cpu", name=name)
        return np.array(arr, dtype=np.float32, order="C", copy=True)
    index = int(_device.device_of(data).split(":")[1])
    if not _device.on_device(arr):
        return _device.to_device(np.ascontiguousarray(arr, dtype=np.float32), "cuda", index,
                                 name)
    arr = _device.to_device(arr, "cuda", index, name)  # ValueError on another device
    cupy = _device.array_module(arr)
    with cupy.cuda.Device(index):
        return cupy.array(arr, dtype=np.float32, copy=True, order="C")


# ----------------------------------------------------------------------------- base class


class Optimizer:
    """Base class: holds the parameters, their per-parameter state and the hyperparameters.

    Parameters
    ----------
    params : iterable of parameter objects
        Objects with ``.data`` (float32 C-contiguous writable ndarray, updated in place; or such
        a CuPy array on a CUDA device, see the module docstring) and ``.grad`` (an array of the
        same shape on the same side, or None to skip the parameter). Each object may appear
        once.
    defaults : dict
        Hyperparameters, validated by the subclass.

    Attributes
    ----------
    params : list
        The parameters, in the order given.
    defaults : dict
        The validated hyperparameters (read-only; set ``lr`` through the property).
    state : list of dict
        Per-parameter state: ``"step"`` (updates applied so far) and the rule's float32 buffers,
        created (zeros) at the parameter's first update.

    Notes
    -----
    Subclasses define ``_validate(hyper) -> hyper``, ``_buffers(hyper) -> names`` and
    ``_update(data, grad, state)``.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        if hasattr(params, "data") and hasattr(params, "grad"):
            raise TypeError("params must be an iterable of parameters; wrap a single one in a list")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(
                f"params must be an iterable of parameters, got {type(params).__name__}"
            ) from None
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(params):
            if isinstance(p, dict):
                raise TypeError("parameter groups (dicts) are not supported; pass the parameters")
            if not (hasattr(p, "data") and hasattr(p, "grad")):
                raise TypeError(
                    f"parameter {i} ({type(p).__name__}) has no .data/.grad attributes"
                )
            if id(p) in seen:
                raise ValueError(f"parameter {i} appears more than once")
            seen.add(id(p))
            _check_data(p.data, i)
        self.params: list[Any] = params
        self.defaults: dict[str, Any] = self._validate(dict(defaults))
        self.state: list[dict[str, Any]] = [{} for _ in params]

    # -- subclass interface
    def _validate(self, hyper: dict[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    def _buffers(self, hyper: dict[str, Any]) -> tuple[str, ...]:  # pragma: no cover
        raise NotImplementedError

    def _update(self, data: np.ndarray, grad: np.ndarray, st: dict[str, Any]) -> None:
        raise NotImplementedError  # pragma: no cover

    # -- public API
    @property
    def lr(self) -> float:
        """Learning rate (may be changed between steps, e.g. by a schedule)."""
        return self.defaults["lr"]

    @lr.setter
    def lr(self, value: float) -> None:
        self.defaults["lr"] = _positive(value, "lr")

    def step(self) -> None:
        """Apply one update to every parameter whose ``.grad`` is not None.

        Raises
        ------
        TypeError, ValueError
            If a ``.data`` or ``.grad`` array is not float32 / C-contiguous / writable, or the
            shapes differ. Nothing is updated for that parameter (earlier ones are).
        """
        max_norm = self.defaults["max_norm"]
        names = self._buffers(self.defaults)
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            data = p.data
            if not isinstance(data, np.ndarray) and _device.on_device(data):
                self._step_device(i, data, p.grad, names, max_norm)
                continue
            data = _check_data(data, i)
            grad = _check_grad(p.grad, data, i)
            st = self.state[i]
            if not st:
                st["step"] = 0
                for name in names:
                    st[name] = np.zeros_like(data)
            for name in names:
                if st[name].shape != data.shape:
                    raise ValueError(
                        f"parameter {i}: .data has shape {data.shape} but its state "
                        f"{name!r} has shape {st[name].shape}"
                    )
            st["step"] += 1  # the count including this update (Adam's bias correction)
            try:
                self._update(data, grad, st)
            except BaseException as exc:
                st["step"] -= 1
                stray = [n for n in names if not isinstance(st[n], np.ndarray)]
                if isinstance(exc, TypeError) and stray:  # the kernel refused a device buffer
                    raise TypeError(
                        f"parameter {i} is on the host but its optimizer state {stray[0]!r} is "
                        f"{type(st[stray[0]]).__name__}: make the optimizer after moving the "
                        "model (Module.to), or move the state with "
                        "load_state_dict(opt.state_dict())"
                    ) from exc
                raise
            if max_norm is not None and data.ndim == 2:
                _C.optim_max_norm(data, max_norm, 1)

    def _step_device(self, i: int, data: Any, grad: Any, names: tuple[str, ...],
                     max_norm: float | None) -> None:
        """:meth:`step` for a parameter on a CUDA device: ``_C.device.optim_step`` (and
        ``_C.device.max_norm``) on its device, on CuPy's current stream; state buffers are
        allocated there at the first update."""
        _check_device_data(data, i)
        if not _device.on_device(grad):
            raise TypeError(
                f"parameter {i}: .data is on {_device.device_of(data)} but .grad is host data "
                f"({type(grad).__name__}); keep both on one device (latentforge never copies "
                "between host and device implicitly)"
            )
        st = self.state[i]
        for name in names if st else ():
            if not _device.on_device(st[name]):
                raise TypeError(
                    f"parameter {i} is on {_device.device_of(data)} but its optimizer state "
                    f"{name!r} is on the host: make the optimizer after moving the model "
                    "(Module.to), or move the state with load_state_dict(opt.state_dict())"
                )
        what = f"{type(self).__name__}.step (parameter {i})"
        call = _device.Call(what, param=data, grad=grad,
                            **({name: st[name] for name in names} if st else {}))
        call.contiguous("param")
        g = call.contiguous("grad")
        if g.shape != data.shape:
            raise ValueError(
                f"parameter {i}: .grad has shape {g.shape} but .data has shape {data.shape}"
            )
        p_arr = call["param"]
        if p_arr.ptr < g.ptr + g.size * 4 and g.ptr < p_arr.ptr + p_arr.size * 4:
            raise ValueError(f"parameter {i}: .grad must not share memory with .data")
        if not st:
            st["step"] = 0
            for name in names:
                st[name] = call.zeros(data.shape)
        for name in names:
            if name in call.arrays:
                call.contiguous(name)
            if st[name].shape != data.shape:
                raise ValueError(
                    f"parameter {i}: .data has shape {data.shape} but its state "
                    f"{name!r} has shape {st[name].shape}"
                )
        rule, state0, state1, hyper = self._device_rule(st)
        h = dict(_NO_HYPER, lr=self.defaults["lr"], weight_decay=self.defaults["weight_decay"],
                 l1=self.defaults["l1"], **hyper)
        st["step"] += 1
        try:
            call.launch(
                _C.device.optim_step, rule, _device.ptr(data),
                _device.ptr(state0) if state0 is not None else 0,
                _device.ptr(state1) if state1 is not None else 0,
                _device.ptr(grad), int(data.size), h["lr"], h["momentum"], h["alpha"], h["rho"],
                h["beta1"], h["beta2"], h["eps"], h["weight_decay"], h["l1"], st["step"],
            )
        except BaseException:
            st["step"] -= 1
            raise
        if max_norm is not None and data.ndim == 2:
            rows, cols = data.shape
            # rescaled=0: no per-row flags (reading them back would be a sync); axis 1: rows.
            call.launch(_C.device.max_norm, _device.ptr(data), 0, rows, cols, max_norm, 1)

    def _device_rule(self, st: dict[str, Any]) -> tuple[int, Any, Any, dict[str, float]]:
        """``(rule code, state0, state1, hyperparameters)`` of ``_C.device.optim_step`` for this
        optimizer (the codes of ``csrc/bindings/bind_device.cpp``)."""
        raise NotImplementedError  # pragma: no cover

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients.

        Parameters
        ----------
        set_to_none : bool, default True
            Set ``.grad = None`` (as PyTorch does: the next step skips the parameter unless a
            new gradient is assigned). With False, existing gradient arrays are filled with
            zeros in place (a parameter with a zero gradient still gets decay/momentum updates).
        """
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad[...] = 0

    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the optimizer state.

        Returns
        -------
        dict
            ``{"hyper": {...}, "state": {index: {"step": int, buffer_name: array}}}``, where
            ``index`` is the parameter's position and only parameters updated at least once
            appear. Each buffer is copied where it lives: a numpy array for a host parameter,
            a CuPy array on the parameter's device for a device one (bring it to the host
            explicitly, e.g. ``cupy.asnumpy``, to save it).
        """
        state = {
            i: {k: (v if k == "step" else _copy_state(v)) for k, v in st.items()}
            for i, st in enumerate(self.state)
            if st
        }
        return {"hyper": dict(self.defaults), "state": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state produced by :meth:`state_dict` (copied; validated before applying).

        Each buffer is copied to where its parameter lives *now*, whatever side it comes from:
        host (numpy) state loaded into an optimizer of device parameters is copied to their
        device, device state into one of host parameters is copied to the host. This explicit
        copy is the way to carry optimizer state across ``Module.to``; state on another CUDA
        device than the parameter's raises ValueError (no implicit peer copy).

        Raises
        ------
        ValueError
            If the hyperparameters are invalid, a parameter index is out of range, or a state
            entry lacks a buffer or has the wrong shape.
        """
        if not isinstance(state_dict, dict) or set(state_dict) != {"hyper", "state"}:
            raise ValueError("state_dict must be a dict with keys 'hyper' and 'state'")
        hyper = state_dict["hyper"]
        if not isinstance(hyper, dict) or set(hyper) != set(self.defaults):
            raise ValueError(
                f"state_dict['hyper'] must have keys {sorted(self.defaults)}, got "
                f"{sorted(hyper) if isinstance(hyper, dict) else type(hyper).__name__}"
            )
        hyper = self._validate(dict(hyper))
        names = self._buffers(hyper)
        new_state: list[dict[str, Any]] = [{} for _ in self.params]
        for key, entry in dict(state_dict["state"]).items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not (
                0 <= key < len(self.params)
            ):
                raise ValueError(f"state index {key!r} is not a parameter index "
                                 f"(0..{len(self.params) - 1})")
            if not isinstance(entry, dict) or set(entry) != {"step", *names}:
                raise ValueError(f"state of parameter {key} must have keys "
                                 f"{sorted({'step', *names})}")
            step = entry["step"]
            if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
                raise ValueError(f"state of parameter {key}: step must be an int >= 0")
            data = self.params[key].data
            shape = data.shape
            st: dict[str, Any] = {"step": int(step)}
            for name in names:
                src = entry[name]
                if _device.on_device(src):
                    arr = _device.as_cupy(src, f"state {name!r} of parameter {key}")
                else:
                    arr = np.asarray(src)
                if arr.dtype.kind != "f" or arr.shape != shape:
                    raise ValueError(
                        f"state of parameter {key}: {name!r} must be a float array of shape "
                        f"{shape}, got {arr.dtype} {arr.shape}"
                    )
                st[name] = _placed_like(arr, data, f"state {name!r} of parameter {key}")
            new_state[int(key)] = st
        self.defaults = hyper
        self.state = new_state

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({len(self.params)} params, {args})"


# ----------------------------------------------------------------------------- optimizers


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    Parameters
    ----------
    params : iterable of parameter objects
        See :class:`Optimizer`.
    lr : float
        Learning rate, > 0.
    momentum : float, default 0
        Momentum factor in [0, 1). The buffer follows PyTorch: ``b = momentum * b + g``,
        ``p -= lr * b``.
    nesterov : bool, default False
        Nesterov momentum, ``p -= lr * (g + momentum * b)``; needs ``momentum > 0``.
    weight_decay : float, default 0
        L2 penalty coefficient, ``g += weight_decay * p``.
    l1 : float, default 0
        L1 penalty coefficient, ``g += l1 * sign(p)``.
    max_norm : float or None, default None
        Max-norm constraint on the columns of 2-D parameters (see the module docstring).
    """

    def __init__(self, params, lr, momentum=0.0, nesterov=False, weight_decay=0.0, l1=0.0,
                 max_norm=None):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay, l1=l1, max_norm=max_norm))

    def _validate(self, h):
        out = _common(h["lr"], h["weight_decay"], h["l1"], h["max_norm"])
        out["momentum"] = _unit(h["momentum"], "momentum")
        if not isinstance(h["nesterov"], (bool, np.bool_)):
            raise TypeError(f"nesterov must be a bool, got {type(h['nesterov']).__name__}")
        out["nesterov"] = bool(h["nesterov"])
        if out["nesterov"] and out["momentum"] == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        return out

    def _buffers(self, h):
        return ("momentum_buffer",) if h["momentum"] > 0 else ()

    def _update(self, data, grad, st):
        h = self.defaults
        if h["momentum"] > 0:
            _C.optim_momentum(data, grad, st["momentum_buffer"], h["lr"], h["momentum"],
                              h["nesterov"], h["weight_decay"], h["l1"])
        else:
            _C.optim_sgd(data, grad, h["lr"], h["weight_decay"], h["l1"])

    def _device_rule(self, st):
        h = self.defaults
        if h["momentum"] > 0:
            rule = _NESTEROV if h["nesterov"] else _MOMENTUM
            return rule, st["momentum_buffer"], None, {"momentum": h["momentum"]}
        return _SGD, None, None, {}


class AdaGrad(Optimizer):
    """AdaGrad: per-element steps scaled by the root of the summed squared gradients.

    Parameters
    ----------
    params : iterable of parameter objects
        See :class:`Optimizer`.
    lr : float, default 0.01
        Learning rate, > 0.
    eps : float, default 1e-10
        Added to ``sqrt(sum)`` in the denominator, >= 0.
    weight_decay, l1, max_norm
        As in :class:`SGD`.
    """

    def __init__(self, params, lr=0.01, eps=1e-10, weight_decay=0.0, l1=0.0, max_norm=None):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay, l1=l1,
                                      max_norm=max_norm))

    def _validate(self, h):
        out = _common(h["lr"], h["weight_decay"], h["l1"], h["max_norm"])
        out["eps"] = _nonneg(h["eps"], "eps")
        return out

    def _buffers(self, h):
        return ("sum",)

    def _update(self, data, grad, st):
        h = self.defaults
        _C.optim_adagrad(data, grad, st["sum"], h["lr"], h["eps"], h["weight_decay"], h["l1"])

    def _device_rule(self, st):
        return _ADAGRAD, st["sum"], None, {"eps": self.defaults["eps"]}


class RMSProp(Optimizer):
    """RMSProp (Tieleman & Hinton), optionally with momentum on the scaled step.

    Parameters
    ----------
    params : iterable of parameter objects
        See :class:`Optimizer`.
    lr : float, default 0.01
        Learning rate, > 0.
    alpha : float, default 0.99
        Decay of the running average of squared gradients (often called rho), in [0, 1).
    eps : float, default 1e-8
        Added to ``sqrt(square_avg)`` in the denominator, >= 0.
    momentum : float, default 0
        Momentum on the scaled step, in [0, 1): ``b = momentum * b + g / (sqrt(s) + eps)``,
        ``p -= lr * b``.
    weight_decay, l1, max_norm
        As in :class:`SGD`.

    Notes
    -----
    The centered variant is not implemented.
    """

    def __init__(self, params, lr=0.01, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0,
                 l1=0.0, max_norm=None):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                      weight_decay=weight_decay, l1=l1, max_norm=max_norm))

    def _validate(self, h):
        out = _common(h["lr"], h["weight_decay"], h["l1"], h["max_norm"])
        out["alpha"] = _unit(h["alpha"], "alpha")
        out["eps"] = _nonneg(h["eps"], "eps")
        out["momentum"] = _unit(h["momentum"], "momentum")
        return out

    def _buffers(self, h):
        return ("square_avg", "momentum_buffer") if h["momentum"] > 0 else ("square_avg",)

    def _update(self, data, grad, st):
        h = self.defaults
        _C.optim_rmsprop(data, grad, st["square_avg"], st.get("momentum_buffer"), h["lr"],
                         h["alpha"], h["eps"], h["momentum"], h["weight_decay"], h["l1"])

    def _device_rule(self, st):
        h = self.defaults
        return (_RMSPROP, st["square_avg"], st.get("momentum_buffer"),
                {"alpha": h["alpha"], "eps": h["eps"], "momentum": h["momentum"]})


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction; weight decay is coupled L2 (not AdamW).

    Parameters
    ----------
    params : iterable of parameter objects
        See :class:`Optimizer`.
    lr : float, default 1e-3
        Learning rate, > 0.
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the bias-corrected ``sqrt(v)`` in the denominator, >= 0.
    weight_decay, l1, max_norm
        As in :class:`SGD`.

    Notes
    -----
    The step count ``t`` in the bias corrections is per parameter (``state[i]["step"]``): a
    parameter skipped because its gradient was None does not advance.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 l1=0.0, max_norm=None):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      l1=l1, max_norm=max_norm))

    def _validate(self, h):
        out = _common(h["lr"], h["weight_decay"], h["l1"], h["max_norm"])
        betas = h["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        out["betas"] = (_unit(betas[0], "betas[0] (beta1)"), _unit(betas[1], "betas[1] (beta2)"))
        out["eps"] = _nonneg(h["eps"], "eps")
        return out

    def _buffers(self, h):
        return ("exp_avg", "exp_avg_sq")

    def _update(self, data, grad, st):
        h = self.defaults
        b1, b2 = h["betas"]
        _C.optim_adam(data, grad, st["exp_avg"], st["exp_avg_sq"], st["step"], h["lr"], b1, b2,
                      h["eps"], h["weight_decay"], h["l1"])

    def _device_rule(self, st):
        h = self.defaults
        b1, b2 = h["betas"]
        return _ADAM, st["exp_avg"], st["exp_avg_sq"], {"beta1": b1, "beta2": b2, "eps": h["eps"]}


class AdaDelta(Optimizer):
    """AdaDelta (Zeiler 2012): steps scaled by the ratio of running RMS of updates and gradients.

    Parameters
    ----------
    params : iterable of parameter objects
        See :class:`Optimizer`.
    lr : float, default 1.0
        Multiplies the AdaDelta step (1.0 is the original method), > 0.
    rho : float, default 0.9
        Decay of both running averages, in [0, 1).
    eps : float, default 1e-6
        Added inside both square roots, >= 0 (with 0 the first step is zero forever).
    weight_decay, l1, max_norm
        As in :class:`SGD`.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, l1=0.0,
                 max_norm=None):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, l1=l1,
                                      max_norm=max_norm))

    def _validate(self, h):
        out = _common(h["lr"], h["weight_decay"], h["l1"], h["max_norm"])
        out["rho"] = _unit(h["rho"], "rho")
        out["eps"] = _nonneg(h["eps"], "eps")
        return out

    def _buffers(self, h):
        return ("square_avg", "acc_delta")

    def _update(self, data, grad, st):
        h = self.defaults
        _C.optim_adadelta(data, grad, st["square_avg"], st["acc_delta"], h["lr"], h["rho"],
                          h["eps"], h["weight_decay"], h["l1"])

    def _device_rule(self, st):
        h = self.defaults
        return _ADADELTA, st["square_avg"], st["acc_delta"], {"rho": h["rho"], "eps": h["eps"]}
