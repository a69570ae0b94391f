"""The estimators in scikit-learn's own tools (current tag protocol, >= 1.6): clone, Pipeline,
cross_val_score and GridSearchCV, without scikit-learn being a dependency of latentforge."""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf

sklearn = pytest.importorskip("sklearn")  # the "test" extra brings it
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.utils import get_tags  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32)[:600], y[:600]


def _mlp(**kw):
    return lf.models.MLPClassifier(hidden=(32,), max_epochs=20, early_stopping=False,
                                   random_state=0, **kw)


def test_tags():
    assert get_tags(_mlp()).estimator_type == "classifier" and is_classifier(_mlp())
    assert get_tags(_mlp()).target_tags.required
    for est in (lf.models.PCA(2), lf.models.RBM(), lf.models.Autoencoder(), lf.models.DBN()):
        tags = get_tags(est)
        assert tags.estimator_type == "transformer" and tags.transformer_tags is not None
        assert not tags.target_tags.required and not tags.input_tags.allow_nan
    assert get_tags(lf.models.TSNE()).transformer_tags is None  # fit_transform only


def test_cross_val_score_and_clone(digits):
    X, y = digits
    scores = cross_val_score(_mlp(), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)
    est = _mlp(learning_rate=0.05)
    twin = clone(est)
    assert twin is not est and twin.get_params() == est.get_params()


def test_grid_search_over_a_pipeline(digits):
    X, y = digits
    pipe = make_pipeline(lf.models.PCA(random_state=0), LogisticRegression(max_iter=300))
    grid = GridSearchCV(pipe, {"pca__n_components": [8, 16]}, cv=2).fit(X, y)
    assert grid.best_params_["pca__n_components"] in (8, 16)
    assert grid.score(X, y) > 0.8
    search = GridSearchCV(_mlp(), {"learning_rate": [0.1, 0.3]}, cv=2).fit(X, y)
    assert search.best_estimator_.learning_rate in (0.1, 0.3)


def test_repr_shows_non_default_parameters():
    assert repr(lf.models.PCA()) == "PCA()"
    assert repr(lf.models.PCA(5, whiten=True)) == "PCA(n_components=5, whiten=True)"
    assert repr(_mlp()).startswith("MLPClassifier(hidden=(32,), max_epochs=20")
