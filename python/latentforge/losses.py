"""Loss functions and penalties; each returns a scalar (0-d) :class:`Tensor`.

Batch losses are means over all elements (``mse``, the binary cross-entropies) or over the
batch (``softmax_cross_entropy``). The cross-entropies are fused :class:`Function` s with
closed-form, numerically stable gradients; ``mse``, the penalties and ``kl_sparsity`` are
composed from autograd ops.

Targets may be Tensors (then they receive gradients where that makes sense) or array-likes,
which are converted once to the compute dtype (integer 0/1 targets are accepted here).

On a CUDA device: every loss runs on device Tensors (CuPy arrays) with the same formulas,
written once against ``xp`` (numpy or cupy, :func:`latentforge._device.array_module`), and
returns a 0-d Tensor on that device (reading it with ``float(loss.item())`` is a sync). A target
or label array given as *host* data (a numpy array or list, not a Tensor) for a prediction on the
device is copied there once with ``cupy.asarray``: passing host data as the target is the
caller's choice of that copy (keep targets on the device to avoid it). Tensors on different
sides (a host Tensor with a device Tensor), or device targets for a host prediction, raise
``TypeError``: nothing is ever copied from the device to the host.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from . import _device
from .functional import _sigmoid
from .tensor import Context, Function, Tensor, get_default_dtype

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_sparsity",
    "l1_penalty",
    "l2_penalty",
    "mse",
    "softmax_cross_entropy",
]


def _tensor(x: Any, name: str, like: Tensor | None = None) -> Tensor:
    """``x`` itself when a Tensor, else a Tensor of its values in the compute dtype (then it
    carries no gradient); TypeError naming ``name`` for None, ragged or non-numeric input.

    Host data ``x`` for a ``like`` on the device is copied to that device (see the module
    docstring); a device array stays where it is."""
    if isinstance(x, Tensor):
        return x
    if x is None:
        raise TypeError(f"{name} must be a Tensor or a numeric array-like, got None")
    if not isinstance(x, np.ndarray) and _device.on_device(x):
        arr = _device.as_cupy(x, name)
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{name} cannot be converted to an array: {exc}") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(get_default_dtype(), copy=False)
    if like is not None and isinstance(arr, np.ndarray) and _device.on_device(like.data):
        arr = _device.to_device(arr, "cuda", int(like.device.split(":")[1]), name)
    return Tensor(arr)


def _same_side(a: Tensor, b: Tensor, names: tuple = ("pred", "target")) -> None:
    """TypeError (from :func:`latentforge._device.classify`) when one of ``a``, ``b`` is on a
    CUDA device and the other on the host."""
    if not (isinstance(a.data, np.ndarray) and isinstance(b.data, np.ndarray)):
        _device.classify({names[0]: a.data, names[1]: b.data})


def _same_shape(a: Tensor, b: Tensor, what: str, names: tuple = ("pred", "target")) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{what}: {names[0]} of shape {a.shape} and {names[1]} of shape {b.shape} differ "
            "(no broadcasting)"
        )


def _number(v: Any, name: str, ok: Any, rule: str) -> float:
    """``v`` as a float: TypeError unless a real number, ValueError unless ``ok(v)`` (which
    ``rule`` describes); both name ``name``."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer,
                                                            np.floating)):
        raise TypeError(f"{name} must be a real number {rule}, got {v!r}")
    f = float(v)
    if not (np.isfinite(f) and ok(f)):
        raise ValueError(f"{name} must be {rule}, got {v!r}")
    return f


def mse(pred: Tensor, target: Any) -> Tensor:
    """Mean squared error ``mean((pred - target)**2)``."""
    pred = _tensor(pred, "pred")
    target = _tensor(target, "target", like=pred)
    _same_shape(pred, target, "mse")
    _same_side(pred, target)
    d = pred - target
    return (d * d).mean()


class BinaryCrossEntropy(Function):
    """``-mean(t log p + (1 - t) log(1 - p))`` with ``p`` clipped to ``[eps, 1 - eps]``.

    The gradient w.r.t. ``p`` is 0 where clipping is active.
    """

    @staticmethod
    def forward(ctx: Context, p: np.ndarray, t: np.ndarray, *, eps: float) -> np.ndarray:
        xp = _device.array_module(p)
        pc = xp.clip(p, eps, 1.0 - eps)
        log_p, log_q = xp.log(pc), xp.log1p(-pc)
        ctx.save_for_backward(pc, t, (p >= eps) & (p <= 1.0 - eps), log_p - log_q)
        return xp.asarray(-xp.mean(t * log_p + (1.0 - t) * log_q), dtype=p.dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        pc, t, inside, logit = ctx.saved_tensors
        scale = g / pc.size
        gp = scale * (pc - t) / (pc * (1.0 - pc)) * inside if ctx.needs_input_grad[0] else None
        gt = -scale * logit if ctx.needs_input_grad[1] else None
        return gp, gt


def binary_cross_entropy(probs: Tensor, target: Any, eps: float = 1e-7) -> Tensor:
    """Binary cross-entropy on probabilities (e.g. a sigmoid output), mean over elements.

    ``probs`` is clipped to ``[eps, 1 - eps]`` so that 0 and 1 give finite values. Prefer
    :func:`binary_cross_entropy_with_logits` when the logits are available.
    """
    probs = _tensor(probs, "probs")
    target = _tensor(target, "target", like=probs)
    _same_shape(probs, target, "binary_cross_entropy", ("probs", "target"))
    _same_side(probs, target, ("probs", "target"))
    eps = _number(eps, "eps", lambda f: 0.0 < f < 0.5, "in (0, 0.5)")
    return BinaryCrossEntropy.apply(probs, target, eps=eps)


class BinaryCrossEntropyWithLogits(Function):
    """``mean(max(z, 0) - z t + log(1 + exp(-|z|)))``, the stable form of BCE(sigmoid(z), t)."""

    @staticmethod
    def forward(ctx: Context, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        xp = _device.array_module(z)
        ctx.save_for_backward(z, t)
        loss = xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.asarray(loss.mean(), dtype=z.dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        z, t = ctx.saved_tensors
        scale = g / z.size
        gz = scale * (_sigmoid(z) - t) if ctx.needs_input_grad[0] else None
        gt = -scale * z if ctx.needs_input_grad[1] else None
        return gz, gt


def binary_cross_entropy_with_logits(logits: Tensor, target: Any) -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against ``target``, mean over elements,
    computed without forming the sigmoid (finite for any logit)."""
    logits = _tensor(logits, "logits")
    target = _tensor(target, "target", like=logits)
    _same_shape(logits, target, "binary_cross_entropy_with_logits", ("logits", "target"))
    _same_side(logits, target, ("logits", "target"))
    return BinaryCrossEntropyWithLogits.apply(logits, target)


class SoftmaxCrossEntropy(Function):
    """``mean_i(logsumexp(z_i) - z_i[y_i])``; gradient ``(softmax(z) - onehot(y)) / N``."""

    @staticmethod
    def forward(ctx: Context, z: np.ndarray, *, labels: np.ndarray) -> np.ndarray:
        xp = _device.array_module(z)
        n = z.shape[0]
        shifted = z - z.max(axis=1, keepdims=True)
        lse = xp.log(xp.exp(shifted).sum(axis=1))
        rows = xp.arange(n)
        ctx.save_for_backward(shifted, lse, labels)
        return xp.asarray(xp.mean(lse - shifted[rows, labels]), dtype=z.dtype)

    @staticmethod
    def backward(ctx: Context, g: np.ndarray):
        shifted, lse, labels = ctx.saved_tensors
        xp = _device.array_module(shifted)
        n = shifted.shape[0]
        p = xp.exp(shifted - lse[:, None])
        p[xp.arange(n), labels] -= 1.0
        return (p * (g / n),)


def softmax_cross_entropy(logits: Tensor, labels: Any) -> Tensor:
    """Cross-entropy of ``softmax(logits)`` against integer class labels, mean over the batch.

    Parameters
    ----------
    logits : Tensor, shape ``(N, C)``
    labels : integer array_like, shape ``(N,)``, values in ``[0, C)``
        For logits on a CUDA device: a CuPy integer array on that device, or host data,
        which is checked on the host and copied to the device once (``cupy.asarray``).
    """
    logits = _tensor(logits, "logits")
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits must have shape (N, C) with N > 0, got {logits.shape}")
    if labels is None:
        raise TypeError("labels must be an integer array-like, got None")
    raw = labels.data if isinstance(labels, Tensor) else labels
    on_dev = not isinstance(logits.data, np.ndarray) and _device.on_device(logits.data)
    if not on_dev and not isinstance(raw, np.ndarray) and _device.on_device(raw):
        _device.classify({"labels": raw, "logits": logits.data})  # the TypeError
    labels = _device.as_array(raw, "labels")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {labels.shape}")
    n_classes = logits.shape[1]
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes}), got range "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    labels = labels.astype(np.intp)
    if on_dev and isinstance(labels, np.ndarray):
        labels = _device.to_device(labels, "cuda", int(logits.device.split(":")[1]), "labels")
    return SoftmaxCrossEntropy.apply(logits, labels=labels)


def _param_list(params: Any) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError(f"params must be a Module, a Tensor or an iterable of Tensors, got "
                        f"{type(params).__name__}")
    params = list(params)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"params must hold Tensors/Parameters, got {type(p).__name__} at "
                            f"position {i}")
    return params


def l1_penalty(params: Iterable[Tensor]) -> Tensor:
    """``sum_p sum |p|`` over the given parameters (or a Module's parameters).

    Its gradient is ``sign(p)`` (0 at exactly 0). Multiply by the decay coefficient yourself.
    """
    total: Any = None
    for p in _param_list(params):
        term = p.abs().sum()
        total = term if total is None else total + term
    return total if total is not None else Tensor(0.0)


def l2_penalty(params: Iterable[Tensor]) -> Tensor:
    """``0.5 * sum_p sum p**2`` (the 1/2 makes the gradient exactly ``p``, as weight decay)."""
    total: Any = None
    for p in _param_list(params):
        term = (p * p).sum()
        total = term if total is None else total + term
    return total * 0.5 if total is not None else Tensor(0.0)


def kl_sparsity(hidden_activations: Tensor, rho: float, beta: float = 1.0,
                eps: float = 1e-7) -> Tensor:
    """Sparse-autoencoder penalty ``beta * sum_j KL(rho || rho_hat_j)``.

    ``rho_hat_j`` is the mean activation of hidden unit ``j`` over the batch (axis 0; the
    activations should lie in (0, 1), e.g. sigmoid outputs), clipped to ``[eps, 1 - eps]``::

        KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r))
    """
    h = _tensor(hidden_activations, "hidden_activations")
    if h.ndim != 2 or h.shape[0] == 0:
        raise ValueError(f"hidden_activations must be (batch, units) with batch > 0, got shape "
                         f"{h.shape}")
    rho = _number(rho, "rho", lambda f: 0.0 < f < 1.0, "in (0, 1)")
    beta = _number(beta, "beta", lambda f: f >= 0.0, ">= 0 (a penalty weight)")
    eps = _number(eps, "eps", lambda f: 0.0 < f < 0.5, "in (0, 0.5)")
    rho_hat = h.mean(axis=0).clip(eps, 1.0 - eps)
    const = rho * np.log(rho) + (1.0 - rho) * np.log(1.0 - rho)
    cross = rho_hat.log() * rho + (1.0 - rho_hat).log() * (1.0 - rho)
    n_units = h.shape[1]
    return ((cross * -1.0).sum() + const * n_units) * float(beta)
