"""Tolerances and comparison helpers shared by latentforge's tests (defined once, here).

Comparisons follow ``|x - ref| <= atol + rtol * |ref|`` elementwise, with ``ref`` computed in
float64.

Reductions (GEMM, sums) are judged against the standard floating-point error bound of a
length-K dot product, which scales with ``sum_k |a_k b_k|`` rather than with the result: a
float32 dot product of K terms has error about ``u * sum_k |a_k b_k|`` for random data
(u = 2**-24), and at most ``K * u * sum_k |a_k b_k|``. :func:`assert_dot_close` allows
``DOT_FACTOR * u * (|A| @ |B|)``, far below the worst case yet far above the typical error, so it
catches a dropped or doubled term (error ~ |a_k b_k|) on any shape while never tripping on
rounding.
"""

from __future__ import annotations

import numpy as np

#: float32 unit roundoff.
F32_U = 2.0**-24
#: Elementwise float32 vs float64 reference (non-reduction ops).
RTOL_F32 = 1e-5
ATOL_F32 = 1e-6
#: Multiple of ``u * (|A| @ |B|)`` allowed for float32 reductions against a float64 reference.
DOT_FACTOR = 16.0
#: CUDA vs CPU (TF32 off).
RTOL_CUDA = 1e-4
ATOL_CUDA = 1e-5
#: Central-difference gradient check.
GRAD_EPS = 1e-6
GRAD_TOL = 1e-5


def atol_f32(K: int) -> float:
    """Absolute tolerance for length-K float32 reductions of O(1) terms: ``1e-6 * sqrt(K)``."""
    return ATOL_F32 * max(1.0, float(K)) ** 0.5


def assert_close(actual, ref, rtol: float = RTOL_F32, atol: float = ATOL_F32, err_msg: str = ""):
    """Assert ``|actual - ref| <= atol + rtol * |ref|`` elementwise (NaN only matches NaN)."""
    actual = np.asarray(actual, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert actual.shape == ref.shape, f"shape {actual.shape} != {ref.shape} {err_msg}"
    nan_a, nan_r = np.isnan(actual), np.isnan(ref)
    assert np.array_equal(nan_a, nan_r), f"NaN positions differ {err_msg}"
    diff = np.abs(actual - ref)
    bound = atol + rtol * np.abs(ref)
    bad = (diff > bound) & ~nan_r
    if bad.any():
        idx = np.unravel_index(np.argmax(np.where(bad, diff - bound, -np.inf)), diff.shape)
        raise AssertionError(
            f"{int(bad.sum())} of {diff.size} elements out of tolerance; worst at {idx}: "
            f"got {actual[idx]!r}, expected {ref[idx]!r} (|diff| {diff[idx]:.3e} > "
            f"{bound[idx]:.3e}) {err_msg}"
        )


def dot_reference(A, B, trans_a: bool = False, trans_b: bool = False):
    """float64 ``op(A) @ op(B)`` and the matching ``|op(A)| @ |op(B)|`` (for the error bound)."""
    a = np.asarray(A, dtype=np.float64)
    b = np.asarray(B, dtype=np.float64)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    return a @ b, np.abs(a) @ np.abs(b)


def assert_dot_close(actual, ref, abs_prod, extra=0.0, err_msg: str = ""):
    """Assert a float32 reduction matches its float64 reference within the dot-product bound.

    ``abs_prod`` is ``|A| @ |B|`` (scaled like ``ref``); ``extra`` is added to the bound for
    terms computed outside the reduction (e.g. ``beta * C``).
    """
    actual = np.asarray(actual, dtype=np.float64)
    atol = DOT_FACTOR * F32_U * np.asarray(abs_prod, dtype=np.float64) + extra + 1e-30
    assert_close(actual, ref, rtol=RTOL_F32, atol=atol, err_msg=err_msg)


def gradcheck(fn, inputs, eps: float = GRAD_EPS, tol: float = GRAD_TOL, seed: int = 0) -> bool:
    """Check the autograd gradients of ``fn`` against float64 central differences.

    Parameters
    ----------
    fn : callable
        ``fn(*tensors) -> Tensor``. A non-scalar output ``y`` is reduced to the scalar
        ``sum(y * R)`` with a fixed random ``R`` (so the whole vector-Jacobian product is
        checked, not one output).
    inputs : sequence of Tensors or float arrays
        The points to differentiate at; every input is checked. Tensors (e.g. a Module's
        Parameters) are used in place: their ``data`` is temporarily replaced by a float64
        copy and restored afterwards, together with ``grad`` and ``requires_grad``.
    eps, tol : float
        Step and tolerance; an element passes when
        ``|a - n| <= tol * max(|a|, |n|, 1)`` (Caffe's scaling).

    The whole check runs under ``latentforge.tensor.default_dtype(np.float64)``, where
    native float32 kernels (GEMM, fused linear) fall back to numpy float64: this checks the
    backward *formulas*; the float32 kernels are tested against float64 references
    separately. Choose points away from kinks (ReLU or |x| at 0, clipping boundaries).

    Returns True, or raises AssertionError naming the first bad input and element.
    """
    from .tensor import Tensor, default_dtype, no_grad

    tensors, saved = [], []
    for x in inputs:
        if isinstance(x, Tensor):
            saved.append((x, x.data, x.grad, x.requires_grad))
            t = x
        else:
            t = Tensor.__new__(Tensor)
            t._ctx = t._op = None
            saved.append(None)
        t.data = np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64, copy=True)
        if t.data.dtype.kind != "f":
            raise TypeError("gradcheck inputs must be floating point")
        t.grad, t.requires_grad = None, True
        tensors.append(t)
    try:
        with default_dtype(np.float64):
            out = fn(*tensors)
            if not isinstance(out, Tensor):
                raise TypeError(f"fn must return a Tensor, got {type(out).__name__}")
            if out.dtype != np.float64:
                raise AssertionError(
                    f"fn produced dtype {out.dtype} under the float64 switch; some op in it "
                    f"does not honour default_dtype, so differences would be meaningless"
                )
            proj = np.random.default_rng(seed).standard_normal(out.shape)
            # Other leaves in the graph (parameters not under test) must not keep the
            # float64 gradients this backward gives them: restore their .grad afterwards.
            own = {id(t) for t in tensors}
            others = [
                (t, t.grad)
                for t in out._topological_order()
                if t.is_leaf and t.requires_grad and id(t) not in own
            ]
            out.backward(proj)
            for t, g in others:
                t.grad = g
            analytic = [
                np.zeros_like(t.data) if t.grad is None else np.array(t.grad, np.float64)
                for t in tensors
            ]

            def objective() -> float:
                with no_grad():
                    return float(np.sum(fn(*tensors).data * proj))

            for k, t in enumerate(tensors):
                flat = t.data.reshape(-1)  # a view: edits below move the point in place
                a_flat = analytic[k].reshape(-1)
                for i in range(flat.size):
                    orig = flat[i]
                    flat[i] = orig + eps
                    f_plus = objective()
                    flat[i] = orig - eps
                    f_minus = objective()
                    flat[i] = orig
                    num = (f_plus - f_minus) / (2.0 * eps)
                    ana = a_flat[i]
                    if not abs(ana - num) <= tol * max(abs(ana), abs(num), 1.0):
                        idx = np.unravel_index(i, t.shape) if t.shape else ()
                        raise AssertionError(
                            f"gradcheck failed for input {k} (shape {t.shape}) at {idx}: "
                            f"analytic {ana!r}, numeric {num!r}, |diff| {abs(ana - num):.3e}"
                        )
    finally:
        for entry in saved:
            if entry is not None:
                x, data, grad, req = entry
                x.data, x.grad, x.requires_grad = data, grad, req
    return True
