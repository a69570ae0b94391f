"""Native row-wise top-k (k-sparse) kernel ``_C.topk_rows`` / ``_C.topk_rows_backward`` against a
numpy reference with the same tie rule (larger value first, then the lower column index)."""

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C

ref_mask = ref64.topk_mask


def check(x, k):
    y, mask = _C.topk_rows(x, k)
    assert y.dtype == np.float32 and mask.dtype == np.uint8
    assert y.shape == x.shape and mask.shape == x.shape
    ref = ref_mask(x, k)
    np.testing.assert_array_equal(mask, ref)
    np.testing.assert_array_equal(y, np.where(ref == 1, x, np.float32(0)))
    assert (mask.sum(axis=1) == k).all()
    return y, mask


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 3), (17, 64), (300, 1000)], ids=str)
def test_topk_matches_numpy(shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    x = rng.standard_normal(shape).astype(np.float32)
    cols = shape[1]
    for k in sorted({1, 2, cols // 2, cols - 1, cols} & set(range(1, cols + 1))):
        check(x, k)


def test_k_equals_cols_returns_input():
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    y, mask = check(x, 6)
    np.testing.assert_array_equal(y, x)
    assert mask.all()


def test_k_one_is_argmax_first():
    x = np.array([[1, 5, 5, 2], [-3, -1, -1, -2], [0, 0, 0, 0]], dtype=np.float32)
    y, mask = check(x, 1)
    np.testing.assert_array_equal(mask.argmax(axis=1), [1, 1, 0])


def test_ties_lower_index_wins():
    x = np.array(
        [[3, 1, 3, 3, 0, 3], [2, 2, 2, 2, 2, 2], [0.0, -0.0, 0.0, -0.0, -1, 1]], dtype=np.float32
    )
    _, mask = check(x, 2)
    np.testing.assert_array_equal(mask[0], [1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(mask[1], [1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(mask[2], [1, 0, 0, 0, 0, 1])  # +0 == -0: index decides
    _, mask = check(x, 3)
    np.testing.assert_array_equal(mask[0], [1, 0, 1, 1, 0, 0])


def test_many_equal_values_and_infinities():
    rng = np.random.default_rng(5)
    x = rng.integers(-2, 3, size=(200, 257)).astype(np.float32)  # heavy ties
    x[0, :5] = np.inf
    x[1, :] = -np.inf
    for k in (1, 3, 100, 256, 257):
        check(x, k)


def test_backward_routes_through_kept_units():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 50)).astype(np.float32)
    dy = rng.standard_normal((40, 50)).astype(np.float32)
    _, mask = _C.topk_rows(x, 7)
    dx = _C.topk_rows_backward(dy, mask)
    np.testing.assert_array_equal(dx, np.where(mask == 1, dy, np.float32(0)))


def test_thread_count_independence(threads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 1000)).astype(np.float32)
    x[:, ::7] = np.round(x[:, ::7])  # some ties
    dy = rng.standard_normal((300, 1000)).astype(np.float32)
    results = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        y, mask = _C.topk_rows(x, 37)
        dx = _C.topk_rows_backward(dy, mask)
        results.append((y.tobytes(), mask.tobytes(), dx.tobytes()))
    assert results[0] == results[1] == results[2]
    check(x, 37)


def test_empty_rows():
    y, mask = _C.topk_rows(np.zeros((0, 5), np.float32), 2)
    assert y.shape == (0, 5) and mask.shape == (0, 5)


def test_bad_input():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        _C.topk_rows(x.astype(np.float64), 1)
    with pytest.raises(TypeError):
        _C.topk_rows([[1.0, 2.0]], 1)
    with pytest.raises(ValueError):
        _C.topk_rows(np.ones(4, np.float32), 1)
    with pytest.raises(ValueError):
        _C.topk_rows(np.ones((2, 3, 4), np.float32), 1)
    with pytest.raises(ValueError):
        _C.topk_rows(np.ones((4, 6), np.float32)[:, ::2], 1)  # not C-contiguous
    for k in (0, -1, 5):
        with pytest.raises(ValueError):
            _C.topk_rows(x, k)
    xn = x.copy()
    xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _C.topk_rows(xn, 2)
    _, mask = _C.topk_rows(x, 2)
    with pytest.raises(ValueError):
        _C.topk_rows_backward(np.ones((3, 5), np.float32), mask)
    with pytest.raises(TypeError):
        _C.topk_rows_backward(np.ones((3, 4), np.float32), mask.astype(bool))
    with pytest.raises(TypeError):
        _C.topk_rows_backward(np.ones((3, 4)), mask)


@pytest.mark.parametrize("k", [1, 3, 40, 127, 128])
def test_optimized_matches_naive_reference(k):
    """Heap / nth_element selection against the full stable sort beside it, bit for bit, with
    many ties (+0 and -0 tie, as in a float compare) and infinities."""
    rng = np.random.default_rng(k)
    x = rng.integers(-4, 5, size=(33, 128)).astype(np.float32)
    x[0, :8] = [np.inf, -np.inf, 0.0, -0.0, np.inf, -0.0, 0.0, -np.inf]
    y, m = _C.topk_rows(x, k)
    yn, mn = _C.topk_rows(x, k, naive=True)
    assert np.array_equal(m, mn)
    assert np.array_equal(y.view(np.uint32), yn.view(np.uint32))
    with pytest.raises(ValueError, match="NaN"):
        _C.topk_rows(np.full((2, 3), np.nan, np.float32), 1, naive=True)
