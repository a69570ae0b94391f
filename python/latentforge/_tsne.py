"""Input affinities of t-SNE (internal; the building block of Barnes-Hut t-SNE).

* :func:`knn` -- exact k nearest neighbours (squared Euclidean) with the native kernel
  ``_C.knn``: float32 distances from single-threaded GEMM tiles kept in L2, a bounded heap per
  query row, OpenMP over blocks of query rows; memory ``O(n k)`` plus a small tile per thread.
* :func:`joint_probabilities` -- the sparse symmetrised affinities
  ``P = (P_cond + P_cond^T) / (2 n)`` of van der Maaten (2014), with the per-point perplexity
  calibration of the native kernel ``_C.tsne_perplexity`` over the ``k = 3 * perplexity``
  nearest neighbours, symmetrised by the native ``_C.tsne_symmetrize``. Returned as a
  scipy-free CSR triplet ``(indptr, indices, data)``.

All three kernels give results that are bitwise independent of the thread count.
"""

from __future__ import annotations

import numpy as np

from . import _C


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


def knn(X, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row of X among the other rows (self excluded).

    Squared distances are computed in float32 as ``max(0, (|x|^2 + |y|^2) - 2 x.y)`` with the
    library's GEMM (native kernel ``_C.knn``, see ``csrc/ops/knn.h``). Neighbours come in
    ascending order of (distance, index): ties between equal computed distances go to the
    smaller index, so the result is deterministic and bitwise independent of the thread count.
    The computed distance of a pair is the same whichever row asks and wherever it falls in the
    tiling (exact duplicates are at distance exactly 0), but it can differ from the exact
    squared distance by float32 rounding, so neighbours whose exact distances differ by less
    than that may come out in either order compared with an exact computation.

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
    return _C.knn(X, k)


def conditional_probabilities(
    sq_distances, perplexity: float, tol: float = 1e-5, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise calibrated ``p_j|i`` over the given neighbour distances (native kernel).

    Returns ``(P, beta)``: float32 (n, k) rows summing to 1 with entropy ``log(perplexity)``
    within ``tol`` nats, and the float32 precisions ``beta = 1 / (2 sigma^2)``.
    """
    D = np.ascontiguousarray(sq_distances, dtype=np.float32)
    return _C.tsne_perplexity(D, float(perplexity), float(tol), int(max_iter))


def joint_probabilities(
    X, perplexity: float = 30.0, k: int | None = None, *, tol: float = 1e-5,
    max_iter: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    # Symmetrise natively: p_{j|i} + p_{i|j} added in double, divided by 2n, rounded once to
    # float32; bit for bit the former numpy argsort / reduceat code (tests/ops/test_knn.py).
    return _C.tsne_symmetrize(nbr, Pc, n)
