"""Input affinities of t-SNE (internal; the building block of Barnes-Hut t-SNE).

* :func:`knn` -- exact k nearest neighbours by blocked brute force (squared Euclidean distances
  through ``lf.ops.gemm``), memory ``O(block * n)``.
* :func:`joint_probabilities` -- the sparse symmetrised affinities
  ``P = (P_cond + P_cond^T) / (2 n)`` of van der Maaten (2014), with the per-point perplexity
  calibration of the native kernel ``_C.tsne_perplexity`` over the ``k = 3 * perplexity``
  nearest neighbours. Returned as a scipy-free CSR triplet ``(indptr, indices, data)``.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import _C, ops

#: Rows of X per distance block in :func:`knn` (a block holds ``block * n`` float32 distances).
KNN_BLOCK = 2048


def _check_X(X, name: str = "X") -> np.ndarray:
    try:
        X = np.asarray(X)
    except Exception as e:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be array-like: {e}") from None
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {X.ndim}-D")
    X = np.ascontiguousarray(X, dtype=np.float32)
    if X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature")
    finite = np.isfinite(X).all(axis=1)
    if not finite.all():
        raise ValueError(
            f"{name} contains NaN or Inf (first bad row {int(np.argmin(finite))})"
        )
    return X


def knn(X, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of X among the other rows (self excluded).

    Squared distances ``|x|^2 + |y|^2 - 2 x.y`` (float32, via ``lf.ops.gemm``), clipped at 0,
    computed in blocks of :data:`KNN_BLOCK` rows. Ties between equal distances are broken
    arbitrarily.

    Returns
    -------
    indices : int64 (n, k), neighbours in ascending distance order.
    sq_distances : float32 (n, k), the matching squared distances (ascending).
    """
    X = _check_X(X)
    n = X.shape[0]
    k = int(k)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must satisfy 1 <= k <= n - 1 = {n - 1}, got {k}")
    sq = np.einsum("ij,ij->i", X, X, dtype=np.float32)
    indices = np.empty((n, k), dtype=np.int64)
    dists = np.empty((n, k), dtype=np.float32)
    for lo in range(0, n, KNN_BLOCK):
        hi = min(n, lo + KNN_BLOCK)
        D = ops.gemm(X[lo:hi], X, trans_b=True, alpha=-2.0)  # -2 x.y, (b, n)
        D += sq[lo:hi, None]
        D += sq[None, :]
        np.maximum(D, 0.0, out=D)
        rows = np.arange(hi - lo)
        D[rows, lo + rows] = np.inf  # exclude the point itself
        if k < n - 1:
            part = np.argpartition(D, k - 1, axis=1)[:, :k]
        else:
            part = np.argsort(D, axis=1)[:, :k]
        dpart = np.take_along_axis(D, part, axis=1)
        order = np.argsort(dpart, axis=1, kind="stable")
        indices[lo:hi] = np.take_along_axis(part, order, axis=1)
        dists[lo:hi] = np.take_along_axis(dpart, order, axis=1)
    return indices, dists


def conditional_probabilities(
    sq_distances, perplexity: float, tol: float = 1e-5, max_iter: int = 200
) -> Tuple[np.ndarray, np.ndarray]:
    """Row-wise calibrated ``p_j|i`` over the given neighbour distances (native kernel).

    Returns ``(P, beta)``: float32 (n, k) rows summing to 1 with entropy ``log(perplexity)``
    within ``tol`` nats, and the float32 precisions ``beta = 1 / (2 sigma^2)``.
    """
    D = np.ascontiguousarray(sq_distances, dtype=np.float32)
    return _C.tsne_perplexity(D, float(perplexity), float(tol), int(max_iter))


def joint_probabilities(
    X, perplexity: float = 30.0, k: Optional[int] = None, *, tol: float = 1e-5,
    max_iter: int = 200,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse symmetric t-SNE input affinities ``P = (P_cond + P_cond^T) / (2 n)``.

    Parameters
    ----------
    X : array_like (n, d), finite real numbers (converted to float32).
    perplexity : float > 0
        Effective number of neighbours. By default ``k = min(n - 1, int(3 * perplexity))``
        nearest neighbours are used, which needs ``n - 1 >= 3 * perplexity``.
    k : int, optional
        Number of neighbours, ``perplexity <= k <= n - 1``.

    Returns
    -------
    indptr : int64 (n + 1,), indices : int64 (nnz,), data : float32 (nnz,)
        CSR of the symmetric matrix P (no diagonal; column indices sorted within each row;
        non-negative; entries sum to 1).
    """
    X = _check_X(X)
    n = X.shape[0]
    perplexity = float(perplexity)
    if not (np.isfinite(perplexity) and perplexity > 0):
        raise ValueError(f"perplexity must be a finite number > 0, got {perplexity}")
    if k is None:
        if n - 1 < 3 * perplexity:
            need = int(np.ceil(3 * perplexity)) + 1
            raise ValueError(
                f"perplexity {perplexity:g} needs n - 1 >= 3 * perplexity neighbours, i.e. at "
                f"least {need} samples, got n = {n}; lower the perplexity or pass k explicitly"
            )
        k = max(1, min(n - 1, int(3 * perplexity)))
    else:
        k = int(k)
        if not 1 <= k <= n - 1:
            raise ValueError(f"k must satisfy 1 <= k <= n - 1 = {n - 1}, got {k}")
        if perplexity > k:
            raise ValueError(f"perplexity ({perplexity:g}) must not exceed k = {k}")
    nbr, d = knn(X, k)
    Pc, _ = conditional_probabilities(d, perplexity, tol, max_iter)
    # Symmetrise: entries (i, j, p_j|i) and (j, i, p_j|i), summed per (row, col) in float64.
    rows = np.repeat(np.arange(n, dtype=np.int64), k)
    cols = nbr.ravel()
    vals = Pc.ravel().astype(np.float64)
    keys = np.concatenate([rows * n + cols, cols * n + rows])
    vals = np.concatenate([vals, vals])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    vals = vals[order]
    start = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ukeys = keys[start]
    data = np.add.reduceat(vals, start) / (2.0 * n)
    out_rows = ukeys // n
    indices = ukeys - out_rows * n
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(out_rows, minlength=n), out=indptr[1:])
    return indptr, indices.astype(np.int64), data.astype(np.float32)
