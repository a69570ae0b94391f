"""lf.models.TSNE on a CUDA device (issue 13), tested without a GPU through the ``fake_device``
fixture (tests/_fakedevice.py): a strict fake CuPy and a fake ``_C.device`` whose t-SNE entries
run the host kernels (knn, perplexity, symmetrisation, exact gradient) or the CUDA kernels'
source through the emulator (the per-point Barnes-Hut gradient and the optimiser steps).

* the affinities and the "exact" fit equal the host's bit for bit (the same kernels run);
* "barnes_hut" on a device follows the per-point criterion of ``_C.tsne_gradient_bh``
  (csrc/ops/tsne_grouped.h), not the host fit's grouped one: it is compared bit for bit with a
  host loop over ``_C.tsne_gradient_bh`` and the step's numpy reference, and only loosely with
  a host fit;
* the device flags of knn and the symmetrisation become the host's errors.

The last test (``cuda`` mark) fits on a real GPU with CuPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C, _tsne
from latentforge.models import tsne as tsne_mod
from latentforge.models._base import NotFittedError
from latentforge.models.tsne import _gains_step


def _blobs(n=80, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((3, d)) * 4
    return (centres[rng.integers(0, 3, n)] + rng.standard_normal((n, d))).astype(np.float32)


def _host(a):
    return a.get() if hasattr(a, "get") else a


def _model(**kw):
    kw = {"perplexity": 8.0, "max_iter": 260, "random_state": 0, **kw}
    return lf.models.TSNE(**kw)


# ---------------------------------------------------------------------- affinities


@pytest.mark.parametrize("k", [None, 79])
def test_affinities_on_the_device_equal_the_hosts(fake_device, k):
    X = _blobs()
    host = _tsne.joint_probabilities(X, 8.0, k=k)
    dev = _tsne.joint_probabilities(fake_device.to(X), 8.0, k=k)
    assert fake_device.entries.names() == ["knn", "tsne_perplexity", "tsne_symmetrize"]
    for h, d in zip(host, dev):
        assert isinstance(d, fake_device.cupy.ndarray)
        assert d.dtype == h.dtype
        np.testing.assert_array_equal(_host(d), h)
    idx, dist = _tsne.knn(fake_device.to(X), 5)
    ref_idx, ref_dist = _tsne.knn(X, 5)
    np.testing.assert_array_equal(_host(idx), ref_idx)
    np.testing.assert_array_equal(_host(dist), ref_dist)


def test_knn_flag_becomes_the_hosts_error(fake_device):
    X = _blobs(n=40)
    X[7] = 1e19  # finite, but the squared norm overflows float32
    with pytest.raises(ValueError) as host_err:
        _tsne.knn(X, 5)
    with pytest.raises(ValueError) as dev_err:
        _tsne.knn(fake_device.to(X), 5)
    assert str(dev_err.value) == str(host_err.value)
    assert "squared norm of row 7" in str(dev_err.value)
    with pytest.raises(ValueError, match="squared norm of row 7"):
        _model(perplexity=3.0).fit(fake_device.to(X))
    bad = _blobs(n=40)
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"first bad row 3"):
        _tsne.knn(fake_device.to(bad), 5)


@pytest.mark.parametrize("spoil", ["self", "range", "repeat", "nan"])
def test_symmetrize_flag_becomes_the_hosts_error(fake_device, spoil):
    X = _blobs(n=30)
    nbr, d = _tsne.knn(X, 6)
    P, _ = _tsne.conditional_probabilities(d, 3.0)
    row = 11
    if spoil == "self":
        nbr[row, 2] = row
    elif spoil == "range":
        nbr[row, 4] = 30
    elif spoil == "repeat":
        nbr[row, 5] = nbr[row, 1]
    else:
        P[row, 3] = np.nan
    nbr[row + 5, 0] = row + 5  # a later bad row: the first one is reported
    with pytest.raises(ValueError) as host_err:
        _C.tsne_symmetrize(nbr, P, 30)
    with pytest.raises(ValueError) as dev_err:
        _tsne.symmetrize_device(fake_device.to(nbr), fake_device.to(P), 30)
    assert str(dev_err.value) == str(host_err.value)
    with pytest.raises(TypeError, match="P_cond is a CUDA device array but indices is host"):
        _tsne.symmetrize_device(nbr, fake_device.to(P), 30)


# ---------------------------------------------------------------------- fits


@pytest.mark.parametrize("init", ["pca", "random"])
def test_exact_fit_on_the_device_equals_the_host(fake_device, init):
    X = _blobs()
    host = _model(method="exact", init=init).fit(X)
    dev = _model(method="exact", init=init)
    E = dev.fit_transform(fake_device.to(X))
    assert E is dev.embedding_
    assert isinstance(E, fake_device.cupy.ndarray) and E.dtype == np.float32
    assert host.device_ == "cpu" and dev.device_ == "cuda:0"
    names = set(fake_device.entries.names())
    assert {"knn", "tsne_perplexity", "tsne_symmetrize", "tsne_gradient_exact",
            "tsne_step"} <= names, names
    assert "tsne_step_bh" not in names
    assert ("gemm" in names) == (init == "pca")  # PCA runs on the device
    np.testing.assert_array_equal(_host(E), host.embedding_)
    assert dev.kl_divergence_ == host.kl_divergence_
    np.testing.assert_array_equal(dev.kl_history_, host.kl_history_)
    np.testing.assert_array_equal(dev.kl_iterations_, host.kl_iterations_)
    assert dev.n_iter_ == host.n_iter_ == 260 and dev.n_features_in_ == 6
    assert dev.to("cpu") is dev and dev.device_ == "cpu"
    assert isinstance(dev.embedding_, np.ndarray)
    np.testing.assert_array_equal(dev.embedding_, host.embedding_)
    dev.to("cuda")
    assert dev.device_ == "cuda:0" and isinstance(dev.embedding_, fake_device.cupy.ndarray)


def _per_point_reference(X, Y0, perplexity, max_iter, theta, ee, lr):
    """The device's Barnes-Hut trajectory on the host: ``_C.tsne_gradient_bh`` (the per-point
    criterion) and the step's numpy reference, with the model's schedule."""
    csr = _tsne.joint_probabilities(X, perplexity)
    Y = Y0.astype(np.float64)
    history = []
    for it in range(max_iter):
        if it in (0, tsne_mod.EXAGGERATION_ITER):
            update, gains = np.zeros_like(Y), np.ones_like(Y)
        early = it < tsne_mod.EXAGGERATION_ITER
        want_kl = it in (0, tsne_mod.EXAGGERATION_ITER - 1) or (it + 1) % 50 == 0
        g, kl = _C.tsne_gradient_bh(Y.astype(np.float32), *csr, theta, ee if early else 1.0,
                                    want_kl)
        if want_kl:
            history.append(kl)
        assert _gains_step(Y, update, gains, g, 0.5 if early else 0.8, lr)
    Y32 = Y.astype(np.float32)
    _, kl = _C.tsne_gradient_bh(Y32, *csr, theta, 1.0, True)
    return Y32, kl, np.asarray(history)


def test_barnes_hut_on_the_device_follows_the_per_point_reference(fake_device):
    X = _blobs(seed=1)
    Y0 = np.random.default_rng(3).standard_normal((80, 2)) * 1e-4
    kw = dict(init=Y0, learning_rate=50.0, theta=0.5, early_exaggeration=12.0)
    dev = _model(**kw, device="cuda").fit(fake_device.to(X))
    names = fake_device.entries.names()
    assert names.count("tsne_step_bh") == 260 and names[-1] == "tsne_gradient_bh"
    assert "tsne_step" not in names and "tsne_gradient_exact" not in names
    ref, kl, history = _per_point_reference(X, Y0, 8.0, 260, 0.5, 12.0, 50.0)
    assert isinstance(dev.embedding_, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(dev.embedding_), ref)
    assert dev.kl_divergence_ == kl
    np.testing.assert_array_equal(dev.kl_history_, history)
    # The host fit (grouped criterion) differs slightly by design: the same quality.
    host = _model(**kw).fit(X)
    assert not np.array_equal(host.embedding_, ref)
    assert dev.kl_divergence_ == pytest.approx(host.kl_divergence_, rel=0.25)


def test_one_dimensional_embedding_on_the_device(fake_device):
    X = _blobs(seed=2)
    host = _model(method="exact", n_components=1).fit(X)
    dev = _model(method="exact", n_components=1).fit(fake_device.to(X))
    assert dev.embedding_.shape == (80, 1)
    np.testing.assert_array_equal(_host(dev.embedding_), host.embedding_)


def test_init_arrays_and_moves_on_request(fake_device):
    X = _blobs(seed=4)
    Y0 = np.random.default_rng(5).standard_normal((80, 2)) * 1e-3
    host = _model(method="exact", init=Y0).fit(X)
    # A device init array with device X; a host one moved with host X on request.
    a = _model(method="exact", init=fake_device.to(Y0)).fit(fake_device.to(X))
    b = _model(method="exact", init=Y0, device="cuda").fit(X)
    for m in (a, b):
        assert m.device_ == "cuda:0"
        np.testing.assert_array_equal(_host(m.embedding_), host.embedding_)
    # device="cpu": device data (X and init) come back to the host, once.
    c = _model(method="exact", init=fake_device.to(Y0), device="cpu").fit(fake_device.to(X))
    assert c.device_ == "cpu" and isinstance(c.embedding_, np.ndarray)
    np.testing.assert_array_equal(c.embedding_, host.embedding_)
    # The caller's init array is not modified.
    np.testing.assert_array_equal(_host(a.init), Y0)


def test_data_on_the_wrong_side_is_refused(fake_device):
    X = _blobs(seed=6)
    Y0 = np.zeros((80, 2))
    with pytest.raises(TypeError, match="X is a CUDA device array but init is host data"):
        _model(init=Y0).fit(fake_device.to(X))
    with pytest.raises(TypeError, match="init is a CUDA device array but X is host data"):
        _model(init=fake_device.to(Y0)).fit(X)
    with pytest.raises(ValueError, match="device must be None, 'cpu', 'cuda' or 'cuda:N'"):
        _model(device="gpu").fit(X)


def test_errors_on_the_device_are_the_hosts(fake_device):
    X = _blobs(seed=7)
    bad = X.copy()
    bad[5, 2] = np.nan
    for m in ("exact", "barnes_hut"):
        with pytest.raises(ValueError) as host_err:
            _model(method=m).fit(bad)
        with pytest.raises(ValueError) as dev_err:
            _model(method=m).fit(fake_device.to(bad))
        # check_array's message, naming the first bad entry on both sides.
        assert str(dev_err.value) == str(host_err.value)
        assert "(first at row 5, column 2)" in str(dev_err.value)
    with pytest.raises(ValueError, match="init array contains NaN"):
        _model(init=fake_device.to(np.full((80, 2), np.nan))).fit(fake_device.to(X))
    with pytest.raises(ValueError, match="init array has coordinates up to"):
        _model(init=fake_device.to(np.full((80, 2), 1e5))).fit(fake_device.to(X))
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_components\)"):
        _model(init=fake_device.to(np.zeros((79, 2)))).fit(fake_device.to(X))
    with pytest.raises(ValueError, match="3 \\* perplexity"):
        _model(perplexity=30.0).fit(fake_device.to(X))
    with pytest.raises(FloatingPointError, match="diverged"):
        _model(method="exact", learning_rate=1e30).fit(fake_device.to(X))
    with pytest.raises(FloatingPointError, match="diverged"):
        _model(learning_rate=1e30).fit(fake_device.to(X))
    with pytest.raises(NotFittedError, match="not fitted"):
        _model().to("cpu")


# ---------------------------------------------------------------------- a real GPU


@pytest.mark.cuda
def test_tsne_on_a_real_gpu_matches_the_host_quality():
    if not _C.cuda_compiled() or _C.cuda_device_count() == 0:
        pytest.skip("no CUDA device")
    cp = pytest.importorskip("cupy", reason="CuPy is not installed")
    from sklearn.manifold import trustworthiness

    X = _blobs(n=600, d=20, seed=8)
    for method in ("exact", "barnes_hut"):
        kw = dict(perplexity=20.0, max_iter=500, random_state=0, method=method)
        host = lf.models.TSNE(**kw).fit(X)
        dev = lf.models.TSNE(**kw).fit(cp.asarray(X))
        assert isinstance(dev.embedding_, cp.ndarray) and dev.device_.startswith("cuda:")
        E = cp.asnumpy(dev.embedding_)
        assert np.isfinite(E).all()
        assert dev.kl_divergence_ == pytest.approx(host.kl_divergence_, rel=0.1)
        t_host = trustworthiness(X, host.embedding_, n_neighbors=10)
        t_dev = trustworthiness(X, E, n_neighbors=10)
        assert t_dev > t_host - 0.02, (method, t_dev, t_host)
