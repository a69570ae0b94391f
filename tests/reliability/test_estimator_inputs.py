"""Estimator input validation and the silent wrong answers of issue 15, one regression test each.

Every estimator checks ``X`` and ``y`` the way scikit-learn's ``check_array`` / ``check_X_y``
do (``latentforge.models._base``): 2-D, numeric, finite, at least one row and one feature, one
label per row, labels of one type and no NaN; the messages name the argument.
"""

import numpy as np
import pytest

from latentforge import losses, nn
from latentforge.models import (
    DBN,
    DNN,
    PCA,
    RBM,
    TSNE,
    Autoencoder,
    MLPClassifier,
    StackedAutoencoder,
)
from latentforge.models._base import check_array, check_labels
from latentforge.tensor import Tensor

# ---------------------------------------------------------------------- fixtures


def _blobs(n=60, d=4, seed=0):
    """Two separable classes in [0, 1] (valid for the Bernoulli RBM and the BCE autoencoder)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.uniform(0.0, 0.4, (n, d)) + 0.5 * y[:, None]
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def blobs():
    return _blobs()


@pytest.fixture(scope="module")
def mlp(blobs):
    X, y = blobs
    return MLPClassifier(hidden=(8,), max_epochs=30, learning_rate=0.5, validation_fraction=0,
                         random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def dnn(blobs):
    X, y = blobs
    return DNN(hidden=(8,), pretrain=None, max_epochs=30, learning_rate=0.5,
               validation_fraction=0, random_state=0).fit(X, y)


def _make(name):
    """A small unfitted estimator of each kind, with the data it fits on."""
    X, y = _blobs()
    return {
        "PCA": (PCA(2), X, None),
        "TSNE": (TSNE(perplexity=5, max_iter=250, random_state=0), X, None),
        "RBM": (RBM(n_hidden=3, n_iter=1, random_state=0), X, None),
        "DBN": (DBN(hidden=(3,), rbm_params={"n_iter": 1}, random_state=0), X, None),
        "Autoencoder": (Autoencoder(hidden=3, n_epochs=1, random_state=0), X, None),
        "StackedAutoencoder": (StackedAutoencoder(hidden=(3,), n_epochs=1, random_state=0), X,
                               None),
        "MLPClassifier": (MLPClassifier(hidden=(4,), max_epochs=1, validation_fraction=0,
                                        random_state=0), X, y),
        "DNN": (DNN(hidden=(4,), pretrain="ae", max_epochs=1, validation_fraction=0,
                    pretrain_params={"n_epochs": 1}, random_state=0), X, y),
    }[name]


ESTIMATORS = ["PCA", "TSNE", "RBM", "DBN", "Autoencoder", "StackedAutoencoder", "MLPClassifier",
              "DNN"]


# ---------------------------------------------------------------------- 1. PCA, integer input


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "randomized", "auto"])
def test_pca_integer_input_is_centred_in_float64(solver):
    # Issue 15, case 1: the mean was truncated to the integer dtype before centring by the
    # float32 solvers ([11.67, 9.43] instead of [10.44, 8.74]).
    X = np.random.default_rng(0).integers(0, 10, (200, 5)) + 100
    p = PCA(2, svd_solver=solver, random_state=0).fit(X)
    exact = np.sort(np.linalg.eigvalsh(np.cov(X.astype(np.float64), rowvar=False)))[::-1][:2]
    np.testing.assert_allclose(exact, [10.4351162, 8.7440822], rtol=1e-6)
    np.testing.assert_allclose(p.explained_variance_, exact, rtol=1e-5)
    np.testing.assert_array_equal(p.mean_, X.mean(axis=0))
    assert p.explained_variance_.dtype == np.float64
    # The projection of the training data has the stated variance.
    np.testing.assert_allclose(p.transform(X).var(axis=0, ddof=1), exact, rtol=1e-5)


@pytest.mark.parametrize("solver", ["covariance_eigh", "randomized"])
def test_pca_uint8_with_offset_matches_float(solver):
    rng = np.random.default_rng(1)
    X = (200 + rng.integers(0, 50, (300, 8)) * np.arange(1, 9) // 8).astype(np.uint8)
    ours = PCA(3, svd_solver=solver, random_state=0).fit(X)
    ref = PCA(3, svd_solver="full").fit(X.astype(np.float64))
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-5)


# ---------------------------------------------------------------------- 6. PCA, tiny / huge data


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "randomized"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pca_whiten_on_tiny_data_is_unit_variance(solver, dtype):
    # Issue 15, case 6: data scaled by 1e-25 whitened to infinities (the variance underflowed in
    # float32, and the float32 scatter matrix underflowed to zero).
    rng = np.random.default_rng(2)
    base = rng.standard_normal((120, 6)) @ rng.standard_normal((6, 6))
    X = (base * 1e-25).astype(dtype)
    p = PCA(3, whiten=True, svd_solver=solver, random_state=0).fit(X)
    Z = p.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z.astype(np.float64).std(axis=0, ddof=1), 1.0, rtol=1e-4)
    ref = PCA(3, whiten=True, svd_solver="full").fit(base)
    np.testing.assert_allclose(p.explained_variance_ratio_, ref.explained_variance_ratio_,
                               rtol=1e-4)
    signs = np.sign((p.components_ * ref.components_).sum(axis=1))
    np.testing.assert_allclose(Z * signs, ref.transform(base), rtol=1e-3, atol=1e-3)
    back = p.inverse_transform(Z).astype(np.float64)
    np.testing.assert_allclose(back, ref.inverse_transform(ref.transform(base)) * 1e-25,
                               rtol=1e-3, atol=1e-28)


@pytest.mark.parametrize("solver", ["covariance_eigh", "randomized"])
def test_pca_float32_solvers_do_not_overflow_on_huge_data(solver):
    rng = np.random.default_rng(3)
    base = rng.standard_normal((150, 5)) * np.arange(1, 6)
    p = PCA(2, svd_solver=solver, random_state=0).fit(base * 1e25)
    ref = PCA(2, svd_solver="full").fit(base)
    np.testing.assert_allclose(p.explained_variance_ / 1e50, ref.explained_variance_, rtol=1e-5)


def test_pca_whiten_zero_variance_components_are_zero_not_infinite():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 5))
    X[:, 2] = 7.0                                       # a constant feature: rank 4
    p = PCA(None, whiten=True, svd_solver="full").fit(X)
    Z = p.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_array_equal(Z[:, 4], 0.0)          # the null component
    np.testing.assert_allclose(Z[:, :4].std(axis=0, ddof=1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(p.inverse_transform(Z), X, rtol=1e-10, atol=1e-10)
    # Constant data: no variance anywhere, no NaN and no warning (warnings are errors here).
    c = PCA(2, whiten=True).fit(np.full((30, 3), 5.0))
    np.testing.assert_array_equal(c.explained_variance_ratio_, 0.0)
    np.testing.assert_array_equal(c.transform(np.full((2, 3), 5.0)), 0.0)


# ---------------------------------------------------------------------- 7. inverse_transform


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pca_inverse_transform_rejects_non_finite(bad):
    X = np.random.default_rng(5).standard_normal((30, 4))
    p = PCA(2).fit(X)
    Z = p.transform(X)
    Z[3, 1] = bad
    with pytest.raises(ValueError, match="Z contains NaN or infinity"):
        p.inverse_transform(Z)
    with pytest.raises(ValueError, match="Z must be 2-D"):
        p.inverse_transform(Z[0])
    with pytest.raises(ValueError, match=r"Z has 3 features, but PCA is expecting 2 features"):
        p.inverse_transform(np.zeros((2, 3)))


# ---------------------------------------------------------------------- 2. predict on NaN/Inf


@pytest.mark.parametrize("model", ["mlp", "dnn"])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_classifiers_reject_non_finite_input(request, blobs, model, method, bad):
    # Issue 15, case 2: predict answered class 0 and predict_proba NaN for NaN input.
    clf = request.getfixturevalue(model)
    X, y = blobs
    Xb = X.copy()
    Xb[5, 2] = bad
    args = (Xb, y) if method == "score" else (Xb,)
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(first at row 5, "
                                         r"column 2\)"):
        getattr(clf, method)(*args)


def test_classifiers_reject_values_beyond_float32(mlp, blobs):
    X, y = blobs
    Xb = X.astype(np.float64)
    Xb[0, 0] = 1e300
    with pytest.raises(ValueError, match="float32 range"):
        mlp.predict(Xb)
    with pytest.raises(ValueError, match="float32 range"):
        MLPClassifier(hidden=(2,), max_epochs=1).fit(Xb, y)


# ---------------------------------------------------------------------- 3. score validates y


@pytest.mark.parametrize("model", ["mlp", "dnn"])
def test_score_validates_y(request, blobs, model):
    # Issue 15, case 3: a (n, 1) y was broadcast (0.333 on a perfect model), y=None gave 0.0,
    # zero rows gave nan.
    clf = request.getfixturevalue(model)
    X, y = blobs
    assert clf.score(X, clf.predict(X)) == 1.0
    assert clf.score(X, list(clf.predict(X))) == 1.0
    with pytest.raises(ValueError, match=r"y must be 1-D with 60 labels.*\(60, 1\)"):
        clf.score(X, clf.predict(X).reshape(-1, 1))
    with pytest.raises(ValueError, match="y is required"):
        clf.score(X, None)
    with pytest.raises(ValueError, match=r"y must be 1-D with 60 labels.*\(59,\)"):
        clf.score(X, y[:-1])
    with pytest.raises(ValueError, match="X has no rows"):
        clf.score(X[:0], y[:0])
    with pytest.raises(TypeError, match="y has str labels but the model was fitted with "
                                        "number labels"):
        clf.score(X, y.astype(str))
    with pytest.raises(ValueError, match="y contains NaN"):
        clf.score(X, np.where(y == 0, np.nan, 1.0))


# ---------------------------------------------------------------------- 4. labels at fit


@pytest.mark.parametrize("cls", [MLPClassifier, DNN])
def test_fit_rejects_nan_and_mixed_labels(blobs, cls):
    # Issue 15, case 4: NaN became a class; mixed types failed with "'<' not supported".
    X, y = blobs
    kw = dict(hidden=(4,), max_epochs=1, validation_fraction=0, random_state=0)
    if cls is DNN:
        kw["pretrain"] = None
    yn = y.astype(np.float64)
    yn[3] = np.nan
    with pytest.raises(ValueError, match="y contains NaN"):
        cls(**kw).fit(X, yn)
    yo = y.astype(object)
    yo[3] = None
    with pytest.raises(TypeError, match="y labels must be strings or numbers, got NoneType"):
        cls(**kw).fit(X, yo)
    yo[3] = float("nan")
    with pytest.raises(ValueError, match="y contains NaN"):
        cls(**kw).fit(X, yo)
    mixed = [1 if v else "a" for v in y]
    with pytest.raises(TypeError, match="y mixes string and numeric labels"):
        cls(**kw).fit(X, mixed)
    with pytest.raises(TypeError, match="y mixes string and numeric labels"):
        cls(**kw).fit(X, np.array(mixed, dtype=object))
    with pytest.raises(ValueError, match="y is required"):
        cls(**kw).fit(X, None)
    # String labels of one type are fine and come back as given.
    clf = cls(**kw).fit(X, np.where(y == 1, "yes", "no"))
    assert set(clf.classes_) == {"no", "yes"}
    assert set(clf.predict(X)) <= {"no", "yes"}


def test_dnn_checks_labels_before_pretraining(blobs, monkeypatch):
    X, y = blobs
    import latentforge.models.autoencoder as ae_mod

    def boom(*args, **kwargs):
        raise AssertionError("pretraining ran before y was checked")

    monkeypatch.setattr(ae_mod.StackedAutoencoder, "fit", boom)
    with pytest.raises(ValueError, match="y must be 1-D with 60 labels"):
        DNN(hidden=(4,), pretrain="ae").fit(X, y[:10])


# ---------------------------------------------------------------------- 5. t-SNE init scale


@pytest.mark.parametrize("scale", [1e30, 1e20, 1e10, 1e5])
def test_tsne_rejects_init_it_cannot_optimise(scale):
    # Issue 15, case 5: at 1e30 it reported KL = -575 and returned the init unchanged; at
    # 1e10-1e20 it never moved but reported a plausible KL.
    X, _ = _blobs()
    init = np.random.default_rng(6).standard_normal((60, 2)) * scale
    with pytest.raises(ValueError, match="init array has coordinates up to .* rescale"):
        TSNE(perplexity=5, max_iter=250, init=init, random_state=0).fit(X)


def test_tsne_init_array_of_usable_scale_is_used_and_optimised():
    X, _ = _blobs()
    init = np.random.default_rng(7).standard_normal((60, 2))
    kept = init.copy()
    ts = TSNE(perplexity=5, max_iter=500, init=init, random_state=0).fit(X)
    np.testing.assert_array_equal(init, kept)           # the caller's array is not modified
    assert np.isfinite(ts.embedding_).all()
    assert 0 <= ts.kl_divergence_ < 0.5 * ts.kl_history_[0]   # it was optimised
    bad = init.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="init array contains NaN"):
        TSNE(perplexity=5, max_iter=250, init=bad).fit(X)


# ---------------------------------------------------------------------- shared validation


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_validates_X_at_fit(name):
    est, X, y = _make(name)
    args = () if y is None else (y,)
    Xn = X.copy()
    Xn[2, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        est.fit(Xn, *args)
    Xi = X.copy()
    Xi[2, 1] = np.inf
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        est.fit(Xi, *args)
    with pytest.raises(ValueError, match="X must be 2-D"):
        est.fit(X[:, 0], *args)
    with pytest.raises(ValueError, match="X must be 2-D"):
        est.fit(X[None], *args)
    with pytest.raises(ValueError, match="X has no features"):
        est.fit(X[:, :0], *args)
    with pytest.raises(ValueError, match="X has no rows"):
        est.fit(X[:0], *(() if y is None else (y[:0],)))
    with pytest.raises(TypeError, match="X must be"):
        est.fit(np.full(X.shape, "a"), *args)
    if y is not None:
        with pytest.raises(ValueError, match="y must be 1-D with 60 labels"):
            est.fit(X, y[:30])


@pytest.mark.parametrize("name", [n for n in ESTIMATORS if n != "TSNE"])
def test_every_fitted_estimator_validates_X(name):
    est, X, y = _make(name)
    est.fit(X, *(() if y is None else (y,)))
    method = getattr(est, "transform", None) or est.predict
    methods = [method] + [getattr(est, m) for m in ("predict", "predict_proba")
                          if hasattr(est, m) and getattr(est, m) != method]
    for m in methods:
        Xn = X.copy()
        Xn[0, 0] = np.nan
        with pytest.raises(ValueError, match="X contains NaN or infinity"):
            m(Xn)
        with pytest.raises(ValueError, match="X must be 2-D"):
            m(X[0])
        with pytest.raises(ValueError, match="X has no rows"):
            m(X[:0])
        with pytest.raises(ValueError, match=r"X has 3 features, but \w+ is expecting 4 features"):
            m(X[:, :3])


def test_check_array_and_check_labels_helpers():
    X = np.arange(6.0).reshape(3, 2)
    out = check_array(X)
    assert out.dtype == np.float32 and out.shape == (3, 2)
    f32 = X.astype(np.float32)
    assert check_array(f32) is f32                      # zero-copy for float32
    assert check_array(X, dtype=None) is X
    assert check_array([[1, 2], [3, 4]], integer=True).dtype == np.float32
    assert check_array(np.array([[1, 2]], dtype=object)).dtype == np.float32
    with pytest.raises(TypeError, match="X must be a floating-point array"):
        check_array(np.ones((2, 2), np.int64))
    with pytest.raises(TypeError, match="X must be an array-like, got None"):
        check_array(None)
    with pytest.raises(TypeError, match="X must contain numbers only"):
        check_array(np.array([[1.0, "a"]], dtype=object))
    with pytest.raises(TypeError, match="X must be a numeric"):
        check_array(np.ones((2, 2), complex), integer=True)
    with pytest.raises(ValueError, match="X has 1 sample; at least 2 are needed"):
        check_array(X[:1], min_samples=2)
    assert check_labels([1, 2, 2], 3).dtype.kind == "i"
    assert check_labels(np.array(["a", "b"], dtype=object), 2).dtype.kind == "U"
    np.testing.assert_array_equal(check_labels([True, False], 2), [True, False])
    with pytest.raises(TypeError, match="y labels must be strings or real numbers"):
        check_labels(np.array([1 + 2j, 3j]), 2)
    with pytest.raises(TypeError, match="y labels must be strings or numbers, got list"):
        check_labels([[1], 2], 2)
    with pytest.raises(ValueError, match="y must be 1-D with 2 labels"):
        check_labels([[1], [2]], 2)
    with pytest.raises(ValueError, match="y contains NaN or infinity"):
        check_labels(np.array([1.0, np.inf]), 2)


def test_pca_and_tsne_accept_integer_input():
    X = np.random.default_rng(8).integers(0, 5, (60, 4))
    assert PCA(2).fit(X).transform(X).dtype == np.float64
    assert TSNE(perplexity=5, max_iter=250, random_state=0).fit(X).embedding_.shape == (60, 2)
    with pytest.raises(ValueError, match="X has 1 sample; at least 2 are needed"):
        PCA(1).fit(X[:1])


# ---------------------------------------------------------------------- messages


def test_messages_name_the_argument():
    with pytest.raises(TypeError, match="in_features must be a positive int, got None"):
        nn.Linear(None, 3)
    with pytest.raises(TypeError, match="out_features must be a positive int, got 2.5"):
        nn.Linear(3, 2.5)
    with pytest.raises(ValueError, match="in_features must be a positive int, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(TypeError, match="in_features must be a positive int, got True"):
        nn.Linear(True, 3)
    assert nn.Linear(np.int64(3), 2).weight.shape == (2, 3)
    with pytest.raises(TypeError, match=r"p \(the dropout probability\) must be a number"):
        nn.Dropout(p=None)
    with pytest.raises(TypeError, match=r"p \(the dropout probability\)"):
        nn.Dropout(p="0.5")
    with pytest.raises(ValueError, match=r"p \(the dropout probability\) must be in \[0, 1\)"):
        nn.Dropout(p=float("nan"))
    with pytest.raises(TypeError, match="num_features must be a positive int, got None"):
        nn.BatchNorm1d(None)
    # losses on plain lists: computed (no gradient), and bad input names the argument.
    assert float(losses.mse([1.0, 2.0], [1.0, 4.0]).data) == pytest.approx(2.0)
    assert float(losses.binary_cross_entropy_with_logits([0.0], [1.0]).data) == pytest.approx(
        np.log(2.0), rel=1e-6)
    with pytest.raises(TypeError, match="pred must be a Tensor or a numeric array-like"):
        losses.mse(None, [1.0])
    with pytest.raises(TypeError, match="pred cannot be converted to an array"):
        losses.mse([[1.0], [1.0, 2.0]], [1.0])
    with pytest.raises(TypeError, match="target must be numeric"):
        losses.mse(Tensor(np.ones(2, np.float32)), ["a", "b"])
    with pytest.raises(TypeError, match="logits must be numeric"):
        losses.softmax_cross_entropy([["a"]], [0])
    with pytest.raises(TypeError, match="labels must be an integer array-like, got None"):
        losses.softmax_cross_entropy([[1.0, 2.0]], None)
    with pytest.raises(ValueError, match="X has no features"):
        RBM(n_hidden=3, n_iter=1).fit(np.zeros((10, 0), np.float32))


def test_mlp_hidden_int_is_one_layer(blobs):
    X, y = blobs
    clf = MLPClassifier(hidden=5, max_epochs=1, validation_fraction=0, random_state=0).fit(X, y)
    linears = [m for m in clf.network_.layers if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 5), (5, 2)]
    assert clf.get_params()["hidden"] == 5               # the parameter is stored unchanged
    for bad in ("5", 5.0, (4, 0), (True,), None):
        with pytest.raises(ValueError, match="hidden must be a positive int or a sequence"):
            MLPClassifier(hidden=bad).fit(X, y)
    for name, value in (("learning_rate", None), ("dropout", "0.1"), ("momentum", [0.9])):
        with pytest.raises(TypeError, match=f"{name} must be a real number"):
            MLPClassifier(**{name: value}).fit(X, y)
    with pytest.raises(ValueError, match="learning_rate must be a finite number"):
        MLPClassifier(learning_rate=float("inf")).fit(X, y)

