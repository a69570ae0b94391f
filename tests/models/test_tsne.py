"""lf.models.TSNE: quality on digits, exact vs Barnes-Hut, reproducibility, input checks."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

import latentforge as lf
from latentforge._tsne import knn
from latentforge.models import TSNE
from latentforge.testing import TSNE_FIRST_KL_RTOL, TSNE_FIT_KL_RTOL


def _agreement(Y, labels, k=10):
    """Fraction of each point's k nearest neighbours in Y sharing its label."""
    idx, _ = knn(Y, k)
    return float((labels[idx] == labels[:, None]).mean())


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def digits_fit(digits):
    X, _ = digits
    return TSNE(max_iter=500, random_state=0).fit(X)


@pytest.fixture
def restore_threads():
    old = lf.get_num_threads()
    yield
    lf.set_num_threads(old)


# ---------------------------------------------------------------------- quality


def test_digits_neighbour_agreement(digits, digits_fit):
    X, y = digits
    m = digits_fit
    Y = m.embedding_
    assert Y.shape == (X.shape[0], 2) and Y.dtype == np.float32
    assert np.isfinite(Y).all()
    assert _agreement(Y, y) > 0.9
    assert m.n_iter_ == 500 and m.n_features_in_ == 64
    assert m.early_learning_rate_ == max(X.shape[0] / 12.0 / 4.0, 50.0)  # the same formula
    assert m.learning_rate_ == max(X.shape[0] / 4.0, 50.0)


def test_kl_decreases_after_exaggeration(digits_fit):
    m = digits_fit
    h = dict(zip(m.kl_iterations_.tolist(), m.kl_history_.tolist()))
    assert list(h) == [0, 49, 99, 149, 199, 249, 299, 349, 399, 449, 499]
    assert np.isfinite(m.kl_history_).all()
    assert np.isfinite(m.kl_divergence_) and m.kl_divergence_ > 0
    assert m.kl_divergence_ < h[249]  # end of the early-exaggeration phase
    assert h[499] < h[349] < h[299] < h[249]
    assert m.kl_divergence_ <= h[499] + 1e-3


def test_fit_transform_matches_fit(digits):
    X, _ = digits
    Xs = X[:200]
    a = TSNE(perplexity=10, max_iter=260, random_state=3).fit_transform(Xs)
    b = TSNE(perplexity=10, max_iter=260, random_state=3).fit(Xs).embedding_
    np.testing.assert_array_equal(a, b)


def test_exact_and_barnes_hut_agree(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    common = dict(perplexity=20, max_iter=400, random_state=0)
    exact = TSNE(method="exact", **common).fit(X)
    bh = TSNE(method="barnes_hut", theta=0.5, **common).fit(X)
    for m in (exact, bh):
        assert np.isfinite(m.embedding_).all()
        assert _agreement(m.embedding_, y) > 0.85
    assert exact.kl_divergence_ == pytest.approx(bh.kl_divergence_, rel=TSNE_FIT_KL_RTOL)
    # Same init; P differs only in the neighbours kept (3 * perplexity vs all n - 1), so the
    # starting KL must nearly match.
    assert exact.kl_history_[0] == pytest.approx(bh.kl_history_[0], rel=TSNE_FIRST_KL_RTOL)


# ---------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("init", ["pca", "random"])
def test_reproducible_across_threads(digits, restore_threads, init):
    X, _ = digits
    X = X[:600]
    out = []
    for threads in (1, 2):
        lf.set_num_threads(threads)
        out.append(TSNE(max_iter=300, init=init, random_state=7).fit_transform(X))
    np.testing.assert_array_equal(out[0], out[1])
    # n_jobs gives the same result and restores the thread count
    lf.set_num_threads(1)
    Y = TSNE(max_iter=300, init=init, random_state=7, n_jobs=2).fit_transform(X)
    assert lf.get_num_threads() == 1
    np.testing.assert_array_equal(Y, out[0])


def test_init_random_and_array(digits):
    X, _ = digits
    X = X[:200]
    a = TSNE(perplexity=10, max_iter=250, init="random", random_state=1).fit_transform(X)
    b = TSNE(perplexity=10, max_iter=250, init="random", random_state=2).fit_transform(X)
    assert not np.array_equal(a, b)
    init = np.random.default_rng(0).normal(scale=1e-4, size=(200, 2))
    keep = init.copy()
    c = TSNE(perplexity=10, max_iter=250, init=init).fit_transform(X)
    np.testing.assert_array_equal(init, keep)  # not modified in place
    d = TSNE(perplexity=10, max_iter=250, init=init, random_state=99).fit_transform(X)
    np.testing.assert_array_equal(c, d)  # random_state unused with an array init


def test_duplicates_end_up_together(digits):
    X, _ = digits
    X = np.concatenate([X[:150], X[:10]])
    Y = TSNE(perplexity=10, max_iter=300, random_state=0).fit_transform(X)
    assert np.isfinite(Y).all()
    d_dup = np.linalg.norm(Y[:10] - Y[150:], axis=1)
    spread = np.linalg.norm(Y - Y.mean(0), axis=1).mean()
    assert np.median(d_dup) < 0.1 * spread


def test_one_dimensional_embedding(digits):
    # n_components=1 runs the 2-D kernels with every point on a line: the second coordinate
    # stays exactly 0, and the 1-D layout keeps neighbours together (agreement over 0.9 on
    # digits; about 0.1 for a random order).
    X, y = digits
    for method in ("barnes_hut", "exact"):
        tsne = TSNE(n_components=1, perplexity=10, max_iter=300, method=method, random_state=0)
        Y = tsne.fit_transform(X[:400])
        assert Y.shape == (400, 1) and Y.dtype == np.float32 and np.isfinite(Y).all()
        assert _agreement(Y, y[:400]) > 0.9, method
        assert np.isfinite(tsne.kl_divergence_)
    # One feature and init="pca": one principal axis, the second coordinate starts at 0.
    Y = TSNE(perplexity=5, max_iter=250, random_state=0).fit_transform(X[:100, 20:21] + 0.0)
    assert Y.shape == (100, 2) and np.isfinite(Y).all()
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_components\) = \(100, 1\)"):
        TSNE(n_components=1, perplexity=5, init=np.zeros((100, 2))).fit(X[:100])


def test_params_roundtrip():
    m = TSNE(perplexity=5.0, method="exact")
    p = m.get_params()
    assert p["perplexity"] == 5.0 and p["method"] == "exact" and p["n_components"] == 2
    m.set_params(theta=0.3)
    assert m.theta == 0.3


# ---------------------------------------------------------------------- input checks


def test_bad_input(digits):
    X, _ = digits
    X = X[:200].copy()
    Xn = X.copy()
    Xn[17, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        TSNE(perplexity=10).fit(Xn)
    with pytest.raises(ValueError, match="2-D"):
        TSNE(perplexity=10).fit(X[:, 0])
    with pytest.raises(ValueError, match="3 \\* perplexity"):
        TSNE(perplexity=30).fit(X[:80])
    with pytest.raises(ValueError, match="3 \\* perplexity"):
        TSNE(perplexity=30, method="exact").fit(X[:80])
    with pytest.raises(ValueError, match="only compute 2-D"):
        TSNE(n_components=3, perplexity=10).fit(X)
    with pytest.raises(ValueError, match="shape"):
        TSNE(perplexity=10, init=np.zeros((199, 2))).fit(X)
    with pytest.raises(ValueError, match="shape"):
        TSNE(perplexity=10, init=np.zeros((200, 3))).fit(X)
    with pytest.raises(ValueError, match="init"):
        TSNE(perplexity=10, init="spectral").fit(X)
    with pytest.raises(ValueError, match="method"):
        TSNE(perplexity=10, method="fft").fit(X)
    with pytest.raises(ValueError, match="max_iter"):
        TSNE(perplexity=10, max_iter=100).fit(X)
    with pytest.raises(ValueError, match="learning_rate"):
        TSNE(perplexity=10, learning_rate=-1.0).fit(X)
    with pytest.raises(TypeError):
        TSNE(perplexity=10).fit(np.array([["a", "b"]] * 50))


def test_verbose_lines(digits, capsys):
    X, _ = digits
    TSNE(perplexity=10, max_iter=250, random_state=0, verbose=1).fit(X[:150])
    err = capsys.readouterr().err
    assert "iteration 50/250: KL" in err and "done: KL" in err
    TSNE(perplexity=10, max_iter=250, random_state=0).fit(X[:150])
    assert capsys.readouterr().err == ""


def test_viz_scatter(digits_fit, digits, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _, y = digits
    path = tmp_path / "tsne.png"
    ax = lf.viz.scatter(digits_fit.embedding_, y, path=str(path), s=3)
    assert path.stat().st_size > 1000
    assert len(ax.get_legend().get_texts()) == 10
    with pytest.raises(ValueError, match="shape"):
        lf.viz.scatter(np.zeros((10, 3)), np.zeros(10))
    plt.close("all")


def test_divergence_is_reported(digits):
    # A learning rate that throws the embedding far out stops the fit with a clear error: at
    # 1e30 the float32 kernels returned a negative KL (-567) and an embedding of 1e33, at 1e10 a
    # plausible KL for an embedding that never moved from its scaled-up start.
    X, _ = digits
    for lr in (1e30, 1e10, 1e7):
        with pytest.raises(FloatingPointError, match="diverged"):
            TSNE(learning_rate=lr, random_state=0, max_iter=250).fit(X[:300])
    # Beyond float32's range the parameter itself is refused, by name.
    with pytest.raises(ValueError, match="learning_rate must be at most"):
        TSNE(learning_rate=1e300, random_state=0, max_iter=250).fit(X[:300])
