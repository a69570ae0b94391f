"""Every estimator survives pickle, fitted or not, and works afterwards.

Arrays that went through pickle (or multiprocessing / joblib) carry a float32 dtype object equal
to numpy's canonical one but not identical to it; the bindings compare dtypes by value, so such
arrays are accepted (issue: "Pickled models are unusable"). Fitted models must give the same
answers after a round trip, and unfitted ones must fit.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C


def _data(n=120, d=16, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1.0).astype(np.int64)
    return X, y


def _roundtrip(obj):
    return pickle.loads(pickle.dumps(obj))


def test_pickled_arrays_reach_the_kernels():
    A = _roundtrip(np.ones((2, 3), np.float32))
    assert A.dtype == np.float32 and A.dtype is not np.dtype(np.float32)
    assert np.array_equal(lf.ops.gemm(A, np.eye(3, dtype=np.float32)), np.ones((2, 3)))
    assert np.array_equal(_C.gemm(A, _roundtrip(np.eye(3, dtype=np.float32))), np.ones((2, 3)))
    x = _roundtrip(np.zeros((2, 4), np.float32))
    assert np.allclose(_C.activation_forward(x, lf.Activation.sigmoid), 0.5)
    assert np.allclose(_C.softmax_rows(x), 0.25)


def test_non_native_byte_order_is_a_clear_error_in_the_bindings():
    big = np.ones((2, 2), dtype=">f4")
    with pytest.raises(TypeError, match="native byte order"):
        _C.gemm(big, big)
    # The public op converts it once, as documented.
    assert np.array_equal(lf.ops.gemm(big, big), np.full((2, 2), 2.0, np.float32))


def test_unaligned_buffers_are_named_as_such():
    raw = np.zeros(4 * 4 + 1, np.uint8)[1:].view(np.float32).reshape(2, 2)
    assert not raw.flags.aligned
    with pytest.raises(ValueError, match="aligned"):
        _C.gemm(raw, np.eye(2, dtype=np.float32))


CASES = {
    "PCA": (lambda: lf.models.PCA(4, random_state=0), "transform"),
    "RBM": (lambda: lf.models.RBM(n_hidden=8, n_iter=2, random_state=0), "transform"),
    "DBN": (lambda: lf.models.DBN(hidden=(8, 4), rbm_params=dict(n_iter=1), random_state=0),
            "transform"),
    "Autoencoder": (lambda: lf.models.Autoencoder(hidden=8, n_epochs=2, random_state=0),
                    "transform"),
    "StackedAutoencoder": (
        lambda: lf.models.StackedAutoencoder(hidden=(8, 4), n_epochs=1, random_state=0),
        "transform",
    ),
    "MLPClassifier": (
        lambda: lf.models.MLPClassifier(hidden=(8,), max_epochs=2, early_stopping=False,
                                        random_state=0),
        "predict_proba",
    ),
    "DNN": (lambda: lf.models.DNN(hidden=(8,), pretrain="ae", max_epochs=2, random_state=0),
            "predict_proba"),
    "TSNE": (lambda: lf.models.TSNE(perplexity=5, max_iter=250, random_state=0), None),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_fitted_model_survives_pickle(name):
    make, method = CASES[name]
    X, y = _data()
    model = make()
    supervised = name in ("MLPClassifier", "DNN")
    if name == "TSNE":
        emb = model.fit_transform(X)
        again = _roundtrip(model)
        assert np.array_equal(again.embedding_, emb)
        return
    model.fit(X, y) if supervised else model.fit(X)
    before = getattr(model, method)(X)
    again = _roundtrip(model)
    after = getattr(again, method)(X)
    assert np.array_equal(before, after)
    # ... and with input that itself went through pickle.
    assert np.array_equal(getattr(again, method)(_roundtrip(X)), before)


@pytest.mark.parametrize("name", sorted(CASES))
def test_unfitted_model_survives_pickle_and_fits(name):
    make, method = CASES[name]
    X, y = _data()
    model = _roundtrip(make())
    X = _roundtrip(X)
    if name == "TSNE":
        assert model.fit_transform(X).shape == (len(X), 2)
        return
    fitted = model.fit(X, y) if name in ("MLPClassifier", "DNN") else model.fit(X)
    assert fitted is model
    assert np.all(np.isfinite(getattr(model, method)(X)))
