"""Models on a CUDA device (issue 13): ``device=`` and CuPy in, CuPy out, tested without a GPU.

The ``fake_device`` fixture (tests/_fakedevice.py) plays the device with host memory: a strict
fake CuPy (no implicit conversion to numpy, no mixing with numpy arrays) and a fake
``_C.device`` that runs the CPU kernels on the pointers it is given and refuses host pointers.
So a fit here goes through exactly the device code path -- every array the model touches must
stay a device array -- while the arithmetic is the CPU kernels'. The same fits on a real GPU
are in tests/test_device_cupy.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import latentforge as lf
from latentforge import _C


def _blobs(n=120, d=10, k=3, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    X = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return X, y


def _mlp(**kw):
    return lf.models.MLPClassifier(hidden=(16,), activation="relu", optimizer="adam",
                                   learning_rate=1e-2, batch_size=32, max_epochs=3,
                                   min_updates_per_epoch=1, random_state=0, **kw)


def _host(a):
    return a.get() if hasattr(a, "get") else a


def test_mlp_fits_on_the_device_and_matches_the_host(fake_device):
    X, y = _blobs()
    host = _mlp().fit(X, y)
    dev = _mlp().fit(fake_device.to(X), y)
    assert host.device_ == "cpu" and dev.device_ == "cuda:0"
    launched = set(fake_device.entries.names())
    assert {"gemm", "optim_step"} <= launched, launched
    for p in dev.network_.parameters():
        assert isinstance(p.data, fake_device.cupy.ndarray)
    # The same CPU kernels run underneath, in the same order: the same numbers.
    assert dev.history_["loss"] == host.history_["loss"]
    proba = dev.predict_proba(fake_device.to(X))
    assert isinstance(proba, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(proba), host.predict_proba(X))
    pred = dev.predict(fake_device.to(X))
    assert isinstance(pred, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(pred), host.predict(X))
    assert dev.score(fake_device.to(X), y) == host.score(X, y)


def test_device_parameter_moves_data_on_request(fake_device):
    X, y = _blobs(seed=1)
    dev = _mlp(device="cuda").fit(X, y)  # host data, device asked for: moved once
    assert dev.device_ == "cuda:0"
    assert isinstance(dev.predict(fake_device.to(X)), fake_device.cupy.ndarray)
    host = _mlp(device="cpu").fit(fake_device.to(X), fake_device.to(y))  # and back
    assert host.device_ == "cpu"
    np.testing.assert_array_equal(host.predict(X), _host(dev.predict(fake_device.to(X))))


def test_data_on_the_wrong_side_is_refused_and_to_moves_the_model(fake_device):
    X, y = _blobs(seed=2)
    dev = _mlp().fit(fake_device.to(X), y)
    with pytest.raises(TypeError, match=r"X is on cpu but this MLPClassifier lives on "
                                        r"cuda:0.*model.to\('cpu'\)"):
        dev.predict(X)
    expected = _host(dev.predict_proba(fake_device.to(X)))
    assert dev.to("cpu") is dev and dev.device_ == "cpu"
    np.testing.assert_array_equal(dev.predict_proba(X), expected)
    with pytest.raises(TypeError, match="lives on cpu"):
        dev.predict(fake_device.to(X))


def test_string_labels_come_back_on_the_host(fake_device):
    X, y = _blobs(seed=3)
    names = np.array(["ant", "bee", "cat"])[y]
    dev = _mlp().fit(fake_device.to(X), names)
    pred = dev.predict(fake_device.to(X))
    assert isinstance(pred, np.ndarray) and pred.dtype.kind == "U"
    host = _mlp().fit(X, names)
    np.testing.assert_array_equal(pred, host.predict(X))
    assert dev.score(fake_device.to(X), names) == host.score(X, names)


def test_convnet_with_batchnorm_on_the_device(fake_device):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 48)
    X = rng.standard_normal((48, 1, 8, 8)).astype(np.float32)
    X[y == 1, :, 2:6, 2:6] += 2.0
    kw = dict(channels=(4,), kernel_size=3, batchnorm=True, hidden=(8,), dropout=0.25,
              batch_size=16, max_epochs=2, min_updates_per_epoch=1, random_state=0)
    host = lf.models.ConvNetClassifier(**kw).fit(X, y)
    dev = lf.models.ConvNetClassifier(**kw).fit(fake_device.to(X), y)
    launched = set(fake_device.entries.names())
    assert {"conv2d_forward", "pool2d_forward", "optim_step"} <= launched, launched
    assert dev.history_["loss"] == host.history_["loss"]
    np.testing.assert_array_equal(_host(dev.predict_proba(fake_device.to(X))),
                                  host.predict_proba(X))


def test_bad_device_arguments(fake_device):
    X, y = _blobs(seed=5)
    with pytest.raises(ValueError, match="device must be None, 'cpu', 'cuda' or 'cuda:N'"):
        _mlp(device="gpu").fit(X, y)
    with pytest.raises(ValueError, match="CUDA device 3 is out of range"):
        _mlp(device="cuda:3").fit(X, y)
    with pytest.raises(TypeError, match="Complex data not supported"):
        _mlp().fit(fake_device.to(X.astype(np.complex64)), y)
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        _mlp().fit(fake_device.to(bad), y)


@pytest.mark.skipif(_C.cuda_compiled() and _C.cuda_device_count() > 0,
                    reason="a CUDA device exists here")
def test_device_cuda_without_a_gpu_is_a_clear_error():
    X, y = _blobs(seed=6)
    with pytest.raises(RuntimeError, match="built without CUDA|no CUDA device was found"):
        _mlp(device="cuda").fit(X, y)


@pytest.mark.parametrize("solver", ["full", "covariance_eigh", "randomized"])
@pytest.mark.parametrize("whiten", [False, True])
def test_pca_on_the_device_matches_the_host(fake_device, solver, whiten):
    rng = np.random.default_rng(7)
    X = (rng.standard_normal((90, 12)) @ rng.standard_normal((12, 12))).astype(np.float32)
    kw = dict(n_components=5, svd_solver=solver, whiten=whiten, random_state=0)
    host = lf.models.PCA(**kw).fit(X)
    dev = lf.models.PCA(**kw).fit(fake_device.to(X))
    assert dev.device_ == "cuda:0" and isinstance(dev.components_, fake_device.cupy.ndarray)
    if solver != "full":
        assert "gemm" in fake_device.entries.names()
    np.testing.assert_array_equal(_host(dev.components_), host.components_)
    np.testing.assert_array_equal(_host(dev.explained_variance_), host.explained_variance_)
    Z = dev.transform(fake_device.to(X))
    assert isinstance(Z, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(Z), host.transform(X))
    back = dev.inverse_transform(Z)
    np.testing.assert_array_equal(_host(back), host.inverse_transform(host.transform(X)))
    with pytest.raises(TypeError, match="lives on cuda:0"):
        dev.transform(X)
    dev.to("cpu")
    np.testing.assert_array_equal(dev.transform(X), host.transform(X))


def test_pca_fractional_components_on_the_device(fake_device):
    rng = np.random.default_rng(8)
    X = (rng.standard_normal((60, 9)) * np.arange(1, 10)).astype(np.float32)
    host = lf.models.PCA(n_components=0.9, svd_solver="full").fit(X)
    dev = lf.models.PCA(n_components=0.9, svd_solver="full", device="cuda").fit(X)
    assert dev.n_components_ == host.n_components_
    np.testing.assert_array_equal(_host(dev.components_), host.components_)


@pytest.mark.parametrize("config", [
    dict(hidden=6, tied=True, corruption=("mask", 0.3), sparsity=("kl", 0.1, 0.5)),
    dict(hidden=(8, 4), batchnorm=True, corruption=("gaussian", 0.1), loss="mse"),
    dict(hidden=6, sparsity=("topk", 3), optimizer="momentum"),
])
def test_autoencoder_on_the_device_matches_the_host(fake_device, config):
    X = np.random.default_rng(10).random((64, 12), dtype=np.float32)
    kw = dict(config, n_epochs=2, batch_size=16, random_state=0)
    host = lf.models.Autoencoder(**kw).fit(X)
    dev = lf.models.Autoencoder(**kw).fit(fake_device.to(X))
    assert dev.device_ == "cuda:0"
    assert dev.history_["loss"] == host.history_["loss"]
    Z = dev.transform(fake_device.to(X))
    assert isinstance(Z, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(Z), host.transform(X))
    np.testing.assert_array_equal(_host(dev.inverse_transform(Z)),
                                  host.inverse_transform(host.transform(X)))
    assert dev.score(fake_device.to(X)) == host.score(X)
    with pytest.raises(TypeError, match="lives on cuda:0"):
        dev.transform(X)


@pytest.mark.parametrize("config", [
    dict(k=2),
    dict(persistent=True, momentum=0.5, weight_decay=1e-3),
    dict(visible="gaussian", persistent=True, k=2, learning_rate=0.01),
])
def test_rbm_on_the_device_matches_the_host(fake_device, config):
    rng = np.random.default_rng(11)
    X = rng.random((50, 12), dtype=np.float32)
    if config.get("visible") != "gaussian":
        X = (X > 0.5).astype(np.float32)
    kw = dict(config, n_hidden=7, n_iter=2, batch_size=16, random_state=0)
    host = lf.models.RBM(**kw).fit(X)
    dev = lf.models.RBM(**kw).fit(fake_device.to(X))
    assert dev.device_ == "cuda:0"
    launched = set(fake_device.entries.names())
    assert {"gemm", "sigmoid_bernoulli"} <= launched, launched
    assert dev.history_ == host.history_
    np.testing.assert_array_equal(_host(dev.components_), host.components_)
    dX = fake_device.to(X)
    np.testing.assert_array_equal(_host(dev.transform(dX)), host.transform(X))
    np.testing.assert_array_equal(_host(dev.gibbs(dX, steps=2)), host.gibbs(X, steps=2))
    np.testing.assert_array_equal(_host(dev.free_energy(dX)), host.free_energy(X))
    if config.get("visible") != "gaussian":
        np.testing.assert_array_equal(_host(dev.score_samples(dX)), host.score_samples(X))
    dev.partial_fit(dX)
    host.partial_fit(X)
    np.testing.assert_array_equal(_host(dev.components_), host.components_)
    with pytest.raises(TypeError, match="lives on cuda:0"):
        dev.transform(X)
    dev.to("cpu")
    np.testing.assert_array_equal(dev.transform(X), host.transform(X))


def test_dbn_and_its_classifier_on_the_device(fake_device):
    X, y = _blobs(n=60, d=8, seed=12)
    X = (X > 0).astype(np.float32)
    kw = dict(hidden=(6, 4), rbm_params=dict(n_iter=2, batch_size=16), random_state=0)
    host = lf.models.DBN(**kw).fit(X)
    dev = lf.models.DBN(**kw, device="cuda").fit(X)
    assert all(r.device_ == "cuda:0" for r in dev.rbms_)
    np.testing.assert_array_equal(_host(dev.transform(fake_device.to(X))), host.transform(X))
    mlp = dict(max_epochs=2, batch_size=16, min_updates_per_epoch=1, random_state=0)
    clf_host = host.to_classifier(3, **mlp).fit(X, y)
    clf_dev = dev.to_classifier(3, device="cuda", **mlp).fit(X, y)
    assert clf_dev.device_ == "cuda:0"
    assert clf_dev.history_["loss"] == clf_host.history_["loss"]


def test_adversarial_training_on_the_device(fake_device):
    X, y = _blobs(seed=13)
    host = _mlp(adversarial_eps=0.1).fit(X, y)
    dev = _mlp(adversarial_eps=0.1).fit(fake_device.to(X), y)
    assert dev.history_["loss"] == host.history_["loss"]


def test_cat_network_trains_on_the_device(fake_device):
    """The cat paper's parts (locally connected filters, L2 pooling, local contrast
    normalisation, the reconstruction-TICA loss) moved with Module.to and trained on the
    device, step for step as on the host."""
    from latentforge.models.cat import CatNet, tica_loss

    X = np.random.default_rng(14).random((16, 1, 10, 10)).astype(np.float32)
    nets = [CatNet((1, 10, 10), maps=3, n_parts=2, kernel_size=3, random_state=0)
            for _ in range(2)]
    nets[1].to("cuda")
    assert nets[1].device == "cuda:0"
    losses_ = []
    for net, data in ((nets[0], X), (nets[1], fake_device.to(X))):
        part = net.parts[0]
        opt = lf.optim.Adam(part.parameters(), lr=1e-2)
        trace = []
        for _ in range(3):
            opt.zero_grad()
            loss = tica_loss(part, data.reshape(16, -1))
            loss.backward()
            opt.step()
            trace.append(float(loss.data))
        losses_.append(trace)
        out = net(data).data
    assert losses_[0] == losses_[1]
    assert isinstance(out, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(out), nets[0](X).data)
    names = set(fake_device.entries.names())
    assert {"locally_connected2d_forward", "local_contrast_norm2d_forward"} <= names, names


def test_stacked_autoencoder_follows_its_input(fake_device):
    X = np.random.default_rng(15).random((40, 8), dtype=np.float32)
    kw = dict(hidden=(4, 3), random_state=0, n_epochs=1)
    dev = lf.models.StackedAutoencoder(**kw).fit(fake_device.to(X))
    Z = dev.transform(fake_device.to(X))
    assert isinstance(Z, fake_device.cupy.ndarray)
    np.testing.assert_array_equal(_host(Z), lf.models.StackedAutoencoder(**kw).fit(X).transform(X))


@pytest.mark.parametrize("pretrain", ["ae", "rbm", None])
def test_dnn_pretrains_and_fine_tunes_on_the_device(fake_device, pretrain):
    X = np.random.default_rng(16).random((40, 8), dtype=np.float32)
    y = np.arange(40) % 2
    params = {"n_epochs": 1} if pretrain == "ae" else {"n_iter": 1} if pretrain else None
    kw = dict(hidden=(6,), pretrain=pretrain, pretrain_params=params, random_state=0,
              max_epochs=2, min_updates_per_epoch=1)
    host = lf.models.DNN(**kw).fit(X, y)
    dev = lf.models.DNN(**kw, device="cuda").fit(X, y)  # moved once, then on the device
    assert dev.classifier_.device_ == "cuda:0"
    assert dev.classifier_.history_["loss"] == host.classifier_.history_["loss"]
    np.testing.assert_array_equal(_host(dev.predict_proba(fake_device.to(X))),
                                  host.predict_proba(X))
