"""Tolerances and comparison helpers shared by latentforge's tests (defined once, here).

Comparisons follow ``|x - ref| <= atol + rtol * |ref|`` elementwise, with ``ref`` computed in
float64 (``tests/reference``). Every tolerance is a named constant below with the error bound
or the measurement it rests on; tests write no bare numbers. The groups:

* exact -- what a kernel documents bit for bit (thread-count independence, the same random
  draws, integer or selection outputs): ``np.testing.assert_array_equal``, no tolerance.
* float32 elementwise -- one SIMD transcendental (``RTOL_ACT``) or a short chain of float32
  arithmetic such as one optimizer step (``RTOL_F32``).
* float32 reductions -- the standard error bound of a length-K dot product, which scales
  with ``sum_k |a_k b_k|`` rather than with the result: about ``u * sum_k |a_k b_k|`` for random
  data (u = 2**-24) and at most ``K * u * sum_k |a_k b_k|``. :func:`assert_dot_close` allows
  ``DOT_FACTOR * u * (|A| @ |B|)``, far below the worst case yet far above the typical error,
  so it catches a dropped or doubled term (error ~ |a_k b_k|) on any shape while never
  tripping on rounding.
* gradients -- float64 central differences for the backward formulas (``GRAD_EPS``,
  ``GRAD_TOL``); the float32 native backward against the float64 one (``GRAD_F32_TOL``).
* algorithm level -- t-SNE, perplexity calibration; statistical checks (``N_SIGMA``).

"Measured" figures are the largest error seen by the test suite on every ISA path (``isa``
fixture: avx512, avx2, scalar) of an AVX-512 Xeon when the constant was set.
"""

from __future__ import annotations

import math

import numpy as np

# ------------------------------------------------------------------------------- unit roundoff
#: float32 unit roundoff: a correctly rounded float32 operation errs by <= F32_U relative.
F32_U = 2.0**-24
#: float64 unit roundoff.
F64_U = 2.0**-53

# ------------------------------------------------------------------------- float32 elementwise
#: One native activation (SIMD polynomial exp/tanh/sigmoid, or its backward written in the
#: output y) or row softmax vs float64, relative: 34 u. Max observed 2.4e-7 (4 u) forward;
#: backward dy * (1 - y*y) reaches 0.9 of RTOL_ACT * |ref| + ATOL_ACT where 1 - y*y cancels.
RTOL_ACT = 2e-6
#: Absolute floor for RTOL_ACT: results that underflow towards 0 (sigmoid(-88), y near 0).
ATOL_ACT = 1e-7
#: A short chain (<= ~10) of float32 operations on O(1) values, e.g. one fused optimizer step
#: or a few CD updates: <= ~10 u = 6e-7 relative per step before cancellation. Max observed
#: 0.65 of ``RTOL_F32 * (|ref| + max|ref|)`` over test_optim's 784 comparisons (10 steps each).
RTOL_F32 = 1e-5
#: Absolute floor for RTOL_F32 on O(1) data (relative to values ~0.1-1).
ATOL_F32 = 1e-6
#: A float64 code path vs a float64 reference of the same math written differently (another
#: formula or summation order, no float32 step): a few roundings times the condition of the
#: computation. Max observed 1.6e-14 (PCA noise variance vs scikit-learn); 1e-12 leaves room
#: for a condition number of ~100 more.
RTOL_F64 = 1e-12
#: |sum(p) - 1| for a float32 probability vector normalised in the kernel: each p_i is rounded
#: once (|delta| <= u p_i), so the sum errs by <= u plus the float32 normaliser's few u. Max
#: observed 4.1e-8 (0.7 u, perplexity rows of 8-90 entries); 4 u leaves a 6x margin.
PROB_SUM_ATOL = 4 * F32_U

# -------------------------------------------------------------------------- float32 reductions
#: Multiple of ``u * (|A| @ |B|)`` allowed for float32 reductions against a float64 reference.
#: Max observed 2.6 u (0.16 of the bound) over test_gemm's shapes (K <= 2048) on three ISA paths.
DOT_FACTOR = 16.0
#: CUDA (TF32 off, or its CPU emulation) vs the CPU naive GEMM, relative part
#: (tests/ops/test_gemm_cuda.py, O(1) data, K <= ~100, tanh epilogue): the epilogue's
#: transcendental differs by <= RTOL_ACT (CPU SIMD) + 2 ulp (libdevice tanhf) = 2.1e-6 and
#: the rest is absolute (below). 1e-4 is generous (50x); RTOL_ACT would do once a device run
#: has measured it.
RTOL_CUDA = 1e-4
#: CUDA elementwise activation / row softmax forward (or its CPU emulation) vs the CPU kernel
#: and vs the double reference, relative (tests/ops/test_elementwise_cuda.py): the CPU's SIMD
#: polynomial errs by <= RTOL_ACT (34 u), the device's expf / tanhf by <= 2 ulp (libdevice; the
#: emulator uses glibc's) plus ~2 u for sigmoid's 1 + e and division (softmax: the float32
#: normaliser; both kernels round x - max to float before exp), so RTOL_ACT + 4 u bounds both
#: comparisons. Max observed under the emulator (3e5 activations in [-20, 20], softmax rows up
#: to 8 x 4099), vs the CPU kernel / vs the double reference: sigmoid 2.8 u / 2.4 u, tanh
#: 6.1 u / 3.0 u, softmax 5.3 u / 11.3 u; a 3x margin. Not yet measured on a device.
ACT_CUDA_RTOL = RTOL_ACT + 4 * F32_U
#: CUDA row log-softmax (or its emulation) vs the float64 formula, absolute, in units of
#: ``F32_U * (|x - max| + |lse| + 1)`` forward and ``F32_U * (|dy| + exp(y) sum|dy|)`` backward:
#: forward rounds x - max, the double sum's log to float and the difference (3 u) after expf's
#: <= 2 ulp on each term of the sum (<= 2 u of lse's argument, i.e. <= 2 u absolute in lse);
#: backward rounds the double row sum, expf(y) (2 ulp), a product and a difference (5 u).
#: Max observed under the emulator (rows up to 8 x 4099): 1.75 forward, 1.77 backward; 8 is a
#: 4.5x margin.
LOG_SOFTMAX_CUDA_TOL = 8
#: CUDA max-norm over rows (or its emulation) vs the CPU kernel, relative: the block adds the
#: squares in double in a tree instead of in order, so the norm may differ in its last double bits
#: and the float32 scale c / norm by 1 ulp after rounding; W * scale then differs by <= 2 u.
#: The emulated kernel has matched the CPU bit for bit on every shape tried (up to 8 x 4099).
MAX_NORM_CUDA_RTOL = 2 * F32_U
#: Absolute part: two float32 summation orders differ by <= 2 * DOT_FACTOR * u * alpha *
#: sum|a_k b_k| ~= 2 * 16 * u * 0.5 * K/4 = 8e-6 for K = 33 uniform(-1, 1) operands.
ATOL_CUDA = 1e-5
#: CUDA RBM free energy (or its emulation) vs the CPU kernel, relative part
#: (tests/ops/test_rbm_gibbs_cuda.py): both accumulate in double and round once to float32, the
#: device in a block tree instead of in order (and with libdevice's exp / log1p, <= 1 ulp in
#: double), so the two doubles differ by far less than a float32 ulp (the absolute part is
#: DOT_FACTOR * F64_U * the sum of |terms|) and round to the same float or to neighbours:
#: <= 2 u relative. Max observed under the emulator: 0 (bitwise equal on 960 rows of up to
#: 900 visible + 700 hidden units, both configurations); not yet measured on a device.
RBM_FREE_ENERGY_CUDA_RTOL = 2 * F32_U

# ------------------------------------------------------------------------------------ gradients
#: Central-difference step for float64 gradcheck: balances truncation h**2/6 |f'''| (1e-13)
#: against rounding F64_U |f| / h (1.1e-10 |f|).
GRAD_EPS = 1e-6
#: float64 gradcheck tolerance, relative to max(|analytic|, |numeric|, 1): the difference
#: quotient errs by <= 1.1e-10 |f| + 1e-13, i.e. <= 1e-7 for |f| <= 1e3 (the suite's objectives
#: are projections sum(y * R) of small outputs, |f| well below that): a 100x margin, while a
#: wrong backward term is off by O(1).
GRAD_TOL = 1e-5
#: float32 native backward vs the float64 path (:func:`gradcheck_native`), normwise:
#: ``max|g32 - g64| <= GRAD_F32_TOL * max|g64|`` per input. Derivation for the graphs checked
#: (one layer plus a loss, O(1) inputs, weights scaled by 1/sqrt(K), K <= 64): a path from an
#: input to its gradient crosses at most 3 GEMMs (forward, two backward), each adding
#: <= DOT_FACTOR u sum|a_k b_k| <= DOT_FACTOR u sqrt(K) max|result| (random signs, sqrt(64) =
#: 8), and at most 4 elementwise kernels (activation, its derivative from the float32 output,
#: loss forward and backward) of RTOL_ACT = 34 u each: (3 * 16 * 8 + 4 * 34) u = 520 u = 3.1e-5.
#: Max observed 6.8e-7 (tests/autograd/test_gradcheck_native.py).
GRAD_F32_TOL = 520 * F32_U
#: Native float32 batch-norm backward vs the float64 formula (tests/ops/test_batch_norm.py):
#: dx elementwise relative to the magnitudes of its terms, ``|a| (|dy| + mean|dy| +
#: |xhat| mean|dy xhat|)`` (the means of |.|, as in a dot product's bound), and dgamma / dbeta
#: normwise. The per-channel sums run in float lanes over chunks of <= 64 values (<= 4 per
#: lane), then in double; dx = a dy + b (x - mean) + k is four float32 operations on
#: coefficients rounded once; the given invstd is itself rounded: ~8 u. Max observed 2.9 u
#: (shapes up to 64x4x32x32, means 0 to 1e4); 16 u is a 5x margin.
BATCH_NORM_GRAD_TOL = 16 * F32_U
#: Native float32 local contrast normalisation (forward y, mean, sigma, c and backward dx) vs the
#: float64 loops of tests/reference, normwise per array (``assert_normwise_close``). A window sum
#: adds C + 2 (2r + 1) float32 terms of one sign pattern (the maps, then the two separable
#: passes), so the local mean and variance err by ~(C + 4r) u relative to the scale of x; y and dx
#: divide by d >= c, and c is O(sigma): for the suite's O(1) data, C <= 8 and r <= 4, about 30 u
#: times max|x| / c. Max observed 7.6 u (the optimized local mean of data offset by 0.5; y 6.9 u,
#: dx 2.3 u; the naive double kernels <= 0.9 u) over tests/ops/test_local_contrast_norm2d.py's
#: shapes; 64 u is an 8x margin.
LCN_TOL = 64 * F32_U
#: The CUDA LCN kernels (or their CPU emulation) vs the CPU kernels, normwise: the same float32
#: operations per position, except the double reductions of c and gc (another order: c may differ
#: by 1 ulp, which moves y and dx by ~u relative) and, on a device, FMA contraction of the window
#: sums (a few u of the window's scale). The emulated kernels have matched the CPU bit for bit on
#: every case of tests/ops/test_local_contrast_norm2d_cuda.py so far; 16 u allows for the rest.
LCN_CUDA_TOL = 16 * F32_U
#: Difference quotient of a float64 objective vs its analytic gradient, relative to max|grad|:
#: F64_U |f| / h + h**2/6 |f'''| ~ 1e-9 for |f| <= 10 and max|grad| >= 0.1 (t-SNE KL, h=1e-6);
#: max observed 3.1e-10 absolute for the float64 formula (test_tsne_bh.py).
FD_GRAD_TOL = 1e-7

# ------------------------------------------------------------------------------- t-SNE kernels
#: Exact and per-point Barnes-Hut (theta = 0) t-SNE gradient vs the float64 formula, normwise
#: (atol = TSNE_GRAD_TOL * max|G|, rtol 0): they sum in double and round each entry once, so
#: the error is <= u max|G| (plus double rounding); max observed 4.3e-8 = 0.73 u; 16 u is a
#: 23x margin (the old rtol 1e-4 + 1e-5 max|G| was 230x looser than needed).
TSNE_GRAD_TOL = 16 * F32_U
#: The grouped Barnes-Hut (theta = 0) gradient, normwise: repulsion accumulated in float32 SIMD
#: lanes over groups of <= 64 points and then in double; max observed 4.5e-7 (7.5 u) over n <=
#: 2500 on three ISA paths; 5e-6 is an 11x margin.
TSNE_GROUPED_GRAD_TOL = 5e-6
#: KL(P || Q) of the exact / per-point BH kernels vs float64, relative: both sum in double from
#: the same float32 inputs; only summation order and libm differ, n^2 F64_U = 7e-10 worst case
#: for n = 2500. Max observed 3.9e-15.
TSNE_KL_RTOL = 1e-9
#: KL of the grouped Barnes-Hut kernel (theta = 0) vs the exact one, relative: its KL terms
#: come from the float32 SIMD attraction pass (p log(1 + d^2) per entry, summed in double)
#: with constants of P precomputed; max observed 3.2e-8 over n <= 2500; 10x margin.
TSNE_GROUPED_KL_RTOL = 3e-7
#: ... and absolute, for n = 2 where KL = 0 exactly (Q = P): max observed 2.7e-8.
TSNE_GROUPED_KL_ATOL = 1e-7
#: The CUDA exact / Barnes-Hut gradients on a device vs the CPU kernels, normwise: the same double
#: operations in the same order (-fmad=false, IEEE double division), so bit for bit is expected;
#: the emulated kernels match bit for bit on every case of tests/ops/test_tsne_bh_cuda.py. Not yet
#: measured on a device: 2 u allows a last-bit difference from a double rounding we did not foresee.
TSNE_CUDA_GRAD_TOL = 2 * F32_U
#: ... the KL, relative (and absolute for KL ~ 0): CUDA's double log is within 1 ulp (glibc's is
#: correctly rounded), two logs per term plus log Z; sums of n^2 such terms: <= 3 n^2 F64_U
#: relative to sum |terms| = 2.5e-12 for n = 61, where KL ~ 1 and sum |terms| ~ 10 KL.
TSNE_CUDA_KL_RTOL = 1e-10
#: The CUDA perplexity calibration on a device vs the CPU kernel, relative per element of P (atol
#: ATOL_ACT) and of beta: the same double operations in the same order (-fmad=false), except
#: CUDA's exp and log (within 1 ulp; glibc's are correctly rounded). beta depends only on the
#: bisection's branch decisions, so it is bit-equal while they agree; P = exp(-beta d) / S then
#: differs by a few F64_U before its rounding to float32, i.e. by at most 1 float32 ulp. (A
#: decision flips only if |H - log(perplexity)| lies within ~1e-15 of tol, not seen in the suite's
#: random rows.) The emulated kernel matches bit for bit on every case of
#: tests/ops/test_tsne_affinity_cuda.py. Not yet measured on a device.
TSNE_PERPLEXITY_CUDA_TOL = 2 * F32_U
#: Barnes-Hut gradient at theta = 0.5 vs the exact one, relative 2-norm error: the
#: approximation, not rounding. Max observed 0.022 (per-point BH, n = 2000, 10-D Gaussian
#: input); the grouped BH is no worse (its group criterion implies the per-point one).
BH_GRAD_REL_ERR = 0.05
#: ... the same for the awkward embeddings (duplicates, collapsed clusters) up to theta = 1.
BH_GRAD_REL_ERR_DEGENERATE = 0.1
#: Barnes-Hut KL at theta = 0.5 vs exact, relative: max observed 1.9e-3; 3x margin (was 0.02).
BH_KL_RTOL = 6e-3
#: A whole TSNE fit, exact vs Barnes-Hut (theta = 0.5), final KL, relative: two different
#: optimisation trajectories from the same start. Measured 0.125 (digits[:300], 400
#: iterations); this is a behavioural bound, not a rounding one.
TSNE_FIT_KL_RTOL = 0.15
#: ... and the KL at the first recorded iteration (same initial embedding; P differs only in
#: the neighbours kept, 3 perplexity vs n - 1): measured 1.8e-3; 3x margin (was 0.05).
TSNE_FIRST_KL_RTOL = 6e-3
#: Calibrated P vs exp(-beta d) / sum recomputed in float64 from the returned float32 beta,
#: relative: rounding beta moves beta*d by u*beta*d <= 16 u for every entry above 1e-7 of the
#: row max, and the normaliser by as much again: 32 u; P itself is rounded once (u); 64 u =
#: 3.8e-6. Max observed 1.2e-6. Entries below 1e-7 are covered by ATOL_ACT.
PERPLEXITY_P_RTOL = 64 * F32_U


def perplexity_entropy_atol(tol: float, perplexity: float) -> float:
    """|H(P) - log(perplexity)| for rows calibrated to ``tol`` nats: the bisection's ``tol``
    (evaluated in double) plus rounding P to float32, which moves ``H = -sum p log p`` by
    ``sum u p |log p + 1| <= u (H + 1)``; 4x that for the float32 normaliser. Max observed:
    1.01e-6 at tol = 1e-6, 1.0003e-5 at tol = 1e-5 (old fixed atol: 1e-5 and 1.2e-5)."""
    return tol + 4 * F32_U * (math.log(perplexity) + 1.0)


# --------------------------------------------------------------------------------------- PCA
#: PCA's float64 "covariance_eigh" solver (eigenvalues of X^T X) vs the SVD: squaring X
#: leaves small eigenvalues with error ~ F64_U lambda_max / lambda. Measured on digits (20
#: components): 2.2e-6 relative on the variances and 2.9e-6 of max|Z| on the projections; the
#: eigenvectors' angles are 1.4e-11 (cosines 1 - 1e-11).
COVARIANCE_EIGH_RTOL = 1e-5
#: ... and 1 - |cos| between its leading 10 components and the SVD's (measured 1.4e-11).
COVARIANCE_EIGH_COS = 1e-9
#: Randomized PCA of a float32 rank-12 matrix vs the exact solver: float32 rounding dominates
#: (power iterations converge far below it). Measured 1.1e-7 relative on the variances and
#: 1 - |cos| = 6e-8 on the components; 16 u = 9.5e-7.
RANDOMIZED_PCA_RTOL = 16 * F32_U

#: word2vec training (ops/word2vec.h): the float32 kernels against their double-precision naive
#: reference and a float64 numpy implementation, over a few thousand sequential SGD updates of
#: vectors of size ~0.1: per-update rounding of a few float32 ulps, accumulated.
W2V_TRAIN_ATOL = 2e-6

# ---------------------------------------------------------------------------------- statistics
#: A statistic published to 4 decimals (MNIST mean 0.1307, sd 0.3081) is within half a unit
#: of its last digit of the value computed in float64.
PUBLISHED_4DP_ATOL = 5e-5
#: Sample means (and correlations, sd 1/sqrt(n)) are within N_SIGMA standard errors of their
#: expectation: a normal statistic's two-sided false-failure rate is 5.7e-7 per check.
N_SIGMA = 5.0
#: Chi-square goodness of fit: statistic < df + CHI2_N_SIGMA * sqrt(2 df); the chi-square's
#: right tail is heavier than a normal's, so one more sd than N_SIGMA (p ~ 1e-6 at df = 99).
CHI2_N_SIGMA = 6.0
#: Kolmogorov-Smirnov: sqrt(n) * D below the asymptotic critical value for p = 0.001.
KS_CRITICAL = 1.95
#: Two Philox streams that differ (seed, stream or offset) agree on a float32 draw with
#: probability 2**-24 each; "different" means fewer than this fraction of equal draws
#: (a shifted or identical stream gives ~1).
DISTINCT_STREAM_MATCH = 0.01


def dot_atol(abs_terms, extra=0.0):
    """The float32 reduction bound ``DOT_FACTOR * u * abs_terms + extra``, where ``abs_terms``
    is the sum of the reduction's |terms| (e.g. ``|A| @ |B|``, scaled like the result)."""
    return DOT_FACTOR * F32_U * np.asarray(abs_terms, dtype=np.float64) + extra


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
    atol = dot_atol(abs_prod, extra) + 1e-30
    assert_close(actual, ref, rtol=RTOL_F32, atol=atol, err_msg=err_msg)


def assert_normwise_close(actual, ref, tol: float, err_msg: str = ""):
    """Assert ``|actual - ref| <= tol * max|ref|`` elementwise (error relative to the array's
    scale: for results whose entries are sums of terms of either sign, such as gradients)."""
    scale = float(np.abs(np.asarray(ref, dtype=np.float64)).max()) if np.size(ref) else 0.0
    assert_close(actual, ref, rtol=0.0, atol=tol * scale + 1e-30, err_msg=err_msg)


def gradcheck_native(fn, inputs, tol: float = GRAD_F32_TOL, seed: int = 0) -> bool:
    """Check the float32 native forward and backward of ``fn`` against its float64 path.

    ``fn(*tensors) -> Tensor`` is run twice: on float32 Tensors (the native kernels: GEMM,
    fused linear, activations, softmax, top-k, ...) and under
    ``latentforge.tensor.default_dtype(np.float64)`` on float64 copies, where every op runs in
    numpy float64 and whose backward :func:`gradcheck` verifies by central differences. A
    non-scalar output is reduced with a fixed random projection as in :func:`gradcheck`. The
    output and every input's gradient must agree normwise within ``tol`` (``GRAD_F32_TOL``,
    derived there from float32 rounding): ``max|x32 - x64| <= tol * max|x64|``.

    Returns True, or raises AssertionError naming the output or the input that differs.
    """
    from .tensor import Tensor, default_dtype

    arrays = [np.asarray(x.data if isinstance(x, Tensor) else x) for x in inputs]
    proj = None
    results = []
    for dtype in (np.float32, np.float64):
        with default_dtype(dtype):
            ts = [Tensor(np.array(a, dtype=dtype), requires_grad=True) for a in arrays]
            out = fn(*ts)
            if out.dtype != dtype:
                raise AssertionError(f"fn gave {out.dtype} on {np.dtype(dtype).name} inputs")
            if proj is None:
                proj = np.random.default_rng(seed).standard_normal(out.shape)
            out.backward(proj.astype(dtype))
        grads = []
        for k, t in enumerate(ts):
            if t.grad is None:
                raise AssertionError(f"input {k} got no gradient")
            if t.grad.dtype != dtype:
                raise AssertionError(f"input {k}: gradient {t.grad.dtype}, expected {dtype}")
            grads.append(t.grad)
        results.append((out.data, grads))
    (y32, g32), (y64, g64) = results
    assert_normwise_close(y32, y64, tol, err_msg="(forward output)")
    for k, (a, b) in enumerate(zip(g32, g64)):
        assert_normwise_close(a, b, tol, err_msg=f"(gradient of input {k})")
    return True


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
