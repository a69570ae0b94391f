"""Shared scikit-learn plumbing for the estimators."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict

import numpy as np


class ParamsMixin:
    """``get_params``/``set_params`` read from the ``__init__`` signature.

    Follows scikit-learn's convention: every ``__init__`` argument is stored, unchanged, as an
    attribute of the same name (so ``__init__`` only stores and ``fit`` validates).
    """

    def get_params(self, deep: bool = True) -> Dict[str, Any]:
        params = inspect.signature(type(self).__init__).parameters.values()
        names = [p.name for p in params if p.name != "self"
                 and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any):
        valid = self.get_params()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}")
            setattr(self, name, value)
        return self


def check_input(model: Any, X, name: str, fitted: bool, fitted_attr: str) -> np.ndarray:
    """Float32 2-D input with rows, finite values and, once ``model`` is fitted (it has
    ``fitted_attr``), its ``n_features_in_`` columns. Raises AttributeError when ``fitted`` is
    asked of an unfitted model, ValueError/TypeError on bad input."""
    from .._backend import as_float32

    if fitted and not hasattr(model, fitted_attr):
        raise AttributeError(f"this {type(model).__name__} is not fitted yet; call fit first")
    X = as_float32(X, name, ndim=2)
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or infinity")
    if fitted and X.shape[1] != model.n_features_in_:
        raise ValueError(f"{name} has {X.shape[1]} features, the model was fitted with "
                         f"{model.n_features_in_}")
    return X


def progress_bar(verbose: Any, total: int, desc: str):
    """A tqdm bar over ``total`` steps when ``verbose`` and stderr is a terminal (None otherwise,
    or when tqdm is missing): the models then log lines instead."""
    import sys

    if not verbose or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False)


def fit_stack(X, per_layer, make, rng, verbose: Any, label: str, describe: Callable[[Any], str]):
    """Greedy layer-wise training: layer ``i`` is ``make(seed_i, per_layer[i])`` (seed drawn
    from ``rng``), fitted on the previous layer's ``transform`` of X. Returns the fitted
    layers, bottom up. ``verbose`` prints one line per layer: ``label layer i/n: describe``."""
    import sys

    layers = []
    H = X
    for i, q in enumerate(per_layer):
        layer = make(int(rng.integers(0, 2**31)), q)
        if verbose:
            print(f"{label} layer {i + 1}/{len(per_layer)}: {describe(layer)}", file=sys.stderr,
                  flush=True)
        layer.fit(H)
        layers.append(layer)
        if i + 1 < len(per_layer):
            H = layer.transform(H)
    return layers


def transform_stack(layers, X):
    """X through every layer's ``transform``, bottom up."""
    H = X
    for layer in layers:
        H = layer.transform(H)
    return H


def minibatch_step(compute_loss: Callable[[], Any], optimizer: Any, epoch: int, batch: int) -> float:
    """One optimisation step: loss, backward, update. Returns the loss value.

    Overflow in a diverging run is not reported as numpy warnings but as one clear
    ``FloatingPointError`` naming the epoch and batch (and the parameters are left untouched by
    that step).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        loss = compute_loss()
        value = float(loss.data)
        if np.isfinite(value):
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    if not np.isfinite(value):
        raise FloatingPointError(
            f"training diverged at epoch {epoch + 1}, batch {batch + 1} (loss {value}); "
            "lower learning_rate"
        )
    return value
