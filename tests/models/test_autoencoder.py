"""Autoencoder / StackedAutoencoder / DNN: tied weights, k-sparse codes, PCA equivalence of a
linear autoencoder, denoising, KL sparsity, reproducibility, MNIST smoke tests, bad input, plots.

(Gradient correctness of the individual ops and losses is covered by tests/autograd.)"""

import numpy as np
import pytest

import latentforge as lf
from latentforge import optim
from latentforge.models import DNN, Autoencoder, StackedAutoencoder
from latentforge.testing import F32_U, RTOL_F32, assert_close


@pytest.fixture(scope="module")
def mnist(real_data):
    (X, y), (Xt, yt) = lf.datasets.load_mnist()
    return X[:2000], y[:2000], Xt[:1000], yt[:1000]


def _unit_data(n=40, d=8, seed=0):
    return np.random.default_rng(seed).random((n, d)).astype(np.float32)


# ---------------------------------------------------------------------- tied weights


@pytest.mark.parametrize("loss", ["bce", "mse"])
def test_tied_weight_is_shared_and_gets_the_sum_of_both_gradients(loss):
    X = _unit_data()
    tied = Autoencoder(hidden=5, tied=True, loss=loss, random_state=0)
    tied._initialize(8)
    params = tied.network_.parameters()
    assert len(params) == 3  # W, encoder bias, decoder bias
    assert tied.decoder_[0].weight is tied.encoder_[0].weight
    assert tied.components_.shape == (5, 8)

    untied = Autoencoder(hidden=5, tied=False, loss=loss, random_state=1)
    untied._initialize(8)
    assert len(untied.network_.parameters()) == 4
    W = tied.encoder_[0].weight.data
    rng = np.random.default_rng(2)
    b_enc = rng.normal(size=5).astype(np.float32)
    b_dec = rng.normal(size=8).astype(np.float32)
    untied.encoder_[0].weight.data[...] = W
    untied.decoder_[0].weight.data[...] = W.T
    for m in (tied, untied):
        m.encoder_[0].bias.data[...] = b_enc
        m.decoder_[0].bias.data[...] = b_dec

    lt = tied._loss(X, X)
    lu = untied._loss(X, X)
    # the same float32 operations on the same values (W.T is a view of the same weights)
    assert float(lt.data) == pytest.approx(float(lu.data), rel=16 * F32_U)
    lt.backward()
    lu.backward()
    g_sum = untied.encoder_[0].weight.grad + untied.decoder_[0].weight.grad.T
    # the tied gradient accumulates the same two parts: one float32 addition
    assert_close(tied.encoder_[0].weight.grad, g_sum, rtol=F32_U, atol=0)
    assert_close(tied.decoder_[0].bias.grad, untied.decoder_[0].bias.grad, rtol=F32_U, atol=0)

    # One SGD step moves the shared weight by lr times the summed gradient.
    before = W.copy()
    optim.SGD(params, lr=0.5).step()
    # w - lr * g: a product and a difference, each rounded once (relative to |w| + |lr g|)
    step = before - 0.5 * g_sum.astype(np.float64)
    assert_close(tied.encoder_[0].weight.data, step, rtol=0,
                 atol=2 * F32_U * (np.abs(before) + np.abs(0.5 * g_sum)))
    assert tied.decoder_[0].weight is tied.encoder_[0].weight


def test_deep_tied_model_ties_each_mirrored_pair():
    ae = Autoencoder(hidden=(6, 4, 2), tied=True, random_state=0)
    ae._initialize(10)
    enc = [m for m in ae.encoder_ if isinstance(m, lf.nn.Linear)]
    dec = [m for m in ae.decoder_ if isinstance(m, lf.nn.Linear)]
    assert [m.out_features for m in enc] == [6, 4, 2]
    assert [m.out_features for m in dec] == [4, 6, 10]
    for e, d in zip(enc, reversed(dec)):
        assert d.weight is e.weight
    assert enc[-1].activation is None  # linear code layer in a deep model
    assert enc[0].activation == "sigmoid" and dec[-1].activation is None  # bce: logits
    assert len(ae.network_.parameters()) == 3 + 6


# ---------------------------------------------------------------------- k-sparse


@pytest.mark.parametrize("tied", [True, False])
def test_topk_code_has_k_nonzeros_and_never_kept_units_get_no_gradient(tied):
    X = _unit_data(n=60, d=12)
    ae = Autoencoder(hidden=16, sparsity=("topk", 3), tied=tied, n_epochs=2, batch_size=10,
                     learning_rate=1e-2, random_state=0).fit(X)
    Z = ae.transform(X)
    assert Z.shape == (60, 16)
    np.testing.assert_array_equal((Z != 0).sum(axis=1), 3)
    assert ae.reconstruct(X).shape == X.shape

    batch = X[:2]
    ae.network_.zero_grad()
    ae.network_.train()
    ae._loss(batch, batch).backward()
    ae.network_.eval()
    kept = np.flatnonzero((ae.transform(batch) != 0).any(axis=0))
    assert 3 <= kept.size <= 6
    never = np.setdiff1d(np.arange(16), kept)
    gW = ae.encoder_[0].weight.grad
    np.testing.assert_array_equal(gW[never], 0.0)
    assert np.all(np.abs(gW[kept]).sum(axis=1) > 0)
    np.testing.assert_array_equal(ae.encoder_[0].bias.grad[never], 0.0)


def test_verbose_prints_one_line_per_epoch(capsys):
    X = _unit_data()
    Autoencoder(hidden=3, n_epochs=2, batch_size=10, random_state=0, verbose=1).fit(X)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[0].startswith("Autoencoder epoch 1/2: loss")
    Autoencoder(hidden=3, n_epochs=2, random_state=0).fit(X)
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------------- PCA


def test_linear_tied_autoencoder_learns_the_pca_subspace():
    rng = np.random.default_rng(0)
    d, k, n = 12, 3, 2000
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    scales = np.sqrt([9.0, 6.0, 4.0] + [0.2] * (d - k))
    X = ((rng.standard_normal((n, d)) * scales) @ Q.T).astype(np.float32)
    ae = Autoencoder(hidden=k, activation=None, loss="mse", tied=True, n_epochs=30,
                     learning_rate=1e-2, batch_size=50, random_state=0).fit(X)
    Xc = X.astype(np.float64) - X.mean(axis=0)
    _, _, Vt = np.linalg.svd(Xc, full_matrices=False)
    Q1, _ = np.linalg.qr(ae.components_.astype(np.float64).T)
    cosines = np.linalg.svd(Q1.T @ Vt[:k].T, compute_uv=False)
    angles = np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))
    assert angles.max() < 5.0, angles
    # "linear" is the same as None.
    lin = Autoencoder(hidden=k, activation="linear", loss="mse", n_epochs=1, random_state=0)
    assert lin.fit(X[:100]).transform(X[:3]).shape == (3, k)


# ---------------------------------------------------------------------- denoising, KL


def test_denoising_reconstructs_masked_digits_better(mnist):
    X, _, Xt, _ = mnist
    kw = dict(hidden=256, tied=False, n_epochs=5, learning_rate=1e-2, random_state=0)
    plain = Autoencoder(**kw).fit(X)
    den = Autoencoder(corruption=("mask", 0.5), **kw).fit(X)
    masked = Xt * (np.random.default_rng(1).random(Xt.shape) >= 0.5)
    err_plain = np.mean((plain.reconstruct(masked) - Xt) ** 2)
    err_den = np.mean((den.reconstruct(masked) - Xt) ** 2)
    assert err_den < 0.9 * err_plain, (err_plain, err_den)
    # Gaussian corruption also trains (clean targets), and score() is the mean BCE.
    g = Autoencoder(hidden=32, corruption=("gaussian", 0.3), n_epochs=1, random_state=0).fit(X)
    R = np.clip(g.reconstruct(Xt), 1e-7, 1 - 1e-7).astype(np.float64)
    bce = -np.mean(Xt * np.log(R) + (1 - Xt) * np.log(1 - R))
    # a float32 mean of n = 784 * len(Xt) log terms (each RTOL_ACT-accurate): pairwise
    # summation errs by ~log2(n) u; RTOL_F32 covers both
    assert g.score(Xt) == pytest.approx(bce, rel=RTOL_F32)


def test_kl_sparsity_pulls_mean_activation_toward_rho(mnist):
    X, _, Xt, _ = mnist
    kw = dict(hidden=64, n_epochs=3, random_state=0)
    a = Autoencoder(**kw).fit(X)
    b = Autoencoder(sparsity=("kl", 0.05, 0.1), **kw).fit(X)
    mean_a, mean_b = a.transform(Xt).mean(), b.transform(Xt).mean()
    assert abs(mean_b - 0.05) < 0.5 * abs(mean_a - 0.05), (mean_a, mean_b)
    assert mean_b < 0.15
    assert b.history_["loss"][-1] < b.history_["loss"][0]


# ---------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("kw", [
    dict(corruption=("mask", 0.3)),
    dict(corruption=("gaussian", 0.2), tied=False),
    dict(hidden=(10, 4), batchnorm=True, sparsity=("topk", 2)),
])
def test_seeds_reproduce_runs_bitwise(kw):
    X = _unit_data(n=50, d=9)
    kw = dict(dict(hidden=6, n_epochs=2, batch_size=8, learning_rate=1e-2), **kw)
    a = Autoencoder(random_state=3, **kw).fit(X)
    b = Autoencoder(random_state=3, **kw).fit(X)
    c = Autoencoder(random_state=4, **kw).fit(X)
    assert a.history_ == b.history_
    for (n1, p1), (n2, p2) in zip(a.network_.named_parameters(), b.network_.named_parameters()):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.history_ != c.history_


# ---------------------------------------------------------------------- MNIST stacks


def test_stacked_autoencoder_and_deep_autoencoder(mnist):
    X, _, Xt, _ = mnist
    sae = StackedAutoencoder(hidden=(64, 16), n_epochs=2, corruption=("mask", 0.2),
                             random_state=0).fit(X)
    assert [ae.n_components_ for ae in sae.autoencoders_] == [64, 16]
    assert sae.autoencoders_[1].n_features_in_ == 64
    assert sae.n_features_in_ == 784
    Z = sae.transform(Xt[:7])
    assert Z.shape == (7, 16) and np.all((Z >= 0) & (Z <= 1))
    np.testing.assert_array_equal(Z, sae.autoencoders_[1].transform(
        sae.autoencoders_[0].transform(Xt[:7])))
    W = sae.encoder_weights()
    assert [w.shape for w, _ in W] == [(64, 784), (16, 64)]
    assert sae.get_params()["n_epochs"] == 2
    # Non-sigmoid codes are not probabilities: upper layers switch to MSE.
    relu = StackedAutoencoder(hidden=(32, 8), activation="relu", n_epochs=1, random_state=0)
    assert [ae.loss for ae in relu.fit(X[:300]).autoencoders_] == ["bce", "mse"]

    deep = Autoencoder(hidden=(128, 32), batchnorm=True, learning_rate=1e-2, n_epochs=2,
                       random_state=0).fit(X)
    assert deep.transform(Xt[:5]).shape == (5, 32)
    assert deep.history_["loss"][-1] < deep.history_["loss"][0]
    init = Autoencoder(hidden=(128, 32), batchnorm=True, random_state=0)
    init._initialize(784)
    assert deep.score(Xt) < init.score(Xt)
    R = deep.inverse_transform(deep.transform(Xt[:5]))
    np.testing.assert_array_equal(R, deep.reconstruct(Xt[:5]))
    assert np.all((R >= 0) & (R <= 1))


@pytest.mark.parametrize("pretrain", ["ae", "rbm"])
def test_dnn_pretrains_and_fine_tunes(mnist, pretrain):
    X, y, Xt, yt = mnist
    pp = dict(n_epochs=2, learning_rate=1e-2) if pretrain == "ae" else dict(n_iter=2,
                                                                            batch_size=20)
    dnn = DNN(hidden=(256, 128), pretrain=pretrain, pretrain_params=pp, max_epochs=2,
              batch_size=20, random_state=0)
    assert dnn.fit(X, y) is dnn
    acc = dnn.score(Xt, yt)
    assert acc > 0.8, acc
    assert isinstance(dnn.classifier_, lf.models.MLPClassifier)
    np.testing.assert_array_equal(dnn.classes_, np.arange(10))
    assert dnn.predict_proba(Xt[:4]).shape == (4, 10)
    assert len(dnn.history_["loss"]) >= 1
    # The pretrained weights initialised the classifier's hidden layers.
    if pretrain == "ae":
        W0 = dnn.pretrainer_.encoder_weights()
    else:
        W0 = [(r.components_, r.intercept_hidden_) for r in dnn.pretrainer_.rbms_]
    net = dnn.classifier_._build(784, 10, np.random.default_rng(0))
    np.testing.assert_array_equal(net[0].weight.data, W0[0][0])
    np.testing.assert_array_equal(net[1].bias.data, W0[1][1])
    assert net[0].activation == "sigmoid"


def test_dnn_without_pretraining_and_params(mnist):
    X, y, Xt, yt = mnist
    dnn = DNN(hidden=(64,), pretrain=None, max_epochs=1, batch_size=20, random_state=0)
    assert dnn.fit(X[:500], y[:500]).pretrainer_ is None
    assert dnn.score(Xt, yt) > 0.5
    assert dnn.get_params()["max_epochs"] == 1
    assert dnn.set_params(max_epochs=2).get_params()["max_epochs"] == 2
    with pytest.raises(ValueError, match="invalid parameter"):
        dnn.set_params(bogus=1)
    with pytest.raises(ValueError, match="pretrain"):
        DNN(pretrain="pca").fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="activation"):
        DNN(hidden=(8,), activation="relu").fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="sigmoid"):
        DNN(hidden=(8,), pretrain_params=dict(activation="relu")).fit(X[:50], y[:50])
    with pytest.raises(AttributeError, match="not fitted"):
        DNN().predict(X[:2])


# ---------------------------------------------------------------------- bad input


def test_bad_input_and_parameters_are_rejected():
    X = _unit_data()
    with pytest.raises(ValueError, match="2-D"):
        Autoencoder().fit(X[0])
    with pytest.raises(ValueError, match="NaN"):
        Autoencoder().fit(np.where(X > 0.9, np.nan, X))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Autoencoder(loss="bce").fit(X * 3)
    with pytest.raises(TypeError):
        Autoencoder().fit(np.array([["a", "b"]]))
    with pytest.raises(AttributeError, match="not fitted"):
        Autoencoder().transform(X)
    bad = [
        dict(hidden=0), dict(hidden=(4, -1)), dict(hidden="10"), dict(activation="softplus"),
        dict(loss="l1"), dict(corruption=("mask", 1.5)), dict(corruption=("salt", 0.1)),
        dict(corruption=("gaussian", -1.0)), dict(sparsity=("kl", 2.0, 1.0)),
        dict(sparsity=("kl", 0.05)), dict(sparsity=("topk", 0)),
        dict(hidden=6, sparsity=("topk", 7)),
        dict(sparsity="l1"), dict(optimizer="lbfgs"), dict(learning_rate=0.0),
        dict(batch_size=0), dict(n_epochs=1.5), dict(loss="bce", output_activation="linear"),
    ]
    for kw in bad:
        with pytest.raises(ValueError):
            Autoencoder(**kw).fit(X)
    with pytest.raises(ValueError, match="sigmoid code"):
        Autoencoder(hidden=(6, 3), sparsity=("kl", 0.05, 1.0)).fit(X)
    with pytest.raises(ValueError, match="sigmoid code"):
        Autoencoder(hidden=6, activation="relu", sparsity=("kl", 0.05, 1.0)).fit(X)
    ae = Autoencoder(hidden=3, n_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        ae.transform(X[:, :5])
    with pytest.raises(ValueError, match="Z has 4 features, but Autoencoder is expecting 3"):
        ae.inverse_transform(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="invalid parameter"):
        ae.set_params(n_iter=3)
    assert ae.set_params(n_epochs=2).get_params()["n_epochs"] == 2
    # MSE accepts data outside [0, 1].
    mse = Autoencoder(hidden=3, loss="mse", output_activation="linear", n_epochs=1,
                      random_state=0).fit(X * 5 - 2)
    assert mse.score(X * 5 - 2) > 0
    with pytest.raises(ValueError, match="hidden"):
        StackedAutoencoder(hidden=()).fit(X)
    with pytest.raises(ValueError, match="unknown"):
        StackedAutoencoder(hidden=(3,), n_iter=2).fit(X)


# ---------------------------------------------------------------------- plots


def test_viz_reconstruction_grid_and_code_scatter(mnist, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y, Xt, yt = mnist
    ae = Autoencoder(hidden=2, n_epochs=1, corruption=("mask", 0.3), random_state=0).fit(X)
    masked = Xt[:8] * (np.random.default_rng(0).random(Xt[:8].shape) >= 0.3)
    path = tmp_path / "recon.png"
    ax = lf.viz.reconstruction_grid(Xt[:8], masked, ae.reconstruct(masked), n=6,
                                    path=str(path))
    assert path.stat().st_size > 1000
    assert ax.images[0].get_array().shape == (3 * 29 + 1, 6 * 29 + 1)
    ax = lf.viz.reconstruction_grid(Xt[:3], reconstructions=ae.reconstruct(Xt[:3]))
    assert ax.images[0].get_array().shape == (2 * 29 + 1, 3 * 29 + 1)
    with pytest.raises(ValueError, match="columns"):
        lf.viz.reconstruction_grid(Xt[:3, :100])

    path = tmp_path / "codes.png"
    ax = lf.viz.code_scatter(ae.transform(Xt[:300]), yt[:300], path=str(path))
    assert path.stat().st_size > 1000
    assert len(ax.get_legend().get_texts()) == len(np.unique(yt[:300]))
    with pytest.raises(ValueError, match="shape"):
        lf.viz.code_scatter(Xt[:10, :3], yt[:10])
    with pytest.raises(ValueError, match="labels"):
        lf.viz.code_scatter(Xt[:10, :2], yt[:9])
    plt.close("all")
