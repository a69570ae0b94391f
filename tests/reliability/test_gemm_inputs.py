"""Bad input to GEMM and linear gives a clear TypeError/ValueError naming the argument."""

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C

F = np.float32


def ones(*shape, dtype=F):
    return np.ones(shape, dtype=dtype)


@pytest.mark.parametrize(
    "A,B,exc,match",
    [
        (ones(3, 4), ones(5, 2), ValueError,
         r"inner dimensions do not match.*\(3, 4\).*\(5, 2\)"),
        (ones(3, 4, dtype=np.int64), ones(4, 2), TypeError,
         r"A must be a floating-point array.*int64"),
        (ones(3, 4), ones(4, 2, dtype=np.int32), TypeError, r"B must be a floating-point.*int32"),
        (ones(3, 4, dtype=bool), ones(4, 2), TypeError, r"A must be a floating-point.*bool"),
        (ones(3, 4, dtype=np.complex64), ones(4, 2), TypeError, r"A must be a floating-point"),
        (np.empty((3, 4), dtype=object), ones(4, 2), TypeError,
         r"A must be a floating-point.*object"),
        (ones(2, 3, 4), ones(4, 2), ValueError, r"A must be 2-D, got 3-D"),
        (ones(4), ones(4, 2), ValueError, r"A must be 2-D, got 1-D"),
        (ones(3, 4), np.float32(2.0), ValueError, r"B must be 2-D, got 0-D"),
        ("abc", ones(4, 2), TypeError, r"A must be a floating-point"),
        ([[1.0, 2.0], [3.0]], ones(2, 2), TypeError, r"A cannot be converted"),
    ],
)
def test_bad_operands(A, B, exc, match):
    with pytest.raises(exc, match=match):
        lf.ops.gemm(A, B)


def test_lists_of_floats_are_accepted():
    C = lf.ops.gemm([[1.0, 2.0]], [[3.0], [4.0]])
    np.testing.assert_array_equal(C, [[11.0]])


def test_bad_output():
    A, B = ones(3, 4), ones(4, 2)
    with pytest.raises(ValueError, match=r"C must have shape \(3, 2\), got \(2, 3\)"):
        lf.ops.gemm(A, B, ones(2, 3))
    with pytest.raises(TypeError, match=r"C must be float32.*float64"):
        lf.ops.gemm(A, B, ones(3, 2, dtype=np.float64))
    with pytest.raises(ValueError, match=r"C must be C-contiguous"):
        lf.ops.gemm(A, B, ones(2, 3).T)
    ro = ones(3, 2)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=r"C must be writable"):
        lf.ops.gemm(A, B, ro)
    with pytest.raises(ValueError, match=r"beta != 0 needs an input C"):
        lf.ops.gemm(A, B, beta=1.0)
    big = ones(4, 4)
    with pytest.raises(ValueError, match=r"C must not overlap"):
        lf.ops.gemm(big, big, big)
    with pytest.raises(TypeError, match=r"C must be a numpy array"):
        lf.ops.gemm(A, B, [[0.0, 0.0]] * 3)


@pytest.mark.parametrize("name,value,exc", [("alpha", float("nan"), ValueError),
                                            ("beta", float("inf"), ValueError),
                                            ("alpha", "x", TypeError)])
def test_bad_scalars(name, value, exc):
    with pytest.raises(exc, match=name):
        lf.ops.gemm(ones(2, 2), ones(2, 2), ones(2, 2), **{name: value})


def test_size_overflow_is_a_value_error():
    # Empty operands whose output would hold 2**66 elements: no memory is touched.
    A = np.empty((2**33, 0), F)
    B = np.empty((0, 2**33), F)
    with pytest.raises(ValueError, match=r"overflows a 64-bit size"):
        lf.ops.gemm(A, B)


def test_binding_revalidates_raw_calls():
    # The private binding checks everything itself, so a bypass of the Python layer can't crash.
    with pytest.raises(TypeError, match=r"A must be a float32 array.*got dtype float64"):
        _C.gemm(ones(2, 2, dtype=np.float64), ones(2, 2))
    with pytest.raises(ValueError, match=r"B must be 2-D"):
        _C.gemm(ones(2, 2), ones(2, 2, 2))
    with pytest.raises(ValueError, match=r"unit column stride"):
        _C.gemm(ones(4, 4)[:, ::2], ones(2, 2))
    with pytest.raises(ValueError, match=r"inner dimensions"):
        _C.gemm(ones(2, 3), ones(2, 2))
    with pytest.raises(ValueError, match=r"overflows"):
        _C.gemm(np.empty((2**33, 0), F), np.empty((0, 2**33), F))
    with pytest.raises(ValueError, match=r"C must have shape"):
        _C.gemm(ones(2, 2), ones(2, 2), ones(3, 3))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        _C.gemm(ones(2, 2), ones(2, 2), None, False, False, 1.0, 0.0, ones(3))
    with pytest.raises(ValueError, match=r"activation code"):
        _C.gemm(ones(2, 2), ones(2, 2), None, False, False, 1.0, 0.0, None, 9)
    with pytest.raises(TypeError, match=r"C must be a numpy array or None"):
        _C.gemm(ones(2, 2), ones(2, 2), [[0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(TypeError, match=r"bias must be a numpy array or None"):
        _C.gemm(ones(2, 2), ones(2, 2), None, False, False, 1.0, 0.0, [1.0, 2.0])
    big = ones(4, 4)
    with pytest.raises(ValueError, match=r"C must not share memory"):
        _C.gemm(big, big, big)
    with pytest.raises(ValueError, match=r"C must not share memory"):  # C overlaps bias
        _C.gemm(ones(2, 2), ones(2, 2), big[:2, :2], False, False, 1.0, 0.0, big[0, :2])


def test_linear_bad_input():
    X, W = ones(5, 3), ones(3, 4)
    with pytest.raises(ValueError, match=r"activation must be one of"):
        lf.ops.linear(X, W, None, "softplus")
    with pytest.raises(ValueError, match=r"b \(the bias\) must have shape \(4,\), got \(3,\)"):
        lf.ops.linear(X, W, ones(3))
    with pytest.raises(ValueError, match=r"b \(the bias\) must be 1-D"):
        lf.ops.linear(X, W, ones(1, 4))
    with pytest.raises(TypeError, match=r"b \(the bias\) must be a floating-point"):
        lf.ops.linear(X, W, np.ones(4, np.int64))
    with pytest.raises(ValueError,
                       match=r"op\(X\) has shape \(5, 3\) and op\(W\) has shape \(4, 3\)"):
        lf.ops.linear(X, ones(4, 3))
    with pytest.raises(ValueError, match=r"X must be 2-D"):
        lf.ops.linear(ones(5), W)
    with pytest.raises(TypeError, match=r"W must be a floating-point"):
        lf.ops.linear(X, np.ones((3, 4), np.int8))


def test_linear_empty_batch():
    Y = lf.ops.linear(ones(0, 3), ones(3, 4), ones(4), "sigmoid")
    assert Y.shape == (0, 4)
    Y = lf.ops.linear(ones(2, 0), ones(0, 4), np.full(4, 1.0, F), "relu")
    np.testing.assert_array_equal(Y, np.ones((2, 4), F))


def test_set_num_threads_validation(threads):
    with pytest.raises(ValueError, match=r"n must be (>= 1|in \[1, )"):
        lf.set_num_threads(-1)
    with pytest.raises(TypeError, match=r"n must be an int"):
        lf.set_num_threads(2.5)
    lf.set_num_threads(1)
    assert lf.get_num_threads() == 1


def test_bad_isa_name():
    with pytest.raises(ValueError, match=r"unknown ISA 'sse9'"):
        _C.set_isa("sse9")


def test_input_coercion_copies_only_when_needed():
    from latentforge._backend import as_float32_matrix

    A = np.ones((3, 4), F)
    m, t = as_float32_matrix(A, "A")
    assert m is A and not t  # C-contiguous float32: used as is
    m, t = as_float32_matrix(A.T, "A")
    assert np.shares_memory(m, A)  # the transposed view itself, no copy
    assert t and m.flags.c_contiguous and m.shape == (3, 4)
    rows = np.ones((6, 8), F)[:, 2:6]  # row stride 8, unit column stride: no copy
    m, t = as_float32_matrix(rows, "A")
    assert m is rows and not t
    m, t = as_float32_matrix(np.ones((3, 4)), "A")  # float64: one float32 copy
    assert m.dtype == np.float32 and m.flags.c_contiguous and not t
    cols = np.ones((4, 8), F)[:, ::2]  # strided columns: one contiguous copy
    m, t = as_float32_matrix(cols, "A")
    assert m.flags.c_contiguous and not np.shares_memory(m, cols)
