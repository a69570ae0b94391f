"""Layers on the autograd: :class:`Module`, :class:`Parameter`, :class:`Linear` and friends.

>>> import numpy as np, latentforge.nn as nn
>>> enc = nn.Linear(8, 3, activation="sigmoid", random_state=0)
>>> dec = nn.Linear(3, 8, activation="sigmoid", tied_to=enc, random_state=0)
>>> dec.weight is enc.weight
True

Weight layout follows PyTorch: ``Linear.weight`` has shape ``(out_features, in_features)``
and the layer computes ``act(x @ weight.T + bias)`` in one fused native GEMM
(``trans_w=True``: the kernel reads the transpose in place, no copy).

CUDA devices: layers are built and initialised on the host (the seeded numpy RNG, so a model made
with a ``random_state`` is the same wherever it later runs); :meth:`Module.to` then moves every
parameter and buffer to the device, keeping the same :class:`Parameter` objects. As in PyTorch,
make the optimizer *after* ``.to()`` (its state is allocated where the parameters live at its
first step). Dropout draws its masks on the input's side with the same Philox stream, so a seed
gives the same masks on the host and on a device.
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import _device, _dkernels
from . import functional as F
from ._backend import check_random_state
from .functional import _input
from .tensor import Tensor, get_default_dtype

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Dropout2d",
    "Flatten",
    "L2Pool2d",
    "Linear",
    "LocalContrastNorm2d",
    "LocallyConnected2d",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
]


def _positive_int(v: Any, name: str) -> int:
    """``v`` as an int >= 1: TypeError (not an integer) or ValueError naming ``name``."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be a positive int, got {v!r}")
    if v < 1:
        raise ValueError(f"{name} must be a positive int, got {v}")
    if v > np.iinfo(np.intp).max // 8:
        raise ValueError(f"{name} = {v} is more than an array can hold")
    return int(v)


def _copy(a: Any) -> Any:
    """A copy of ``a`` where it lives (a device array is copied on its own device)."""
    if isinstance(a, np.ndarray):
        return a.copy()
    cupy = _device.array_module(a)
    with cupy.cuda.Device(a.device.id):
        return a.copy()


class Parameter(Tensor):
    """A leaf :class:`Tensor` with ``requires_grad=True`` that :class:`Module` collects."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True):
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]


class Module:
    """Base class of layers.

    Parameters and sub-modules are found by walking the instance's public attributes (names
    not starting with ``_``), including lists/tuples of modules, in assignment order. A
    parameter reachable twice (tied weights) is reported once, under its first name.
    """

    def __init__(self) -> None:
        self.training = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------------- traversal
    def _members(self) -> Iterator[tuple[str, Any]]:
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for this module and every sub-module (each once)."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, mod = stack.pop()
            if id(mod) in seen:
                continue
            seen.add(id(mod))
            yield name, mod
            children = [
                (f"{name}.{n}" if name else n, m)
                for n, m in mod._members()
                if isinstance(m, Module)
            ]
            stack.extend(reversed(children))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, parameter)`` for every distinct parameter, depth first."""
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for n, p in mod._members():
                if isinstance(p, Parameter) and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{n}" if mod_name else n), p

    def parameters(self) -> list[Parameter]:
        """Every distinct parameter of this module and its sub-modules."""
        return [p for _, p in self.named_parameters()]

    def modules(self) -> list[Module]:
        return [m for _, m in self.named_modules()]

    # ----------------------------------------------------------------- modes and state
    def train(self, mode: bool = True) -> Module:
        """Set training mode (Dropout active) on this module and all sub-modules."""
        for m in self.modules():
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (Dropout is the identity)."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Reset every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    # ----------------------------------------------------------------- devices
    def _arrays(self) -> Iterator[tuple[Any, str, Any]]:
        """``(owner, attribute, array)`` for every distinct parameter (owner: the Parameter,
        attribute ``"data"``) and every buffer (a public array attribute of a module)."""
        for p in self.parameters():
            yield p, "data", p.data
        for mod in self.modules():
            for n, v in vars(mod).items():
                if not n.startswith("_") and (isinstance(v, np.ndarray) or _device.on_device(v)):
                    yield mod, n, v

    def to(self, device: str) -> Module:
        """Move every parameter (and its ``.grad``) and every buffer (e.g. BatchNorm running
        statistics) to ``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``); returns ``self``.

        The arrays are replaced in place: the :class:`Parameter` objects stay the same (tied
        weights stay tied), their ``.data`` is a copy on the new device (CuPy there, numpy on
        the host); arrays already there are kept. This is an explicit copy, the only one: make
        the optimizer after ``.to()``, as in PyTorch (an optimizer made before keeps its state
        where it was and refuses to step a moved parameter: :meth:`Optimizer.load_state_dict`
        of its ``state_dict()`` moves that state across). Raises (before moving anything)
        RuntimeError when CUDA is unavailable, ValueError for an unknown device or an array on
        another CUDA device than ``cuda:N``.
        """
        kind, index = _device.use_device(device, "device")
        moves = []
        for owner, attr, arr in self._arrays():
            moves.append((owner, attr, _device.to_device(arr, kind, index, attr)))
            if isinstance(owner, Parameter) and owner.grad is not None:
                moves.append((owner, "grad", _device.to_device(owner.grad, kind, index, "grad")))
        for owner, attr, arr in moves:
            setattr(owner, attr, arr)
        return self

    @property
    def device(self) -> str:
        """Where the parameters live: ``"cpu"`` or ``"cuda:N"`` (``"cpu"`` for a module without
        parameters); RuntimeError if they are on several devices."""
        where = {p.device for p in self.parameters()}
        if len(where) > 1:
            raise RuntimeError(f"{type(self).__name__} has parameters on several devices: "
                               f"{sorted(where)}; move it with .to(device)")
        return where.pop() if where else "cpu"

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter's array, keyed by dotted name, where they live: numpy
        arrays for host parameters, CuPy arrays on their device for device ones (bring them to
        the host explicitly, e.g. ``cupy.asnumpy``, to save them)."""
        return OrderedDict((n, _copy(p.data)) for n, p in self.named_parameters())

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays from ``state`` into the parameters (in place, keeping their dtype).

        Each value is copied to where its parameter lives (host or device, whichever side the
        value comes from: this is an explicit copy); a value on another CUDA device than its
        parameter raises ValueError.

        Raises ``KeyError`` for missing or unexpected keys when ``strict``, ``ValueError`` for
        a shape mismatch and ``TypeError`` for non-floating arrays. Nothing is modified unless
        every entry passes these checks.
        """
        params = dict(self.named_parameters())
        if strict:
            missing = sorted(set(params) - set(state))
            unexpected = sorted(set(state) - set(params))
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                )
        staged = []
        for name, value in state.items():
            if name not in params:
                continue
            raw = value.data if isinstance(value, Tensor) else value
            try:
                arr = (_device.as_cupy(raw, name)
                       if not isinstance(raw, np.ndarray) and _device.on_device(raw)
                       else np.asarray(raw))
            except (TypeError, ValueError) as exc:
                raise TypeError(f"load_state_dict: {name} cannot be converted to an array: "
                                f"{exc}") from None
            if arr.dtype.kind != "f":
                raise TypeError(f"load_state_dict: {name} has non-float dtype {arr.dtype}")
            p = params[name]
            if arr.shape != p.shape:
                raise ValueError(
                    f"load_state_dict: {name} has shape {arr.shape}, parameter is {p.shape}"
                )
            staged.append((name, p, arr))
        moved = []  # each value copied to its parameter's side (explicit), all before writing
        for name, p, arr in staged:
            if isinstance(p.data, np.ndarray):
                moved.append((p, _device.to_device(arr, "cpu", name=name)))
            else:
                index = int(p.device.split(":")[1])
                moved.append((p, _device.to_device(arr, "cuda", index, name)))
        for p, arr in moved:
            p.data[...] = arr

    def __repr__(self) -> str:
        children = [(n, m) for n, m in self._members() if isinstance(m, Module)]
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for n, m in children:
            lines.append("  (" + n + "): " + repr(m).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"

    def extra_repr(self) -> str:
        return ""


class Linear(Module):
    """Dense layer ``activation(x @ weight.T + bias)``, fused into one native GEMM.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
        Learn an additive bias of shape ``(out_features,)`` (initialised to 0).
    activation : None, "sigmoid", "tanh" or "relu"
        Applied in the GEMM epilogue.
    tied_to : Linear, optional
        Use the *transpose* of ``tied_to.weight`` as this layer's weight (a tied
        autoencoder's decoder): ``tied_to`` must map ``out_features -> in_features``. The
        Parameter is shared, not copied, so gradients from both layers accumulate into it
        and ``parameters()`` of a model holding both lists it once. The bias is this layer's
        own.
    random_state : int, numpy Generator or None
        Seeds the weight initialisation.

    Initialisation
    --------------
    Glorot/Xavier uniform: ``weight ~ U(-a, a)`` with ``a = sqrt(6 / (in + out))``, times 4
    for ``activation="sigmoid"`` (Glorot & Bengio 2010: sigmoid's slope at 0 is 1/4).

    Attributes
    ----------
    weight : Parameter, shape ``(out_features, in_features)`` (for a tied layer, the other
        layer's Parameter of shape ``(in_features, out_features)``, used transposed).
    bias : Parameter of shape ``(out_features,)`` or None.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str | None = None,
        tied_to: Linear | None = None,
        random_state: Any = None,
    ):
        super().__init__()
        in_features = _positive_int(in_features, "in_features")
        out_features = _positive_int(out_features, "out_features")
        if in_features * out_features > np.iinfo(np.intp).max // 8:
            raise ValueError(f"in_features * out_features = {in_features} * {out_features} "
                             "weights are more than an array can hold")
        if activation not in (None, "sigmoid", "tanh", "relu"):
            raise ValueError(
                f"activation must be one of None, 'sigmoid', 'tanh', 'relu'; got {activation!r}"
            )
        self.in_features, self.out_features, self.activation = (
            in_features,
            out_features,
            activation,
        )
        if tied_to is not None:
            if not isinstance(tied_to, Linear):
                raise TypeError(f"tied_to must be a Linear, got {type(tied_to).__name__}")
            if (tied_to.in_features, tied_to.out_features) != (out_features, in_features):
                raise ValueError(
                    f"tied_to maps {tied_to.in_features} -> {tied_to.out_features} features; "
                    f"a tied Linear({in_features}, {out_features}) needs one mapping "
                    f"{out_features} -> {in_features}"
                )
            if tied_to._tied_to is not None:
                raise ValueError("tied_to must own its weight (it is itself tied)")
            self.weight = tied_to.weight
            # Kept private so traversal does not treat the other layer as a child.
            self._tied_to: Linear | None = tied_to
        else:
            limit = np.sqrt(6.0 / (in_features + out_features))
            if activation == "sigmoid":
                limit *= 4.0
            w = check_random_state(random_state).uniform(-limit, limit,
                                                         size=(out_features, in_features))
            self.weight = Parameter(w)
            self._tied_to = None
        self.bias = Parameter(np.zeros(out_features, dtype=get_default_dtype())) if bias else None

    @property
    def tied(self) -> bool:
        return self._tied_to is not None

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        # Own weight is (out, in): x @ W.T. Tied weight is the other's (in, out): x @ W.
        return F.linear(x, self.weight, self.bias, self.activation, trans_w=not self.tied)

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}, out_features={self.out_features}"
        s += f", bias={self.bias is not None}"
        if self.activation:
            s += f", activation={self.activation!r}"
        if self.tied:
            s += ", tied=True"
        return s


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class Softmax(Module):
    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    survivors by ``1 / (1 - p)`` so the expected output equals the input; in eval, identity.

    Parameters
    ----------
    p : float in [0, 1)
    random_state : int, numpy Generator or None
        Draws the 63-bit ``seed`` of the masks once, at construction. Masks are counter-based
        (the design's rule for randomness): element ``i`` of the ``k``-th training-mode call is
        kept when ``_C.uniform(seed, stream 0, offset + i) >= p``, ``offset`` being the number
        of elements drawn by the earlier calls, so a fixed ``random_state`` gives the same masks
        whatever the thread count.

    Attributes
    ----------
    seed : int
    offset : int
        Draws taken so far (advanced by every training-mode call with ``p > 0``).
    """

    STREAM = 0

    def __init__(self, p: float = 0.5, random_state: Any = None):
        super().__init__()
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
            raise TypeError(f"p (the dropout probability) must be a number in [0, 1), got {p!r}")
        p = float(p)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p (the dropout probability) must be in [0, 1), got {p}")
        self.p = p
        self.seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
        self.offset = 0

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        if not self.training or self.p == 0.0:
            return x
        u = _dkernels.uniform(x.data, tuple(x.shape), self.seed, self.STREAM, self.offset)
        self.offset += int(u.size)
        keep = u >= np.float32(self.p)
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * Tensor._from_op(mask, requires_grad=False)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Sequential(Module):
    """Apply modules in order; ``Sequential(a, b)(x) == b(a(x))``. Parameters are named
    ``"0.weight"``, ``"1.bias"``, ... as in PyTorch."""

    def __init__(self, *modules: Module):
        super().__init__()
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: modules must be Module instances, got "
                                f"{type(m).__name__}")
        self.layers = list(modules)

    def _members(self) -> Iterator[tuple[str, Any]]:
        for i, m in enumerate(self.layers):
            yield str(i), m

    def forward(self, x: Tensor) -> Tensor:
        for m in self.layers:
            x = m(x)
        return x

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)


class BatchNorm1d(Module):
    """Batch normalisation of ``(N, num_features)`` inputs (Ioffe & Szegedy, 2015).

    Training mode normalises with the batch mean and the *biased* batch variance and updates
    the running estimates (PyTorch convention, *unbiased* variance for the running estimate)::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * N / (N - 1)

    Evaluation mode normalises with ``running_mean`` / ``running_var``. Then
    ``y = weight * xhat + bias`` when ``affine`` (``weight`` = gamma, initialised to 1;
    ``bias`` = beta, initialised to 0; also reachable as ``.gamma`` / ``.beta``).

    ``running_mean`` (zeros) and ``running_var`` (ones) are non-trainable
    :class:`Parameter` objects (``requires_grad=False``), so :meth:`Module.state_dict` and
    :meth:`Module.load_state_dict` include them, also inside a :class:`Sequential`. They never
    get a ``.grad``, so optimizers skip them. Forward (with the running update) and backward
    are one :class:`latentforge.functional.BatchNorm` op: native fused kernels for float32,
    numpy for float64.
    """

    def __init__(
        self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True
    ):
        super().__init__()
        num_features = _positive_int(num_features, "num_features")
        for name, v in (("eps", eps), ("momentum", momentum)):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
                raise TypeError(f"{name} must be a number, got {v!r}")
        eps, momentum = float(eps), float(momentum)
        if not eps > 0.0:
            raise ValueError(f"eps must be positive, got {eps}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        self.num_features, self.eps, self.momentum, self.affine = (
            num_features,
            eps,
            momentum,
            bool(affine),
        )
        dt = get_default_dtype()
        if self.affine:
            self.weight: Parameter | None = Parameter(np.ones(num_features, dtype=dt))
            self.bias: Parameter | None = Parameter(np.zeros(num_features, dtype=dt))
        else:
            self.weight = self.bias = None
        self.running_mean = Parameter(np.zeros(num_features, dtype=dt), requires_grad=False)
        self.running_var = Parameter(np.ones(num_features, dtype=dt), requires_grad=False)

    @property
    def gamma(self) -> Parameter | None:
        return self.weight

    @property
    def beta(self) -> Parameter | None:
        return self.bias

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        if x.ndim != 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm1d({self.num_features}) expects x of shape (N, "
                f"{self.num_features}), got {x.shape}"
            )
        affine = (self.weight, self.bias) if self.affine else (None, None)
        if not self.training:
            return F.batch_norm(
                x, *affine, eps=self.eps, mean=self.running_mean.data, var=self.running_var.data
            )
        # One op: batch statistics, and the running estimates updated in place (by the native
        # kernel for float32); validates N >= 2 before anything is updated.
        inputs = (x, *affine) if self.affine else (x,)
        return F.BatchNorm.apply(
            *inputs,
            eps=self.eps,
            running_mean=self.running_mean.data,
            running_var=self.running_var.data,
            momentum=self.momentum,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}"
        )


__all__ += ["BatchNorm1d"]


# --------------------------------------------------------------------------- conv nets


def _pair(v: Any, name: str, low: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``low``, as ``(h, w)``: TypeError/ValueError naming
    ``name``."""
    pair = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(pair) != 2 or any(isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Integral)
                             for p in pair):
        raise TypeError(f"{name} must be an int or a pair of ints, got {v!r}")
    if any(p < low for p in pair):
        raise ValueError(f"{name} must be >= {low}, got {v!r}")
    return int(pair[0]), int(pair[1])


def _check_nchw(x: Tensor, layer: str, channels: int | None = None) -> None:
    if x.ndim != 4:
        raise ValueError(f"{layer} expects x of shape (N, C, H, W), got {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer} expects {channels} input channels, got x of shape {x.shape} "
                         f"({x.shape[1]} channels)")


class Conv2d(Module):
    """2-D convolution (cross-correlation, as in PyTorch) of ``(N, in_channels, H, W)``
    inputs: one native op forward and backward (:func:`latentforge.functional.conv2d`).

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (kh, kw)
    stride : int or (sh, sw), >= 1
    padding : int or (ph, pw), >= 0 (zeros)
    bias : bool
    random_state : int, numpy Generator or None
        Seeds the initialisation.

    Initialisation
    --------------
    PyTorch's default: ``weight`` and ``bias`` ~ ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` with
    ``fan_in = in_channels * kh * kw`` (He/Kaiming uniform with ``a = sqrt(5)``).

    Attributes
    ----------
    weight : Parameter, shape ``(out_channels, in_channels, kh, kw)``
    bias : Parameter of shape ``(out_channels,)`` or None
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, bias: bool = True, random_state: Any = None):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        kh, kw = self.kernel_size
        n_weights = self.out_channels * self.in_channels * kh * kw
        if n_weights > np.iinfo(np.intp).max // 8:
            raise ValueError(f"Conv2d: {n_weights} weights are more than an array can hold")
        rng = check_random_state(random_state)
        bound = 1.0 / np.sqrt(self.in_channels * kh * kw)
        dt = get_default_dtype()
        self.weight = Parameter(rng.uniform(-bound, bound, size=(
            self.out_channels, self.in_channels, kh, kw)).astype(dt))
        self.bias = (Parameter(rng.uniform(-bound, bound, size=self.out_channels).astype(dt))
                     if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        _check_nchw(x, type(self).__name__, self.in_channels)
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class LocallyConnected2d(Module):
    """2-D locally connected layer (Le et al. 2012, "Building high-level features using large
    scale unsupervised learning"): like :class:`Conv2d` but with *untied* weights, one filter and
    one bias per output position, on ``(N, in_channels, H, W)`` inputs of the fixed size
    ``input_size``; no padding. One native op forward and backward
    (:func:`latentforge.functional.locally_connected2d`).

    Parameters
    ----------
    in_channels, out_channels : int
    input_size : int or (H, W)
        The spatial size of the inputs (the number of output positions, hence of filters,
        depends on it).
    kernel_size : int or (kh, kw), at most ``input_size``
    stride : int or (sh, sw), >= 1
    bias : bool
    random_state : int, numpy Generator or None
        Seeds the initialisation.

    Initialisation
    --------------
    PyTorch's Conv2d default, per position: ``weight`` and ``bias`` ~ ``U(-1/sqrt(fan_in),
    1/sqrt(fan_in))`` with ``fan_in = in_channels * kh * kw`` (He/Kaiming uniform with
    ``a = sqrt(5)``).

    Attributes
    ----------
    output_size : (OH, OW), ``OH = (H - kh) // sh + 1``
    weight : Parameter, shape ``(OH, OW, out_channels, in_channels, kh, kw)``
    bias : Parameter of shape ``(out_channels, OH, OW)`` or None
    """

    def __init__(self, in_channels: int, out_channels: int, input_size: Any, kernel_size: Any,
                 stride: Any = 1, bias: bool = True, random_state: Any = None):
        super().__init__()
        self.in_channels = _positive_int(in_channels, "in_channels")
        self.out_channels = _positive_int(out_channels, "out_channels")
        self.input_size = _pair(input_size, "input_size", 1)
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        (H, W), (kh, kw) = self.input_size, self.kernel_size
        if kh > H or kw > W:
            raise ValueError(f"kernel_size {self.kernel_size} is larger than input_size "
                             f"{self.input_size} (a locally connected layer has no padding)")
        self.output_size = ((H - kh) // self.stride[0] + 1, (W - kw) // self.stride[1] + 1)
        oh, ow = self.output_size
        n_weights = oh * ow * self.out_channels * self.in_channels * kh * kw
        if n_weights > np.iinfo(np.intp).max // 8:
            raise ValueError(f"LocallyConnected2d: {n_weights} weights are more than an array "
                             "can hold")
        rng = check_random_state(random_state)
        bound = 1.0 / np.sqrt(self.in_channels * kh * kw)
        dt = get_default_dtype()
        self.weight = Parameter(rng.uniform(-bound, bound, size=(
            oh, ow, self.out_channels, self.in_channels, kh, kw)).astype(dt))
        self.bias = (Parameter(rng.uniform(-bound, bound, size=(self.out_channels, oh, ow))
                               .astype(dt)) if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        name = type(self).__name__
        _check_nchw(x, name, self.in_channels)
        if tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f"{name} expects inputs of size {self.input_size} (input_size), "
                             f"got x of shape {x.shape}")
        return F.locally_connected2d(x, self.weight, self.bias, stride=self.stride)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, input_size={self.input_size}, "
                f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"bias={self.bias is not None}")


class _Pool2d(Module):
    _op = ""  # the name of the functional op (set by subclasses)

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", 1)
        self.padding = _pair(padding, "padding", 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"padding {self.padding} must be at most half of kernel_size "
                             f"{self.kernel_size}")

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        _check_nchw(x, type(self).__name__)
        op = getattr(F, self._op)
        return op(x, self.kernel_size, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling over ``(kh, kw)`` windows (padding never wins: it counts as -inf); the
    gradient goes to the first maximum of each window in row-major order. ``stride`` defaults
    to ``kernel_size``; overlapping windows (3x3, stride 2) are allowed."""

    _op = "max_pool2d"


class AvgPool2d(_Pool2d):
    """Average pooling over ``(kh, kw)`` windows, zero padding counted in the average
    (PyTorch's ``count_include_pad=True``)."""

    _op = "avg_pool2d"


class L2Pool2d(_Pool2d):
    """L2 pooling: ``sqrt(sum x^2)`` over each window (Le et al. 2012, the pooling of the "cat
    paper"); the gradient ``x / y`` is 0 for an all-zero window, never NaN."""

    _op = "l2_pool2d"


class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of ``(N, num_features, H, W)`` inputs per channel, over N, H and W:
    the statistics and running estimates of :class:`BatchNorm1d` with ``n = N * H * W``
    (training needs ``n >= 2``). One fused native pass forward and one backward for float32
    (:func:`latentforge.functional.batch_norm2d`)."""

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        _check_nchw(x, f"BatchNorm2d({self.num_features})", self.num_features)
        affine = (self.weight, self.bias) if self.affine else (None, None)
        return F.batch_norm2d(x, *affine, running_mean=self.running_mean.data,
                              running_var=self.running_var.data, training=self.training,
                              momentum=self.momentum, eps=self.eps)


class LocalContrastNorm2d(Module):
    """Local contrast normalisation of ``(N, C, H, W)`` inputs (Jarrett et al. 2009; the "cat
    paper" of Le et al. 2012): subtract a Gaussian-weighted local mean taken across all maps,
    then divide by the local standard deviation, floored by its mean over the image ``c`` and by
    ``eps``. No parameters; one native op forward and backward for float32
    (:func:`latentforge.functional.local_contrast_norm2d`, which documents the definition).

    Parameters
    ----------
    size : int
        Odd side of the Gaussian window (default 5; a window larger than the image is allowed:
        the border rule renormalises it).
    sigma : float or None
        Standard deviation of the window in pixels; None means ``size / 4``.
    eps : float
        Lower bound of the divisor (default 1e-4).
    """

    def __init__(self, size: int = 5, sigma: float | None = None, eps: float = 1e-4):
        super().__init__()
        self.size, self.sigma, self.eps = F._lcn_params(size, sigma, eps)

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        _check_nchw(x, "LocalContrastNorm2d")
        return F.local_contrast_norm2d(x, self.size, self.sigma, self.eps)

    def extra_repr(self) -> str:
        return f"size={self.size}, sigma={self.sigma:g}, eps={self.eps:g}"


class Dropout2d(Dropout):
    """Channel dropout: in training, zero each whole ``(n, c)`` feature map with probability
    ``p`` and scale the others by ``1 / (1 - p)`` (Tompson et al. 2015); identity in eval. Masks
    are counter-based as in :class:`Dropout` (one draw per map)."""

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        _check_nchw(x, "Dropout2d")
        if not self.training or self.p == 0.0:
            return x
        n, c = x.shape[:2]
        u = _dkernels.uniform(x.data, (n, c), self.seed, self.STREAM, self.offset)
        self.offset += int(u.size)
        keep = (u >= np.float32(self.p)).astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.p))
        return x * Tensor._from_op(keep.reshape(n, c, 1, 1), requires_grad=False)


class Flatten(Module):
    """``(N, d1, d2, ...)`` to ``(N, d1 * d2 * ...)`` (a view; the gradient is reshaped
    back)."""

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        if x.ndim < 1:
            raise ValueError("Flatten expects x with a batch axis, got a 0-d tensor")
        return x.reshape(x.shape[0], -1)


class Unflatten(Module):
    """``(N, prod(shape))`` to ``(N, *shape)``: flat rows (e.g. 784 pixels) as images
    ``(1, 28, 28)`` for the convolutions that follow."""

    def __init__(self, *shape: int):
        super().__init__()
        self.shape = tuple(_positive_int(s, "shape") for s in shape)
        if not self.shape:
            raise ValueError("Unflatten needs the shape of one sample, e.g. Unflatten(1, 28, 28)")

    def forward(self, x: Tensor) -> Tensor:
        x = _input(x, "x")
        size = int(np.prod(self.shape))
        if x.ndim != 2 or x.shape[1] != size:
            raise ValueError(f"Unflatten{self.shape} expects x of shape (N, {size}), got "
                             f"{x.shape}")
        return x.reshape((x.shape[0],) + self.shape)

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.shape))
