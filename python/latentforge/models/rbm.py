"""Restricted Boltzmann machines (CD-k and persistent CD) and deep belief networks.

The energy of a binary RBM with weights ``W`` (n_hidden, n_visible), visible bias ``b_v`` and
hidden bias ``b_h`` is ``E(v, h) = -v.b_v - h.b_h - h.W.v``; its free energy is
``F(v) = -v.b_v - sum_j softplus(W_j.v + b_h,j)``.

Compute runs on latentforge's native kernels: the GEMMs (``lf.ops.linear``/``lf.ops.gemm``;
the weight gradient is accumulated in place into a velocity buffer by two GEMMs with
``trans_a=True`` and ``alpha``/``beta``, no temporaries), and the fused sigmoid + Bernoulli
sampling kernel (``_C.sigmoid_bernoulli``) driven by a counter-based Philox generator.

Randomness
----------
One 63-bit seed is drawn from ``random_state`` when the model is initialised (first
``fit``/``partial_fit``). Every native sampling call then uses ``(seed, stream, offset)``:
a fixed *stream* id per purpose (positive-phase hidden samples, chain hidden samples, chain
visible samples, :meth:`RBM.gibbs`, ...) and an *offset* that is a running counter of the
draws already taken from that stream. A run is therefore bit-reproducible for a fixed
``random_state`` and independent of the number of threads. Minibatch order (``fit`` only)
and the weight initialisation come from a numpy Generator seeded from the same draw.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import _C, _device, _dkernels, nn, ops
from .._backend import check_random_state
from ._base import (
    ParamsMixin,
    TransformMixin,
    UnavailableMethodError,
    check_array,
    check_input,
    check_is_fitted,
    check_same_device,
    fit_device,
    fit_stack,
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
from .mlp import MLPClassifier

__all__ = ["RBM", "DBN", "PretrainedMLPClassifier"]

# Philox stream ids, one per purpose (never reused for another purpose).
_STREAM_POS_H = 1       # hidden samples of the positive phase (from the data)
_STREAM_CHAIN_H = 2     # hidden samples inside the negative-phase Gibbs chain
_STREAM_CHAIN_V = 3     # visible samples of the persistent (PCD) chain / Gaussian noise
_STREAM_GIBBS_H = 4     # RBM.gibbs(): hidden samples
_STREAM_GIBBS_V = 5     # RBM.gibbs(): visible samples
_STREAM_SCORE = 6       # score_samples(): which bit to flip (always from offset 0)
_STREAM_GAUSS_2 = 7     # second uniform of the Box-Muller pairs (Gaussian visible units)


_DIVERGED = ("RBM training diverged (non-finite weights or reconstruction); lower "
             "learning_rate or weight_decay")


def _sigmoid_np(x: np.ndarray) -> np.ndarray:
    return np.float32(0.5) * (np.tanh(np.float32(0.5) * x) + np.float32(1.0))


class RBM(TransformMixin, ParamsMixin):
    """Restricted Boltzmann machine trained by contrastive divergence (CD-k) or persistent
    contrastive divergence (PCD), with scikit-learn conventions.

    Parameters
    ----------
    n_hidden : int
        Number of binary hidden units.
    learning_rate : float
        Step size; the gradient of a minibatch is averaged over its rows (as in scikit-learn's
        ``BernoulliRBM``).
    n_iter : int
        Epochs of :meth:`fit`.
    batch_size : int
        Minibatch size; with ``persistent=True`` also the number of fantasy chains.
    k : int
        Gibbs steps of the negative phase.
    persistent : bool
        False: CD-k, every negative chain starts at the minibatch. True: PCD (Tieleman 2008),
        ``batch_size`` fantasy chains carried across updates (attribute ``chains_``).
    momentum : float in [0, 1)
        Momentum of the velocity buffers (0: plain SGD).
    weight_decay : float
        L2 penalty on ``components_`` (not on the biases).
    visible : {"bernoulli", "gaussian"}
        "bernoulli": binary visible units, data must lie in [0, 1] (grey levels are used as
        probabilities). "gaussian": unit-variance Gaussian visible units,
        ``p(v|h) = N(W^T h + b_v, I)``; standardise the data first. The pseudo-likelihood
        (:meth:`score_samples`) is only defined for Bernoulli units.
    random_state : None, int or numpy Generator
    verbose : int
        Non-zero: one line per epoch on stderr.
    device : None, "cpu", "cuda" or "cuda:N"
        Where to train, as :class:`MLPClassifier`'s: None follows ``X``; data on the other side
        is moved once on this request. The weights are drawn on the host and moved; the Gibbs
        samples come from the CUDA twin of the fused sampler with the same Philox streams. The
        fitted model lives on ``device_`` (its arrays are CuPy arrays there), its methods take
        data there (CuPy in, CuPy out) and :meth:`to` moves it.

    Attributes
    ----------
    components_ : ndarray (n_hidden, n_visible), float32
    intercept_hidden_ : ndarray (n_hidden,)
    intercept_visible_ : ndarray (n_visible,)
    n_features_in_ : int
    history_ : dict
        ``"reconstruction_error"``: per epoch, the mean squared error per element between
        each minibatch and its reconstruction in the training step (visible probabilities
        after one up-down pass with sampled hidden states), averaged over the epoch.
    chains_ : ndarray (batch_size, n_visible), only with ``persistent=True``
        The visible states of the fantasy chains (the last negative sample).

    Notes
    -----
    Negative phase (CD-k, standard practice after Hinton's practical guide): sample ``h0``
    from ``p(h|v0)``; then ``k`` times: compute the visible *probabilities* (CD) from the
    sampled hidden states, and the hidden probabilities from them (sampling the hidden
    states again when another step follows). The statistics use the positive hidden
    probabilities and the final visible/hidden probabilities, which lowers the variance
    of the update without changing its expectation much. With ``persistent=True`` the
    visible states of the chain are *sampled* (a true Markov chain is needed for the
    fantasy particles to approach the model distribution), and the negative statistics use
    those samples and their hidden probabilities. Update::

        dW = momentum * dW + lr * (h0p^T v0 / B - hkp^T vk / C - weight_decay * W)
        W += dW

    with ``B`` the minibatch size and ``C`` the number of negative chains (``B`` for CD).
    """

    _estimator_kind = "transformer"

    def __init__(
        self,
        n_hidden: int = 256,
        learning_rate: float = 0.1,
        n_iter: int = 10,
        batch_size: int = 100,
        k: int = 1,
        persistent: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        visible: str = "bernoulli",
        random_state: None | int | np.random.Generator = None,
        verbose: int = 0,
        device: str | None = None,
    ):
        self.n_hidden = n_hidden
        self.learning_rate = learning_rate
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.k = k
        self.persistent = persistent
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.visible = visible
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ sklearn plumbing


    def __repr__(self) -> str:
        return f"RBM(n_hidden={self.n_hidden}, k={self.k}, persistent={self.persistent})"

    def _validate_params(self) -> None:
        for name in ("n_hidden", "n_iter", "batch_size", "k"):
            int_param(getattr(self, name), name)
        real_param(self.learning_rate, "learning_rate", low=0, low_open=True)
        real_param(self.weight_decay, "weight_decay", low=0)
        real_param(self.momentum, "momentum", low=0, high=1, high_open=True)
        choice_param(self.visible, "visible", ("bernoulli", "gaussian"))

    def _check_X(self, X, name: str = "X", fitted: bool = True) -> np.ndarray:
        X = check_input(self, X, name, fitted, "components_", device_ok=True)
        if fitted:
            check_same_device(self, X, name)
        if self.visible == "bernoulli" and X.size and (float(X.min()) < 0 or float(X.max()) > 1):
            raise ValueError(
                f"{name} must lie in [0, 1] for Bernoulli visible units (got values in "
                f"[{X.min()}, {X.max()}]); scale it, or use visible='gaussian'"
            )
        return _device.array_module(X).ascontiguousarray(X)

    # ------------------------------------------------------------------ randomness

    def _draw(self, stream: int, n: int) -> int:
        """Reserve ``n`` draws of ``stream``; returns the offset to use."""
        off = self._offsets.get(stream, 0)
        self._offsets[stream] = off + int(n)
        return off

    def _sample_sigmoid(self, Z: np.ndarray, stream: int):
        """(sigmoid(Z), Bernoulli samples) from the fused native kernel (the CUDA one for a
        device array: the same Philox draws, so the same samples)."""
        if _device.on_device(Z):
            return _dkernels.sigmoid_bernoulli(Z, self._seed, stream, self._draw(stream, Z.size))
        Z = np.ascontiguousarray(Z, dtype=np.float32)
        return _C.sigmoid_bernoulli(Z, self._seed, stream, self._draw(stream, Z.size))

    def _uniform(self, shape, stream: int, offset: int, like):
        """Philox uniforms of ``stream`` from ``offset``, where ``like`` lives."""
        return _dkernels.uniform(like, tuple(shape), self._seed, stream, offset)

    def _gauss(self, like, stream: int) -> np.ndarray:
        """Standard normal noise of ``like``'s shape, where it lives, by Box-Muller from two
        native uniform streams."""
        shape, n = like.shape, like.size
        xp = _device.array_module(like)
        u1 = self._uniform(shape, stream, self._draw(stream, n), like)
        u2 = self._uniform(shape, _STREAM_GAUSS_2, self._draw(_STREAM_GAUSS_2, n), like)
        u1 = xp.maximum(u1.astype(np.float64), 1e-12)
        return (xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(2.0 * np.pi * u2)).astype(np.float32)

    # ------------------------------------------------------------------ conditionals

    def _hidden_logits(self, V: np.ndarray) -> np.ndarray:
        return ops.linear(V, self.components_, self.intercept_hidden_, None, trans_w=True)

    def _hidden_probs(self, V: np.ndarray) -> np.ndarray:
        """p(h = 1 | v), shape (n, n_hidden): one fused GEMM + bias + sigmoid."""
        return ops.linear(V, self.components_, self.intercept_hidden_, "sigmoid", trans_w=True)

    def _visible_mean(self, H: np.ndarray) -> np.ndarray:
        """E[v | h]: sigmoid(h W + b_v) (Bernoulli) or h W + b_v (Gaussian)."""
        act = "sigmoid" if self.visible == "bernoulli" else None
        return ops.linear(H, self.components_, self.intercept_visible_, act)

    def _visible_sample(self, H: np.ndarray, stream: int):
        """(mean, sample) of p(v | h)."""
        if self.visible == "bernoulli":
            return self._sample_sigmoid(
                ops.linear(H, self.components_, self.intercept_visible_, None), stream)
        mean = self._visible_mean(H)
        return mean, mean + self._gauss(mean, stream)

    # ------------------------------------------------------------------ training

    def _initialize(self, n_visible: int, device: str = "cpu") -> None:
        """A fresh model (drawn on the host from ``random_state``) on ``device``."""
        self._validate_params()
        rng = check_random_state(self.random_state)
        self._seed = int(rng.integers(0, 2**63))
        self._rng = np.random.default_rng(self._seed)
        self._offsets: dict[int, int] = {}
        self.n_features_in_ = int(n_visible)
        H = int(self.n_hidden)
        W = (0.01 * self._rng.standard_normal((H, n_visible))).astype(np.float32)
        self.device_ = device
        kind, index = _device.parse_device(device)
        self.components_ = _device.to_device(W, kind, index, "components_")
        xp = _device.array_module(self.components_)
        self.intercept_hidden_ = xp.zeros(H, np.float32)
        self.intercept_visible_ = xp.zeros(n_visible, np.float32)
        self._vel_W = xp.zeros_like(self.components_)
        self._vel_bh = xp.zeros_like(self.intercept_hidden_)
        self._vel_bv = xp.zeros_like(self.intercept_visible_)
        self._scratch_W = None
        self.history_: dict[str, list[float]] = {"reconstruction_error": []}
        if hasattr(self, "chains_"):
            del self.chains_

    def _update(self, v0: np.ndarray) -> float:
        """One CD-k / PCD parameter update on the minibatch ``v0`` (float32, C-contiguous).

        Returns the sum over the batch of squared reconstruction errors.
        """
        B = v0.shape[0]
        xp = _device.array_module(v0)
        lr = float(self.learning_rate)
        mom = float(self.momentum)
        # Positive phase: hidden probabilities and samples from the data.
        h0p, h0s = self._sample_sigmoid(self._hidden_logits(v0), _STREAM_POS_H)
        if not self.persistent:
            vkp = self._visible_mean(h0s)
            recon = vkp
            hkp = self._hidden_probs(vkp)
            for _ in range(int(self.k) - 1):
                _, hks = self._sample_sigmoid(self._hidden_logits(vkp), _STREAM_CHAIN_H)
                vkp = self._visible_mean(hks)
                hkp = self._hidden_probs(vkp)
            vk = vkp
        else:
            recon = self._visible_mean(h0s)
            if not hasattr(self, "chains_"):
                # Fantasy chains start at data: the first minibatch, cycled to batch_size rows.
                idx = xp.arange(int(self.batch_size)) % B
                self.chains_ = xp.ascontiguousarray(v0[idx])
            vk = self.chains_
            for _ in range(int(self.k)):
                _, hs = self._sample_sigmoid(self._hidden_logits(vk), _STREAM_CHAIN_H)
                _, vk = self._visible_sample(hs, _STREAM_CHAIN_V)
            hkp = self._hidden_probs(vk)
            self.chains_ = vk
        C = vk.shape[0]
        # Plain CD (no momentum, no decay): both GEMMs accumulate straight into W, in place,
        # so the update costs no extra pass over the weights.
        direct = mom == 0.0 and not self.weight_decay
        # dW = mom * dW + lr/B h0p^T v0 - lr/C hkp^T vk  (in place, two GEMMs).
        target = self.components_ if direct else self._vel_W
        ops.gemm(h0p, v0, target, trans_a=True, alpha=lr / B, beta=1.0 if direct else mom)
        ops.gemm(hkp, vk, target, trans_a=True, alpha=-lr / C, beta=1.0)
        if self.weight_decay:
            if self._scratch_W is None:
                self._scratch_W = xp.empty_like(self.components_)
            xp.multiply(self.components_, np.float32(lr * self.weight_decay), out=self._scratch_W)
            self._vel_W -= self._scratch_W
        self._vel_bh *= np.float32(mom)
        self._vel_bh += np.float32(lr / B) * h0p.sum(axis=0) - np.float32(lr / C) * hkp.sum(axis=0)
        self._vel_bv *= np.float32(mom)
        self._vel_bv += np.float32(lr / B) * v0.sum(axis=0) - np.float32(lr / C) * vk.sum(axis=0)
        if not direct:
            self.components_ += self._vel_W
        self.intercept_hidden_ += self._vel_bh
        self.intercept_visible_ += self._vel_bv
        diff = v0 - recon
        diff *= diff
        err = float(diff.sum(dtype=np.float64))
        if not np.isfinite(err) or not bool(xp.isfinite(self.intercept_visible_).all()):
            raise FloatingPointError(_DIVERGED)
        return err

    def _epoch(self, X: np.ndarray, order: np.ndarray | None) -> float:
        bs = int(self.batch_size)
        xp = _device.array_module(X)
        total = 0.0
        # Overflow in a diverging run is reported as one FloatingPointError, not as warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            for start in range(0, X.shape[0], bs):
                if order is None:
                    batch = X[start:start + bs]
                else:
                    batch = X[order[start:start + bs]]
                total += self._update(xp.ascontiguousarray(batch))
        # The per-batch check sees the weights only through the next reconstruction: check the
        # weights of the last update too (one pass over W per epoch).
        if not (bool(xp.isfinite(self.components_).all())
                and bool(xp.isfinite(self.intercept_hidden_).all())):
            raise FloatingPointError(_DIVERGED)
        return total / X.size

    def fit(self, X, y=None) -> RBM:
        """Train for ``n_iter`` epochs on ``X`` (n_samples, n_features), reshuffled every
        epoch. Re-initialises the model. ``y`` is ignored."""
        self._validate_params()
        kind, index = fit_device(self, X)
        X = _device.to_device(self._check_X(X, fitted=False), kind, index, "X")
        xp = _device.array_module(X)
        self._initialize(X.shape[1], _device.device_of(X))
        for epoch in range(int(self.n_iter)):
            t0 = time.perf_counter()
            err = self._epoch(X, xp.asarray(self._rng.permutation(X.shape[0])))
            self.history_["reconstruction_error"].append(err)
            if self.verbose:
                print(f"RBM epoch {epoch + 1}/{self.n_iter}: reconstruction error {err:.5f} "
                      f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
        return self

    def partial_fit(self, X, y=None) -> RBM:
        """One pass of minibatch updates over ``X`` in the given order (initialising the model
        on the first call). Appends the pass's reconstruction error to ``history_``."""
        if not hasattr(self, "components_"):
            self._validate_params()
            kind, index = fit_device(self, X)
            X = _device.to_device(self._check_X(X, fitted=False), kind, index, "X")
            self._initialize(X.shape[1], _device.device_of(X))
        else:
            self._validate_params()
            X = self._check_X(X)
        self.history_["reconstruction_error"].append(self._epoch(X, None))
        return self

    # ------------------------------------------------------------------ inference

    def transform(self, X) -> np.ndarray:
        """Hidden probabilities ``p(h = 1 | x)``, shape (n_samples, n_hidden)."""
        return self._hidden_probs(self._check_X(X))

    def reconstruct(self, X) -> np.ndarray:
        """Visible probabilities (means) after one deterministic up-down pass:
        ``E[v | h = p(h|x)]``."""
        return self._visible_mean(self._hidden_probs(self._check_X(X)))

    def gibbs(self, v, steps: int = 1) -> np.ndarray:
        """Visible samples after ``steps`` full Gibbs steps v -> h -> v starting at ``v``.

        Draws come from dedicated streams whose counters advance with every call, so
        successive calls give fresh samples and a run is reproducible."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        v = self._check_X(v, "v")
        for _ in range(int(steps)):
            _, hs = self._sample_sigmoid(self._hidden_logits(v), _STREAM_GIBBS_H)
            _, v = self._visible_sample(hs, _STREAM_GIBBS_V)
        return v

    def free_energy(self, v) -> np.ndarray:
        """Free energy ``F(v)`` of each row, shape (n_samples,), float32."""
        v = self._check_X(v, "v")
        return self._free_energy(v)

    def _free_energy(self, v: np.ndarray) -> np.ndarray:
        Z = self._hidden_logits(v)
        kernel = _dkernels.rbm_free_energy if _device.on_device(v) else _C.rbm_free_energy
        if self.visible == "bernoulli":
            return kernel(v, self.intercept_visible_, Z)
        xp = _device.array_module(v)
        zero = xp.zeros_like(self.intercept_visible_)
        quad = 0.5 * xp.square((v - self.intercept_visible_).astype(np.float64)).sum(axis=1)
        return (kernel(v, zero, Z) + quad).astype(np.float32)

    _DEVICE_ARRAYS = ("components_", "intercept_hidden_", "intercept_visible_", "_vel_W",
                      "_vel_bh", "_vel_bv", "_scratch_W", "chains_")

    def to(self, device: str) -> RBM:
        """Move the fitted model (weights, velocities, persistent chains) to ``device``
        ("cpu", "cuda" or "cuda:N"); returns self. The Philox counters go with it, so training
        continues with the same draws."""
        check_is_fitted(self, "components_")
        kind, index = _device.use_device(device)
        for name in self._DEVICE_ARRAYS:
            if getattr(self, name, None) is not None:
                setattr(self, name, _device.to_device(getattr(self, name), kind, index, name))
        self.device_ = _device.device_of(self.components_)
        return self

    @property
    def score_samples(self):
        """``score_samples(X)``: pseudo-log-likelihood of each row, as scikit-learn's
        ``BernoulliRBM`` defines it: flip one random bit ``i`` of each row
        (``v_i -> 1 - v_i``) and return ``n_visible * log sigmoid(F(v_flipped) - F(v))``.

        The flipped bits come from a dedicated stream read from offset 0, so the result is a
        deterministic function of the model and ``X``.

        Defined for Bernoulli visible units only: with ``visible="gaussian"`` the method does
        not exist (``hasattr(rbm, "score_samples")`` is False, as with scikit-learn's
        ``available_if``) and reaching it raises :class:`UnavailableMethodError`, also a
        ValueError."""
        if self.visible != "bernoulli":
            raise UnavailableMethodError(
                "score_samples (pseudo-likelihood) needs visible='bernoulli'")
        return self._score_samples

    def _score_samples(self, X) -> np.ndarray:
        v = self._check_X(X)
        n, d = v.shape
        xp = _device.array_module(v)
        u = self._uniform((n,), _STREAM_SCORE, 0, v)
        col = xp.minimum((u.astype(np.float64) * d).astype(np.int64), d - 1)
        rows = xp.arange(n)
        v_ = v.copy()
        v_[rows, col] = 1.0 - v_[rows, col]
        delta = self._free_energy(v_).astype(np.float64) - self._free_energy(v).astype(np.float64)
        return d * -xp.logaddexp(0.0, -delta)


class PretrainedMLPClassifier(MLPClassifier):
    """:class:`MLPClassifier` whose hidden layers start from given weights.

    Made by :meth:`DBN.to_classifier`. ``fit`` builds the network exactly as
    ``MLPClassifier`` does (same parameters, same random draws) and then copies
    ``pretrained_`` — a list of ``(weight (out, in), bias (out,))`` pairs, one per hidden
    layer — into the hidden ``Linear`` layers; the softmax output layer keeps its fresh
    initialisation. Every ``fit`` starts again from the pretrained weights.

    ``get_params``/``set_params`` are MLPClassifier's; the pretrained weights are not a
    parameter (a cloned estimator trains from scratch).
    """

    pretrained_: list[tuple] = []
    n_classes_expected_: int | None = None

    def _build(self, n_in: int, n_out: int, rng: np.random.Generator) -> nn.Sequential:
        if self.n_classes_expected_ is not None and n_out != self.n_classes_expected_:
            raise ValueError(
                f"y has {n_out} classes, this classifier was made for {self.n_classes_expected_}"
            )
        net = super()._build(n_in, n_out, rng)
        linears = [m for m in net.layers if isinstance(m, nn.Linear)]
        hidden_layers = linears[:-1]
        if len(hidden_layers) != len(self.pretrained_):
            raise ValueError(
                f"the network has {len(hidden_layers)} hidden layers, "
                f"{len(self.pretrained_)} pretrained ones were given (do not change 'hidden')"
            )
        for layer, (W, b) in zip(hidden_layers, self.pretrained_):
            if layer.weight.shape != W.shape:
                raise ValueError(
                    f"pretrained weight of shape {W.shape} does not fit a layer of shape "
                    f"{layer.weight.shape} (X must have the DBN's number of features)"
                )
            # The network is built on the host and placed by fit (its device): pretrained
            # weights that live on a device are copied in (they are the pretraining's output).
            layer.weight.data[...] = _device.to_device(W, "cpu", name="pretrained weight")
            layer.bias.data[...] = _device.to_device(b, "cpu", name="pretrained bias")
        return net


def rbm_layer_params(params: Any, hidden: tuple[int, ...], name: str,
                     verbose: Any) -> list[dict[str, Any]]:
    """The keyword arguments of each RBM of a stack with layer sizes ``hidden``, from
    ``params`` (the parameter called ``name``): None, one dict of :class:`RBM` parameters for
    every layer, or a list/tuple of one dict per layer. ``n_hidden`` and ``random_state`` are set
    by the stack; layers above the first see probabilities, so they get Bernoulli units."""
    allowed = RBM().get_params()
    forbidden = ("n_hidden", "random_state")
    if params is None or isinstance(params, Mapping):
        per = [dict_param(params, name, allowed=allowed, forbidden=forbidden) for _ in hidden]
    elif isinstance(params, (list, tuple)):
        if len(params) != len(hidden):
            raise InvalidParameterError(f"{name} has {len(params)} dicts for {len(hidden)} "
                                        "layers")
        per = [dict_param(q, f"{name}[{i}]", allowed=allowed, forbidden=forbidden,
                          none_ok=False) for i, q in enumerate(params)]
    else:
        raise InvalidParameterError(f"{name} must be None, a dict of RBM parameters or a list "
                                    f"of one dict per layer, got {params!r}")
    for i, q in enumerate(per):
        q["n_hidden"] = int(hidden[i])
        if i > 0:
            q["visible"] = "bernoulli"
        q.setdefault("verbose", verbose)
    return per


class DBN(TransformMixin, ParamsMixin):
    """Deep belief network: a stack of :class:`RBM` trained greedily, layer by layer.

    Parameters
    ----------
    hidden : sequence of int
        Hidden units of each RBM, bottom to top.
    rbm_params : dict, or sequence of dicts (one per layer), optional
        Keyword arguments of :class:`RBM` (``learning_rate``, ``n_iter``, ``batch_size``,
        ``k``, ``persistent``, ``momentum``, ``weight_decay``...), shared by every layer when
        a dict. ``n_hidden`` and ``random_state`` are set by the DBN. Layers above the first
        always use Bernoulli visible units (they see hidden probabilities).
    random_state : None, int or numpy Generator
        Each layer's RBM gets an int seed drawn from it.
    device : None, "cpu", "cuda" or "cuda:N"
        Where every layer trains (each RBM's ``device``; None follows ``X``). ``transform``
        takes data where the layers live. :meth:`to_classifier` copies the weights to the host;
        the classifier's own ``device`` then places its network.
    verbose : int

    Attributes
    ----------
    rbms_ : list of RBM
    n_features_in_ : int
    """

    _estimator_kind = "transformer"

    def __init__(
        self,
        hidden: Sequence[int] = (1000, 750, 500),
        rbm_params: None | dict[str, Any] | Sequence[dict[str, Any]] = None,
        random_state: None | int | np.random.Generator = None,
        verbose: int = 0,
        device: str | None = None,
    ):
        self.hidden = hidden
        self.rbm_params = rbm_params
        self.random_state = random_state
        self.verbose = verbose
        self.device = device


    def _layer_params(self) -> list[dict[str, Any]]:
        hidden = sizes_param(self.hidden, "hidden", int_ok=False)
        return rbm_layer_params(self.rbm_params, hidden, "rbm_params", self.verbose)

    def fit(self, X, y=None) -> DBN:
        """Greedy layer-wise training: an RBM on ``X``, the next on its hidden probabilities,
        and so on. ``y`` is ignored."""
        per = self._layer_params()
        rng = check_random_state(self.random_state)
        kind, index = fit_device(self, X)
        if kind == "cuda":  # moved once, here, so that every layer's input is on the device
            X = _device.to_device(check_array(X, "X", integer=True, device_ok=True), kind, index,
                                  "X")
        self.rbms_: list[RBM] = fit_stack(
            X, per, lambda seed, q: RBM(random_state=seed, **{"device": self.device, **q}), rng,
            self.verbose, "DBN", lambda rbm: f"RBM({rbm.n_hidden})")
        self.n_features_in_ = self.rbms_[0].n_features_in_
        return self

    def transform(self, X) -> np.ndarray:
        """Top-layer hidden probabilities (each layer's probabilities feed the next)."""
        check_is_fitted(self, "rbms_")
        return transform_stack(self.rbms_, X)

    def to_classifier(self, n_classes: int, **mlp_kwargs) -> PretrainedMLPClassifier:
        """An MLPClassifier (sigmoid hidden layers = this DBN's RBMs, plus a fresh softmax
        output layer of ``n_classes`` units) ready for ``fit(X, y)`` fine-tuning.

        Hidden layer ``i`` starts with ``weight = rbms_[i].components_`` (out, in) and
        ``bias = rbms_[i].intercept_hidden_`` (copies). ``mlp_kwargs`` are MLPClassifier's
        parameters (``optimizer``, ``learning_rate``, ``max_epochs``, ...) except ``hidden``
        and ``activation``, which the DBN fixes. ``dropout`` is allowed.
        """
        check_is_fitted(self, "rbms_")
        if (isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer))
                or n_classes < 2):
            raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
        bad = {"hidden", "activation"} & set(mlp_kwargs)
        if bad:
            raise ValueError(f"to_classifier fixes {sorted(bad)}; do not pass them")
        clf = PretrainedMLPClassifier(
            hidden=tuple(r.n_hidden for r in self.rbms_), activation="sigmoid", **mlp_kwargs
        )
        # Kept on the host (copies) until the classifier's fit places its network (device=).
        clf.pretrained_ = [(_device.to_device(r.components_, "cpu").copy(),
                            _device.to_device(r.intercept_hidden_, "cpu").copy())
                           for r in self.rbms_]
        clf.n_classes_expected_ = int(n_classes)
        return clf
