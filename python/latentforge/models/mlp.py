"""A feed-forward classifier trained by minibatch backpropagation on latentforge's kernels."""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _device, losses, nn, optim
from .._backend import check_random_state
from ..tensor import Tensor, no_grad
from ._base import (
    ParamsMixin,
    check_input,
    check_is_fitted,
    check_labels,
    check_labels_like,
    check_same_device,
    check_X_y,
    fit_device,
    minibatch_step,
    minibatches,
    progress_bar,
)
from ._params import choice_param, int_param, real_param, sizes_param

_OPTIMIZERS = {
    "sgd": optim.SGD,
    "momentum": optim.SGD,
    "nesterov": optim.SGD,
    "adagrad": optim.AdaGrad,
    "rmsprop": optim.RMSProp,
    "adam": optim.Adam,
    "adadelta": optim.AdaDelta,
}


class MLPClassifier(ParamsMixin):
    """Multi-layer perceptron classifier (softmax output, cross-entropy loss).

    Parameters
    ----------
    hidden : int or sequence of int
        Sizes of the hidden layers, e.g. ``(1000, 750, 500)``; an int is one hidden layer of
        that size; ``()`` is no hidden layer (multinomial logistic regression).
    activation : {"sigmoid", "tanh", "relu"}
        Hidden-layer nonlinearity, applied in the fused GEMM epilogue.
    optimizer : str
        One of "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adadelta".
        "momentum"/"nesterov" are SGD with ``momentum`` (default 0.9 for them).
    learning_rate : float
    momentum : float or None
        For "sgd"/"momentum"/"nesterov" (None: 0 for "sgd", 0.9 otherwise) and "rmsprop".
    weight_decay, l1 : float
        L2 and L1 penalties applied by the optimizer.
    max_norm : float or None
        Max-norm constraint on each unit's incoming weight vector.
    dropout : float
        Dropout probability on hidden activations (0 disables it).
    batch_size : int
    max_epochs : int
        Epochs of training (fewer with early stopping). An epoch is one pass over the training
        data, or several on a small data set (see ``min_updates_per_epoch``).
    min_updates_per_epoch : int
        Fewest minibatch updates in an epoch. When one pass over the training data has fewer
        (fewer than ``min_updates_per_epoch * batch_size`` training samples), an epoch makes
        ``ceil(min_updates_per_epoch / n_batches)`` passes, each reshuffled (attribute
        ``passes_per_epoch_``). So training, validation and early stopping (``patience``)
        work on a comparable number of updates whatever the size of the data: 10 epochs of
        plain passes over scikit-learn's digits (1,212 training samples after validation: 13
        minibatches a pass) were 130 updates, too few to train the default network (test
        accuracy 0.87-0.89 instead of 0.96 on average). Large data sets are unaffected (MNIST:
        540 minibatches a pass, one pass an epoch). 1 makes every epoch a single pass.
    validation_fraction : float
        Fraction of the training data held out to monitor ``val_loss``/``val_accuracy``
        (0 disables validation and early stopping).
    early_stopping : bool
        Stop when the validation loss has not improved for ``patience`` epochs, and restore the
        best weights.
    patience : int
    adversarial_eps : float
        Adversarial training (Goodfellow, Shlens & Szegedy 2015): when positive, every
        minibatch also makes fast-gradient-sign examples ``x + eps * sign(dJ/dx)`` (clipped to
        the training data's range, computed with the current weights, see
        :func:`latentforge.insight.fgsm`) and trains on ``adversarial_weight * J(x_adv) +
        (1 - adversarial_weight) * J(x)``. 0 (the default) trains on clean data only.
    adversarial_weight : float
        The weight of the adversarial term, in [0, 1] (Goodfellow et al. use 0.5).
    random_state : None, int or numpy Generator
    verbose : int
        0: silent. 1: a tqdm progress bar per epoch when stderr is a terminal, otherwise one line
        per epoch.
    device : None, "cpu", "cuda" or "cuda:N"
        Where to train. None (the default): where ``X`` lives (a CuPy / CUDA array: its
        device; anything else: the host). Data given on the other side is moved once, at the
        start of ``fit``, because this asks for it. The weights are initialised on the host from
        ``random_state`` and then moved, so a seed gives the same initial network everywhere.
        The fitted model lives on that device (``device_``): ``predict``, ``predict_proba`` and
        ``score`` take ``X`` there (CuPy in, CuPy out on a device) and raise TypeError for data
        on the other side; :meth:`to` moves a fitted model. Class labels are read on the host
        (``classes_`` is a host array); ``predict`` returns CuPy labels for numeric classes and
        a numpy array for string classes (strings cannot live on a GPU).

    Attributes
    ----------
    classes_ : ndarray
    n_features_in_ : int
    network_ : latentforge.nn.Sequential
    history_ : dict of lists
        Per epoch: "loss" (mean training loss), and with validation "val_loss" and
        "val_accuracy"; "step_loss" has the loss of every minibatch.
    n_iter_ : int
        Epochs run.
    passes_per_epoch_ : int
        Passes over the training data in each epoch (1 unless the data set is small, see
        ``min_updates_per_epoch``).
    device_ : str
        Where the fitted network lives: "cpu" or "cuda:N".
    """

    _estimator_kind = "classifier"

    def __init__(
        self,
        hidden: Sequence[int] = (1000, 750, 500),
        activation: str = "sigmoid",
        optimizer: str = "momentum",
        learning_rate: float = 0.1,
        momentum: float | None = None,
        weight_decay: float = 0.0,
        l1: float = 0.0,
        max_norm: float | None = None,
        dropout: float = 0.0,
        batch_size: int = 100,
        max_epochs: int = 10,
        min_updates_per_epoch: int = 50,
        validation_fraction: float = 0.1,
        early_stopping: bool = True,
        patience: int = 3,
        adversarial_eps: float = 0.0,
        adversarial_weight: float = 0.5,
        random_state: None | int | np.random.Generator = None,
        verbose: int = 0,
        device: str | None = None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.l1 = l1
        self.max_norm = max_norm
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.min_updates_per_epoch = min_updates_per_epoch
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.adversarial_eps = adversarial_eps
        self.adversarial_weight = adversarial_weight
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ building blocks

    def _hidden_sizes(self) -> tuple:
        """``hidden`` as a tuple of ints (an int is one layer); an error naming it."""
        return sizes_param(self.hidden, "hidden", empty_ok=True)

    def _validate_params(self) -> None:
        choice_param(self.activation, "activation", ("sigmoid", "tanh", "relu"))
        choice_param(self.optimizer, "optimizer", sorted(_OPTIMIZERS))
        self._hidden_sizes()
        for name in ("batch_size", "max_epochs", "min_updates_per_epoch"):
            int_param(getattr(self, name), name)
        int_param(self.patience, "patience", low=0)
        real_param(self.learning_rate, "learning_rate", low=0, low_open=True)
        real_param(self.weight_decay, "weight_decay", low=0)
        real_param(self.l1, "l1", low=0)
        if self.momentum is not None:
            real_param(self.momentum, "momentum", low=0, high=1, high_open=True)
        if self.max_norm is not None:
            real_param(self.max_norm, "max_norm", low=0, low_open=True)
        real_param(self.validation_fraction, "validation_fraction", low=0, high=1, high_open=True)
        real_param(self.dropout, "dropout", low=0, high=1, high_open=True)
        real_param(self.adversarial_eps, "adversarial_eps", low=0)
        real_param(self.adversarial_weight, "adversarial_weight", low=0, high=1)
        _device.parse_device(self.device)

    def _build(self, n_in: int, n_out: int, rng: np.random.Generator) -> nn.Sequential:
        layers: list[Any] = []
        prev = n_in
        for h in self._hidden_sizes():
            layers.append(nn.Linear(prev, int(h), activation=self.activation, random_state=rng))
            if self.dropout > 0:
                layers.append(nn.Dropout(self.dropout, random_state=rng))
            prev = int(h)
        layers.append(nn.Linear(prev, n_out, random_state=rng))
        return nn.Sequential(*layers)

    def _make_optimizer(self, params):
        name = self.optimizer
        common = dict(weight_decay=self.weight_decay, l1=self.l1, max_norm=self.max_norm)
        if name in ("sgd", "momentum", "nesterov"):
            mom = self.momentum if self.momentum is not None else (0.0 if name == "sgd" else 0.9)
            return optim.SGD(params, lr=self.learning_rate, momentum=mom,
                             nesterov=name == "nesterov", **common)
        if name == "rmsprop" and self.momentum is not None:
            return optim.RMSProp(params, lr=self.learning_rate, momentum=self.momentum, **common)
        if name == "adadelta":
            return optim.AdaDelta(params, lr=self.learning_rate, **common)
        return _OPTIMIZERS[name](params, lr=self.learning_rate, **common)

    # ------------------------------------------------------------------ API

    def fit(self, X, y) -> MLPClassifier:
        """Train on ``X`` (n_samples, n_features) and integer or string labels ``y``."""
        self._validate_params()
        kind, index = fit_device(self, X)
        X, y = check_X_y(X, y, integer=True, min_samples=2, device_ok=True)
        X = _device.to_device(X, kind, index, "X")
        xp = _device.array_module(X)
        rng = check_random_state(self.random_state)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if self.classes_.shape[0] < 2:
            raise ValueError("y has a single class; a classifier needs at least 2")
        self.n_features_in_ = X.shape[1]
        y_idx = xp.asarray(y_idx)

        n_val = int(round(self.validation_fraction * X.shape[0]))
        order = xp.asarray(rng.permutation(X.shape[0]))
        val_idx, train_idx = order[:n_val], order[n_val:]
        X_tr, y_tr = X[train_idx], y_idx[train_idx]
        X_val, y_val = X[val_idx], y_idx[val_idx]

        self.device_ = _device.device_of(X)
        self.network_ = self._build(X.shape[1], self.classes_.shape[0], rng)
        if self.device_ != "cpu":
            self.network_.to(self.device_)
        opt = self._make_optimizer(self.network_.parameters())
        self.history_: dict[str, list[float]] = {"loss": [], "step_loss": []}
        if n_val:
            self.history_["val_loss"] = []
            self.history_["val_accuracy"] = []
        best, best_state, bad_epochs = np.inf, None, 0
        batches = minibatches(X_tr.shape[0], int(self.batch_size))
        n_batches = len(batches)
        # A small data set makes several passes an epoch (see min_updates_per_epoch).
        passes = -(-int(self.min_updates_per_epoch) // n_batches)
        self.passes_per_epoch_ = passes
        self.n_iter_ = 0
        batch_loss = self._batch_loss(X_tr, y_tr)
        for epoch in range(int(self.max_epochs)):
            self.network_.train()
            total, t0 = 0.0, time.perf_counter()
            bar = progress_bar(self.verbose, n_batches * passes,
                               f"epoch {epoch + 1}/{self.max_epochs}")
            for p in range(passes):
                perm = xp.asarray(rng.permutation(X_tr.shape[0]))
                for b, rows in enumerate(batches):
                    idx = perm[rows]
                    # Overflow in a diverging run is reported below as one clear error.
                    value = minibatch_step(lambda idx=idx: batch_loss(idx), opt, epoch,
                                           p * n_batches + b)
                    self.history_["step_loss"].append(value)
                    total += value * len(idx)
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if bar is not None:
                bar.close()
            self.history_["loss"].append(total / (X_tr.shape[0] * passes))
            self.n_iter_ = epoch + 1
            msg = f"epoch {epoch + 1}/{self.max_epochs}: loss {self.history_['loss'][-1]:.4f}"
            if n_val:
                vloss, vacc = self._evaluate(X_val, y_val)
                self.history_["val_loss"].append(vloss)
                self.history_["val_accuracy"].append(vacc)
                msg += f", val_loss {vloss:.4f}, val_accuracy {vacc:.4f}"
                if vloss < best - 1e-6:
                    best, bad_epochs = vloss, 0
                    best_state = copy.deepcopy(self.network_.state_dict())
                else:
                    bad_epochs += 1
            if self.verbose and bar is None:
                print(f"{msg} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
            if n_val and self.early_stopping and bad_epochs >= self.patience:
                break
        if n_val and self.early_stopping and best_state is not None:
            self.network_.load_state_dict(best_state)
            self.best_val_loss_ = best
        self.network_.eval()
        return self

    def _batch_loss(self, X_tr: np.ndarray, y_tr: np.ndarray):
        """The training loss of the rows ``idx``: clean, or mixed with FGSM examples."""
        eps = float(self.adversarial_eps)
        if eps == 0.0:
            return lambda idx: losses.softmax_cross_entropy(self.network_(Tensor(X_tr[idx])),
                                                            y_tr[idx])
        from ..insight import data_range, fgsm_batch

        box, w = data_range(X_tr), float(self.adversarial_weight)

        def loss(idx):
            xb, yb = X_tr[idx], y_tr[idx]
            adv = fgsm_batch(self.network_, xb, yb, eps, box)
            clean = losses.softmax_cross_entropy(self.network_(Tensor(xb)), yb)
            return clean * (1.0 - w) + losses.softmax_cross_entropy(
                self.network_(Tensor(adv)), yb) * w

        return loss

    def _logits(self, X: np.ndarray) -> np.ndarray:
        self.network_.eval()
        xp = _device.array_module(X)
        out = []
        with no_grad():
            for i in range(0, X.shape[0], 1000):
                out.append(self.network_(Tensor(X[i:i + 1000])).data)
        return xp.concatenate(out) if out else xp.zeros((0, self.classes_.shape[0]), np.float32)

    def _evaluate(self, X, y_idx):
        xp = _device.array_module(X)
        logits = self._logits(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - xp.log(xp.exp(logits).sum(axis=1, keepdims=True))
        loss = float(-logp[xp.arange(len(y_idx)), y_idx].mean())
        acc = float((logits.argmax(axis=1) == y_idx).mean())
        self.network_.train()
        return loss, acc

    def _check_fitted_input(self, X) -> np.ndarray:
        """``X`` for a fitted model: 2-D, finite, rows, ``n_features_in_`` columns, where the
        model lives."""
        X = check_input(self, X, "X", True, "network_", device_ok=True)
        check_same_device(self, X)
        return X

    def to(self, device: str) -> MLPClassifier:
        """Move the fitted network to ``device`` ("cpu", "cuda" or "cuda:N"); returns self."""
        check_is_fitted(self, "network_")
        self.network_.to(device)
        probe = next(iter(self.network_.parameters()), None)
        self.device_ = "cpu" if probe is None else _device.device_of(probe.data)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns ordered as ``classes_``."""
        X = self._check_fitted_input(X)
        xp = _device.array_module(X)
        logits = self._logits(X).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        p = xp.exp(logits)
        return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)

    def _labels(self, index):
        """``classes_[index]`` where ``index`` lives; string classes come back on the host."""
        if not _device.on_device(index):
            return self.classes_[index]
        if self.classes_.dtype.kind in "US":
            return self.classes_[_device.to_device(index, "cpu")]
        return _device.array_module(index).asarray(self.classes_)[index]

    def predict(self, X) -> np.ndarray:
        """Predicted class labels (from ``classes_``)."""
        logits = self._logits(self._check_fitted_input(X))
        return self._labels(logits.argmax(axis=1))

    def score(self, X, y) -> float:
        """Mean accuracy on ``(X, y)``: ``y`` must hold one label per row of ``X``, of the
        type of ``classes_`` (ValueError/TypeError otherwise, never a broadcast comparison)."""
        X = self._check_fitted_input(X)
        y = check_labels(y, X.shape[0])
        check_labels_like(y, self.classes_)
        pred = self.classes_[_device.to_device(self._logits(X).argmax(axis=1), "cpu")]
        return float(np.mean(pred == y))

