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

On a CUDA device (X a CuPy / CUDA array): the same three steps run on the device, through the
CUDA siblings of the kernels (``_C.device.knn``, ``_C.device.tsne_perplexity``,
``_C.device.tsne_symmetrize``, see :func:`knn_device`, :func:`conditional_probabilities_device`,
:func:`symmetrize_device`), and the CSR comes back as CuPy arrays on that device. The
kernels cannot raise on the device: they set error flags, which are read back (one int32 each)
and raised as the same ValueError the host kernels raise. The launchers of the t-SNE gradient
and optimiser-step entries (:func:`gradient_exact_device`, :func:`gradient_bh_device`,
:func:`step_device`, :func:`step_bh_device`) used by :class:`latentforge.models.TSNE` on a device
are here too. Nothing crosses between host and device except those flags, the number of
non-zeros and, on an error, the offending row.
"""

from __future__ import annotations

import numpy as np

from . import _C, _device


def _check_X(X, name: str = "X") -> np.ndarray:
    """X as a C-contiguous float32 2-D array of finite numbers with at least one feature, where
    it lives (a device array is checked on its device, the finite test a reduction there)."""
    X = _device.as_array(X, name)
    xp = _device.array_module(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {X.ndim}-D")
    X = xp.ascontiguousarray(X, dtype=np.float32)
    if X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one feature")
    finite = xp.isfinite(X).all(axis=1)
    if not bool(finite.all()):
        raise ValueError(
            f"{name} contains NaN or Inf (first bad row {int(xp.argmin(finite.astype(np.int8)))})"
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
    if isinstance(X, np.ndarray):
        return _C.knn(X, k)
    return knn_device(X, k)


def conditional_probabilities(
    sq_distances, perplexity: float, tol: float = 1e-5, max_iter: int = 200
) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise calibrated ``p_j|i`` over the given neighbour distances (native kernel).

    Returns ``(P, beta)``: float32 (n, k) rows summing to 1 with entropy ``log(perplexity)``
    within ``tol`` nats, and the float32 precisions ``beta = 1 / (2 sigma^2)``.
    """
    if _device.on_device(sq_distances):
        return conditional_probabilities_device(sq_distances, perplexity, tol, max_iter)
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
        non-negative; entries sum to 1). CuPy arrays on X's device when X is a device array
        (every step then runs there).
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
    if not isinstance(X, np.ndarray):
        return symmetrize_device(nbr, Pc, n)
    # Symmetrise natively: p_{j|i} + p_{i|j} added in double, divided by 2n, rounded once to
    # float32; bit for bit the former numpy argsort / reduceat code (tests/ops/test_knn.py).
    return _C.tsne_symmetrize(nbr, Pc, n)


# ---------------------------------------------------------------------- on a CUDA device
#
# One launcher per ``_C.device`` entry: CuPy arrays in (on one device), CuPy arrays out, each
# launch through :class:`latentforge._device.Call` (its float32 arguments checked, the CUDA
# build and device checked, enqueued on CuPy's current stream). The int64 / float64 / int32
# buffers are allocated by the call on the same device and passed by address.

#: ``kKnnMaxSqNorm`` of csrc/ops/knn.h: the largest squared row norm knn accepts (FLT_MAX / 4).
_KNN_MAX_SQ_NORM = float(np.float32(np.finfo(np.float32).max) / np.float32(4.0))


def knn_device(X, k: int):
    """:func:`knn` on the device (``_C.device.knn``): X a C-contiguous float32 CuPy array (n, d),
    finite. Returns (indices int64 (n, k), sq_distances float32 (n, k)) on X's device. The
    distances are those of the device GEMM: they can differ from the host's by float32
    rounding (csrc/ops/knn.h). A squared norm beyond FLT_MAX / 4 raises the host's ValueError:
    the kernel sets a device flag, read back here (one int32), and the offending row is found
    on the device."""
    call = _device.Call("knn", X=X)
    X = call.contiguous("X").obj
    n, d = X.shape
    k = int(k)
    indices = call.empty((n, k), np.int64)
    sq = call.empty((n, k), np.float32)
    flag = call.zeros((1,), np.int32)
    call.launch(_C.device.knn, _device.ptr(indices), _device.ptr(sq), _device.ptr(flag),
                _device.ptr(X), n, d, k)
    if int(flag[0]):
        xp = _device.array_module(X)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is what is looked for
            norms = (X * X).sum(axis=1)
        bad = ~(norms <= _KNN_MAX_SQ_NORM)
        if bool(bad.any()):
            row = int(xp.argmax(bad.astype(np.int8)))
            raise ValueError(f"knn: the squared norm of row {row} ({float(norms[row]):g}) exceeds "
                             f"{_KNN_MAX_SQ_NORM:g}: float32 distances would overflow; rescale X")
        raise ValueError("knn: X contains NaN or Inf, or a squared norm exceeds FLT_MAX/4 "
                         "(float32 distances would overflow; rescale X)")
    return indices, sq


def conditional_probabilities_device(sq_distances, perplexity: float, tol: float = 1e-5,
                                     max_iter: int = 200):
    """:func:`conditional_probabilities` on the device (``_C.device.tsne_perplexity``):
    ``sq_distances`` a float32 CuPy array (rows, k) of finite distances (the device does not
    check them; :func:`knn_device`'s are). Returns (P (rows, k), beta (rows,)) float32 there."""
    call = _device.Call("tsne_perplexity", D=sq_distances)
    D = call.contiguous("D").obj
    if D.ndim != 2 or D.shape[1] < 1:
        raise ValueError(f"D must be 2-D with at least one column (k >= 1), got shape {D.shape}")
    rows, k = D.shape
    P = call.empty((rows, k))
    beta = call.empty((rows,))
    call.launch(_C.device.tsne_perplexity, _device.ptr(P), _device.ptr(beta), _device.ptr(D),
                rows, k, float(perplexity), float(tol), int(max_iter))
    return P, beta


def _symmetrize_row_error(nbr_row: np.ndarray, p_row: np.ndarray, n: int, i: int) -> str:
    """The host kernel's message for row ``i`` (host copies of its k entries), which the device
    flagged as the first invalid row (the checks of csrc/ops/tsne_symmetrize_cuda.cuh, in the
    CPU kernel's order)."""
    for t, (j, p) in enumerate(zip(nbr_row.tolist(), p_row.tolist())):
        if not 0 <= j < n:
            return f"tsne_symmetrize: indices[{i}, {t}] = {j} is out of range [0, {n})"
        if j == i:
            return (f"tsne_symmetrize: indices[{i}, {t}] = {i} is the row itself "
                    "(self-neighbours are not allowed)")
        if not np.isfinite(p):
            return f"tsne_symmetrize: P_cond[{i}, {t}] is NaN or Inf"
    row = np.sort(nbr_row)
    dup = row[1:][row[1:] == row[:-1]]
    if dup.size:
        return f"tsne_symmetrize: row {i} of indices lists neighbour {int(dup[0])} more than once"
    return (f"tsne_symmetrize_cuda: the device flagged row {i} as invalid but the host finds "
            "nothing wrong with it")


def symmetrize_device(nbr, P_cond, n: int):
    """``_C.tsne_symmetrize(nbr, P_cond, n)`` on the device (``_C.device.tsne_symmetrize``):
    nbr int64 (n, k) and P_cond float32 (n, k) CuPy arrays. Returns the CSR (indptr int64
    (n + 1,), indices int64 (nnz,), data float32 (nnz,)) on their device, bit for bit the host
    kernel's. The kernel writes into buffers of the upper bound 2 n k entries and sets an error
    row; both that and nnz are read back (the CSR arrays returned are views of the buffers). An
    invalid row raises the host kernel's ValueError (its k entries are copied to the host to
    word it)."""
    _device.classify({"P_cond": P_cond, "indices": nbr})  # TypeError for host indices
    call = _device.Call("tsne_symmetrize", P_cond=P_cond)
    P_cond = call.contiguous("P_cond").obj
    xp = _device.array_module(P_cond)
    n = int(n)
    if nbr.dtype != np.int64 or nbr.shape != P_cond.shape or nbr.shape[0] != n:
        raise ValueError(f"tsne_symmetrize: indices must be int64 of the shape of P_cond "
                         f"(n = {n} rows), got {nbr.dtype} {nbr.shape} and {P_cond.shape}")
    nbr = xp.ascontiguousarray(nbr)
    k = int(nbr.shape[1])
    indptr = call.empty((n + 1,), np.int64)
    indices = call.empty((2 * n * k,), np.int64)
    data = call.empty((2 * n * k,), np.float32)
    error = call.empty((1,), np.int32)
    call.launch(_C.device.tsne_symmetrize, _device.ptr(indptr), _device.ptr(indices),
                _device.ptr(data), _device.ptr(error), _device.ptr(nbr), _device.ptr(P_cond),
                n, k)
    head = _device.to_device(xp.stack([error[0].astype(np.int64), indptr[n]]), "cpu")
    bad, nnz = int(head[0]), int(head[1])
    if bad >= 0:
        raise ValueError(_symmetrize_row_error(_device.to_device(nbr[bad], "cpu"),
                                               _device.to_device(P_cond[bad], "cpu"), n, bad))
    return indptr, indices[:nnz], data[:nnz]


def _kl_buffer(call, compute_kl: bool):
    """One float64 on the call's device for an entry's KL (NaN-filled), or None (address 0:
    not computed)."""
    if not compute_kl:
        return None
    kl = call.empty((1,), np.float64)
    kl.fill(np.nan)
    return kl


def gradient_exact_device(Y32, P, exaggeration: float, compute_kl: bool = True):
    """``_C.tsne_gradient_exact`` on the device (``_C.device.tsne_gradient_exact``): Y32 float32
    (n, 2), P dense float32 (n, n). Returns (grad float32 (n, 2), kl: a float64 (1,) device
    array, or None when not computed); bit for bit the host kernel's gradient."""
    call = _device.Call("tsne_gradient_exact", Y=Y32, P=P)
    Y32, P = call.contiguous("Y").obj, call.contiguous("P").obj
    n = int(Y32.shape[0])
    grad = call.empty((n, 2))
    kl = _kl_buffer(call, compute_kl)
    call.launch(_C.device.tsne_gradient_exact, _device.ptr(grad),
                0 if kl is None else _device.ptr(kl), _device.ptr(Y32), _device.ptr(P), n,
                float(exaggeration))
    return grad, kl


def gradient_bh_device(Y32, indptr, indices, pvals, theta: float, exaggeration: float,
                       compute_kl: bool = True):
    """``_C.tsne_gradient_bh`` (the per-point Barnes-Hut criterion of csrc/ops/tsne_bh.h) on the
    device (``_C.device.tsne_gradient_bh``: the quadtree is built on the host from a copy of
    Y32, the call synchronizes the stream). Returns (grad float32 (n, 2), kl (1,) or None)."""
    call = _device.Call("tsne_gradient_bh", Y=Y32, pvals=pvals)
    Y32 = call.contiguous("Y").obj
    n, nnz = int(Y32.shape[0]), int(pvals.shape[0])
    grad = call.empty((n, 2))
    kl = _kl_buffer(call, compute_kl)
    call.launch(_C.device.tsne_gradient_bh, _device.ptr(grad),
                0 if kl is None else _device.ptr(kl), _device.ptr(Y32), _device.ptr(indptr),
                _device.ptr(indices), _device.ptr(pvals), n, nnz, float(theta),
                float(exaggeration))
    return grad, kl


def step_device(Y, update, gains, grad, momentum: float, learning_rate: float,
                min_gain: float):
    """The optimiser step of ``TsneBarnesHut.step`` given the gradient, on the device
    (``_C.device.tsne_step``): Y, update, gains float64 (n, 2) C-contiguous CuPy arrays, updated
    in place in double (csrc/ops/tsne_grouped.h), grad float32 (n, 2). Returns ``finite``, an
    int32 (1,) device array: 0 (and nothing modified) when grad has a NaN or Inf."""
    call = _device.Call("tsne_step", grad=grad)
    grad = call.contiguous("grad").obj
    finite = call.empty((1,), np.int32)
    call.launch(_C.device.tsne_step, _device.ptr(Y), _device.ptr(update), _device.ptr(gains),
                _device.ptr(finite), _device.ptr(grad), int(Y.shape[0]), float(momentum),
                float(learning_rate), float(min_gain))
    return finite


def step_bh_device(Y, update, gains, indptr, indices, pvals, theta: float,
                   exaggeration: float, momentum: float, learning_rate: float, min_gain: float,
                   compute_kl: bool):
    """One whole Barnes-Hut iteration on the device (``_C.device.tsne_step_bh``): the gradient
    of :func:`gradient_bh_device` at float32(Y) -- the per-point criterion, not the host's
    grouped one, so the device follows ``_C.tsne_gradient_bh``'s trajectory -- then the step of
    :func:`step_device`, in place on Y, update, gains (float64 (n, 2)). The call synchronizes
    the stream (the quadtree is built on the host). Returns (finite int32 (1,), kl float64 (1,)
    or None), device arrays; the KL is that of the gradient, with the Barnes-Hut Z."""
    call = _device.Call("tsne_step_bh", pvals=pvals)
    finite = call.empty((1,), np.int32)
    kl = _kl_buffer(call, compute_kl)
    call.launch(_C.device.tsne_step_bh, _device.ptr(Y), _device.ptr(update), _device.ptr(gains),
                _device.ptr(finite), 0 if kl is None else _device.ptr(kl), _device.ptr(indptr),
                _device.ptr(indices), _device.ptr(pvals), int(Y.shape[0]), int(pvals.shape[0]),
                float(theta), float(exaggeration), float(momentum), float(learning_rate),
                float(min_gain))
    return finite, kl
