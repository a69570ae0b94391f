"""GEMM and the fused linear layer against float64 references, on every SIMD path."""

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C
from latentforge.testing import assert_close, assert_dot_close, dot_reference

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
    assert_dot_close(C, expected, abs(alpha) * absprod, extra=2 * 2**-24 * abs(beta) * np.abs(C0))


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


def test_blocked_matches_naive_oracle(isa):
    rng = np.random.default_rng(6)
    A = rng.uniform(-1, 1, (37, 300)).astype(np.float32)
    B = rng.uniform(-1, 1, (53, 300)).astype(np.float32)
    bias = rng.uniform(-1, 1, 37).astype(np.float32)
    fast = _C.gemm(B, A, None, False, True, 1.0, 0.0, bias, 1, False)
    naive = _C.gemm(B, A, None, False, True, 1.0, 0.0, bias, 1, True)
    assert_close(fast, naive, rtol=1e-5, atol=1e-6)


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


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {None: lambda z: z, "sigmoid": _sigmoid, "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}


@pytest.mark.parametrize("activation", list(ACTIVATIONS), ids=str)
@pytest.mark.parametrize("shape", [(1, 1, 1), (128, 1000, 784), (33, 70, 19)], ids=str)
def test_linear_matches_unfused_math(isa, activation, shape):
    M, N, K = shape
    rng = np.random.default_rng(10)
    X = rng.uniform(-1, 1, (M, K)).astype(np.float32)
    W = (rng.uniform(-1, 1, (K, N)) * (4.0 / np.sqrt(K))).astype(np.float32)
    b = rng.uniform(-2, 2, N).astype(np.float32)
    Y = lf.ops.linear(X, W, b, activation)
    z, absprod = dot_reference(X, W)
    z += b
    f = ACTIVATIONS[activation]
    # Error in z (dot bound + bias rounding) moves f(z) by at most |f'| <= 1 times as much.
    zerr = 16 * 2**-24 * (absprod + np.abs(b)) + 2e-7 * np.abs(z)
    assert_close(Y, f(z), rtol=2e-6, atol=zerr + 2e-7, err_msg=f"{isa} {activation}")
    # Transposed weight (PyTorch layout / tied weights) gives the same result.
    Yt = lf.ops.linear(X, np.ascontiguousarray(W.T), b, activation, trans_w=True)
    assert_close(Yt, Y, rtol=2e-6, atol=zerr + 2e-7)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_activation_extremes(isa, activation):
    z = np.array([[-1e4, -88.0, -20.0, -1e-3, -1e-8, 0.0, 1e-8, 1e-3, 20.0, 88.0, 1e4, np.nan]], np.float32)
    Y = lf.ops.linear(np.eye(1, dtype=np.float32), z, None, activation)
    with np.errstate(over="ignore", invalid="ignore"):
        ref = ACTIVATIONS[activation](z.astype(np.float64))
    assert_close(Y, ref, rtol=2e-6, atol=1e-7)


def test_gil_released_during_kernel(threads):
    import threading
    import time

    lf.set_num_threads(1)
    rng = np.random.default_rng(11)
    A = rng.standard_normal((1500, 1500)).astype(np.float32)
    _C.set_isa("scalar")
    try:
        t0 = time.perf_counter()
        lf.ops.gemm(A, A)
        single = time.perf_counter() - t0
        done = threading.Event()

        def work():
            lf.ops.gemm(A, A)
            done.set()

        th = threading.Thread(target=work)
        ticks = []
        th.start()
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)
        th.join()
    finally:
        _C.set_isa("avx512")
    gaps = np.diff(ticks) if len(ticks) > 1 else np.array([single])
    # With the GIL held, this loop would stall for the whole kernel.
    assert len(ticks) > 5 and gaps.max() < 0.5 * single, (len(ticks), gaps.max(), single)


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
