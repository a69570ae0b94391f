"""t-distributed stochastic neighbour embedding (van der Maaten & Hinton 2008; Barnes-Hut
approximation of van der Maaten 2014), optimised as scikit-learn and openTSNE do.

On the host the native kernels run on numpy arrays (``_C``); on a CUDA device (``device=`` or
CuPy input) the whole fit runs there through their CUDA siblings (``_C.device``, launched by
:mod:`latentforge._tsne`): affinities, gradients and optimiser steps, with only small scalars
(the KL, a finite flag, the spread of the embedding) read back per iteration.
"""

from __future__ import annotations

import numbers
import sys
import time

import numpy as np

from .. import _C, _backend, _device, _tsne
from .._backend import _MAX_THREADS, check_random_state
from ._base import ParamsMixin, check_array, check_is_fitted, fit_device, progress_bar
from ._params import int_param, real_param
from .pca import PCA

#: Length of the early-exaggeration phase (iterations), as in scikit-learn and openTSNE.
EXAGGERATION_ITER = 250
_MOMENTUM_EARLY, _MOMENTUM_LATE = 0.5, 0.8
_MIN_GAIN = 0.01
_LOG_EVERY = 50
#: Largest ``|coordinate|`` accepted in an ``init`` array (see ``TSNE``'s ``init``).
MAX_INIT_MAGNITUDE = 1e4
#: Largest ``|coordinate|`` an embedding may reach during the optimisation: beyond it float32
#: coordinates are coarser than the distances between neighbours (spacing 0.06 at 1e6), the
#: fit has diverged (a learning rate far too large), and it stops with FloatingPointError.
#: Embeddings of well-run fits span tens to hundreds of units.
MAX_EMBEDDING_MAGNITUDE = 1e6


def _pad2(Y: np.ndarray) -> np.ndarray:
    """``Y`` (n, 1 or 2) as n x 2, a zero second column added to a single one (on Y's side)."""
    if Y.shape[1] == 2:
        return Y
    xp = _device.array_module(Y)
    return xp.concatenate([Y, xp.zeros((Y.shape[0], 2 - Y.shape[1]), Y.dtype)], axis=1)


def _gains_step(Y, update, gains, grad, momentum, learning_rate) -> bool:
    """The optimiser step of ``_C.TsneBarnesHut.step`` in numpy (in place; False and nothing
    changed when ``grad`` is not finite): gains ``+0.2`` where the gradient and the previous
    update have opposite signs, ``*0.8`` elsewhere, floored at 0.01; momentum update."""
    grad = np.asarray(grad, dtype=np.float64)
    if not np.isfinite(grad).all():
        return False
    inc = update * grad < 0.0
    np.copyto(gains, np.where(inc, gains + 0.2, gains * 0.8))
    np.maximum(gains, _MIN_GAIN, out=gains)
    update *= momentum
    update -= (learning_rate * gains) * grad
    Y += update
    return True


class TSNE(ParamsMixin):
    """t-SNE: a 2-D embedding whose Student-t neighbour affinities match Gaussian ones of X.

    Parameters
    ----------
    n_components : {2, 1}
        Dimension of the embedding. The native gradient kernels are 2-D (quadtree / pairwise);
        a 1-D embedding (as scikit-learn's TSNE offers) is computed by them with every point
        on a line: the second coordinate starts at 0 and stays exactly 0, since every
        difference, hence every force, along it is 0, and the Student-t kernel of 1-D
        distances is the same formula. Any other value raises ``ValueError``.
    perplexity : float
        Effective number of neighbours of the Gaussian input affinities. Needs
        ``n_samples > 3 * perplexity`` (the ``3 * perplexity`` nearest neighbours of every
        point are used), otherwise ``fit`` raises ``ValueError``.
    early_exaggeration : float
        Factor multiplying P during the first 250 iterations.
    learning_rate : float or "auto"
        Gradient-descent step. A number is used in both phases. "auto" follows openTSNE:
        ``n_samples / exaggeration`` of the current phase, divided by 4 because this gradient
        carries the factor 4 of the t-SNE gradient (openTSNE's does not): ``max(n_samples /
        early_exaggeration / 4, 50)`` during early exaggeration (scikit-learn's "auto", Belkina
        et al. 2019) and ``max(n_samples / 4, 50)`` afterwards. The larger step of the second
        phase reaches a lower KL in the same number of iterations (measured on MNIST, 5,000
        points: 1.407 against 1.437 with scikit-learn's single rate; see benchmarks/RESULTS.md).
    max_iter : int
        Total number of iterations, the 250 early-exaggeration ones included (>= 250).
    theta : float
        Barnes-Hut opening angle (``method="barnes_hut"`` only): a quadtree cell of side ``s``
        whose centre of mass is at distance ``d`` from a point is summarised when ``s / d <
        theta``, as in scikit-learn and openTSNE (the same theta means at least the same
        accuracy; see Notes). 0 is exact but ``O(n^2)``.
    init : {"pca", "random"} or ndarray (n_samples, n_components)
        "pca": the first ``n_components`` principal components of X scaled so that the first
        coordinate has standard deviation 1e-4 (X with a single feature has one: the second
        coordinate is then 0, and stays 0); "random": N(0, 1e-4^2) draws from
        ``random_state``; an array (real, shape ``(n_samples, n_components)``) is used as
        given -- it is not rescaled -- but must be
        finite with every coordinate within ``MAX_INIT_MAGNITUDE`` = 1e4 of 0, otherwise
        ``fit`` raises ``ValueError``: the t-SNE gradient of a point shrinks like 1 / its
        distances, so an embedding spread over more than ~1e3 units hardly moves in
        ``max_iter`` iterations (measured on 600 digits from a random init: 4% of its extent
        at 1e4, 0.1% at 1e6, nothing at 1e10 -- the result would be the init, with the KL of
        the init), and beyond ~1e19 the float32 squared distances of the kernels overflow
        (the KL is then meaningless). Rescale such an array yourself, e.g.
        ``init / init[:, 0].std() * 1e-4`` (what "pca" does), and centre it. Scales between
        ~1e2 and 1e4 are accepted (an earlier embedding, to be refined, can have them) but
        converge slowly from a random layout.
    method : {"barnes_hut", "exact"}
        "barnes_hut": sparse P over the ``3 * perplexity`` exact nearest neighbours, repulsion
        by a Barnes-Hut quadtree, ``O(n log n)`` per iteration. "exact": the same symmetric P
        computed over all ``n - 1`` neighbours, held dense (``4 n^2`` bytes), with exact
        ``O(n^2)`` gradients: for a few thousand samples at most.
    n_jobs : int or None
        Threads of the native kernels during ``fit`` (``lf.set_num_threads``, restored after);
        None keeps the current setting. The result does not depend on it.
    random_state : None, int or numpy Generator
        Seeds ``init="random"`` (and the randomized PCA solver for ``init="pca"``).
    verbose : int
        0: silent. Otherwise one line per stage, and a tqdm bar over the iterations when stderr
        is a terminal, or the KL divergence every 50 iterations when it is not.
    device : None, "cpu", "cuda" or "cuda:N"
        Where to fit. None (the default): where ``X`` lives (a CuPy / CUDA array: its device).
        Data on the other side is moved once, on this request -- ``X``, and an ``init`` array
        (with ``device=None`` an ``init`` array must be on ``X``'s side: TypeError otherwise).
        On a device everything runs there (see Notes), ``embedding_`` is a CuPy array on it
        (``device_``) and :meth:`to` moves it.

    Attributes
    ----------
    embedding_ : ndarray float32 (n_samples, n_components)
        A CuPy array on ``device_`` for a fit on a CUDA device.
    device_ : str
        Where the fit ran: "cpu" or "cuda:N".
    kl_divergence_ : float
        KL(P || Q) of the final embedding, for the un-exaggerated P of the chosen method. With
        ``method="exact"`` Q is normalised by the exact Z; with "barnes_hut" by the Barnes-Hut
        estimate of Z (so it is itself an approximation).
    kl_history_ : ndarray float64
        KL divergence (un-exaggerated P) at the start of iterations ``kl_iterations_``: the
        first, the last of the early-exaggeration phase, and every 50th. (Computing it costs a
        logarithm per non-zero of P, several times the rest of an iteration, so it is not
        computed at every iteration.)
    kl_iterations_ : ndarray int64
        The iterations (0-based) at which ``kl_history_`` was recorded.
    n_iter_ : int
        Iterations run.
    learning_rate_ : float
        The learning rate used after the early-exaggeration phase.
    early_learning_rate_ : float
        The learning rate used during the early-exaggeration phase.
    n_features_in_ : int

    Notes
    -----
    Optimisation: gradient descent with momentum 0.5 during the early-exaggeration phase and
    0.8 after, with per-coordinate gains (``+0.2`` where the gradient and the previous update
    have opposite signs, ``*0.8`` otherwise, floored at 0.01); the update and gains restart
    when the phase changes (as in scikit-learn). Input is not reduced by PCA first: pass
    already-reduced data (e.g. 50 PCA components) for wide inputs. Duplicate points are
    allowed: they get (nearly) equal affinities and end up close together in the embedding.
    For a fixed ``random_state`` the embedding is bitwise reproducible whatever the number of
    threads (it may differ between SIMD paths, ``LATENTFORGE_ISA``, by float32 rounding).

    Barnes-Hut, as implemented (``_C.TsneBarnesHut``, ``csrc/ops/tsne_grouped.h``): the
    quadtree is rebuilt every iteration from Morton-sorted points; points are grouped by the
    tree into cells of at most 64, and one walk per group lists what the group interacts with.
    A cell is summarised only if ``s / d < theta`` holds for *every* point of the group (``d``
    measured to the group's bounding box), so each point gets at least the accuracy of the
    per-point criterion -- measured on random data, a 2-4x smaller gradient error than the
    per-point version at the same theta. The list is then evaluated for every point of the
    group with float32 SIMD arithmetic; the attractive forces are exact over the sparse P. The
    optimiser step (gains, momentum) runs in the same native call.

    Memory (``method="barnes_hut"``): the optimisation holds P as 8 bytes per stored entry (about
    ``2 * 3 * perplexity`` entries per point after symmetrisation: ~1,000 bytes per point at
    perplexity 30; the storage is briefly doubled when it is re-ordered, every 100 iterations),
    about 150 bytes per point of working buffers, and 48 bytes per point of float64 state
    (embedding, update, gains): linear in n. Computing P holds the ``3 * perplexity``
    neighbours' indices and distances (12 bytes each) for a while.

    On a CUDA device: the neighbours (the device GEMM), the perplexity calibration and the
    symmetrisation run on the device (``_C.device.knn``, ``tsne_perplexity``,
    ``tsne_symmetrize``; the neighbour distances can differ from the host's by float32
    rounding); ``init="pca"`` runs :class:`PCA` on the device, ``init="random"`` draws on the
    host from ``random_state`` (the same draws as a host fit) and moves the result. "exact":
    ``_C.device.tsne_gradient_exact`` (the host kernel's gradient bit for bit) and the step
    ``_C.device.tsne_step`` (the host's update, in double). "barnes_hut": one
    ``_C.device.tsne_step_bh`` per iteration, whose gradient uses the textbook per-point
    criterion of ``_C.tsne_gradient_bh`` (the quadtree built on the host from a copy of the
    float32 embedding, the traversal on the device), not the grouped criterion of the host fit:
    the device embedding follows ``_C.tsne_gradient_bh``'s trajectory and differs slightly from
    a host fit's by design (``kl_divergence_`` uses its Barnes-Hut Z). Each iteration reads
    back a finite flag, the largest coordinate and, when recorded, the KL (one small copy).
    """

    def __init__(self, n_components: int = 2, perplexity: float = 30.0,
                 early_exaggeration: float = 12.0, learning_rate: str | float = "auto",
                 max_iter: int = 1000, theta: float = 0.5,
                 init: str | np.ndarray = "pca", method: str = "barnes_hut",
                 n_jobs: int | None = None, random_state=None, verbose: int = 0,
                 device: str | None = None):
        self.n_components = n_components
        self.perplexity = perplexity
        self.early_exaggeration = early_exaggeration
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.theta = theta
        self.init = init
        self.method = method
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # ------------------------------------------------------------------ public API

    def fit(self, X, y=None) -> TSNE:
        """Embed ``X`` (n_samples, n_features); ``y`` is ignored. Returns self."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        """Embed ``X`` and return ``embedding_`` (n_samples, n_components; a CuPy array for a
        fit on a device)."""
        self._fit(X)
        return self.embedding_

    def to(self, device: str) -> TSNE:
        """Move ``embedding_`` to ``device`` ("cpu", "cuda" or "cuda:N"); returns self."""
        check_is_fitted(self, "embedding_")
        kind, index = _device.use_device(device)
        self.embedding_ = _device.to_device(self.embedding_, kind, index, "embedding_")
        self.device_ = _device.device_of(self.embedding_)
        return self

    # ------------------------------------------------------------------ validation

    def _check_params(self, n: int):
        nc = self.n_components
        if isinstance(nc, (bool, np.bool_)) or not isinstance(nc, numbers.Integral) \
                or nc not in (1, 2):
            raise ValueError(
                f"n_components={nc!r} is not supported: latentforge's t-SNE kernels only "
                "compute 2-D embeddings (n_components=2), and 1-D ones on a line "
                "(n_components=1)"
            )
        if self.method not in ("barnes_hut", "exact"):
            raise ValueError(f"method must be 'barnes_hut' or 'exact', got {self.method!r}")
        perp = real_param(self.perplexity, "perplexity", low=0, low_open=True)
        if n - 1 < 3 * perp:
            need = int(np.ceil(3 * perp)) + 1
            raise ValueError(
                f"perplexity {perp:g} needs n - 1 >= 3 * perplexity neighbours, i.e. at least "
                f"{need} samples, got n_samples = {n}; lower the perplexity"
            )
        ee = real_param(self.early_exaggeration, "early_exaggeration", low=1)
        mi = self.max_iter
        if isinstance(mi, (bool, np.bool_)) or not isinstance(mi, numbers.Integral) \
                or mi < EXAGGERATION_ITER:
            raise ValueError(f"max_iter must be an int >= {EXAGGERATION_ITER} (the "
                             f"early-exaggeration phase), got {mi!r}")
        theta = real_param(self.theta, "theta", low=0)
        lr = self.learning_rate
        if isinstance(lr, str):
            if lr != "auto":
                raise ValueError(f"learning_rate must be 'auto' or a number > 0, got {lr!r}")
            lr = (max(n / ee / 4.0, 50.0), max(n / 4.0, 50.0))
        else:
            lr = real_param(lr, "learning_rate", low=0, low_open=True)
            lr = (lr, lr)
        if self.n_jobs is not None:
            int_param(self.n_jobs, "n_jobs", high=_MAX_THREADS)
        return perp, ee, int(mi), theta, lr

    def _initial(self, X: np.ndarray, init) -> np.ndarray:
        """The initial layout, always as n x 2 float64 for the 2-D kernels, on X's side (a
        CuPy array for X on a device): the columns beyond ``n_components`` (or beyond the
        principal components X has) are 0. ``init`` is ``self.init``, an array already on X's
        side (see ``_fit``)."""
        n, nc = X.shape[0], int(self.n_components)
        if isinstance(init, str):
            if init == "pca":
                rng = check_random_state(self.random_state)
                k = min(nc, X.shape[1])
                # PCA follows X: on a device it runs there.
                Y = PCA(n_components=k, random_state=rng).fit_transform(X).astype(np.float64)
                std = float(Y[:, 0].std())
                return _pad2(Y / std * 1e-4 if std > 0 else Y)
            if init == "random":
                rng = check_random_state(self.random_state)
                # Drawn on the host (the same draws wherever the fit runs), moved to X's side.
                return _same_side(_pad2(rng.standard_normal((n, nc)) * 1e-4), X, "init")
            raise ValueError(f"init must be 'pca', 'random' or an array, got {init!r}")
        if _device.on_device(init):
            Y = _device.as_cupy(init, "init")
        else:
            Y = np.asarray(init)
        xp = _device.array_module(Y)
        if Y.dtype.kind not in "fiu":
            raise TypeError(f"init array must be real, got dtype {Y.dtype}")
        if Y.shape != (n, nc):
            raise ValueError(f"init array must have shape (n_samples, n_components) = ({n}, "
                             f"{nc}), got {Y.shape}")
        if not bool(xp.isfinite(Y).all()):
            raise ValueError("init array contains NaN or infinity")
        Y = Y.astype(np.float64)  # a copy: the caller's array is not modified
        big = float(xp.abs(Y).max()) if Y.size else 0.0
        if big > MAX_INIT_MAGNITUDE:
            raise ValueError(
                f"init array has coordinates up to {big:.3g} in magnitude, more than "
                f"{MAX_INIT_MAGNITUDE:g}: t-SNE cannot move an embedding that spread out (its "
                "gradient shrinks like 1 / distance) and float32 distances overflow beyond "
                "~1e19; centre and rescale it, e.g. init / init[:, 0].std() * 1e-4 (as "
                "init='pca' does)"
            )
        return _pad2(Y)

    # ------------------------------------------------------------------ fitting

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(f"[t-SNE] {msg}", file=sys.stderr, flush=True)

    def _fit(self, X) -> None:
        kind, index = fit_device(self, X)
        X = check_array(X, "X", integer=True, device_ok=True)
        X = _tsne._check_X(_device.to_device(X, kind, index, "X"))
        init = self.init
        if not isinstance(init, str):
            if self.device is None:  # follow X: an init array must be on its side
                _device.classify({"X": X, "init": init})
                init = _same_side(init, X, "init")
            else:  # moved on request, as X
                init = _device.to_device(init, kind, index, "init")
        n = X.shape[0]
        perp, ee, max_iter, theta, lr = self._check_params(n)
        if isinstance(self.init, str) and self.init not in ("pca", "random"):
            raise ValueError(f"init must be 'pca', 'random' or an array, got {self.init!r}")
        # An init array is checked before the affinities are computed (they take long).
        Y0 = None if isinstance(init, str) else self._initial(X, init)
        old_threads = None
        if self.n_jobs is not None:
            old_threads = _backend.get_num_threads()
            _backend.set_num_threads(int(self.n_jobs))
        try:
            self._run(X, perp, ee, max_iter, theta, lr, init, Y0)
        finally:
            if old_threads is not None:
                _backend.set_num_threads(old_threads)

    @staticmethod
    def _host_kernels(indptr, indices, pvals, exact: bool, theta: float):
        """(gradient, step) on the host: ``gradient(Y32, exaggeration, compute_kl)`` -> (grad,
        kl: float); ``step(Y, update, gains, exaggeration, momentum, learning_rate,
        compute_kl)`` -> (kl, finite, largest |coordinate|), in place on the float64 arrays."""
        n = len(indptr) - 1
        if exact:
            P = np.zeros((n, n), dtype=np.float32)
            P[np.repeat(np.arange(n), np.diff(indptr)), indices] = pvals

            def gradient(Y32, exaggeration, compute_kl=True):
                return _C.tsne_gradient_exact(Y32, P, float(exaggeration), compute_kl)

            def step(Y, update, gains, exaggeration, momentum, learning_rate, compute_kl):
                grad, kl = gradient(np.ascontiguousarray(Y, dtype=np.float32), exaggeration,
                                    compute_kl)
                finite = _gains_step(Y, update, gains, grad, momentum, learning_rate)
                return kl, finite, float(np.abs(Y).max(initial=0.0))
        else:
            bh = _C.TsneBarnesHut(np.ascontiguousarray(indptr, dtype=np.int64),
                                  np.ascontiguousarray(indices, dtype=np.int64),
                                  np.ascontiguousarray(pvals, dtype=np.float32))

            def gradient(Y32, exaggeration, compute_kl=True):
                return bh.gradient(Y32, theta, float(exaggeration), compute_kl)

            def step(Y, update, gains, exaggeration, momentum, learning_rate, compute_kl):
                kl, finite = bh.step(Y, update, gains, theta, float(exaggeration), momentum,
                                     learning_rate, _MIN_GAIN, compute_kl)
                return kl, finite, float(np.abs(Y).max(initial=0.0))
        return gradient, step

    @staticmethod
    def _device_kernels(indptr, indices, pvals, exact: bool, theta: float):
        """:meth:`_host_kernels` on a CUDA device (CuPy CSR of P): "exact" launches
        ``_C.device.tsne_gradient_exact`` and ``tsne_step`` (the dense P is built on the
        device); "barnes_hut" one ``_C.device.tsne_step_bh`` per iteration (the per-point
        criterion, see the class Notes). ``gradient`` returns the KL as a float64 (1,) device
        array (None when not computed); ``step`` reads back one small array per iteration (the
        finite flag, the largest |coordinate| and the KL when computed)."""
        xp = _device.array_module(pvals)
        n = int(indptr.shape[0]) - 1
        if exact:
            P = xp.zeros((n, n), dtype=np.float32)
            rows = xp.searchsorted(indptr, xp.arange(int(indices.shape[0])), side="right") - 1
            P[rows, indices] = pvals

            def gradient(Y32, exaggeration, compute_kl=True):
                return _tsne.gradient_exact_device(Y32, P, exaggeration, compute_kl)

            def launch(Y, update, gains, exaggeration, momentum, learning_rate, compute_kl):
                grad, kl = gradient(xp.ascontiguousarray(Y, dtype=np.float32), exaggeration,
                                    compute_kl)
                return _tsne.step_device(Y, update, gains, grad, momentum, learning_rate,
                                         _MIN_GAIN), kl
        else:
            def gradient(Y32, exaggeration, compute_kl=True):
                return _tsne.gradient_bh_device(Y32, indptr, indices, pvals, theta, exaggeration,
                                                compute_kl)

            def launch(Y, update, gains, exaggeration, momentum, learning_rate, compute_kl):
                return _tsne.step_bh_device(Y, update, gains, indptr, indices, pvals, theta,
                                            exaggeration, momentum, learning_rate, _MIN_GAIN,
                                            compute_kl)

        def step(Y, update, gains, exaggeration, momentum, learning_rate, compute_kl):
            finite, kl = launch(Y, update, gains, exaggeration, momentum, learning_rate,
                                compute_kl)
            parts = [finite.astype(np.float64), xp.abs(Y).max().reshape(1)]
            if kl is not None:
                parts.append(kl)
            vals = _device.to_device(xp.concatenate(parts), "cpu")  # one small copy
            return (float(vals[2]) if kl is not None else float("nan"), bool(vals[0]),
                    float(vals[1]))
        return gradient, step

    def _run(self, X, perp, ee, max_iter, theta, lr, init, Y0=None) -> None:
        n = X.shape[0]
        t0 = time.perf_counter()
        exact = self.method == "exact"
        on_device = not isinstance(X, np.ndarray)
        xp = _device.array_module(X)
        indptr, indices, pvals = _tsne.joint_probabilities(X, perp, k=n - 1 if exact else None)
        kernels = self._device_kernels if on_device else self._host_kernels
        gradient, step = kernels(indptr, indices, pvals, exact, theta)
        where = f" on {_device.device_of(X)}" if on_device else ""
        self._log(f"affinities of {n} samples ({len(pvals)} non-zeros, perplexity {perp:g}, "
                  f"{self.method}){where} in {time.perf_counter() - t0:.2f} s")

        Y = xp.ascontiguousarray(self._initial(X, init) if Y0 is None else Y0,
                                 dtype=np.float64)
        self.early_learning_rate_, self.learning_rate_ = lr
        self.n_features_in_ = X.shape[1]
        history, history_iters = [], []
        bar = progress_bar(self.verbose, max_iter, "t-SNE")
        t1 = time.perf_counter()
        update = gains = None
        try:
            for it in range(max_iter):
                if it == 0 or it == EXAGGERATION_ITER:  # a phase starts: fresh update and gains
                    update = xp.zeros_like(Y)
                    gains = xp.ones_like(Y)
                early = it < EXAGGERATION_ITER
                momentum = _MOMENTUM_EARLY if early else _MOMENTUM_LATE
                want_kl = (it == 0 or it == EXAGGERATION_ITER - 1
                           or (it + 1) % _LOG_EVERY == 0)
                kl, finite, spread = step(Y, update, gains, ee if early else 1.0, momentum,
                                          lr[0] if early else lr[1], want_kl)
                if want_kl:
                    history.append(kl)
                    history_iters.append(it)
                # A KL below 0 (impossible in exact arithmetic) is float32 arithmetic broken by
                # the scale of the embedding.
                if (not (finite and (np.isfinite(kl) or not want_kl))
                        or spread > MAX_EMBEDDING_MAGNITUDE or (want_kl and kl < -1e-3)):
                    raise FloatingPointError(
                        f"t-SNE diverged at iteration {it + 1} (KL {kl}, coordinates up to "
                        f"{spread:.3g}); lower learning_rate"
                    )
                if bar is not None:
                    bar.update(1)
                    if (it + 1) % _LOG_EVERY == 0:
                        bar.set_postfix(kl=f"{kl:.4f}", refresh=False)
                elif (it + 1) % _LOG_EVERY == 0:
                    self._log(f"iteration {it + 1}/{max_iter}: KL {kl:.4f}"
                              f"{' (exaggerated phase)' if early else ''} "
                              f"({time.perf_counter() - t1:.1f} s)")
        finally:
            if bar is not None:
                bar.close()
        Y32 = xp.ascontiguousarray(Y, dtype=np.float32)
        _, kl = gradient(Y32, 1.0)
        if on_device:
            kl = _device.to_device(kl, "cpu")[0]
        self.embedding_ = xp.ascontiguousarray(Y32[:, :int(self.n_components)])
        self.device_ = _device.device_of(self.embedding_)
        self.kl_divergence_ = float(kl)
        self.kl_history_ = np.asarray(history, dtype=np.float64)
        self.kl_iterations_ = np.asarray(history_iters, dtype=np.int64)
        self.n_iter_ = max_iter
        self._log(f"done: KL {self.kl_divergence_:.4f} after {max_iter} iterations "
                  f"({time.perf_counter() - t0:.1f} s)")


def _same_side(a, X, name: str):
    """``a`` where ``X`` is: unchanged for host X, on X's CUDA device otherwise (copied there
    from the host when it is host data; ValueError for another device)."""
    if isinstance(X, np.ndarray):
        return a
    kind, index = _device.parse_device(_device.device_of(X))
    return _device.to_device(a, kind, index, name)
