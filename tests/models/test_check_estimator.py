"""Every estimator of ``latentforge.models`` passes scikit-learn's own estimator checks
(``parametrize_with_checks``: API, input validation, pickling, idempotence, dtypes, ...).

The few checks that cannot apply are listed in ``EXPECTED_FAILED`` with the reason; each is
a strict xfail, so a check that starts to pass must be taken off the list.

Instances use small hyper-parameters so the whole file runs in well under a minute, and
configurations that accept the checks' data: the checks draw real-valued data (normal,
``3 * uniform``) that Bernoulli units (``RBM``, ``DBN``) and a binary cross-entropy
``Autoencoder`` refuse by design (values must lie in [0, 1], which no scikit-learn tag can
state), so those run with Gaussian visible units and ``loss="mse"``; their Bernoulli / BCE
paths are covered by tests/models/test_rbm.py and test_autoencoder.py. The checks' data sets
have 10 to 100 samples, so TSNE runs with ``perplexity=2`` (it needs ``n > 3 * perplexity``).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import pytest

pytest.importorskip("sklearn", minversion="1.6")  # the tag protocol; the "test" extra brings it
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from latentforge.models import (  # noqa: E402
    DBN,
    DNN,
    PCA,
    RBM,
    TSNE,
    Autoencoder,
    MLPClassifier,
    StackedAutoencoder,
)

ESTIMATORS = [
    PCA(),
    TSNE(perplexity=2, max_iter=250, random_state=0),
    RBM(n_hidden=4, n_iter=2, visible="gaussian", random_state=0),
    DBN(hidden=(4, 3), rbm_params=[{"n_iter": 2, "visible": "gaussian"}, {"n_iter": 2}],
        random_state=0),
    Autoencoder(hidden=4, loss="mse", n_epochs=2, random_state=0),
    StackedAutoencoder(hidden=(4, 3), loss="mse", n_epochs=2, random_state=0),
    DNN(hidden=(8,), pretrain_params={"n_epochs": 2, "loss": "mse"}, max_epochs=2,
        random_state=0),
    DNN(hidden=(8,), pretrain="rbm", pretrain_params={"n_iter": 2, "visible": "gaussian"},
        max_epochs=2, random_state=0),
    MLPClassifier(hidden=(16,), max_epochs=3, random_state=0),
]

_KWARGS = ("takes the {inner} parameters as **{kwargs} (one estimator configures every layer); "
           "the check passes the name '{kwargs}' itself as a parameter to set_params, which "
           "rejects it as unknown, as it should")

EXPECTED_FAILED = {
    "StackedAutoencoder": {
        "check_do_not_raise_errors_in_init_or_set_params":
            _KWARGS.format(inner="Autoencoder", kwargs="autoencoder_kwargs"),
    },
    "DNN": {
        "check_do_not_raise_errors_in_init_or_set_params":
            _KWARGS.format(inner="MLPClassifier", kwargs="mlp_kwargs"),
    },
}


def _expected_failed(estimator) -> dict[str, str]:
    return EXPECTED_FAILED.get(type(estimator).__name__, {})


# Collecting the checks warns that our estimators do not inherit from sklearn's BaseEstimator:
# on purpose, scikit-learn is not a dependency of latentforge (the estimators speak its
# protocol: get_params/set_params, __sklearn_tags__).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.Base",
                            category=UserWarning)
    _checks = parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed,
                                      xfail_strict=True)


@_checks
def test_sklearn_check(estimator, check):
    check(estimator)


def test_expected_failures_name_real_checks():
    # A misspelt name in EXPECTED_FAILED would be a dead entry, never matched by any check.
    from sklearn.utils.estimator_checks import estimator_checks_generator

    for est in ESTIMATORS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            names = {check.func.__name__ for _, check in estimator_checks_generator(est)}
        unknown = set(_expected_failed(est)) - names
        assert not unknown, f"{type(est).__name__}: no such checks {sorted(unknown)}"


def test_errors_are_sklearns_without_importing_it():
    # Unfitted use raises latentforge's NotFittedError (a ValueError and an AttributeError);
    # once scikit-learn is loaded it is also sklearn's NotFittedError (what its checks and
    # users catch), and it survives pickling (joblib sends worker errors back pickled).
    # Nothing here may import scikit-learn: it is not a dependency.
    code = """if True:
        import sys, warnings
        import numpy as np
        import latentforge as lf
        from latentforge.models._base import DataConversionWarning, NotFittedError
        X = np.random.default_rng(0).random((20, 3))
        try:
            lf.models.MLPClassifier().predict(X)
        except NotFittedError as e:
            assert isinstance(e, ValueError) and isinstance(e, AttributeError)
            assert type(e) is NotFittedError
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lf.models.MLPClassifier(hidden=(3,), max_epochs=1).fit(X, (np.arange(20) % 2)[:, None])
        assert [type(x.message) for x in w] == [DataConversionWarning], w
        lf.models.TSNE(perplexity=2, max_iter=250).fit(X)
        assert not [m for m in sys.modules if m.split(".")[0] == "sklearn"]
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    from latentforge.models._base import NotFittedError

    with pytest.raises(SklearnNotFittedError) as info:
        RBM().transform([[0.0, 1.0]])
    assert isinstance(info.value, NotFittedError)
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is type(info.value) and str(again) == str(info.value)
