"""Counter-based RNG (Philox4x32-10) and the RBM Gibbs-sampling / free-energy kernels.

The Philox known-answer vectors are Random123's published ``tests/kat_vectors`` lines for
``philox4x32 10`` (Salmon et al., SC11): counter (4 words), key (2 words) -> 4 output words.
"""

import math

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C
from latentforge.testing import assert_close

RTOL, ATOL = 2e-6, 1e-7
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


def ref_sigmoid(z):
    z = np.asarray(z, np.float64)
    with np.errstate(all="ignore"):
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def ref_free_energy(V, b_v, Z):
    V, b_v, Z = (np.asarray(a, np.float64) for a in (V, b_v, Z))
    softplus = np.maximum(Z, 0.0) + np.log1p(np.exp(-np.abs(Z)))
    return -(V @ b_v) - softplus.sum(axis=1)


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
    # Mean: sd of the mean is sqrt(1/12/n) ~ 2.9e-4; allow 5 sd.
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    # Chi-square over 100 equal bins: df = 99, mean 99, sd sqrt(198) ~ 14.1; allow mean + 6 sd.
    counts = np.bincount((u * 100).astype(np.int64), minlength=100)
    chi2 = ((counts - n / 100) ** 2 / (n / 100)).sum()
    assert chi2 < 99 + 6 * math.sqrt(198), chi2
    # Kolmogorov-Smirnov: sqrt(n) * D < 1.95 (asymptotic p ~ 0.001).
    s = np.sort(u)
    i = np.arange(1, n + 1)
    d = max((i / n - s).max(), (s - (i - 1) / n).max())
    assert math.sqrt(n) * d < 1.95, d
    # Adjacent draws (same Philox block and across blocks) are uncorrelated: |r| < 5 / sqrt(n).
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / math.sqrt(n)


def test_uniform_same_args_same_draws_and_different_args_differ():
    a = _C.uniform(1000, 1, 2, 0)
    np.testing.assert_array_equal(a, _C.uniform(1000, 1, 2, 0))
    for other in (_C.uniform(1000, 2, 2, 0), _C.uniform(1000, 1, 3, 0), _C.uniform(1000, 1, 2, 1)):
        assert np.mean(a == other) < 0.01
    # High words of seed and stream matter too.
    assert np.mean(a == _C.uniform(1000, 1 + 2**32, 2, 0)) < 0.01
    assert np.mean(a == _C.uniform(1000, 1, 2 + 2**32, 0)) < 0.01


def test_uniform_shapes_and_numpy_ints():
    u = _C.uniform((3, 4, 5), np.uint64(9), np.int64(1))
    assert u.shape == (3, 4, 5) and u.dtype == np.float32
    np.testing.assert_array_equal(u.ravel(), _C.uniform(60, 9, 1))
    assert _C.uniform(0, 1, 1).shape == (0,)
    assert _C.uniform((), 1, 1).shape == ()
    assert _C.uniform([2, 0], 1, 1).shape == (2, 0)


# ------------------------------------------------------------------------ sigmoid_bernoulli


@pytest.mark.parametrize("n", [0, 1, 17, 100003])
def test_sigmoid_bernoulli_matches_reference(isa, n):
    rng = np.random.default_rng(n)
    z = (rng.standard_normal(n) * 6).astype(np.float32)
    z[: min(n, 6)] = np.array([0.0, -0.0, 30.0, -30.0, 100.0, -100.0], np.float32)[: min(n, 6)]
    p, s = _C.sigmoid_bernoulli(z, 3, 4, 5)
    assert p.dtype == s.dtype == np.float32 and p.shape == s.shape == (n,)
    assert_close(p, ref_sigmoid(z), rtol=RTOL, atol=ATOL, err_msg=isa)
    u = _C.uniform(n, 3, 4, 5)
    np.testing.assert_array_equal(s, (u < p).astype(np.float32))
    # Agrees bitwise with the standalone activation (same epilogue) and with bernoulli(p).
    np.testing.assert_array_equal(p, _C.activation_forward(z, 1))
    np.testing.assert_array_equal(s, _C.bernoulli(p, 3, 4, 5))


def test_sigmoid_bernoulli_any_ndim():
    z = np.random.default_rng(1).standard_normal((4, 5, 6)).astype(np.float32)
    p, s = _C.sigmoid_bernoulli(z, 1, 2)
    assert p.shape == s.shape == (4, 5, 6)
    p1, s1 = _C.sigmoid_bernoulli(z.ravel(), 1, 2)
    np.testing.assert_array_equal(p.ravel(), p1)
    np.testing.assert_array_equal(s.ravel(), s1)
    assert set(np.unique(s)) <= {0.0, 1.0}


# -------------------------------------------------------------------------------- bernoulli


def test_bernoulli_mean_converges_to_p():
    probs = np.array([0.0, 1e-3, 0.1, 0.37, 0.5, 0.9, 1.0 - 2**-24, 1.0], np.float32)
    N = 200_000
    s = _C.bernoulli(np.repeat(probs, N), 11, 0).reshape(len(probs), N)
    assert set(np.unique(s)) <= {0.0, 1.0}
    means = s.mean(axis=1, dtype=np.float64)
    pp = probs.astype(np.float64)
    sigma = np.sqrt(pp * (1 - pp) / N)
    assert np.all(np.abs(means - pp) <= 5 * sigma), (means, pp)
    assert means[0] == 0.0 and means[-1] == 1.0  # exact at the ends


def test_sigmoid_bernoulli_mean_converges():
    z = np.repeat(np.array([-3.0, 0.0, 1.5], np.float32), 200_000)
    p, s = _C.sigmoid_bernoulli(z, 5, 6)
    for k in range(3):
        pk = float(p[k * 200_000])
        m = s[k * 200_000 : (k + 1) * 200_000].mean(dtype=np.float64)
        assert abs(m - pk) < 5 * math.sqrt(pk * (1 - pk) / 200_000)


# ----------------------------------------------------------------- threads and continuation


def test_bitwise_thread_independence(threads):
    n = 300_001
    rng = np.random.default_rng(2)
    z = (rng.standard_normal(n) * 4).astype(np.float32)
    pr = rng.random(n).astype(np.float32)
    V = (rng.random((700, 300)) < 0.5).astype(np.float32)
    bv = rng.standard_normal(300).astype(np.float32)
    Z = (rng.standard_normal((700, 200)) * 5).astype(np.float32)
    results = []
    for nt in (1, 2, 3):
        lf.set_num_threads(nt)
        results.append(
            (
                *_C.sigmoid_bernoulli(z, 8, 9, 4101),
                _C.bernoulli(pr, 8, 10, 3),
                _C.uniform(n, 8, 11, 2**63 + 1),
                _C.rbm_free_energy(V, bv, Z),
            )
        )
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k", [1, 3, 4, 4099, 8192])
def test_offset_continuation(k):
    n = 20_000
    rng = np.random.default_rng(k)
    z = rng.standard_normal(n + k).astype(np.float32)
    pr = rng.random(n + k).astype(np.float32)
    np.testing.assert_array_equal(_C.uniform(n, 1, 2, k), _C.uniform(n + k, 1, 2)[k:])
    p_long, s_long = _C.sigmoid_bernoulli(z, 1, 2)
    p, s = _C.sigmoid_bernoulli(z[k:], 1, 2, k)
    np.testing.assert_array_equal(p, p_long[k:])
    np.testing.assert_array_equal(s, s_long[k:])
    np.testing.assert_array_equal(_C.bernoulli(pr[k:], 1, 2, k), _C.bernoulli(pr, 1, 2)[k:])


# ------------------------------------------------------------------------------ free energy


@pytest.mark.parametrize("rows,nv,nh", [(37, 50, 70), (1, 1, 1), (5, 0, 3), (4, 3, 0), (0, 4, 2)])
def test_free_energy_matches_reference(rows, nv, nh):
    rng = np.random.default_rng(rows * 1000 + nv + nh)
    V = rng.random((rows, nv)).astype(np.float32)
    bv = rng.standard_normal(nv).astype(np.float32)
    Z = (rng.standard_normal((rows, nh)) * 3).astype(np.float32)
    F = _C.rbm_free_energy(V, bv, Z)
    assert F.dtype == np.float32 and F.shape == (rows,)
    assert_close(F, ref_free_energy(V, bv, Z), rtol=1e-6, atol=1e-6)


def test_free_energy_softplus_is_stable_for_large_z():
    Z = np.array(
        [[100.0, -100.0, 1e4, -1e4], [88.0, 89.0, -88.0, -89.0], [1e30, -1e30, 0.0, 20.0]],
        np.float32,
    )
    V = np.ones((3, 2), np.float32)
    bv = np.array([0.5, -0.25], np.float32)
    F = _C.rbm_free_energy(V, bv, Z)
    assert np.all(np.isfinite(F))
    assert_close(F, ref_free_energy(V, bv, Z), rtol=1e-6, atol=1e-6)
    # softplus(-1e4) underflows to exactly 0 in the reference; softplus(1e4) is exactly 1e4.
    assert F[0] == np.float32(-(0.25) - (100.0 + math.log1p(math.exp(-100.0)) + 1e4))


# ------------------------------------------------------------------------------- bad inputs


def test_bad_inputs():
    z = np.zeros(8, np.float32)
    with pytest.raises(TypeError, match="float32"):
        _C.sigmoid_bernoulli(z.astype(np.float64), 1, 2)
    with pytest.raises(TypeError, match="numpy array"):
        _C.sigmoid_bernoulli([0.0, 1.0], 1, 2)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.sigmoid_bernoulli(np.zeros((4, 4), np.float32)[:, ::2], 1, 2)
    for bad in (-1, 2**64, -(2**70)):
        with pytest.raises(ValueError, match="seed"):
            _C.sigmoid_bernoulli(z, bad, 0)
        with pytest.raises(ValueError, match="stream"):
            _C.bernoulli(z, 0, bad)
        with pytest.raises(ValueError, match="offset"):
            _C.uniform(3, 0, 0, bad)
    for bad in (1.5, "1", None, True):
        with pytest.raises(TypeError, match="seed"):
            _C.uniform(3, bad, 0)
    _C.uniform(3, 2**64 - 1, 2**64 - 1, 2**64 - 1)  # the top of the range is accepted
    # Bernoulli probabilities must lie in [0, 1].
    for bad in (np.nan, -0.1, 1.0001, np.inf, -np.inf):
        p = np.full(5, 0.5, np.float32)
        p[3] = bad
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            _C.bernoulli(p, 1, 2)
    with pytest.raises(ValueError):
        _C.uniform(-1, 0, 0)
    with pytest.raises(ValueError):
        _C.uniform((2, -3), 0, 0)
    with pytest.raises(TypeError):
        _C.uniform(2.0, 0, 0)
    # Free energy shapes and dtypes.
    V, bv, Z = np.zeros((3, 4), np.float32), np.zeros(4, np.float32), np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match="b_v"):
        _C.rbm_free_energy(V, np.zeros(3, np.float32), Z)
    with pytest.raises(ValueError, match="rows"):
        _C.rbm_free_energy(V, bv, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        _C.rbm_free_energy(V.ravel(), bv, Z)
    with pytest.raises(TypeError, match="float32"):
        _C.rbm_free_energy(V, bv.astype(np.float64), Z)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.rbm_free_energy(np.asfortranarray(V), bv, Z)
    # Philox words.
    with pytest.raises(ValueError, match="4 entries"):
        _C.philox4x32_10([0, 0, 0], [0, 0])
    with pytest.raises(ValueError, match="2\\*\\*32"):
        _C.philox4x32_10([0, 0, 0, 2**32], [0, 0])
    with pytest.raises(TypeError):
        _C.philox4x32_10(5, [0, 0])
