"""Dense linear algebra on latentforge's native kernels.

Input rules are those of :mod:`latentforge._backend`: float32 inputs are used in place,
float64/float16 and non-contiguous inputs are converted to float32 once per call, and
integer/bool/complex/object inputs raise ``TypeError``. The GIL is released while the kernel
runs, so calls from several Python threads run in parallel.
"""

from __future__ import annotations

import numpy as np

from . import _C
from ._backend import Activation, as_float32, as_float32_matrix
from ._backend import activation as _activation

__all__ = ["gemm", "linear"]


def _check_output(C: np.ndarray, shape: tuple[int, int], *inputs: np.ndarray) -> None:
    if not isinstance(C, np.ndarray):
        raise TypeError(f"C must be a numpy array, got {type(C).__name__}")
    if C.dtype != np.float32:
        raise TypeError(f"C must be float32 (it is written in place), got dtype {C.dtype}")
    if C.ndim != 2 or C.shape != shape:
        raise ValueError(f"C must have shape {shape}, got {C.shape}")
    if not C.flags.c_contiguous:
        raise ValueError("C must be C-contiguous (it is written in place)")
    if not C.flags.writeable:
        raise ValueError("C must be writable")
    for x in inputs:
        if np.may_share_memory(C, x):
            raise ValueError("C must not overlap A, B or bias")


def _check_scalar(v: float, name: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}") from None
    if not np.isfinite(f):
        raise ValueError(f"{name} must be finite, got {f}")
    if abs(f) > float(np.finfo(np.float32).max):
        # The kernels compute in float32: such a factor would become infinity there.
        raise ValueError(f"{name} must be within the float32 range (|{name}| <= 3.4e38), got {f}")
    return f


def _matmul(A, B, C, trans_a, trans_b, alpha, beta, bias, act,
            names=("A", "B", "bias")) -> np.ndarray:
    a, flip_a = as_float32_matrix(A, names[0])
    b, flip_b = as_float32_matrix(B, names[1])
    ta, tb = bool(trans_a) ^ flip_a, bool(trans_b) ^ flip_b
    M = a.shape[1] if ta else a.shape[0]
    K = a.shape[0] if ta else a.shape[1]
    Kb = b.shape[1] if tb else b.shape[0]
    N = b.shape[0] if tb else b.shape[1]
    if K != Kb:
        raise ValueError(
            f"inner dimensions do not match: op({names[0]}) has shape ({M}, {K}) and "
            f"op({names[1]}) has shape ({Kb}, {N})"
        )
    if M * N * 4 >= 2**63:
        raise ValueError(f"output of shape ({M}, {N}) overflows a 64-bit size")
    if bias is not None:
        bias = as_float32(bias, names[2], ndim=1)
        if bias.shape[0] != N:
            raise ValueError(f"{names[2]} must have shape ({N},), got {bias.shape}")
        bias = np.ascontiguousarray(bias)
    if C is not None:
        _check_output(C, (M, N), a, b, *(() if bias is None else (bias,)))
    elif beta != 0.0:
        raise ValueError("beta != 0 needs an input C (C=None means C is treated as absent)")
    return _C.gemm(a, b, C, ta, tb, alpha, beta, bias, act)


def gemm(
    A,
    B,
    C: np.ndarray | None = None,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> np.ndarray:
    """General matrix multiply: ``C = alpha * op(A) @ op(B) + beta * C`` in float32.

    Parameters
    ----------
    A, B : array_like, 2-D
        ``op(A)`` is ``A.T`` when ``trans_a`` else ``A`` (shape ``(M, K)``); likewise ``op(B)``
        with shape ``(K, N)``. float32 inputs with unit column stride (and transposed views of
        C-ordered float32 matrices) are read in place; float64 input is converted once.
    C : ndarray, optional
        float32, C-contiguous, shape ``(M, N)``, not overlapping A or B. Written in place and
        returned. Read only when ``beta != 0`` (with ``beta == 0`` its old contents, NaN
        included, are ignored, as in BLAS). When omitted a new array is returned.
    alpha, beta : float
        Finite scalars.

    Returns
    -------
    ndarray of float32, shape ``(M, N)``.
    """
    alpha = _check_scalar(alpha, "alpha")
    beta = _check_scalar(beta, "beta")
    return _matmul(A, B, C, trans_a, trans_b, alpha, beta, None, Activation.none)


def linear(X, W, b=None, activation: str | None = None, *, trans_w: bool = False) -> np.ndarray:
    """Fused dense layer: ``activation(X @ W + b)`` in one pass over the output.

    Parameters
    ----------
    X : array_like, shape ``(batch, in_features)``
    W : array_like, shape ``(in_features, out_features)``, or ``(out_features, in_features)``
        with ``trans_w=True`` (PyTorch's layout, and the tied-weight case ``X @ W.T``).
    b : array_like, shape ``(out_features,)``, optional
    activation : None, "sigmoid", "tanh" or "relu"
        Applied in the GEMM epilogue together with the bias, on each output tile while it is in
        cache, instead of separate passes over the output.

    Returns
    -------
    ndarray of float32, shape ``(batch, out_features)``.
    """
    act = _activation(activation)
    return _matmul(X, W, None, False, trans_w, 1.0, 0.0, b, act, names=("X", "W", "b (the bias)"))
