"""PCA against scikit-learn's, and the randomized solver against the exact one."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA as SkPCA

import latentforge as lf
from latentforge.testing import (
    COVARIANCE_EIGH_COS,
    COVARIANCE_EIGH_RTOL,
    RANDOMIZED_PCA_RTOL,
    RTOL_F64,
    assert_close,
    assert_normwise_close,
)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data.astype(np.float64)


# float64 PCA vs scikit-learn's float64 PCA (the same LAPACK SVD of the same centred matrix):
# measured max 1.6e-14 relative (noise variance); the components are identical.
F64 = dict(rtol=RTOL_F64, atol=0)


def _scaled(ref):
    """RTOL_F64 relative to the array's scale (entries that cancel to ~0 included)."""
    return dict(rtol=RTOL_F64, atol=RTOL_F64 * float(np.abs(ref).max()))


def _same_up_to_sign(a, b, atol):
    # Both libraries fix signs by the largest-magnitude entry; allow a flip where that entry is
    # (numerically) tied.
    for i in range(a.shape[0]):
        if not (np.allclose(a[i], b[i], atol=atol) or np.allclose(a[i], -b[i], atol=atol)):
            raise AssertionError(f"component {i} differs: max diff {np.abs(a[i] - b[i]).max()}")


@pytest.mark.parametrize("n_components", [2, 10, 0.9, None])
@pytest.mark.parametrize("whiten", [False, True])
def test_matches_sklearn_full(digits, n_components, whiten):
    ours = lf.models.PCA(n_components, whiten=whiten, svd_solver="full").fit(digits)
    ref = SkPCA(n_components, whiten=whiten, svd_solver="full").fit(digits)
    assert ours.n_components_ == ref.n_components_
    assert_close(ours.explained_variance_, ref.explained_variance_, **F64)
    assert_close(ours.explained_variance_ratio_, ref.explained_variance_ratio_, **F64)
    assert_close(ours.singular_values_, ref.singular_values_, **F64)
    assert_close(ours.mean_, ref.mean_, **_scaled(ref.mean_))
    assert_close(ours.noise_variance_, ref.noise_variance_, **F64)
    k = min(ours.n_components_, 20)  # trailing components of near-equal variance are unstable
    _same_up_to_sign(ours.components_[:k], ref.components_[:k], atol=RTOL_F64)
    Z, Zr = ours.transform(digits), ref.transform(digits)
    signs = np.sign((ours.components_[:k] * ref.components_[:k]).sum(axis=1))
    assert_close(Z[:, :k] * signs, Zr[:, :k], **_scaled(Zr[:, :k]))
    assert_close(ours.fit_transform(digits)[:, :k] * signs, Zr[:, :k], **_scaled(Zr[:, :k]))
    back = ours.inverse_transform(Z)
    assert_close(back, ref.inverse_transform(Zr), **_scaled(digits))


def test_sign_convention_is_deterministic(digits):
    a = lf.models.PCA(5, svd_solver="full").fit(digits).components_
    b = lf.models.PCA(5, svd_solver="full").fit(digits[::-1]).components_
    idx = np.argmax(np.abs(a), axis=1)
    assert np.all(a[np.arange(5), idx] > 0)
    assert_close(a, b, rtol=RTOL_F64, atol=RTOL_F64)  # unit vectors


def test_full_rank_reconstruction_is_exact(digits):
    p = lf.models.PCA(None).fit(digits)
    assert_close(p.inverse_transform(p.transform(digits)), digits, **_scaled(digits))
    assert p.noise_variance_ == 0.0


def test_randomized_matches_exact_on_low_rank_data():
    rng = np.random.default_rng(0)
    n, d, r = 2000, 700, 12
    X = rng.standard_normal((n, r)) @ (rng.standard_normal((r, d)) * np.linspace(5, 1, r)[:, None])
    X += 0.01 * rng.standard_normal((n, d))
    X = X.astype(np.float32)
    exact = lf.models.PCA(10, svd_solver="full").fit(X)
    fast = lf.models.PCA(10, svd_solver="randomized", random_state=0).fit(X)
    auto = lf.models.PCA(10, random_state=0).fit(X)  # 'auto' picks randomized here
    assert_close(fast.explained_variance_, exact.explained_variance_, rtol=RANDOMIZED_PCA_RTOL,
                 atol=0)
    cosines = np.abs((fast.components_ * exact.components_).sum(axis=1))
    assert cosines.min() > 1 - RANDOMIZED_PCA_RTOL, cosines
    np.testing.assert_array_equal(auto.components_, fast.components_)
    assert fast.transform(X).dtype == np.float32
    again = lf.models.PCA(10, svd_solver="randomized", random_state=0).fit(X)
    np.testing.assert_array_equal(again.components_, fast.components_)


def test_bad_input(digits):
    with pytest.raises(ValueError, match="2-D"):
        lf.models.PCA(2).fit(digits[0])
    bad = digits.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lf.models.PCA(2).fit(bad)
    with pytest.raises(ValueError, match="between 1 and"):
        lf.models.PCA(100).fit(digits[:50])
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        lf.models.PCA(1.5).fit(digits)
    with pytest.raises(TypeError, match="n_components"):
        lf.models.PCA("all").fit(digits)
    with pytest.raises(ValueError, match="svd_solver"):
        lf.models.PCA(2, svd_solver="arpack").fit(digits)
    with pytest.raises(ValueError, match="fractional"):
        lf.models.PCA(0.5, svd_solver="randomized").fit(digits)
    with pytest.raises(AttributeError, match="not fitted"):
        lf.models.PCA(2).transform(digits)
    p = lf.models.PCA(2).fit(digits)
    with pytest.raises(ValueError, match="X has 10 features, but PCA is expecting 64 features"):
        p.transform(digits[:, :10])
    with pytest.raises(ValueError, match=r"Z has 3 features, but PCA is expecting 2 features"):
        p.inverse_transform(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="numeric"):
        lf.models.PCA(2).fit(np.array([["a", "b"], ["c", "d"]]))


def test_covariance_solver_matches_full(digits):
    full = lf.models.PCA(20, svd_solver="full").fit(digits)
    cov = lf.models.PCA(20, svd_solver="covariance_eigh").fit(digits)
    auto = lf.models.PCA(20).fit(digits)  # 1797 x 64: n >= 10 d, so 'auto' is covariance_eigh
    assert_close(cov.explained_variance_, full.explained_variance_, rtol=COVARIANCE_EIGH_RTOL,
                 atol=0)
    cosines = np.abs((cov.components_[:10] * full.components_[:10]).sum(axis=1))
    assert cosines.min() > 1 - COVARIANCE_EIGH_COS, cosines
    np.testing.assert_array_equal(auto.components_, cov.components_)
    assert_normwise_close(cov.transform(digits)[:, :10], full.transform(digits)[:, :10] *
                          np.sign((cov.components_[:10] * full.components_[:10]).sum(axis=1)),
                          COVARIANCE_EIGH_RTOL)
