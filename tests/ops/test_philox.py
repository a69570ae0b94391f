"""Counter-based RNG: Philox4x32-10 (``_C.philox4x32_10``) and the uniform draws built on it
(``_C.uniform``).

The Philox known-answer vectors are Random123's published ``tests/kat_vectors`` lines for
``philox4x32 10`` (Salmon et al., SC11): counter (4 words), key (2 words) -> 4 output words.
"""

import math

import numpy as np
import pytest

from latentforge import _C
from latentforge.testing import CHI2_N_SIGMA, DISTINCT_STREAM_MATCH, KS_CRITICAL, N_SIGMA

M32 = 0xFFFFFFFF

# Random123 tests/kat_vectors, "philox4x32 10" lines: (counter, key, expected).
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32,) * 4, (M32,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


def py_philox(ctr, key):
    """Pure-Python Philox4x32-10 (independent of the C++ code), for random-input cross-checks."""
    c, k = list(ctr), list(key)
    for r in range(10):
        if r:
            k = [(k[0] + 0x9E3779B9) & M32, (k[1] + 0xBB67AE85) & M32]
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k[0], p1 & M32, (p0 >> 32) ^ c[3] ^ k[1], p0 & M32]
    return c


def py_uniform01(seed, stream, index):
    """The documented (seed, stream, index) -> Philox mapping, written out in Python."""
    index %= 2**64
    block, lane = index // 4, index % 4
    ctr = [block & M32, block >> 32, stream & M32, stream >> 32]
    key = [seed & M32, seed >> 32]
    return (py_philox(ctr, key)[lane] >> 8) * 2.0**-24


# ----------------------------------------------------------------------------------- Philox


@pytest.mark.parametrize("ctr,key,want", PHILOX_KAT)
def test_philox_known_answers(ctr, key, want):
    assert _C.philox4x32_10(list(ctr), list(key)) == list(want)
    assert py_philox(ctr, key) == list(want)  # the Python reference used below is right too


def test_philox_matches_python_reference_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(50):
        ctr = [int(x) for x in rng.integers(0, 2**32, 4)]
        key = [int(x) for x in rng.integers(0, 2**32, 2)]
        assert _C.philox4x32_10(ctr, key) == py_philox(ctr, key)


@pytest.mark.parametrize(
    "seed,stream,offset",
    [
        (0, 0, 0),
        (1, 2, 3),
        (2**64 - 1, 2**64 - 1, 2**64 - 5),
        (7, 8, 2**64 - 61),
        (0x123456789AB, 2**40 + 7, 2**33 + 1),
    ],
)
def test_uniform_follows_documented_counter_mapping(seed, stream, offset):
    # 150 draws from an unaligned offset: the leading partial Philox block, the bulk path
    # (32 draws at a time) and the tail; two cases wrap the index at 2**64.
    n = 150
    got = _C.uniform(n, seed, stream, offset)
    want = np.array([py_uniform01(seed, stream, offset + i) for i in range(n)], np.float32)
    assert got.dtype == np.float32 and got.shape == (n,)
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------------- uniform


def test_uniform_distribution_sanity():
    n = 1_000_000
    u = _C.uniform(n, 12345, 7).astype(np.float64)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert np.all(u * 2**24 == np.floor(u * 2**24))  # 24-bit grid
    # Mean: sd of the mean is sqrt(1/12/n) ~ 2.9e-4.
    assert abs(u.mean() - 0.5) < N_SIGMA * math.sqrt(1 / 12 / n)
    # Chi-square over 100 equal bins: df = 99, mean 99, sd sqrt(198) ~ 14.1.
    counts = np.bincount((u * 100).astype(np.int64), minlength=100)
    chi2 = ((counts - n / 100) ** 2 / (n / 100)).sum()
    assert chi2 < 99 + CHI2_N_SIGMA * math.sqrt(198), chi2
    # Kolmogorov-Smirnov.
    s = np.sort(u)
    i = np.arange(1, n + 1)
    d = max((i / n - s).max(), (s - (i - 1) / n).max())
    assert math.sqrt(n) * d < KS_CRITICAL, d
    # Adjacent draws (same Philox block and across blocks) are uncorrelated: sd(r) = 1/sqrt(n).
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < N_SIGMA / math.sqrt(n)


def test_uniform_same_args_same_draws_and_different_args_differ():
    a = _C.uniform(1000, 1, 2, 0)
    np.testing.assert_array_equal(a, _C.uniform(1000, 1, 2, 0))
    for other in (_C.uniform(1000, 2, 2, 0), _C.uniform(1000, 1, 3, 0), _C.uniform(1000, 1, 2, 1)):
        assert np.mean(a == other) < DISTINCT_STREAM_MATCH
    # High words of seed and stream matter too.
    assert np.mean(a == _C.uniform(1000, 1 + 2**32, 2, 0)) < DISTINCT_STREAM_MATCH
    assert np.mean(a == _C.uniform(1000, 1, 2 + 2**32, 0)) < DISTINCT_STREAM_MATCH


def test_uniform_shapes_and_numpy_ints():
    u = _C.uniform((3, 4, 5), np.uint64(9), np.int64(1))
    assert u.shape == (3, 4, 5) and u.dtype == np.float32
    np.testing.assert_array_equal(u.ravel(), _C.uniform(60, 9, 1))
    assert _C.uniform(0, 1, 1).shape == (0,)
    assert _C.uniform((), 1, 1).shape == ()
    assert _C.uniform([2, 0], 1, 1).shape == (2, 0)


@pytest.mark.parametrize("n, offset", [(0, 0), (1, 3), (37, 2), (100_003, 2**64 - 5)])
def test_uniform_matches_naive_reference(n, offset, threads):
    """The block fill (8 Philox blocks at a time, OpenMP over 4096-element blocks) against one
    uniform01 call per element, bit for bit, including an offset that wraps modulo 2**64."""
    import latentforge as lf

    want = _C.uniform((n,), 9, 4, offset, naive=True)
    for t in (1, 2):
        lf.set_num_threads(t)
        assert np.array_equal(_C.uniform((n,), 9, 4, offset), want)
