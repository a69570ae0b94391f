"""ConvNetClassifier: accuracy on scikit-learn's digits (8x8 images), every input form, the
MLPClassifier conventions (history, early stopping, reproducibility, save/load, clone), and
clear errors on bad input. The MNIST reproduction (>= 99.3%) is in tests/reproductions."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge.models import ConvNetClassifier

datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(scope="module")
def digits():
    d = datasets.load_digits()
    X = (d.data / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    tr, te = order[:1400], order[1400:]
    return X[tr], d.target[tr], X[te], d.target[te]


def small(**kw):
    base = dict(channels=(8, 16), kernel_size=3, hidden=(32,), dropout=0.0, max_epochs=6,
                random_state=0)
    base.update(kw)
    return ConvNetClassifier(**base)


@pytest.fixture(scope="module")
def fitted(digits):
    X, y, _, _ = digits
    return small().fit(X, y)


def test_digits_accuracy(fitted, digits):
    _, _, Xt, yt = digits
    acc = fitted.score(Xt, yt)
    assert acc >= 0.95, acc
    assert fitted.input_shape_ == (1, 8, 8)
    assert fitted.n_features_in_ == 64
    assert len(fitted.history_["loss"]) == fitted.n_iter_
    assert fitted.history_["loss"][-1] < fitted.history_["loss"][0]


def test_every_input_form_gives_the_same_predictions(fitted, digits):
    _, _, Xt, _ = digits
    flat = fitted.predict_proba(Xt)
    np.testing.assert_array_equal(fitted.predict_proba(Xt.reshape(-1, 8, 8)), flat)
    np.testing.assert_array_equal(fitted.predict_proba(Xt.reshape(-1, 1, 8, 8)), flat)
    np.testing.assert_array_equal(fitted.predict(Xt), fitted.classes_[flat.argmax(axis=1)])


def test_fit_on_images_equals_fit_on_flat_rows(digits):
    X, y, Xt, _ = digits
    a = small(max_epochs=1).fit(X[:300], y[:300])
    b = small(max_epochs=1).fit(X[:300].reshape(-1, 1, 8, 8), y[:300])
    c = small(max_epochs=1, input_shape=(8, 8)).fit(X[:300], y[:300])
    pa = a.predict_proba(Xt)
    np.testing.assert_array_equal(b.predict_proba(Xt), pa)
    np.testing.assert_array_equal(c.predict_proba(Xt), pa)


@pytest.mark.parametrize("kw", [dict(pool="l2"), dict(pool="avg", activation="tanh"),
                                dict(pool=None, channels=(4,)), dict(batchnorm=True),
                                dict(conv_dropout=0.2, dropout=0.3)])
def test_variants_train(digits, kw):
    X, y, Xt, yt = digits
    clf = small(max_epochs=2, **kw).fit(X[:600], y[:600])
    assert clf.score(Xt, yt) > 0.5
    assert np.isfinite(clf.history_["loss"]).all()


def test_reproducible_and_thread_independent(digits):
    X, y, Xt, _ = digits
    ref = small(max_epochs=1, batchnorm=True).fit(X[:400], y[:400]).predict_proba(Xt)
    for threads in (1, 3):
        lf.set_num_threads(threads)
        try:
            p = small(max_epochs=1, batchnorm=True).fit(X[:400], y[:400]).predict_proba(Xt)
        finally:
            lf.set_num_threads(0)
        np.testing.assert_array_equal(p, ref)


def test_save_load_and_clone(fitted, digits, tmp_path):
    _, _, Xt, _ = digits
    path = tmp_path / "cnn.lf"
    fitted.save(path)
    loaded = lf.load(path)
    assert isinstance(loaded, ConvNetClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(Xt), fitted.predict_proba(Xt))
    sklearn_base = pytest.importorskip("sklearn.base")
    c = sklearn_base.clone(fitted)
    assert c.get_params() == fitted.get_params() and not hasattr(c, "network_")


def test_bad_input(fitted, digits):
    X, y, Xt, _ = digits
    with pytest.raises(ValueError, match="input_shape"):
        small().fit(X[:50, :60], y[:50])          # 60 features: not a square image
    with pytest.raises(ValueError, match="input_shape"):
        small(input_shape=(1, 7, 7)).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="input_shape"):
        small(input_shape=(1, 2)).fit(X[:50].reshape(-1, 1, 8, 8), y[:50])
    with pytest.raises(ValueError, match="input_shape must be"):
        small(input_shape=(8,)).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="reduced to nothing"):
        small(channels=(4, 4, 4, 4)).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="expecting"):
        fitted.predict(Xt.reshape(-1, 4, 16))
    with pytest.raises(ValueError, match="NaN"):
        bad = Xt.copy()
        bad[0, 0] = np.nan
        fitted.predict(bad)
    with pytest.raises(ValueError, match="pool must be one of"):
        small(pool="median").fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="channels"):
        small(channels=()).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="conv_dropout"):
        small(conv_dropout=1.0).fit(X[:50], y[:50])
