"""Principal component analysis (exact LAPACK SVD, or randomized for large inputs)."""

from __future__ import annotations

import math

import numpy as np

from .. import _device, ops
from .._backend import check_random_state
from ._base import ParamsMixin, check_array, check_is_fitted, check_same_device, fit_device
from ._params import choice_param, int_param

#: Elements of a float64 row block in :func:`_centred_float32` (bounds its temporary, 32 MiB).
_BLOCK_ELEMENTS = 1 << 22


def _centred_float32(X: np.ndarray, mean: np.ndarray):
    """``(X - mean) / scale`` as a float32 matrix for the float32 GEMM solvers, and ``scale``
    and the float64 sum of squares of ``X - mean``.

    The centring is done in float64, a block of rows at a time, so that neither the mean
    (integer input: no truncation to the input dtype) nor the differences lose precision
    before the one rounding to float32. ``scale`` is the power of two just above
    ``max |X - mean|`` (1 when X is constant), applied exactly (``ldexp``): the float32
    entries then lie in [-1, 1], so their products neither underflow (data scaled by 1e-25)
    nor overflow (1e25) in the GEMM, and the solvers' results are multiplied back by
    ``scale``."""
    n, d = X.shape
    xp = _device.array_module(X)
    lo = X.min(axis=0).astype(np.float64) - mean
    hi = X.max(axis=0).astype(np.float64) - mean
    amax = max(float(xp.abs(lo).max()), float(xp.abs(hi).max()))
    exponent = math.frexp(amax)[1] if amax > 0 and math.isfinite(amax) else 0
    out = xp.empty((n, d), dtype=np.float32)
    sum_sq = 0.0
    rows = max(1, _BLOCK_ELEMENTS // d)
    for start in range(0, n, rows):
        B = X[start:start + rows].astype(np.float64)
        B -= mean
        B *= math.ldexp(1.0, -exponent)  # a power of two: exact
        sum_sq += float(xp.einsum("ij,ij->", B, B))
        out[start:start + rows] = B
    scale = float(np.ldexp(1.0, exponent))  # inf, not OverflowError, beyond float64
    return out, scale, sum_sq * scale * scale


def _sign_flip(components: np.ndarray):
    """Deterministic signs: the largest-magnitude entry of every component is positive (the
    convention of scikit-learn >= 1.5)."""
    xp = _device.array_module(components)
    idx = xp.argmax(xp.abs(components), axis=1)
    signs = xp.sign(components[xp.arange(components.shape[0]), idx])
    signs[signs == 0] = 1.0
    components *= signs[:, None]
    return components, signs


class PCA(ParamsMixin):
    """Principal component analysis.

    Parameters
    ----------
    n_components : int, float in (0, 1), or None
        Number of components; a float keeps the fewest components explaining that fraction of
        the variance (exact solver only); None keeps ``min(n_samples, n_features)``.
    whiten : bool
        Scale the projections to unit variance: each is divided by the standard deviation
        ``singular_values_ / sqrt(n_samples_ - 1)``, computed in float64 (so data of any scale,
        1e-25 included, whitens to unit variance even where ``explained_variance_`` underflows
        in float32). A component of zero variance -- singular value at most
        ``max(n_samples, n_features) * eps(float64)`` times the largest, as for constant
        features or more components than the rank of the centred data -- cannot be scaled:
        its whitened coordinate is 0 (the pseudo-inverse), never an infinity.
    svd_solver : {"auto", "full", "covariance_eigh", "randomized"}
        "full": LAPACK SVD of the centred data (float64). "covariance_eigh": eigendecomposition
        of the d x d scatter matrix built by latentforge's float32 GEMM (for n >> d).
        "randomized": Halko et al.'s range finder with ``n_oversamples`` extra directions and
        ``n_iter`` power iterations, whose large products run on latentforge's GEMM in float32.
        "auto": covariance_eigh when n >= 10 d and d <= 1000; else randomized when both
        dimensions exceed 500 and ``n_components`` is below 80% of the smaller one; else full.
        Both float32 solvers centre the data in float64 (the mean is never truncated to an
        integer input dtype) and scale it by a power of two so that its entries lie in
        [-1, 1] before the single rounding to float32: the results do not depend on the scale
        of the data (no underflow at 1e-25, no overflow at 1e25).
    n_oversamples : int >= 1
        Randomized solver: extra random directions beyond ``n_components``.
    n_iter : int >= 0
        Randomized solver: power iterations (0: none, the plain range finder).
    random_state : None, int or numpy Generator
        Seeds the randomized solver (its random matrix is drawn on the host, so a seed gives
        the same result on a device).
    device : None, "cpu", "cuda" or "cuda:N"
        Where to fit. None (the default): where ``X`` lives (a CuPy / CUDA array: its device).
        Data on the other side is moved once, on this request. The fitted arrays
        (``components_``, ``mean_``, ...) are then CuPy arrays on that device (``device_``),
        ``transform`` / ``inverse_transform`` take data there and return CuPy arrays (TypeError
        for data on the other side), and :meth:`to` moves a fitted model (``save`` needs it on
        the host). On a device the LAPACK steps are CuPy's (cuSOLVER) and the GEMMs
        latentforge's CUDA GEMM.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        Principal axes, by decreasing variance, each with its largest-magnitude entry positive.
    explained_variance_, explained_variance_ratio_, singular_values_ : ndarray (n_components,)
        In the input's floating dtype (float64 for integer input), computed in float64 and
        rounded once. ``explained_variance_ratio_`` is 0 when X has no variance at all.
    mean_ : ndarray (n_features,), float64
    n_components_, n_features_in_, n_samples_ : int
    noise_variance_ : float
        Mean variance of the discarded directions (probabilistic PCA), 0 when none are left.
    """

    _estimator_kind = "transformer"
    _preserves_dtype = ("float64", "float32")  # transform returns float32 or float64 as given

    def __init__(self, n_components: None | int | float = None, whiten: bool = False,
                 svd_solver: str = "auto", n_oversamples: int = 10, n_iter: int = 4,
                 random_state=None, device: str | None = None):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ fitting

    def _check_X(self, X, fitted: bool) -> np.ndarray:
        """Numeric (integer input is allowed), 2-D, finite, with rows and features; once
        fitted, ``n_features_in_`` columns."""
        if fitted:
            check_is_fitted(self, "components_")
        X = check_array(X, "X", integer=True, dtype=None, min_samples=1 if fitted else 2,
                        model=self if fitted else None, device_ok=True)
        if fitted:
            check_same_device(self, X)
        return X

    def _n_keep(self, n: int, d: int) -> int | float:
        k = self.n_components
        limit = min(n, d)
        if k is None:
            return limit
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer, float,
                                                                 np.floating)):
            raise TypeError(f"n_components must be None, an int or a float, got {k!r}")
        if isinstance(k, (float, np.floating)):
            if 0.0 < k < 1.0:
                return float(k)
            if not float(k).is_integer():
                raise ValueError(f"a float n_components must be in (0, 1), got {k}")
        k = int(k)
        if not 1 <= k <= limit:
            raise ValueError(f"n_components={k} must be between 1 and min(n_samples, "
                             f"n_features)={limit}")
        return k

    def fit(self, X, y=None) -> PCA:
        """Fit the model on ``X`` (n_samples, n_features). ``y`` is ignored."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        self._fit(X)
        return self.transform(X)

    def _fit(self, X) -> None:
        # Every parameter is checked on every fit, whichever solver runs.
        choice_param(self.svd_solver, "svd_solver",
                     ("auto", "full", "covariance_eigh", "randomized"))
        int_param(self.n_oversamples, "n_oversamples")
        int_param(self.n_iter, "n_iter", low=0)
        check_random_state(self.random_state)
        if not isinstance(self.whiten, (bool, np.bool_)):
            raise TypeError(f"whiten must be a bool, got {self.whiten!r}")
        kind, index = fit_device(self, X)
        X = _device.to_device(self._check_X(X, fitted=False), kind, index, "X")
        xp = _device.array_module(X)
        n, d = X.shape
        keep = self._n_keep(n, d)
        solver = self.svd_solver
        if solver == "auto":
            small = isinstance(keep, int) and keep < 0.8 * min(n, d)
            if n >= 10 * d and d <= 1000:
                solver = "covariance_eigh"
            elif min(n, d) > 500 and small:
                solver = "randomized"
            else:
                solver = "full"
        if solver == "randomized" and not isinstance(keep, int):
            raise ValueError("a fractional n_components needs svd_solver='full'")
        self._out_dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        self.n_samples_, self.n_features_in_ = n, d
        self.device_ = _device.device_of(X)
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        if solver == "full":
            Xc = X.astype(np.float64) - self.mean_
            total_var = float(xp.einsum("ij,ij->", Xc, Xc)) / (n - 1)
            _, S, Vt = xp.linalg.svd(Xc, full_matrices=False)
            del Xc
        else:
            Xc32, scale, sum_sq = _centred_float32(X, self.mean_)
            total_var = sum_sq / (n - 1)
            if solver == "covariance_eigh":
                S, Vt = self._covariance_eigh(Xc32)
            else:
                S, Vt = self._randomized(Xc32, keep)
            del Xc32
            S = S * scale
        if solver != "randomized":
            Vt, _ = _sign_flip(Vt)
            if isinstance(keep, float):
                if total_var > 0:
                    ratio = _device.to_device(xp.cumsum(S**2 / (n - 1)), "cpu") / total_var
                    keep = min(int(np.searchsorted(ratio, keep, side="left") + 1), len(S))
                else:  # no variance at all: one (null) component explains all there is
                    keep = 1
            S, Vt = S[:keep], Vt[:keep]
        S = S.astype(np.float64)
        var = S**2 / (n - 1)
        self.n_components_ = int(keep)
        self.components_ = Vt.astype(self._out_dtype)
        self.singular_values_ = S.astype(self._out_dtype)
        self.explained_variance_ = var.astype(self._out_dtype)
        ratio = var / total_var if total_var > 0 else xp.zeros_like(var)
        self.explained_variance_ratio_ = ratio.astype(self._out_dtype)
        rest = total_var - float(var.sum())
        left = min(n, d) - self.n_components_
        self.noise_variance_ = max(rest, 0.0) / left if left > 0 else 0.0

    def _covariance_eigh(self, Xc: np.ndarray):
        """Eigendecomposition of the d x d scatter matrix of the centred, scaled float32 data
        ``Xc`` (:func:`_centred_float32`), formed by latentforge's float32 GEMM (2 n d^2 flops,
        one pass over the data): fast when n >> d. Small eigenvalues carry float32 rounding
        (about 1e-7 of the largest), so the leading components are accurate and the trailing
        ones less so than with "full". Returns the singular values of ``Xc`` and the axes."""
        xp = _device.array_module(Xc)
        C = ops.gemm(Xc, Xc, trans_a=True).astype(np.float64)
        C = 0.5 * (C + C.T)
        w, V = xp.linalg.eigh(C)
        order = xp.argsort(w)[::-1][:min(Xc.shape)]
        S = xp.sqrt(xp.maximum(w[order], 0.0))
        return S, xp.ascontiguousarray(V[:, order].T)

    def _randomized(self, Xc: np.ndarray, k: int):
        """Halko, Martinsson & Tropp (2011), algorithm 4.4 with QR-stabilised power iterations,
        on the centred, scaled float32 data ``Xc`` (:func:`_centred_float32`). The products
        with the (n x d) data run on latentforge's float32 GEMM."""
        rng = check_random_state(self.random_state)
        xp = _device.array_module(Xc)
        n, d = Xc.shape
        p = min(k + int(self.n_oversamples), min(n, d))
        Q = xp.asarray(rng.standard_normal((d, p)).astype(np.float32))
        Y = ops.gemm(Xc, Q)                                  # n x p
        Q, _ = xp.linalg.qr(Y)
        for _ in range(int(self.n_iter)):
            Z = ops.gemm(Xc, xp.ascontiguousarray(Q, np.float32), trans_a=True)  # d x p
            Z, _ = xp.linalg.qr(Z)
            Y = ops.gemm(Xc, xp.ascontiguousarray(Z, np.float32))               # n x p
            Q, _ = xp.linalg.qr(Y)
        Q = xp.ascontiguousarray(Q, np.float32)
        Bt = ops.gemm(Xc, Q, trans_a=True)                   # d x p = (Q^T Xc)^T
        _, S, Vt = xp.linalg.svd(Bt.T.astype(np.float64), full_matrices=False)
        Vt, _ = _sign_flip(Vt[:k].copy())
        return S[:k], Vt

    # ------------------------------------------------------------------ transforms

    def _check_fitted(self) -> None:
        check_is_fitted(self, "components_")

    def _whiten_std(self) -> np.ndarray:
        """Per component, the float64 standard deviation that whitening divides by, with 0
        for the components of zero variance (see ``whiten``)."""
        std = self.singular_values_.astype(np.float64) / math.sqrt(self.n_samples_ - 1)
        tol = (float(std.max()) if std.size else 0.0) * \
            max(self.n_samples_, self.n_features_in_) * np.finfo(np.float64).eps
        std[std <= tol] = 0.0
        return std

    def transform(self, X) -> np.ndarray:
        """Project ``X`` on the principal axes (whitened when ``whiten``)."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        xp = _device.array_module(X)
        Z = (X.astype(np.float64) - self.mean_) @ self.components_.T.astype(np.float64)
        if self.whiten:
            std = self._whiten_std()
            Z = xp.where(std > 0, Z / xp.where(std > 0, std, 1.0), 0.0)
        return Z.astype(self._out_dtype, copy=False)

    _DEVICE_ARRAYS = ("mean_", "components_", "singular_values_", "explained_variance_",
                      "explained_variance_ratio_")

    def to(self, device: str) -> PCA:
        """Move the fitted arrays to ``device`` ("cpu", "cuda" or "cuda:N"); returns self."""
        self._check_fitted()
        kind, index = _device.use_device(device)
        for name in self._DEVICE_ARRAYS:
            setattr(self, name, _device.to_device(getattr(self, name), kind, index, name))
        self.device_ = _device.device_of(self.components_)
        return self

    def inverse_transform(self, Z) -> np.ndarray:
        """Map projections ``Z`` (n, n_components_) back to the input space. ``Z`` is checked
        as ``X`` is by ``transform`` (numeric, 2-D, finite)."""
        self._check_fitted()
        Z = check_array(Z, "Z", integer=True, dtype=None, model=self,
                        n_features=self.n_components_, device_ok=True)
        check_same_device(self, Z, "Z")
        Z = Z.astype(np.float64)
        if self.whiten:
            Z = Z * self._whiten_std()
        return (Z @ self.components_.astype(np.float64) + self.mean_).astype(self._out_dtype)
