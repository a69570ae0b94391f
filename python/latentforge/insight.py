"""Looking inside trained networks: what a unit responds to, and how to fool a classifier.

- :func:`maximize_activation`: the input (under a norm constraint) that excites a hidden unit
  most, by projected gradient ascent on the input (Erhan, Bengio, Courville & Vincent 2009,
  "Visualizing higher-layer features of a deep network").
- :func:`top_activating`: the k samples of a data set that excite a unit most.
- :func:`fgsm`: the fast gradient sign method, ``X + eps * sign(dJ/dX)`` clipped to the data
  range (Goodfellow, Shlens & Szegedy 2015, "Explaining and harnessing adversarial
  examples"); adversarial training is ``adversarial_eps=`` of ``MLPClassifier`` /
  ``ConvNetClassifier``.

``model`` is an ``lf.nn.Module`` or a fitted model: ``MLPClassifier`` /
``ConvNetClassifier`` (its ``network_``), ``Autoencoder`` (its encoder), ``StackedAutoencoder``
(the encoders stacked), ``RBM`` / ``DBN`` (their sigmoid hidden layers, as dense layers).

Layers and units
----------------
A network that is an ``nn.Sequential`` (nested ones are flattened) is a list of layers:
:func:`layers` lists them. ``layer`` is an index into that list (negative counts from the
end; the activation is that layer's *output*) or the layer object itself; ``None`` means the
model's output. A ``unit`` of a layer whose output per sample has shape ``S`` is an int (an
index into the flattened ``S``: one neuron), a tuple of ``len(S)`` ints (one neuron, e.g.
``(channel, row, col)``) or a shorter tuple (the mean over the remaining axes, e.g.
``(channel,)``: a feature map's mean activation).

Every function runs the network in evaluation mode (dropout off, batch norm on its running
statistics) without touching its parameters, gradients or training flags.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from . import functional as F
from . import losses, nn
from .tensor import Tensor, no_grad

__all__ = ["layers", "maximize_activation", "top_activating", "fgsm", "input_gradient",
           "best_single_neurons"]


# ---------------------------------------------------------------------- the network of a model

def _dense_from(weight: np.ndarray, bias: np.ndarray, activation: str | None) -> nn.Linear:
    """An ``nn.Linear`` holding copies of ``weight`` (out, in) and ``bias`` (out,)."""
    lin = nn.Linear(weight.shape[1], weight.shape[0], activation=activation, random_state=0)
    lin.weight.data[...] = weight
    lin.bias.data[...] = bias
    return lin


def _network(model: Any) -> nn.Module:
    """The ``nn.Module`` that computes ``model``'s features from its input."""
    if isinstance(model, nn.Module):
        return model
    name = type(model).__name__
    if hasattr(model, "rbms_"):  # DBN: a stack of sigmoid layers
        return nn.Sequential(*[_dense_from(r.components_, r.intercept_hidden_, "sigmoid")
                               for r in model.rbms_])
    if hasattr(model, "components_") and hasattr(model, "intercept_hidden_"):  # RBM
        return nn.Sequential(_dense_from(model.components_, model.intercept_hidden_, "sigmoid"))
    if hasattr(model, "autoencoders_"):  # StackedAutoencoder
        return nn.Sequential(*[ae.encoder_ for ae in model.autoencoders_])
    if hasattr(model, "network_"):
        if hasattr(model, "encoder_") and not hasattr(model, "classes_"):  # Autoencoder
            return model.encoder_
        return model.network_
    if hasattr(model, "fit") and hasattr(model, "get_params"):
        raise ValueError(f"this {name} is not fitted yet: call fit first")
    raise TypeError(f"model must be an lf.nn.Module or a fitted latentforge model with a "
                    f"network (MLPClassifier, ConvNetClassifier, Autoencoder, "
                    f"StackedAutoencoder, RBM, DBN), got {name}")


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        out: list[nn.Module] = []
        for m in module.layers:
            out += _leaves(m)
        return out
    return [module]


def layers(model: Any) -> list[nn.Module]:
    """The layers of ``model``'s network in order (nested ``Sequential``\\ s flattened): what
    an int ``layer`` indexes. A network that is not a ``Sequential`` is one layer."""
    return _leaves(_network(model))


def _prefix(model: Any, layer: Any) -> tuple[list[nn.Module], nn.Module]:
    """The layers up to and including ``layer``, and the whole network."""
    net = _network(model)
    mods = _leaves(net)
    if layer is None:
        return mods, net
    if isinstance(layer, nn.Module):
        for i, m in enumerate(mods):
            if m is layer:
                return mods[:i + 1], net
        raise ValueError(f"layer {type(layer).__name__} is not one of the model's layers "
                         f"(see lf.insight.layers(model))")
    if isinstance(layer, (bool, np.bool_)) or not isinstance(layer, numbers.Integral):
        raise TypeError(f"layer must be an int, a layer of the model or None, got "
                        f"{type(layer).__name__}")
    i = int(layer)
    if not -len(mods) <= i < len(mods):
        raise ValueError(f"layer {i} is out of range: the model has {len(mods)} layers")
    return mods[:(i % len(mods)) + 1], net


@contextlib.contextmanager
def _inspecting(net: nn.Module) -> Iterator[None]:
    """Evaluation mode, parameters frozen (no gradients into them); all restored after."""
    modes = [(m, m.training) for m in net.modules()]
    params = [(p, p.requires_grad, p.grad) for p in net.parameters()]
    net.eval()
    for p, _, _ in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for p, req, grad in params:
            p.requires_grad, p.grad = req, grad


class _PreActivation(nn.Module):
    """A ``Linear`` layer without its fused activation (shares the layer's parameters)."""

    def __init__(self, lin: nn.Linear):
        super().__init__()
        self._lin = lin

    def forward(self, x: Tensor) -> Tensor:
        lin = self._lin
        return F.linear(x, lin.weight, lin.bias, None, trans_w=not lin.tied)


def _objective_mods(mods: list[nn.Module], units: list[Any], shape: tuple[int, ...]):
    """The layers whose output the ascent follows: with single neurons as units, the
    pre-activation when the chosen layer ends in an increasing nonlinearity (same maximizer;
    the gradient does not vanish where a sigmoid saturates or a ReLU is off)."""
    single = all(isinstance(u, numbers.Integral) or
                 (isinstance(u, tuple) and len(u) == len(shape)) for u in units)
    last = mods[-1]
    if not single:
        return mods
    if isinstance(last, nn.Linear) and last.activation is not None:
        return mods[:-1] + [_PreActivation(last)]
    if isinstance(last, (nn.Sigmoid, nn.Tanh, nn.ReLU)) and len(mods) > 1:
        return mods[:-1]
    return mods


def _run(mods: list[nn.Module], x: Tensor) -> Tensor:
    for m in mods:
        x = m(x)
    return x


def _input_size(net: nn.Module, model: Any) -> int | None:
    n = getattr(model, "n_features_in_", None)
    if n is not None:
        return int(n)
    first = _leaves(net)[0]  # a dense first layer says its input width; others do not
    return int(first.in_features) if isinstance(first, nn.Linear) else None


def _as_float(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.ndim < 2:
        raise ValueError(f"{name} must hold one sample per row (at least 2-D), got shape "
                         f"{X.shape}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X


def _model_input(model: Any, X: np.ndarray) -> np.ndarray:
    """Images (N, C, H, W) / (N, H, W) flattened for a fitted model that takes flat rows."""
    if not isinstance(model, nn.Module) and X.ndim > 2:
        return X.reshape(X.shape[0], -1)
    return X


# ---------------------------------------------------------------------- units

def _unit_weights(unit: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The weights ``g`` (of the per-sample output ``shape``) with ``activation = sum(g *
    output)`` for ``unit``."""
    size = int(np.prod(shape))
    g = np.zeros(size, np.float32)
    if isinstance(unit, (bool, np.bool_)):
        raise TypeError("unit must be an int or a tuple of ints, got a bool")
    if isinstance(unit, numbers.Integral):
        if not 0 <= int(unit) < size:
            raise ValueError(f"unit {int(unit)} is out of range: the layer has {size} units "
                             f"per sample (output shape {shape})")
        g[int(unit)] = 1.0
        return g.reshape(shape)
    if isinstance(unit, tuple) and 0 < len(unit) <= len(shape) \
            and all(isinstance(u, numbers.Integral) and not isinstance(u, bool) for u in unit):
        for u, s in zip(unit, shape):
            if not 0 <= int(u) < s:
                raise ValueError(f"unit {unit} is out of range for the layer's output shape "
                                 f"{shape}")
        g = g.reshape(shape)
        rest = shape[len(unit):]
        g[tuple(int(u) for u in unit)] = 1.0 / max(1, int(np.prod(rest)))
        return g
    raise TypeError(f"unit must be an int or a tuple of at most {len(shape)} ints (output "
                    f"shape {shape}), got {unit!r}")


def _units(unit: Any) -> tuple[list[Any], bool]:
    """``unit`` as a list of units, and whether a single one was given."""
    if isinstance(unit, (list, np.ndarray)):
        units = [int(u) if isinstance(u, numbers.Integral) else u for u in list(unit)]
        if not units:
            raise ValueError("unit is an empty list")
        return units, False
    return [unit], True


# ---------------------------------------------------------------------- public functions

def _real(v: Any, name: str, low: float = 0.0, open_low: bool = True) -> float:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    v = float(v)
    if not np.isfinite(v) or v < low or (open_low and v == low):
        raise ValueError(f"{name} must be {'>' if open_low else '>='} {low:g}, got {v}")
    return v


def _bounds(bounds: Any) -> tuple[float, float] | None:
    if bounds is None:
        return None
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise TypeError(f"bounds must be None or (low, high), got {bounds!r}") from None
    if not lo < hi:
        raise ValueError(f"bounds must have low < high, got {bounds!r}")
    return lo, hi


def maximize_activation(model: Any, layer: Any, unit: Any, x0: Any = None, steps: int = 200,
                        lr: float = 0.05, norm: str | None = "l2", radius: float | None = None,
                        bounds: Any = None, input_shape: Sequence[int] | None = None,
                        random_state: Any = None, return_activation: bool = False):
    """The input that maximizes a unit's activation under a norm constraint (Erhan et al.
    2009): projected gradient ascent on the input.

    Parameters
    ----------
    model, layer, unit
        See the module docstring. ``unit`` may be a list of units: each gets its own input,
        optimized together in one batch.
    x0 : array, optional
        Starting point, one sample (or one per unit). Default: small Gaussian noise (seeded by
        ``random_state``) scaled to ``radius``.
    steps : int
        Gradient-ascent steps.
    lr : float
        Step length as a fraction of ``radius``: each step moves ``x`` by ``lr * radius`` along
        the L2-normalized gradient (``norm="l2"``) or by ``lr * radius`` times its sign
        (``norm="linf"``), then projects ``x`` back onto the constraint.
    norm : {"l2", "linf"} or None
        "l2": ``||x||_2 = radius`` (the sphere, as Erhan et al.). "linf": ``|x_i| <= radius``.
        None: no norm constraint (then ``bounds`` should be given), steps of ``lr`` along the
        L2-normalized gradient times ``sqrt(n_features)``.
    radius : float, optional
        Default: the L2 norm (or, for "linf", the largest magnitude) of ``x0``; without
        ``x0``, ``sqrt(n_features)`` for "l2" and 1 for "linf".
    bounds : (low, high), optional
        A box the input must also stay in (e.g. the pixel range ``(0, 1)``). With "l2" the
        constraint becomes ``||x||_2 <= radius`` inside the box.
    input_shape : sequence of int, optional
        The shape of one input sample, needed when neither ``x0`` nor the model says it.
    return_activation : bool
        Also return the final activations (one per unit).

    Returns
    -------
    x : ndarray, float32, the shape of one sample (or ``(len(unit), *sample_shape)`` for a list
        of units); and with ``return_activation`` the activations reached.

    For a unit of a first dense layer ``a = f(w . x + b)`` with an increasing ``f`` and the
    "l2" constraint the answer is ``radius * w / ||w||`` (tested). For single neurons of a
    layer that ends in an increasing nonlinearity (a ``Linear``'s fused activation, or a
    ``Sigmoid``/``Tanh``/``ReLU`` layer) the ascent follows the pre-activation: the maximizer
    is the same, and the gradient does not vanish where a sigmoid saturates in float32.
    """
    mods, net = _prefix(model, layer)
    units, single = _units(unit)
    steps = int(steps) if isinstance(steps, numbers.Integral) else steps
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise ValueError(f"steps must be a non-negative int, got {steps!r}")
    lr = _real(lr, "lr")
    if norm not in ("l2", "linf", None):
        raise ValueError(f"norm must be 'l2', 'linf' or None, got {norm!r}")
    box = _bounds(bounds)
    rng = np.random.default_rng(random_state)

    if x0 is not None:
        x = _as_float(np.asarray(x0)[None] if single or np.ndim(x0) < 2 else x0, "x0")
        if x.shape[0] == 1 and len(units) > 1:
            x = np.repeat(x, len(units), axis=0)
        if x.shape[0] != len(units):
            raise ValueError(f"x0 has {x.shape[0]} samples for {len(units)} units")
        x = x.copy()
    else:
        if input_shape is None:
            n = _input_size(net, model)
            if n is None:
                raise ValueError("the input shape of this model is unknown: pass x0 or "
                                 "input_shape")
            input_shape = (n,)
        shape = tuple(int(s) for s in input_shape)
        x = rng.standard_normal((len(units),) + shape).astype(np.float32)
    flat = x.reshape(x.shape[0], -1)
    n_features = flat.shape[1]
    if radius is None:
        if x0 is not None:
            radius = float(np.abs(flat).max() if norm == "linf"
                           else np.linalg.norm(flat, axis=1).mean())
        else:
            radius = 1.0 if norm == "linf" else float(np.sqrt(n_features))
    radius = _real(radius, "radius")

    def project(v: np.ndarray) -> np.ndarray:
        f = v.reshape(v.shape[0], -1)
        if norm == "linf":
            np.clip(f, -radius, radius, out=f)
        if box is not None:
            np.clip(f, box[0], box[1], out=f)
        if norm == "l2":
            nrm = np.linalg.norm(f, axis=1, keepdims=True)
            scale = radius / np.maximum(nrm, 1e-30)
            if box is not None:  # a ball inside the box (shrinking keeps a box around 0)
                scale = np.minimum(scale, 1.0)
            f *= scale
        return v

    if x0 is None and norm == "l2":
        flat *= radius / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-30)
    if x0 is None and norm == "linf":
        flat *= 0.01 * radius
    x = project(x)
    step = lr * (radius if norm is not None else np.sqrt(n_features))
    with _inspecting(net):
        with no_grad():
            out_shape = _run(mods, Tensor(x[:1])).data.shape[1:]
        for u in units:
            _unit_weights(u, out_shape)  # errors before the ascent
        follow = _objective_mods(mods, units, out_shape)
        for _ in range(steps):
            g, _ = _unit_gradient(follow, x, units)
            gf = g.reshape(g.shape[0], -1)
            if norm == "linf":
                x += step * np.sign(g)
            else:
                nrm = np.linalg.norm(gf, axis=1).reshape((-1,) + (1,) * (x.ndim - 1))
                x += step * g / np.maximum(nrm, 1e-30)
            x = project(x)
        acts = _unit_gradient(mods, x, units)[1] if return_activation else None
    out = x[0] if single else x
    if return_activation:
        return out, (acts[0] if single else acts)
    return out


def _unit_gradient(mods: list[nn.Module], x: np.ndarray, units: list[Any]):
    """d(activation of units[i] at x[i]) / d x[i], and the activations (float64)."""
    xt = Tensor(x, requires_grad=True)
    out = _run(mods, xt)
    shape = out.data.shape[1:]
    G = np.stack([_unit_weights(u, shape) for u in units]).astype(np.float32)
    if out.data.shape[0] != len(units):
        raise ValueError(f"the layer's output has {out.data.shape[0]} rows for {len(units)} "
                         "inputs")
    acts = (G.astype(np.float64) * out.data).reshape(len(units), -1).sum(axis=1)
    out.backward(G)
    grad = xt.grad if xt.grad is not None else np.zeros_like(x)
    return np.asarray(grad, np.float32), acts


def top_activating(model: Any, X: Any, layer: Any, unit: Any, k: int = 9,
                   batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` samples of ``X`` that excite ``unit`` of ``layer`` most.

    Returns ``(indices, activations)``, most active first (ties: the lower index first).
    """
    mods, net = _prefix(model, layer)
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    X = _model_input(model, _as_float(X, "X"))
    acts = np.empty(X.shape[0], np.float64)
    with _inspecting(net), no_grad():
        for i in range(0, X.shape[0], int(batch_size)):
            out = _run(mods, Tensor(X[i:i + int(batch_size)])).data
            g = _unit_weights(unit, out.shape[1:]).astype(np.float64)
            acts[i:i + out.shape[0]] = (out.reshape(out.shape[0], -1) @ g.ravel())
    order = np.argsort(-acts, kind="stable")[:min(int(k), X.shape[0])]
    return order, acts[order]


def _labels(model: Any, y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must hold one label per sample ({n}), got shape {y.shape}")
    classes = getattr(model, "classes_", None)
    if classes is not None and not isinstance(model, nn.Module):
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        if not np.array_equal(classes[idx], y):
            raise ValueError("y has labels the model was not trained on")
        return idx.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class indices for an nn.Module, got dtype "
                        f"{y.dtype}")
    return y.astype(np.int64)


def input_gradient(model: Any, X: Any, y: Any, batch_size: int = 1000) -> np.ndarray:
    """``dJ/dX`` of the mean softmax cross-entropy of a classifier at ``(X, y)``, in ``X``'s
    shape (each row's gradient of its own loss, scaled by 1/len of its batch)."""
    net = _network(model)
    X0 = _as_float(X, "X")
    Xm = _model_input(model, X0)
    yi = _labels(model, y, Xm.shape[0])
    out = np.empty_like(Xm)
    with _inspecting(net):
        for i in range(0, Xm.shape[0], int(batch_size)):
            sl = slice(i, i + int(batch_size))
            out[sl] = _loss_gradient(net, Xm[sl], yi[sl])
    return out.reshape(X0.shape)


def _loss_gradient(net: nn.Module, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dJ/dX of softmax cross-entropy (the parameters must be frozen by the caller)."""
    xt = Tensor(X, requires_grad=True)
    losses.softmax_cross_entropy(net(xt), y).backward()
    return xt.grad.astype(np.float32, copy=False)  # numpy or CuPy, where X lives


def data_range(X: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of ``X``: the default clipping range of :func:`fgsm`."""
    return float(X.min()), float(X.max())


def fgsm(model: Any, X: Any, y: Any, eps: float, clip: Any = "data",
         batch_size: int = 1000) -> np.ndarray:
    """Fast gradient sign method: ``X + eps * sign(dJ/dX)`` for the softmax cross-entropy
    ``J`` of a classifier (a fitted ``MLPClassifier`` / ``ConvNetClassifier``, or an
    ``nn.Module`` returning logits, with integer class indices ``y``), clipped to a range.

    ``clip``: "data" (the default: ``X``'s own min and max, e.g. [0, 1] for pixel data),
    ``(low, high)``, or None (no clipping). Returns float32 adversarial examples in ``X``'s
    shape. A zero gradient component leaves its input unchanged (``sign(0) = 0``).
    """
    eps = _real(eps, "eps", open_low=False)
    X0 = _as_float(X, "X")
    if clip == "data":
        box = data_range(X0) if X0.size else None
    else:
        box = _bounds(clip)
    g = input_gradient(model, X0, y, batch_size)
    adv = X0 + np.float32(eps) * np.sign(g)
    if box is not None:
        np.clip(adv, box[0], box[1], out=adv)
    return adv.astype(np.float32, copy=False)


def fgsm_batch(net: nn.Module, X: np.ndarray, y: np.ndarray, eps: float,
               box: tuple[float, float] | None) -> np.ndarray:
    """FGSM examples for one training batch of a network in its current mode (used by the
    classifiers' adversarial training: dropout stays as it is; the parameters' gradients and
    flags are left untouched)."""
    params = [(p, p.requires_grad, p.grad) for p in net.parameters()]
    for p, _, _ in params:
        p.requires_grad = False
    try:
        g = _loss_gradient(net, X, y)
    finally:
        for p, req, grad in params:
            p.requires_grad, p.grad = req, grad
    adv = X + np.float32(eps) * np.sign(g)
    if box is not None:
        np.clip(adv, box[0], box[1], out=adv)
    return adv


# ---------------------------------------------------------------------- single-neuron detectors

def _best_thresholds(A: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every column of ``A`` (n_samples, n_units): the threshold ``t`` maximizing the
    accuracy of ``a > t => positive`` on these samples, and that accuracy."""
    n = A.shape[0]
    order = np.argsort(A, axis=0, kind="stable")
    S = np.take_along_axis(A, order, axis=0)
    P = pos[order].astype(np.int64)  # positives in ascending order of activation
    # cut after k samples (k = 0..n): below the cut predicted negative.
    neg_below = np.vstack([np.zeros((1, A.shape[1]), np.int64), np.cumsum(1 - P, axis=0)])
    pos_above = int(pos.sum()) - np.vstack([np.zeros((1, A.shape[1]), np.int64),
                                            np.cumsum(P, axis=0)])
    correct = neg_below + pos_above
    # only cut between distinct values (a threshold cannot split equal activations)
    valid = np.ones_like(correct, dtype=bool)
    valid[1:n] = S[1:] != S[:-1]
    correct = np.where(valid, correct, -1)
    k = correct.argmax(axis=0)
    cols = np.arange(A.shape[1])
    lower = np.where(k > 0, S[np.maximum(k - 1, 0), cols], -np.inf)
    upper = np.where(k < n, S[np.minimum(k, n - 1), cols], np.inf)
    t = np.where(np.isinf(lower), upper - 1.0, np.where(np.isinf(upper), lower,
                                                        0.5 * (lower + upper)))
    return t, correct[k, cols] / n


def best_single_neurons(features: Any, y: Any, classes: Any = None, split: float = 0.5,
                        balanced: bool = True, random_state: Any = 0) -> list[dict]:
    """For each class, the single feature (neuron) whose activation alone best separates that
    class from the rest, as Le et al. 2012 evaluate their "face neuron".

    The samples are split in two halves (seeded); on the first half every neuron gets its
    best threshold (``activation > t`` means "this class") and the neuron with the highest
    accuracy there is chosen; its accuracy is then measured on the second half. With
    ``balanced`` each class is tested against an equal number of randomly drawn samples of
    the other classes (so the all-negative baseline is about 50%, as in a balanced face /
    non-face test set); otherwise against all others (baseline ``1 - frequency``).

    Returns one dict per class: ``class``, ``neuron`` (column index), ``threshold``,
    ``select_accuracy`` (first half), ``accuracy`` (second half), ``baseline`` (accuracy of
    always answering "not this class" on the second half), ``n_test``.
    """
    F = np.asarray(features, dtype=np.float64)
    y = np.asarray(y)
    if F.ndim != 2 or F.shape[0] != y.shape[0] or y.ndim != 1:
        raise ValueError(f"features must be (n_samples, n_neurons) with one label per row, got "
                         f"{F.shape} and {y.shape}")
    if not np.isfinite(F).all():
        raise ValueError("features contains NaN or infinity")
    split = _real(split, "split")
    if not split < 1:
        raise ValueError(f"split must be in (0, 1), got {split}")
    rng = np.random.default_rng(random_state)
    classes = np.unique(y) if classes is None else np.asarray(classes)
    out = []
    for c in classes:
        pos_idx = np.flatnonzero(y == c)
        neg_idx = np.flatnonzero(y != c)
        if len(pos_idx) < 2 or len(neg_idx) < 2:
            raise ValueError(f"class {c!r} needs at least 2 samples in and out of it")
        if balanced:
            neg_idx = rng.choice(neg_idx, size=min(len(pos_idx), len(neg_idx)), replace=False)
        idx = rng.permutation(np.concatenate([pos_idx, neg_idx]))
        cut = max(1, min(len(idx) - 1, int(round(split * len(idx)))))
        a, b = idx[:cut], idx[cut:]
        t, acc = _best_thresholds(F[a], y[a] == c)
        j = int(np.argmax(acc))
        pos_b = y[b] == c
        test_acc = float(np.mean((F[b, j] > t[j]) == pos_b))
        out.append({"class": c.item() if hasattr(c, "item") else c, "neuron": j,
                    "threshold": float(t[j]), "select_accuracy": float(acc[j]),
                    "accuracy": test_acc, "baseline": float(np.mean(~pos_b)),
                    "n_test": int(len(b))})
    return out
