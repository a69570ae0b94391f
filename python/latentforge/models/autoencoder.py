"""Autoencoders (plain, tied, denoising, sparse, k-sparse, deep), greedy stacking, and a deep
classifier pretrained by stacked autoencoders or a DBN.

All three estimators follow scikit-learn conventions (``fit`` returns ``self``, learned
attributes end in ``_``, randomness from ``random_state``) and train on latentforge's autograd
(:mod:`latentforge.nn` layers, fused native GEMMs) with the optimizers of
:mod:`latentforge.optim`.

Architecture of :class:`Autoencoder`
------------------------------------
``hidden=256`` (an int) is one hidden layer: ``x -> act(W x + b) -> out(W' h + c)``.

``hidden=(1000, 500, 30)`` (a sequence) is a deep autoencoder with a mirrored decoder,
``784 -> 1000 -> 500 -> 30 -> 500 -> 1000 -> 784``. As in Hinton & Salakhutdinov (2006), the
*code layer* (the last encoder layer) of a deep model is **linear**; every other hidden layer
uses ``activation``. With ``tied=True`` every decoder layer is tied to its mirror image in the
encoder (``Linear(tied_to=...)``: the decoder uses the encoder weight transposed, one shared
Parameter, separate biases).

Output and loss: with ``loss="bce"`` the output units are sigmoids; training evaluates
``binary_cross_entropy_with_logits`` on the output pre-activation (stable for any logit) and
:meth:`Autoencoder.reconstruct` applies the sigmoid. With ``loss="mse"`` the output units are
linear by default (``output_activation="auto"``), or sigmoids with
``output_activation="sigmoid"`` (data in [0, 1]).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _device, losses, nn, optim
from .. import functional as F
from .._backend import check_random_state
from ..tensor import Tensor, no_grad
from ._base import (
    ParamsMixin,
    TransformMixin,
    check_array,
    check_input,
    check_is_fitted,
    check_same_device,
    check_X_y,
    fit_device,
    fit_stack,
    minibatch_step,
    minibatches,
    progress_bar,
    transform_stack,
)
from ._params import (
    InvalidParameterError,
    choice_param,
    dict_param,
    int_param,
    real_param,
    sizes_param,
)
from .mlp import _OPTIMIZERS, MLPClassifier
from .rbm import DBN, PretrainedMLPClassifier, rbm_layer_params

__all__ = ["Autoencoder", "StackedAutoencoder", "DNN"]

_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear", None)
_ACT_MODULES = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def _is_posint(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, np.integer)) and v >= 1


def _is_real(v) -> bool:
    return (not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))
            and bool(np.isfinite(v)))


# ---------------------------------------------------------------------- k-sparse layer


class KSparse(nn.Module):
    """Keep the ``k`` largest activations of each row, zero the rest (Makhzani & Frey 2013);
    the gradient flows only through the kept units. Active in training and evaluation."""

    def __init__(self, k: int):
        super().__init__()
        self.k = int(k)

    def forward(self, x: Tensor) -> Tensor:
        return F.ksparse(x, self.k)

    def extra_repr(self) -> str:
        return f"k={self.k}"


# ---------------------------------------------------------------------- Autoencoder


class Autoencoder(TransformMixin, ParamsMixin):
    """Autoencoder trained by minibatch backpropagation: plain, tied, denoising, sparse (KL),
    k-sparse, optionally deep with batch normalisation.

    Parameters
    ----------
    hidden : int or sequence of int
        An int: one hidden layer of that size (the code). A sequence: a deep encoder with
        those layer sizes (the last is the code) and a mirrored decoder; the code layer of a
        deep model is linear (Hinton & Salakhutdinov 2006).
    activation : {"sigmoid", "tanh", "relu", "linear", None}
        Hidden-unit nonlinearity (None and "linear" are the identity). For a one-layer model
        it is the code's activation; for a deep one, that of every hidden layer but the code.
    tied : bool
        Decoder weights are the transposed encoder weights (one shared Parameter per layer
        pair, listed once by ``parameters()``; its gradient is the sum of both uses). Works
        for deep models layer by layer. Biases are never tied.
    loss : {"bce", "mse"}
        "bce": binary cross-entropy, sigmoid outputs, data must lie in [0, 1]. "mse": mean
        squared error, linear outputs (see ``output_activation``).
    output_activation : {"auto", "sigmoid", "linear"}
        Output units. "auto": sigmoid for "bce", linear for "mse". "linear" is not allowed with
        "bce".
    corruption : None, ("mask", p) or ("gaussian", sigma)
        Denoising autoencoder (Vincent et al. 2008): each minibatch's *input* is corrupted
        afresh — "mask" zeroes each element with probability ``p`` in [0, 1), "gaussian" adds
        ``N(0, sigma^2)`` noise — and the network reconstructs the *clean* minibatch. The
        noise comes from ``random_state``. ``transform``/``reconstruct`` never corrupt.
    sparsity : None, ("kl", rho, beta) or ("topk", k)
        "kl": add ``beta * sum_j KL(rho || rho_hat_j)`` (``losses.kl_sparsity`` on the code
        activations of the minibatch) to the loss; needs sigmoid code units (a one-layer
        model with ``activation="sigmoid"``). Scale: the reconstruction loss is a mean per
        *element* while the penalty is a *sum* over code units, so useful ``beta`` values are
        small (about 0.01-0.1 for MNIST-sized inputs; the UFLDL tutorial's beta = 3 goes with
        a loss summed over the inputs, i.e. a beta of order 3 / n_features here).
        "topk": k-sparse autoencoder (Makhzani & Frey 2013): only the ``k`` largest code units
        of each row are kept, in training and in ``transform``/``reconstruct``; the gradient
        flows only through the kept units (``latentforge.functional.ksparse``).
    batchnorm : bool
        Insert ``nn.BatchNorm1d`` after every hidden ``Linear`` (encoder layers including the
        code, and decoder layers except the output), before the activation. Uses batch
        statistics while training and running averages afterwards.
    optimizer : str
        As :class:`MLPClassifier`: "sgd", "momentum", "nesterov", "adagrad", "rmsprop",
        "adam", "adadelta".
    learning_rate : float
    momentum : float or None
        As :class:`MLPClassifier`.
    weight_decay : float
        L2 penalty applied by the optimizer (to every parameter).
    batch_size : int
    n_epochs : int
    random_state : None, int or numpy Generator
        Seeds the weights, the minibatch order and the corruption noise; a fixed int gives a
        bit-identical run.
    verbose : int
        0: silent. 1: a tqdm bar per epoch on a terminal, otherwise one line per epoch.
    device : None, "cpu", "cuda" or "cuda:N"
        Where to train, as :class:`MLPClassifier`'s: None follows ``X``; data on the other side
        is moved once on this request; the fitted network lives on ``device_``, ``transform``,
        ``inverse_transform``, ``reconstruct`` and ``score`` take data there (CuPy in, CuPy
        out) and :meth:`to` moves it. The corruption noise is drawn on the host from
        ``random_state`` (the same noise on every device for a seed).

    Attributes
    ----------
    network_ : nn.Sequential
        ``Sequential(encoder_, decoder_)``; its output is the output *pre-activation* (logits)
        for "bce", the reconstruction for "mse".
    encoder_, decoder_ : nn.Sequential
    components_ : ndarray (n_hidden_1, n_features)
        The first encoder layer's weight (the live array).
    n_features_in_ : int
    n_components_ : int
        Size of the code.
    history_ : dict of lists
        "loss": per epoch, the mean training objective (reconstruction loss on the corrupted
        input plus the sparsity penalty); "step_loss": every minibatch's objective.
    """

    _estimator_kind = "transformer"

    def __init__(
        self,
        hidden: int | Sequence[int] = 256,
        activation: str | None = "sigmoid",
        tied: bool = True,
        loss: str = "bce",
        output_activation: str = "auto",
        corruption: tuple[str, float] | None = None,
        sparsity: tuple | None = None,
        batchnorm: bool = False,
        optimizer: str = "adam",
        learning_rate: float = 1e-3,
        momentum: float | None = None,
        weight_decay: float = 0.0,
        batch_size: int = 100,
        n_epochs: int = 10,
        random_state: None | int | np.random.Generator = None,
        verbose: int = 0,
        device: str | None = None,
    ):
        self.hidden = hidden
        self.activation = activation
        self.tied = tied
        self.loss = loss
        self.output_activation = output_activation
        self.corruption = corruption
        self.sparsity = sparsity
        self.batchnorm = batchnorm
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ sklearn plumbing


    def __repr__(self) -> str:
        return (f"{type(self).__name__}(hidden={self.hidden!r}, activation={self.activation!r}, "
                f"loss={self.loss!r})")

    # ------------------------------------------------------------------ validation

    def _sizes(self) -> tuple[int, ...]:
        return sizes_param(self.hidden, "hidden")

    @property
    def _deep(self) -> bool:
        return not _is_posint(self.hidden)

    def _hidden_act(self) -> str | None:
        return None if self.activation in (None, "linear") else self.activation

    def _code_act(self) -> str | None:
        return None if self._deep else self._hidden_act()

    def _out_act(self) -> str | None:
        """Activation fused into the output Linear (None: logits for bce, linear for mse)."""
        if self.loss == "bce":
            return None
        return "sigmoid" if self.output_activation == "sigmoid" else None

    def _validate_params(self) -> None:
        sizes = self._sizes()
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of 'sigmoid', 'tanh', 'relu', 'linear' or "
                             f"None, got {self.activation!r}")
        for name in ("tied", "batchnorm"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InvalidParameterError(f"{name} must be a bool, got "
                                            f"{getattr(self, name)!r}")
        if self.loss not in ("bce", "mse"):
            raise ValueError(f"loss must be 'bce' or 'mse', got {self.loss!r}")
        if self.output_activation not in ("auto", "sigmoid", "linear"):
            raise ValueError(f"output_activation must be 'auto', 'sigmoid' or 'linear', got "
                             f"{self.output_activation!r}")
        if self.loss == "bce" and self.output_activation == "linear":
            raise ValueError("loss='bce' needs sigmoid outputs; output_activation='linear' "
                             "goes with loss='mse'")
        c = self.corruption
        if c is not None:
            if (not isinstance(c, (tuple, list)) or len(c) != 2
                    or c[0] not in ("mask", "gaussian") or not _is_real(c[1])):
                raise ValueError(f"corruption must be None, ('mask', p) or ('gaussian', sigma), "
                                 f"got {c!r}")
            if c[0] == "mask" and not 0.0 <= float(c[1]) < 1.0:
                raise ValueError(f"mask corruption probability must be in [0, 1), got {c[1]!r}")
            if c[0] == "gaussian" and float(c[1]) < 0:
                raise ValueError(f"gaussian corruption sigma must be >= 0, got {c[1]!r}")
        s = self.sparsity
        if s is not None:
            kind = s[0] if isinstance(s, (tuple, list)) and s else None
            if kind == "kl":
                if len(s) != 3 or not _is_real(s[1]) or not _is_real(s[2]):
                    raise ValueError(f"KL sparsity must be ('kl', rho, beta), got {s!r}")
                if not 0.0 < float(s[1]) < 1.0:
                    raise ValueError(f"sparsity target rho must be in (0, 1), got {s[1]!r}")
                if float(s[2]) < 0:
                    raise ValueError(f"sparsity weight beta must be >= 0, got {s[2]!r}")
                if self._code_act() != "sigmoid":
                    raise ValueError(
                        "KL sparsity needs sigmoid code units: a one-layer model (int hidden) "
                        "with activation='sigmoid' (the code of a deep model is linear)"
                    )
            elif kind == "topk":
                if len(s) != 2 or not _is_posint(s[1]):
                    raise ValueError(f"top-k sparsity must be ('topk', k) with k a positive "
                                     f"int, got {s!r}")
                if s[1] > sizes[-1]:
                    raise ValueError(f"top-k sparsity k={s[1]} exceeds the code size "
                                     f"{sizes[-1]}")
            else:
                raise ValueError(f"sparsity must be None, ('kl', rho, beta) or ('topk', k), "
                                 f"got {s!r}")
        choice_param(self.optimizer, "optimizer", sorted(_OPTIMIZERS))
        real_param(self.learning_rate, "learning_rate", low=0, low_open=True)
        real_param(self.weight_decay, "weight_decay", low=0)
        if self.momentum is not None:
            real_param(self.momentum, "momentum", low=0, high=1, high_open=True)
        int_param(self.batch_size, "batch_size")
        int_param(self.n_epochs, "n_epochs")

    def _check_X(self, X, name: str = "X", fitted: bool = True) -> np.ndarray:
        X = check_input(self, X, name, fitted, "network_", device_ok=True)
        if fitted:
            check_same_device(self, X, name)
        lo, hi = float(X.min()), float(X.max())
        if self.loss == "bce" and (lo < 0 or hi > 1):
            raise ValueError(f"{name} must lie in [0, 1] for loss='bce' (got values in "
                             f"[{X.min()}, {X.max()}]); scale it, or use loss='mse'")
        return _device.array_module(X).ascontiguousarray(X)

    # ------------------------------------------------------------------ building

    def _block(self, n_in: int, n_out: int, act: str | None, rng, tied_to=None) -> list:
        """Linear (+ BatchNorm1d + activation module, or activation fused into the GEMM)."""
        if self.batchnorm:
            lin = nn.Linear(n_in, n_out, tied_to=tied_to, random_state=rng)
            mods: list = [lin, nn.BatchNorm1d(n_out)]
            if act is not None:
                mods.append(_ACT_MODULES[act]())
            return mods
        return [nn.Linear(n_in, n_out, activation=act, tied_to=tied_to, random_state=rng)]

    def _build(self, n_features: int, rng: np.random.Generator) -> nn.Sequential:
        sizes = self._sizes()
        act, code_act = self._hidden_act(), self._code_act()
        enc_mods: list = []
        enc_linears: list[nn.Linear] = []
        prev = n_features
        for i, h in enumerate(sizes):
            mods = self._block(prev, h, code_act if i == len(sizes) - 1 else act, rng)
            enc_linears.append(mods[0])
            enc_mods += mods
            prev = h
        if self.sparsity is not None and self.sparsity[0] == "topk":
            enc_mods.append(KSparse(int(self.sparsity[1])))
        dec_mods: list = []
        outs = list(reversed((n_features,) + sizes[:-1]))  # decoder layer output sizes
        for j, n_out in enumerate(outs):
            mirror = enc_linears[len(sizes) - 1 - j]
            tied_to = mirror if self.tied else None
            if j == len(outs) - 1:  # output layer: never batch-normalised
                dec_mods.append(nn.Linear(prev, n_out, activation=self._out_act(),
                                          tied_to=tied_to, random_state=rng))
            else:
                dec_mods += self._block(prev, n_out, act, rng, tied_to=tied_to)
            prev = n_out
        return nn.Sequential(nn.Sequential(*enc_mods), nn.Sequential(*dec_mods))

    def _initialize(self, n_features: int) -> np.random.Generator:
        """Validate the parameters, build a fresh network; returns the run's Generator."""
        self._validate_params()
        rng = check_random_state(self.random_state)
        self.n_features_in_ = int(n_features)
        self.network_ = self._build(int(n_features), rng)
        self.n_components_ = self._sizes()[-1]
        return rng

    def _network(self) -> nn.Sequential:
        check_is_fitted(self, "network_")
        return self.network_

    @property
    def encoder_(self) -> nn.Sequential:
        return self._network()[0]

    @property
    def decoder_(self) -> nn.Sequential:
        return self._network()[1]

    @property
    def components_(self) -> np.ndarray:
        return self.encoder_[0].weight.data

    def _make_optimizer(self, params):
        name = self.optimizer
        common = dict(weight_decay=float(self.weight_decay))
        lr = float(self.learning_rate)
        if name in ("sgd", "momentum", "nesterov"):
            mom = self.momentum if self.momentum is not None else (0.0 if name == "sgd" else 0.9)
            return optim.SGD(params, lr=lr, momentum=mom, nesterov=name == "nesterov", **common)
        if name == "rmsprop" and self.momentum is not None:
            return optim.RMSProp(params, lr=lr, momentum=self.momentum, **common)
        return _OPTIMIZERS[name](params, lr=lr, **common)

    # ------------------------------------------------------------------ training

    def _corrupt(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.corruption
        if c is None:
            return X
        kind, amount = c[0], float(c[1])
        xp = _device.array_module(X)  # the noise is drawn on the host (see ``device``)
        if kind == "mask":
            if amount == 0.0:
                return X
            return X * xp.asarray(rng.random(X.shape, dtype=np.float32) >= amount)
        if amount == 0.0:
            return X
        return X + xp.asarray(np.float32(amount) * rng.standard_normal(X.shape, dtype=np.float32))

    def _loss(self, X_in: np.ndarray, X_target: np.ndarray) -> Tensor:
        """Training objective of one minibatch: reconstruction loss of ``X_target`` from
        ``X_in`` (mean per element) plus the KL sparsity penalty."""
        code = self.encoder_(Tensor(X_in))
        out = self.decoder_(code)
        if self.loss == "bce":
            loss = losses.binary_cross_entropy_with_logits(out, X_target)
        else:
            loss = losses.mse(out, X_target)
        s = self.sparsity
        if s is not None and s[0] == "kl":
            loss = loss + losses.kl_sparsity(code, float(s[1]), float(s[2]))
        return loss

    def fit(self, X, y=None) -> Autoencoder:
        """Train on ``X`` (n_samples, n_features) for ``n_epochs`` epochs; ``y`` is ignored.
        Re-initialises the model."""
        self._validate_params()
        kind, index = fit_device(self, X)
        X = _device.to_device(self._check_X(X, fitted=False), kind, index, "X")
        xp = _device.array_module(X)
        if self.batchnorm and (X.shape[0] < 2 or self.batch_size < 2):
            raise ValueError(f"batchnorm=True needs minibatches of 2 rows or more (a variance): "
                             f"got batch_size={self.batch_size} and {X.shape[0]} sample(s)")
        rng = self._initialize(X.shape[1])
        self.device_ = _device.device_of(X)
        if self.device_ != "cpu":
            self.network_.to(self.device_)
        opt = self._make_optimizer(self.network_.parameters())
        self.history_: dict[str, list[float]] = {"loss": [], "step_loss": []}
        n = X.shape[0]
        batches = minibatches(n, int(self.batch_size), 2 if self.batchnorm else 1)
        n_batches = len(batches)
        self.network_.train()
        for epoch in range(int(self.n_epochs)):
            perm = xp.asarray(rng.permutation(n))
            total, t0 = 0.0, time.perf_counter()
            bar = progress_bar(self.verbose, n_batches, f"epoch {epoch + 1}/{self.n_epochs}")
            for b, rows in enumerate(batches):
                idx = perm[rows]
                clean = X[idx]
                value = minibatch_step(
                    lambda clean=clean: self._loss(self._corrupt(clean, rng), clean), opt, epoch,
                    b
                )
                self.history_["step_loss"].append(value)
                total += value * len(idx)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            if bar is not None:
                bar.close()
            self.history_["loss"].append(total / n)
            if self.verbose and bar is None:
                print(f"{type(self).__name__} epoch {epoch + 1}/{self.n_epochs}: loss "
                      f"{self.history_['loss'][-1]:.5f} ({time.perf_counter() - t0:.1f} s)",
                      file=sys.stderr, flush=True)
        self.network_.eval()
        return self

    # ------------------------------------------------------------------ inference

    def _run(self, module: nn.Module, A: np.ndarray, width: int) -> np.ndarray:
        self.network_.eval()
        xp = _device.array_module(A)
        out = []
        with no_grad():
            for i in range(0, A.shape[0], 1000):
                out.append(module(Tensor(A[i:i + 1000])).data)
        return xp.concatenate(out) if out else xp.zeros((0, width), np.float32)

    def to(self, device: str) -> Autoencoder:
        """Move the fitted network to ``device`` ("cpu", "cuda" or "cuda:N"); returns self."""
        self._network().to(device)
        self.device_ = _device.device_of(self.components_)
        return self

    def _output(self, Z: np.ndarray) -> np.ndarray:
        """Decoder output: logits for "bce", reconstruction for "mse"."""
        return self._run(self.decoder_, Z, self.n_features_in_)

    def transform(self, X) -> np.ndarray:
        """The code: activations of the top encoder layer (k-sparse with ``("topk", k)``),
        shape (n_samples, n_components_)."""
        X = self._check_X(X)
        return self._run(self.encoder_, X, self.n_components_)

    def inverse_transform(self, Z) -> np.ndarray:
        """Decode codes ``Z`` (n_samples, n_components_) to the input space (sigmoid outputs
        for ``loss="bce"``)."""
        check_is_fitted(self, "network_")
        Z = check_array(Z, "Z", integer=True, model=self, n_features=self.n_components_,
                        device_ok=True)
        check_same_device(self, Z, "Z")
        xp = _device.array_module(Z)
        out = self._output(xp.ascontiguousarray(Z))
        if self.loss == "bce":
            out = F._sigmoid(out)
        return out

    def reconstruct(self, X) -> np.ndarray:
        """``inverse_transform(transform(X))``: the (uncorrupted) input passed through the
        network."""
        return self.inverse_transform(self.transform(X))

    def score(self, X, y=None) -> float:
        """Mean reconstruction error of ``X`` per element under the configured loss (binary
        cross-entropy for "bce", squared error for "mse"), without corruption or sparsity
        penalty. **Lower is better** (unlike scikit-learn's greater-is-better convention)."""
        X = self._check_X(X)
        out = self._output(self._run(self.encoder_, X, self.n_components_)).astype(np.float64)
        t = X.astype(np.float64)
        xp = _device.array_module(X)
        if self.loss == "bce":
            err = xp.maximum(out, 0) - out * t + xp.log1p(xp.exp(-xp.abs(out)))
        else:
            err = (out - t) ** 2
        return float(err.mean())


# ---------------------------------------------------------------------- stacking


class StackedAutoencoder(TransformMixin, ParamsMixin):
    """Greedy layer-wise stack of one-layer :class:`Autoencoder` s (Bengio et al. 2007;
    Vincent et al. 2010 with corruption).

    The first autoencoder is trained on ``X``, the second on the first one's codes, and so
    on; each keeps its encoder.

    Parameters
    ----------
    hidden : sequence of int
        Code size of each layer, bottom to top.
    random_state : None, int or numpy Generator
        Each layer's autoencoder gets an int seed drawn from it.
    verbose : int
    **autoencoder_kwargs
        Parameters of :class:`Autoencoder` shared by every layer (``activation``, ``tied``,
        ``loss``, ``corruption``, ``sparsity``, ``n_epochs``, ``learning_rate``...). ``hidden``
        and ``random_state`` are set per layer. Layers above the first see codes, not data:
        when those codes are not guaranteed to lie in [0, 1] (``activation`` other than
        "sigmoid"), those layers use ``loss="mse"``.

    Attributes
    ----------
    autoencoders_ : list of Autoencoder
    n_features_in_ : int
    """

    def __init__(self, hidden: Sequence[int] = (1000, 750, 500),
                 random_state: None | int | np.random.Generator = None, verbose: int = 0,
                 **autoencoder_kwargs):
        self.hidden = hidden
        self.random_state = random_state
        self.verbose = verbose
        # Private, so that scikit-learn sees only parameters among the public attributes.
        self._autoencoder_params = dict(autoencoder_kwargs)

    _estimator_kind = "transformer"

    @property
    def autoencoder_params(self) -> dict[str, Any]:
        """The :class:`Autoencoder` parameters given as keyword arguments (a live dict)."""
        return self._autoencoder_params

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"hidden": self.hidden, "random_state": self.random_state,
                "verbose": self.verbose, **self._autoencoder_params}

    def set_params(self, **params) -> StackedAutoencoder:
        ae_names = set(Autoencoder().get_params()) - {"hidden", "random_state", "verbose"}
        for k, v in params.items():
            if k in ("hidden", "random_state", "verbose"):
                setattr(self, k, v)
            elif k in ae_names:
                self._autoencoder_params[k] = v
            else:
                raise ValueError(f"invalid parameter {k!r} for StackedAutoencoder")
        return self


    def _layer_params(self) -> list[dict[str, Any]]:
        hidden = sizes_param(self.hidden, "hidden")
        kw = dict(self._autoencoder_params)
        bad = {"hidden", "random_state"} & set(kw)
        if bad:
            raise ValueError(f"do not pass {sorted(bad)} to StackedAutoencoder's autoencoder "
                             "parameters (the stack sets them)")
        valid = set(Autoencoder().get_params())
        unknown = set(kw) - valid
        if unknown:
            raise ValueError(f"unknown Autoencoder parameters {sorted(unknown)}")
        kw.setdefault("verbose", self.verbose)
        per = []
        for i, h in enumerate(hidden):
            q = dict(kw, hidden=int(h))
            if i > 0 and kw.get("activation", "sigmoid") != "sigmoid":
                q["loss"] = "mse"
                q.pop("output_activation", None)
            per.append(q)
        return per

    def fit(self, X, y=None) -> StackedAutoencoder:
        """Greedy layer-wise training; ``y`` is ignored."""
        per = self._layer_params()
        rng = check_random_state(self.random_state)
        self.autoencoders_: list[Autoencoder] = fit_stack(
            X, per, lambda seed, q: Autoencoder(random_state=seed, **q), rng, self.verbose,
            "StackedAutoencoder", lambda ae: f"Autoencoder({ae.hidden})")
        self.n_features_in_ = self.autoencoders_[0].n_features_in_
        return self

    def transform(self, X) -> np.ndarray:
        """Top-layer codes (each layer's code feeds the next)."""
        check_is_fitted(self, "autoencoders_")
        return transform_stack(self.autoencoders_, X)

    def encoder_weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(weight (out, in), bias (out,))`` of each layer's encoder (copies), bottom up."""
        check_is_fitted(self, "autoencoders_")
        out = []
        for ae in self.autoencoders_:
            lin = ae.encoder_[0]
            out.append((lin.weight.data.copy(), lin.bias.data.copy()))
        return out


# ---------------------------------------------------------------------- DNN


class DNN(ParamsMixin):
    """Deep feed-forward classifier (sigmoid hidden layers, softmax output), optionally
    pretrained greedily before supervised fine-tuning of the whole stack.

    Parameters
    ----------
    hidden : sequence of int
    pretrain : {"ae", "rbm", None}
        "ae": a :class:`StackedAutoencoder` (sigmoid units) initialises the hidden layers with
        its encoder weights and biases. "rbm": a :class:`~latentforge.models.DBN` does, with
        its RBMs' weights and hidden biases. None: random initialisation (a plain
        :class:`MLPClassifier`).
    pretrain_params : dict, optional
        "ae": :class:`Autoencoder` parameters for every layer (``n_epochs``, ``corruption``,
        ``learning_rate``...; ``activation`` is fixed to "sigmoid" and ``batchnorm`` is not
        allowed, so that the weights mean the same thing in the classifier). "rbm": the DBN's
        ``rbm_params`` (a dict, or one per layer).
    random_state : None, int or numpy Generator
        Seeds the pretraining and the classifier.
    verbose : int
    **mlp_kwargs
        :class:`MLPClassifier` parameters for fine-tuning (``optimizer``, ``learning_rate``,
        ``max_epochs``, ``validation_fraction``, ``dropout``...) except ``hidden`` and
        ``activation`` ("sigmoid"). ``device`` places the whole run: ``X`` is moved there once
        (None: where ``X`` lives), and the pretraining and the fine-tuning follow it.

    Attributes
    ----------
    pretrainer_ : StackedAutoencoder, DBN or None
    classifier_ : MLPClassifier (a ``PretrainedMLPClassifier`` when pretrained)
    classes_, n_features_in_, network_, history_ : from ``classifier_``
    """

    def __init__(self, hidden: Sequence[int] = (1000, 750, 500), pretrain: str | None = "ae",
                 pretrain_params: dict[str, Any] | None = None,
                 random_state: None | int | np.random.Generator = None, verbose: int = 0,
                 **mlp_kwargs):
        self.hidden = hidden
        self.pretrain = pretrain
        self.pretrain_params = pretrain_params
        self.random_state = random_state
        self.verbose = verbose
        # Private, so that scikit-learn sees only parameters among the public attributes.
        self._mlp_params = dict(mlp_kwargs)

    _estimator_kind = "classifier"

    @property
    def mlp_params(self) -> dict[str, Any]:
        """The :class:`MLPClassifier` parameters given as keyword arguments (a live dict)."""
        return self._mlp_params

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"hidden": self.hidden, "pretrain": self.pretrain,
                "pretrain_params": self.pretrain_params, "random_state": self.random_state,
                "verbose": self.verbose, **self._mlp_params}

    def set_params(self, **params) -> DNN:
        own = ("hidden", "pretrain", "pretrain_params", "random_state", "verbose")
        mlp_names = set(MLPClassifier().get_params()) - set(own) - {"activation"}
        for k, v in params.items():
            if k in own:
                setattr(self, k, v)
            elif k in mlp_names:
                self._mlp_params[k] = v
            else:
                raise ValueError(f"invalid parameter {k!r} for DNN")
        return self


    def _check(self) -> tuple[int, ...]:
        if self.pretrain not in ("ae", "rbm", None):
            raise ValueError(f"pretrain must be 'ae', 'rbm' or None, got {self.pretrain!r}")
        hidden = sizes_param(self.hidden, "hidden")
        bad = {"hidden", "activation", "random_state", "verbose"} & set(self._mlp_params)
        if bad:
            raise ValueError(f"DNN sets {sorted(bad)} itself; do not pass them as MLP parameters")
        unknown = set(self._mlp_params) - set(MLPClassifier().get_params())
        if unknown:
            raise ValueError(f"unknown MLPClassifier parameters {sorted(unknown)}")
        if self.pretrain_params is not None and self.pretrain is None:
            raise ValueError("pretrain_params given but pretrain is None")
        if self.pretrain == "rbm":
            rbm_layer_params(self.pretrain_params, hidden, "pretrain_params", self.verbose)
        if self.pretrain == "ae" and self.pretrain_params is not None:
            p = dict_param(self.pretrain_params, "pretrain_params",
                           allowed=Autoencoder().get_params(), forbidden=("hidden", "random_state"))
            if p.get("activation", "sigmoid") != "sigmoid":
                raise ValueError("DNN fine-tunes sigmoid layers: pretrain_params['activation'] "
                                 "must be 'sigmoid'")
            if p.get("batchnorm", False):
                raise ValueError("batchnorm is not supported for DNN pretraining (the "
                                 "classifier has no batch normalisation)")
        return hidden

    def fit(self, X, y) -> DNN:
        """Pretrain on ``X`` (unsupervised), then fine-tune on ``(X, y)``."""
        hidden = self._check()
        # Bad X or y fail here, before the (long) pretraining, not after it.
        kind, index = _device.use_device(self._mlp_params.get("device"), "device")
        if kind == "auto":
            kind = "cuda" if _device.on_device(X) else "cpu"
        X, y = check_X_y(X, y, integer=True, min_samples=2, device_ok=True)
        # Moved once, on request: the pretraining and the fine-tuning then follow X.
        X = _device.to_device(X, kind, index, "X")
        rng = check_random_state(self.random_state)
        pre_seed, clf_seed = (int(s) for s in rng.integers(0, 2**31, size=2))
        common = dict(self._mlp_params, hidden=hidden, activation="sigmoid",
                      random_state=clf_seed, verbose=self.verbose)
        if self.pretrain is None:
            self.pretrainer_ = None
            clf: MLPClassifier = MLPClassifier(**common)
        else:
            if self.pretrain == "ae":
                p = dict(self.pretrain_params or {})
                p["activation"] = "sigmoid"
                pre = StackedAutoencoder(hidden=hidden, random_state=pre_seed,
                                         verbose=self.verbose, **p).fit(X)
                weights = pre.encoder_weights()
            else:
                pre = DBN(hidden=hidden, rbm_params=self.pretrain_params, random_state=pre_seed,
                          verbose=self.verbose).fit(X)
                weights = [(r.components_.copy(), r.intercept_hidden_.copy()) for r in pre.rbms_]
            self.pretrainer_ = pre
            clf = PretrainedMLPClassifier(**common)
            clf.pretrained_ = weights
        self.classifier_ = clf.fit(X, y)
        return self

    def _fitted(self) -> MLPClassifier:
        check_is_fitted(self, "classifier_")
        return self.classifier_

    @property
    def classes_(self) -> np.ndarray:
        return self._fitted().classes_

    @property
    def n_features_in_(self) -> int:
        return self._fitted().n_features_in_

    @property
    def network_(self) -> nn.Sequential:
        return self._fitted().network_

    @property
    def history_(self) -> dict[str, list[float]]:
        return self._fitted().history_

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_``."""
        return self._fitted().predict_proba(X)

    def predict(self, X) -> np.ndarray:
        return self._fitted().predict(X)

    def score(self, X, y) -> float:
        """Mean accuracy on ``(X, y)``."""
        return self._fitted().score(X, y)
