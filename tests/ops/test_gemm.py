"""GEMM and the fused linear layer against float64 references, on every SIMD path, and the
blocked kernel against the naive one (``_C.gemm(..., naive=True)``) over a grid of shapes that
straddles every ISA's blocking parameters."""

import itertools
import sys
import threading

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge.testing import (
    ATOL_ACT,
    DOT_FACTOR,
    F32_U,
    F64_U,
    RTOL_ACT,
    assert_close,
    assert_dot_close,
    dot_atol,
    dot_reference,
)

# (M, N, K): degenerate, primes, tall-skinny, short-wide, K=1, and sizes that are not multiples
# of any micro-tile (4x8, 6x16, 14x32) or cache block (KC=256/1024, MC=112/144/128).
SHAPES = [
    (1, 1, 1),
    (17, 65, 33),
    (2, 3, 5),
    (13, 31, 1),
    (1000, 3, 7),
    (3, 1000, 7),
    (2000, 2, 300),
    (5, 5, 600),
    (29, 47, 257),
    (337, 70, 513),
    (128, 1000, 784),
    (50, 70, 1100),
]
TRANS = [(False, False), (True, False), (False, True), (True, True)]


def _operands(rng, M, N, K, ta, tb):
    A = rng.uniform(-1, 1, (K, M) if ta else (M, K)).astype(np.float32)
    B = rng.uniform(-1, 1, (N, K) if tb else (K, N)).astype(np.float32)
    return A, B


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("trans", TRANS, ids=lambda t: f"ta{int(t[0])}tb{int(t[1])}")
def test_gemm_matches_float64(isa, shape, trans):
    M, N, K = shape
    ta, tb = trans
    rng = np.random.default_rng(M * 7919 + N * 31 + K)
    A, B = _operands(rng, M, N, K, ta, tb)
    C = lf.ops.gemm(A, B, trans_a=ta, trans_b=tb)
    assert C.shape == (M, N) and C.dtype == np.float32
    ref, absprod = dot_reference(A, B, ta, tb)
    assert_dot_close(C, ref, absprod, err_msg=f"{isa} {shape} {trans}")


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, -2.0), (-1.5, 0.25), (2.0, 0.0)])
@pytest.mark.parametrize("trans", TRANS, ids=lambda t: f"ta{int(t[0])}tb{int(t[1])}")
def test_gemm_alpha_beta_in_place(isa, alpha, beta, trans):
    M, N, K = 45, 67, 300
    ta, tb = trans
    rng = np.random.default_rng(3)
    A, B = _operands(rng, M, N, K, ta, tb)
    C0 = rng.uniform(-1, 1, (M, N)).astype(np.float32)
    C = C0.copy()
    out = lf.ops.gemm(A, B, C, trans_a=ta, trans_b=tb, alpha=alpha, beta=beta)
    assert out is C  # written in place, returned
    ref, absprod = dot_reference(A, B, ta, tb)
    expected = alpha * ref + beta * C0.astype(np.float64)
    # beta * C adds two roundings (the product and the sum) of size |beta C|.
    assert_dot_close(C, expected, abs(alpha) * absprod, extra=2 * F32_U * abs(beta) * np.abs(C0))


def test_beta_zero_ignores_nan_in_c(isa):
    rng = np.random.default_rng(4)
    A, B = _operands(rng, 20, 40, 10, False, False)
    C = np.full((20, 40), np.nan, np.float32)
    lf.ops.gemm(A, B, C, beta=0.0)
    assert np.isfinite(C).all()


def test_alpha_zero_scales_c_only(isa):
    A = np.full((4, 3), np.nan, np.float32)
    B = np.ones((3, 5), np.float32)
    C = np.arange(20, dtype=np.float32).reshape(4, 5)
    lf.ops.gemm(A, B, C, alpha=0.0, beta=2.0)
    np.testing.assert_array_equal(C, 2 * np.arange(20, dtype=np.float32).reshape(4, 5))


def test_large_2048(isa):
    n = 2048
    rng = np.random.default_rng(5)
    A = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    B = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    C = lf.ops.gemm(A, B)
    ref, absprod = dot_reference(A, B)
    assert_dot_close(C, ref, absprod)


@pytest.mark.parametrize("shape", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 0, 0)])
def test_empty_dimensions(shape):
    M, N, K = shape
    A = np.ones((M, K), np.float32)
    B = np.ones((K, N), np.float32)
    C = lf.ops.gemm(A, B)
    assert C.shape == (M, N)
    np.testing.assert_array_equal(C, np.zeros((M, N), np.float32))
    C2 = np.full((M, N), 3.0, np.float32)
    lf.ops.gemm(A, B, C2, beta=0.5)
    np.testing.assert_array_equal(C2, np.full((M, N), 1.5, np.float32))


# Blocking parameters of each ISA path (csrc/ops/gemm_kernel_*.cpp): micro-tile MR x NR, cache
# blocks MC, KC, NC; B is read in place (unpacked) when M <= 7 * MR and B is not transposed.
BLOCKING = {
    "scalar": dict(MR=4, NR=8, MC=128, KC=256, NC=2048),
    "avx2": dict(MR=6, NR=16, MC=144, KC=256, NC=3072),
    "avx512": dict(MR=14, NR=32, MC=112, KC=1024, NC=3072),
}


def _around(*values):
    return sorted({max(v + d, 0) for v in values for d in (-1, 0, 1)})


def _grid_shapes():
    """(M, N, K) straddling MR/NR/MC/KC/NC and the in-place-B row limit of every ISA, plus 0, 1
    and odd sizes: a product of small sets, then each large blocking boundary on its own."""
    p = list(BLOCKING.values())
    Ms = sorted({0, 1, 2, 3, 5, *_around(*(b["MR"] for b in p)), 29, 43, 99})  # 7*MR +- 1
    Ns = sorted({0, 1, 3, *_around(*(b["NR"] for b in p)), 65})
    Ks = [0, 1, 2, 7, 33]
    shapes = set(itertools.product(Ms, Ns, Ks))
    for b in p:
        shapes.update((m, 9, 5) for m in _around(b["MC"], 2 * b["MC"]))  # M across MC
        shapes.update((3, n, 2) for n in _around(b["NC"]))  # N across NC
        shapes.update((m, 17, k) for m in (5, 15) for k in _around(b["KC"]))  # K across KC
    shapes.update([(17, 33, 2049), (113, 66, 300), (1, 3073, 3)])
    return sorted(shapes)


GRID = _grid_shapes()


@pytest.mark.parametrize("trans", TRANS, ids=lambda t: f"ta{int(t[0])}tb{int(t[1])}")
def test_blocked_matches_naive_over_the_blocking_grid(isa, trans):
    # The naive kernel accumulates in double and rounds once: it is the float64 product rounded
    # to float32, so the blocked result must be within the dot-product bound of it.
    ta, tb = trans
    rng = np.random.default_rng(6)
    for M, N, K in GRID:
        A, B = _operands(rng, M, N, K, ta, tb)
        fast = _C.gemm(A, B, None, ta, tb, 1.0, 0.0, None, lf.Activation.none, False)
        naive = _C.gemm(A, B, None, ta, tb, 1.0, 0.0, None, lf.Activation.none, True)
        assert fast.shape == naive.shape == (M, N)
        _, absprod = dot_reference(A, B, ta, tb)
        assert_dot_close(fast, naive, absprod, err_msg=f"{isa} {(M, N, K)} {trans}")


EPILOGUE_SHAPES = [(1, 1, 1), (15, 33, 257), (29, 47, 65), (113, 65, 7), (0, 5, 3), (4, 3, 0)]
# (alpha, beta, bias) x every lf.Activation
EPILOGUE = list(itertools.product([(1.0, 0.0, False), (1.0, 1.0, True), (-0.5, -2.0, True),
                                   (-0.5, 0.0, False)], list(lf.Activation.__members__.values())))


@pytest.mark.parametrize("trans", TRANS, ids=lambda t: f"ta{int(t[0])}tb{int(t[1])}")
def test_blocked_matches_naive_with_alpha_beta_bias_activation(isa, trans):
    ta, tb = trans
    rng = np.random.default_rng(7)
    for M, N, K in EPILOGUE_SHAPES:
        A, B = _operands(rng, M, N, K, ta, tb)
        C0 = rng.uniform(-1, 1, (M, N)).astype(np.float32)
        b = rng.uniform(-1, 1, N).astype(np.float32)
        _, absprod = dot_reference(A, B, ta, tb)
        for (alpha, beta, with_bias), act in EPILOGUE:
            bias = b if with_bias else None
            fast, naive = C0.copy(), C0.copy()
            _C.gemm(A, B, fast, ta, tb, alpha, beta, bias, act, False)
            _C.gemm(A, B, naive, ta, tb, alpha, beta, bias, act, True)
            _check_epilogue(fast, naive, A, B, C0, bias, absprod, (M, N, K), trans, alpha, beta,
                            act, isa)


def test_blocked_matches_naive_oracle(isa):
    rng = np.random.default_rng(6)
    A = rng.uniform(-1, 1, (37, 300)).astype(np.float32)
    B = rng.uniform(-1, 1, (53, 300)).astype(np.float32)
    bias = rng.uniform(-1, 1, 37).astype(np.float32)
    fast = _C.gemm(B, A, None, False, True, 1.0, 0.0, bias, 1, False)
    naive = _C.gemm(B, A, None, False, True, 1.0, 0.0, bias, 1, True)
    _, absprod = dot_reference(B, A, False, True)
    C0 = np.zeros((53, 37), np.float32)
    _check_epilogue(fast, naive, B, A, C0, bias, absprod, (53, 37, 300), (False, True), 1.0, 0.0,
                    1, isa)


def _check_epilogue(fast, naive, A, B, C0, bias, absprod, shape, trans, alpha, beta, act, isa):
    # The pre-activation's error (dot bound, plus two roundings each of beta*C and bias)
    # passes through the activation with slope <= 1; the SIMD activation adds RTOL_ACT.
    terms = abs(beta) * np.abs(C0) + (0 if bias is None else np.abs(bias))
    zerr = dot_atol(abs(alpha) * absprod, 2 * F32_U * terms)
    case = f"{isa} {shape} {trans} alpha={alpha} beta={beta} bias={bias is not None} act={act}"
    assert_close(fast, naive, rtol=RTOL_ACT, atol=zerr + ATOL_ACT, err_msg=case)
    # and the naive result is the float64 formula, rounded once to float32 (rtol u), give or
    # take the two double computations' differences: a float64 dot bound on the pre-activation
    # (slope <= 1) and a few float64 roundings of the activation
    want, _ = ref64.gemm(A, B, *trans, alpha, beta, C0, bias, act)
    f64 = DOT_FACTOR * F64_U * (abs(alpha) * absprod + terms + np.abs(want))
    assert_close(naive, want, rtol=F32_U, atol=f64, err_msg=case)


def test_float64_and_strided_inputs_are_converted():
    rng = np.random.default_rng(7)
    A64 = rng.standard_normal((30, 20))
    B = rng.standard_normal((40, 50)).astype(np.float32)[::2, ::2]  # non-contiguous view
    C = lf.ops.gemm(A64, B)
    assert C.dtype == np.float32
    ref, absprod = dot_reference(A64.astype(np.float32), B)
    assert_dot_close(C, ref, absprod)


def test_zero_copy_views_give_the_same_result():
    rng = np.random.default_rng(8)
    big = rng.standard_normal((50, 80)).astype(np.float32)
    A = big[:, 10:40]  # row stride 80, unit column stride: read in place
    B = rng.standard_normal((25, 30)).astype(np.float32).T  # Fortran-ordered: transposed read
    ref, absprod = dot_reference(A, B)
    assert_dot_close(lf.ops.gemm(A, B), ref, absprod)
    assert_dot_close(lf.ops.gemm(np.ascontiguousarray(A), np.ascontiguousarray(B)), ref, absprod)


# Row split with a shared B panel (300 rows), and column split with private B (short-and-wide).
@pytest.mark.parametrize("shape", [(300, 500, 700), (100, 900, 700), (1, 2000, 300)], ids=str)
def test_result_independent_of_thread_count(threads, shape):
    M, N, K = shape
    rng = np.random.default_rng(9)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    results = []
    for n in (1, 2, 3, 4):
        lf.set_num_threads(n)
        results.append(lf.ops.gemm(A, B))
    for r in results[1:]:
        np.testing.assert_array_equal(results[0], r)
    ref, absprod = dot_reference(A, B)
    assert_dot_close(results[0], ref, absprod)


ACTIVATIONS = ref64.ACTIVATIONS


@pytest.mark.parametrize("activation", list(ACTIVATIONS), ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 1), (128, 1000, 784), (33, 70, 19)], ids=str)
def test_linear_matches_unfused_math(isa, activation, shape):
    M, N, K = shape
    rng = np.random.default_rng(10)
    X = rng.uniform(-1, 1, (M, K)).astype(np.float32)
    W = (rng.uniform(-1, 1, (K, N)) * (4.0 / np.sqrt(K))).astype(np.float32)
    b = rng.uniform(-2, 2, N).astype(np.float32)
    Y = lf.ops.linear(X, W, b, activation)
    want, absprod = ref64.gemm(X, W, bias=b, act=activation)
    # Error in z (dot bound + bias rounding) moves f(z) by at most |f'| <= 1 times as much;
    # the activation itself adds RTOL_ACT.
    zerr = dot_atol(absprod + np.abs(b))
    assert_close(Y, want, rtol=RTOL_ACT, atol=zerr + ATOL_ACT, err_msg=f"{isa} {activation}")
    # Transposed weight (PyTorch layout / tied weights) gives the same result.
    Yt = lf.ops.linear(X, np.ascontiguousarray(W.T), b, activation, trans_w=True)
    assert_close(Yt, Y, rtol=RTOL_ACT, atol=2 * zerr + ATOL_ACT)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_activation_extremes(isa, activation):
    z = np.array([[-1e4, -88.0, -20.0, -1e-3, -1e-8, 0.0, 1e-8, 1e-3, 20.0, 88.0, 1e4, np.nan]],
                 np.float32)
    Y = lf.ops.linear(np.eye(1, dtype=np.float32), z, None, activation)
    assert_close(Y, ref64.activation(z, activation), rtol=RTOL_ACT, atol=ATOL_ACT)


def test_gil_released_during_kernel():
    """Another Python thread runs while a GEMM kernel runs (the binding releases the GIL).

    No timing: the switch interval is raised so this thread never hands over the GIL between
    bytecodes; the only way the helper thread can run before ``after_kernels`` is set is while
    a kernel has released the GIL. The helper records that flag when it first runs."""
    rng = np.random.default_rng(11)
    A = rng.standard_normal((600, 600)).astype(np.float32)
    go, seen = threading.Event(), []
    state = {"after_kernels": False}

    def helper():
        go.wait()
        seen.append(state["after_kernels"])

    th = threading.Thread(target=helper)
    th.start()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    try:
        go.set()  # the helper wakes and now waits for the GIL, which this thread holds
        for _ in range(200):
            _C.gemm(A, A, None, False, False, 1.0, 0.0, None, lf.Activation.none, False)
            if seen:
                break
        state["after_kernels"] = True
    finally:
        sys.setswitchinterval(interval)
        th.join()
    assert seen == [False], "the helper thread could only run after the kernels returned"


@pytest.mark.parametrize("trans_a", [False, True])
def test_small_batch_reads_strided_b_in_place(isa, trans_a):
    # Few rows: full-width B slivers are read from B itself (no packing), here a row-strided
    # view, across a K-block boundary (K > KC on every path) and with a partial last sliver.
    rng = np.random.default_rng(12)
    M, K = 40, 1100
    A = rng.uniform(-1, 1, (K, M) if trans_a else (M, K)).astype(np.float32)
    B = rng.uniform(-1, 1, (K, 150)).astype(np.float32)[:, 10:110]
    C = lf.ops.gemm(A, B, trans_a=trans_a)
    ref, absprod = dot_reference(A, B, trans_a)
    assert_dot_close(C, ref, absprod)
