"""Hyper-parameter validation (models/_params.py): every model refuses a bad parameter on every
fit, by name, whichever code path the fit takes -- the cases the fuzz test found unchecked."""

from __future__ import annotations

import time

import numpy as np
import pytest

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
from latentforge.models._base import minibatches
from latentforge.models._params import InvalidParameterError, sizes_param

RNG = np.random.default_rng(0)
X = RNG.random((24, 5)).astype(np.float32)
Y = np.arange(24) % 3

DEEP = {
    "Autoencoder": lambda **kw: Autoencoder(n_epochs=1, **kw),
    "StackedAutoencoder": lambda **kw: StackedAutoencoder(n_epochs=1, **kw),
    "MLPClassifier": lambda **kw: MLPClassifier(max_epochs=1, **kw),
    "DNN": lambda **kw: DNN(pretrain=None, max_epochs=1, **kw),
}


def _fit(model):
    return model.fit(X, Y) if isinstance(model, (MLPClassifier, DNN)) else model.fit(X)


def test_invalid_parameter_error_is_value_and_type_error():
    # As scikit-learn's error of the same name: code catching either keeps working.
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)


@pytest.mark.parametrize("name", sorted(DEEP))
@pytest.mark.parametrize("hidden", [(2**63,), 2**63, (4, 2**31), None, "abc", 0.5, (4, 0)])
def test_hidden_is_checked_by_name(name, hidden):
    with pytest.raises(InvalidParameterError, match=r"^hidden must be"):
        _fit(DEEP[name](hidden=hidden))


@pytest.mark.parametrize("name", sorted(DEEP))
def test_learning_rate_beyond_float32_names_it(name):
    with pytest.raises(InvalidParameterError, match=r"learning_rate must be at most 3\.403e\+38"):
        _fit(DEEP[name](hidden=4, learning_rate=1e300))


@pytest.mark.parametrize("value", ["abc", float("nan"), -1, 2.5, [0.9]])
def test_autoencoder_momentum_is_checked(value):
    with pytest.raises(InvalidParameterError, match="momentum"):
        Autoencoder(hidden=3, n_epochs=1, momentum=value).fit(X)


@pytest.mark.parametrize("cls", [Autoencoder, MLPClassifier])
def test_unhashable_optimizer_is_named(cls):
    with pytest.raises(InvalidParameterError, match=r"optimizer must be one of .*got \[1\.0\]"):
        _fit(cls(hidden=3, optimizer=[1.0]))


@pytest.mark.parametrize("value", [None, 3, 0.5, "abc", {"a": 1}])
def test_dbn_hidden_must_be_a_sequence(value):
    with pytest.raises(InvalidParameterError, match="^hidden must be"):
        DBN(hidden=value).fit(X)


@pytest.mark.parametrize("value, match", [
    ("abc", "rbm_params must be None, a dict"),
    ({"nonsense": 1}, r"rbm_params has unknown parameter\(s\) \['nonsense'\]"),
    ({"n_hidden": 3}, r"rbm_params must not set \['n_hidden'\]"),
    ([{"n_iter": 1}, 5], r"rbm_params\[1\] must be a dict"),
    ([{"n_iter": 1}], "rbm_params has 1 dicts for 2 layers"),
])
def test_dbn_rbm_params_are_checked(value, match):
    with pytest.raises(InvalidParameterError, match=match):
        DBN(hidden=(3, 2), rbm_params=value).fit(X)


@pytest.mark.parametrize("pretrain", ["ae", "rbm"])
@pytest.mark.parametrize("value", ["abc", 1, {"nonsense": 1}])
def test_dnn_pretrain_params_are_checked_before_pretraining(pretrain, value):
    t0 = time.perf_counter()
    with pytest.raises(InvalidParameterError, match="pretrain_params"):
        DNN(hidden=(3,), pretrain=pretrain, pretrain_params=value).fit(X, Y)
    assert time.perf_counter() - t0 < 5


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "auto", "randomized"])
@pytest.mark.parametrize("param, value", [("n_iter", -1), ("n_iter", "abc"),
                                          ("n_oversamples", 0), ("n_oversamples", float("nan")),
                                          ("random_state", "abc"), ("random_state", -1)])
def test_pca_checks_every_parameter_whatever_the_solver(solver, param, value):
    with pytest.raises((ValueError, TypeError), match=param):
        PCA(2, svd_solver=solver, **{param: value}).fit(X)


def test_pca_accepts_no_power_iteration():
    p = PCA(2, svd_solver="randomized", n_iter=0, random_state=0).fit(X)
    ref = PCA(2, svd_solver="full").fit(X)
    assert p.explained_variance_[0] <= ref.explained_variance_[0] * (1 + 1e-5)


def test_wide_input_is_refused_before_its_values_are_read():
    # A stride-0 view of 2**31 columns: refused for its width, without a 2 GiB isfinite mask.
    pca = PCA(2).fit(X)
    Z = np.lib.stride_tricks.as_strided(np.zeros(1, np.float32), (1, 2**31), (0, 0))
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="Z has 2147483648 features, but PCA is expecting 2"):
        pca.inverse_transform(Z)
    with pytest.raises(ValueError, match="X has 2147483648 features, but PCA is expecting 5"):
        pca.transform(Z)
    mlp = MLPClassifier(hidden=3, max_epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="X has 2147483648 features"):
        mlp.predict(Z)
    assert time.perf_counter() - t0 < 1.0


def test_minibatches_fold_a_short_last_batch():
    assert minibatches(9, 4) == [slice(0, 4), slice(4, 8), slice(8, 9)]
    assert minibatches(9, 4, min_rows=2) == [slice(0, 4), slice(4, 9)]
    assert minibatches(8, 4, min_rows=2) == [slice(0, 4), slice(4, 8)]
    assert minibatches(3, 8, min_rows=2) == [slice(0, 3)]
    assert minibatches(0, 8) == []


def test_batchnorm_autoencoder_trains_on_a_one_row_remainder():
    # 9 samples in batches of 4: the last row joins the batch before it (batch norm needs two
    # rows for a variance) instead of failing inside batch_norm after the earlier batches.
    ae = Autoencoder(hidden=3, batchnorm=True, batch_size=4, n_epochs=2, random_state=0)
    ae.fit(X[:9])
    assert len(ae.history_["step_loss"]) == 4
    assert np.isfinite(ae.history_["loss"]).all()
    with pytest.raises(ValueError, match="batchnorm=True needs minibatches of 2 rows"):
        Autoencoder(hidden=3, batchnorm=True, batch_size=1).fit(X)
    with pytest.raises(InvalidParameterError, match="batchnorm must be a bool"):
        Autoencoder(hidden=3, batchnorm="yes").fit(X)


def test_rbm_parameters():
    with pytest.raises(InvalidParameterError, match="n_hidden must be an int >= 1"):
        RBM(n_hidden=2**63).fit(X)
    with pytest.raises(InvalidParameterError, match="learning_rate must be at most"):
        RBM(n_hidden=3, learning_rate=1e300).fit(X)
    with pytest.raises(InvalidParameterError, match="weight_decay must be at most"):
        RBM(n_hidden=3, weight_decay=1e300).fit(X)
    # A decay within float32 that still blows the weights up: an error, not non-finite
    # components_ (the last update of an epoch is checked too).
    with pytest.raises(FloatingPointError, match="diverged.*weight_decay"):
        RBM(n_hidden=3, n_iter=5, batch_size=24, weight_decay=1e30, random_state=0).fit(X)


@pytest.mark.parametrize("param", ["perplexity", "theta", "early_exaggeration", "learning_rate"])
@pytest.mark.parametrize("value", ["abc", 1j, None, [1.0]])
def test_tsne_real_parameters_are_named(param, value):
    if param == "learning_rate" and value == "abc":
        match = "learning_rate must be 'auto' or a number"
    else:
        match = f"{param} must be a real number"
    with pytest.raises(InvalidParameterError if "real" in match else ValueError, match=match):
        TSNE(**{"perplexity": 5, param: value}).fit(X)


@pytest.mark.parametrize("value", [2**31, 2**63, 0, True])
def test_tsne_n_jobs_is_bounded_by_name(value):
    with pytest.raises(InvalidParameterError, match="n_jobs must be an int"):
        TSNE(n_jobs=value, perplexity=5).fit(X)


def test_sizes_param_refuses_unordered_and_nested_sizes():
    assert sizes_param(np.array([3, 2])) == (3, 2)
    assert sizes_param((), empty_ok=True) == ()
    for bad in ({3, 2}, iter([3]), np.ones((2, 2), int), (3.0,), (True,), b"ab"):
        with pytest.raises(InvalidParameterError, match="hidden must be"):
            sizes_param(bad)
