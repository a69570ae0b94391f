"""Principal component analysis (exact LAPACK SVD, or randomized for large inputs)."""

from __future__ import annotations

from typing import Union

import numpy as np

from .. import ops
from ._base import ParamsMixin
from .._backend import check_random_state


def _sign_flip(components: np.ndarray):
    """Deterministic signs: the largest-magnitude entry of every component is positive (the
    convention of scikit-learn >= 1.5)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), idx])
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
        Scale the projections to unit variance.
    svd_solver : {"auto", "full", "covariance_eigh", "randomized"}
        "full": LAPACK SVD of the centred data (float64). "covariance_eigh": eigendecomposition
        of the d x d scatter matrix built by latentforge's float32 GEMM (for n >> d).
        "randomized": Halko et al.'s range finder with ``n_oversamples`` extra directions and
        ``n_iter`` power iterations, whose large products run on latentforge's GEMM in float32.
        "auto": covariance_eigh when n >= 10 d and d <= 1000; else randomized when both
        dimensions exceed 500 and ``n_components`` is below 80% of the smaller one; else full.
    n_oversamples, n_iter : int
        Randomized solver settings.
    random_state : None, int or numpy Generator
        Seeds the randomized solver.

    Attributes
    ----------
    components_ : ndarray (n_components, n_features)
        Principal axes, by decreasing variance, each with its largest-magnitude entry positive.
    explained_variance_, explained_variance_ratio_, singular_values_ : ndarray (n_components,)
    mean_ : ndarray (n_features,)
    n_components_, n_features_in_, n_samples_ : int
    noise_variance_ : float
        Mean variance of the discarded directions (probabilistic PCA), 0 when none are left.
    """

    def __init__(self, n_components: Union[None, int, float] = None, whiten: bool = False,
                 svd_solver: str = "auto", n_oversamples: int = 10, n_iter: int = 4,
                 random_state=None):
        self.n_components = n_components
        self.whiten = whiten
        self.svd_solver = svd_solver
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting

    def _check_X(self, X, fitted: bool) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "fiu" or X.dtype == np.bool_:
            raise TypeError(f"X must be a numeric array, got dtype {X.dtype}")
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got {X.ndim}-D array of shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        if fitted and X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted with "
                             f"{self.n_features_in_}")
        return X

    def _n_keep(self, n: int, d: int) -> Union[int, float]:
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

    def fit(self, X, y=None) -> "PCA":
        """Fit the model on ``X`` (n_samples, n_features). ``y`` is ignored."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        self._fit(X)
        return self.transform(X)

    def _fit(self, X) -> None:
        X = self._check_X(X, fitted=False)
        n, d = X.shape
        if n < 2:
            raise ValueError(f"PCA needs at least 2 samples, got {n}")
        if self.svd_solver not in ("auto", "full", "covariance_eigh", "randomized"):
            raise ValueError(f"svd_solver must be 'auto', 'full', 'covariance_eigh' or "
                             f"'randomized', got {self.svd_solver!r}")
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
        self._out_dtype = X.dtype if X.dtype.kind == "f" else np.float64
        self.n_samples_, self.n_features_in_ = n, d
        self.mean_ = X.mean(axis=0, dtype=np.float64)
        if solver in ("full", "covariance_eigh"):
            if solver == "full":
                Xc = X.astype(np.float64) - self.mean_
                total_var = float(np.einsum("ij,ij->", Xc, Xc) / (n - 1))
                _, S, Vt = np.linalg.svd(Xc, full_matrices=False)
            else:
                S, Vt, scatter_trace = self._covariance_eigh(X)
                total_var = scatter_trace / (n - 1)
            Vt, _ = _sign_flip(Vt)
            var = S**2 / (n - 1)
            if isinstance(keep, float):
                ratio = np.cumsum(var) / total_var
                keep = int(np.searchsorted(ratio, keep, side="left") + 1)
                keep = min(keep, len(S))
            S, Vt = S[:keep], Vt[:keep]
        else:
            Xc = X.astype(np.float64) - self.mean_
            total_var = float(np.einsum("ij,ij->", Xc, Xc) / (n - 1))
            del Xc
            S, Vt = self._randomized(X, keep)
        self.n_components_ = int(keep)
        self.components_ = Vt.astype(self._out_dtype)
        self.singular_values_ = S.astype(self._out_dtype)
        self.explained_variance_ = (S**2 / (n - 1)).astype(self._out_dtype)
        self.explained_variance_ratio_ = (self.explained_variance_ / total_var).astype(
            self._out_dtype)
        rest = total_var - float(np.sum(S.astype(np.float64) ** 2) / (n - 1))
        left = min(n, d) - self.n_components_
        self.noise_variance_ = max(rest, 0.0) / left if left > 0 else 0.0

    def _covariance_eigh(self, X: np.ndarray):
        """Eigendecomposition of the d x d scatter matrix, formed by latentforge's float32 GEMM
        (2 n d^2 flops, one pass over the data): fast when n >> d. Small eigenvalues carry
        float32 rounding (about 1e-7 of the largest), so the leading components are accurate
        and the trailing ones less so than with "full"."""
        Xc = np.subtract(X, self.mean_.astype(X.dtype), dtype=np.float32)
        C = ops.gemm(Xc, Xc, trans_a=True).astype(np.float64)
        C = 0.5 * (C + C.T)
        w, V = np.linalg.eigh(C)
        order = np.argsort(w)[::-1][:min(X.shape)]
        S = np.sqrt(np.maximum(w[order], 0.0))
        return S, np.ascontiguousarray(V[:, order].T), float(np.trace(C))

    def _randomized(self, X: np.ndarray, k: int):
        """Halko, Martinsson & Tropp (2011), algorithm 4.4 with QR-stabilised power iterations.
        The products with the (n x d) data run on latentforge's float32 GEMM."""
        rng = check_random_state(self.random_state)
        n, d = X.shape
        Xc = np.subtract(X, self.mean_.astype(X.dtype), dtype=np.float32)
        p = min(k + int(self.n_oversamples), min(n, d))
        Q = rng.standard_normal((d, p)).astype(np.float32)
        Y = ops.gemm(Xc, Q)                                  # n x p
        Q, _ = np.linalg.qr(Y)
        for _ in range(int(self.n_iter)):
            Z = ops.gemm(Xc, np.ascontiguousarray(Q, np.float32), trans_a=True)  # d x p
            Z, _ = np.linalg.qr(Z)
            Y = ops.gemm(Xc, np.ascontiguousarray(Z, np.float32))               # n x p
            Q, _ = np.linalg.qr(Y)
        Q = np.ascontiguousarray(Q, np.float32)
        Bt = ops.gemm(Xc, Q, trans_a=True)                   # d x p = (Q^T Xc)^T
        _, S, Vt = np.linalg.svd(Bt.T.astype(np.float64), full_matrices=False)
        Vt, _ = _sign_flip(Vt[:k].copy())
        return S[:k], Vt

    # ------------------------------------------------------------------ transforms

    def _check_fitted(self) -> None:
        if not hasattr(self, "components_"):
            raise AttributeError("this PCA is not fitted yet; call fit first")

    def transform(self, X) -> np.ndarray:
        """Project ``X`` on the principal axes (whitened when ``whiten``)."""
        self._check_fitted()
        X = self._check_X(X, fitted=True)
        Z = (X.astype(np.float64) - self.mean_) @ self.components_.T.astype(np.float64)
        if self.whiten:
            Z /= np.sqrt(self.explained_variance_.astype(np.float64))
        return Z.astype(self._out_dtype, copy=False)

    def inverse_transform(self, Z) -> np.ndarray:
        """Map projections back to the input space."""
        self._check_fitted()
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.n_components_:
            raise ValueError(f"Z must have shape (n, {self.n_components_}), got {Z.shape}")
        if self.whiten:
            Z = Z * np.sqrt(self.explained_variance_.astype(np.float64))
        return (Z @ self.components_.astype(np.float64) + self.mean_).astype(self._out_dtype)
