"""lf.insight: activation maximization, top-activating samples, FGSM and adversarial training."""

import numpy as np
import pytest

import latentforge as lf
from latentforge import insight, nn


def _mlp(seed=0, n_in=12, hidden=6, n_out=3):
    return nn.Sequential(nn.Linear(n_in, hidden, activation="sigmoid", random_state=seed),
                         nn.Linear(hidden, n_out, random_state=seed + 1))


def _blobs(n=300, d=12, k=3, seed=0, spread=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0.2, 0.8, (k, d))
    y = rng.integers(0, k, n)
    X = np.clip(centres[y] + 0.1 * spread * rng.standard_normal((n, d)), 0, 1)
    return X.astype(np.float32), y


def _state(net):
    return ([p.data.copy() for p in net.parameters()], [p.grad for p in net.parameters()],
            [m.training for m in net.modules()], [p.requires_grad for p in net.parameters()])


def _same_state(a, b):
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))
    assert all(x is y for x, y in zip(a[1], b[1]))
    assert a[2] == b[2] and a[3] == b[3]


# ---------------------------------------------------------------- maximize_activation

@pytest.mark.parametrize("radius", [1.0, 3.5])
def test_first_dense_layer_closed_form(radius):
    net = _mlp()
    w = net.layers[0].weight.data.astype(np.float64)
    for unit in range(6):
        x = insight.maximize_activation(net, 0, unit, radius=radius, steps=300, lr=0.1,
                                        random_state=unit)
        expected = radius * w[unit] / np.linalg.norm(w[unit])
        assert x.shape == (12,)
        np.testing.assert_allclose(np.linalg.norm(x), radius, rtol=1e-5)
        cos = x @ expected / (np.linalg.norm(x) * np.linalg.norm(expected))
        assert cos > 0.9999, cos


def test_list_of_units_matches_single_units():
    net = _mlp()
    xs, acts = insight.maximize_activation(net, 1, [0, 2], steps=50, random_state=3,
                                           return_activation=True)
    assert xs.shape == (2, 12) and acts.shape == (2,)
    for i, u in enumerate([0, 2]):
        x0 = xs[i]
        logits = net(lf.Tensor(x0[None])).data[0]
        assert np.isclose(acts[i], logits[u], rtol=1e-5)


def test_activation_increases_and_constraints_hold():
    net = _mlp(seed=4)
    rng = np.random.default_rng(0)
    x0 = rng.uniform(0, 1, 12).astype(np.float32)
    start = net(lf.Tensor(x0[None])).data[0, 1]
    x, act = insight.maximize_activation(net, -1, 1, x0=x0, norm="linf", radius=1.0,
                                         bounds=(0, 1), steps=40, lr=0.05,
                                         return_activation=True)
    assert act > start
    assert x.min() >= 0 and x.max() <= 1
    x2 = insight.maximize_activation(net, -1, 1, x0=x0, norm="l2", bounds=(0, 1), steps=40)
    assert np.linalg.norm(x2) <= np.linalg.norm(x0) * (1 + 1e-5)
    assert x2.min() >= 0 and x2.max() <= 1


def test_model_left_untouched():
    net = nn.Sequential(nn.Linear(12, 6, activation="relu", random_state=0),
                        nn.Dropout(0.5, random_state=0), nn.BatchNorm1d(6),
                        nn.Linear(6, 3, random_state=1))
    net.train()
    net.parameters()[0].grad = np.ones((6, 12), np.float32)
    before = _state(net)
    insight.maximize_activation(net, 2, 0, steps=5)
    insight.top_activating(net, np.random.default_rng(0).random((20, 12)), 3, 1, k=3)
    insight.fgsm(net, np.random.default_rng(0).random((20, 12)), np.zeros(20, int), 0.1)
    _same_state(before, _state(net))


def test_conv_units_channel_mean_and_position():
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, random_state=0), nn.ReLU())
    X = np.random.default_rng(1).random((10, 1, 7, 7)).astype(np.float32)
    out = net(lf.Tensor(X)).data
    idx, acts = insight.top_activating(net, X, -1, (2,), k=10)
    np.testing.assert_allclose(acts, out[idx, 2].mean(axis=(1, 2)), rtol=1e-5)
    idx, acts = insight.top_activating(net, X, -1, (1, 3, 4), k=4)
    np.testing.assert_allclose(acts, out[idx, 1, 3, 4], rtol=1e-6)
    flat = 1 * 49 + 3 * 7 + 4
    assert np.array_equal(insight.top_activating(net, X, -1, flat, k=4)[0], idx)
    x = insight.maximize_activation(net, 0, (1,), input_shape=(1, 7, 7), steps=10)
    assert x.shape == (1, 7, 7)


# ---------------------------------------------------------------- top_activating

def test_top_activating_matches_numpy_and_breaks_ties_by_index():
    net = _mlp()
    X = np.random.default_rng(0).random((50, 12)).astype(np.float32)
    X[7] = X[3]  # a tie
    W, b = net.layers[0].weight.data, net.layers[0].bias.data
    h = 1 / (1 + np.exp(-(X.astype(np.float64) @ W.T + b)))
    idx, acts = insight.top_activating(net, X, 0, 4, k=50, batch_size=16)
    assert np.array_equal(idx, np.argsort(-h[:, 4], kind="stable"))
    np.testing.assert_allclose(acts, h[idx, 4], rtol=1e-5)
    assert list(idx).index(3) < list(idx).index(7)
    assert insight.top_activating(net, X, 0, 4, k=5)[0].shape == (5,)


def test_fitted_models_resolve_to_their_networks():
    X, y = _blobs(200, d=16)
    dbn = lf.models.DBN(hidden=(8, 4), rbm_params={"n_iter": 1}, random_state=0).fit(X)
    assert len(insight.layers(dbn)) == 2
    idx, acts = insight.top_activating(dbn, X, -1, 2, k=5)
    top = dbn.transform(X)[:, 2]
    np.testing.assert_allclose(acts, np.sort(top)[::-1][:5], rtol=1e-4, atol=1e-6)
    rbm = lf.models.RBM(n_hidden=5, n_iter=1, random_state=0).fit(X)
    np.testing.assert_allclose(insight.top_activating(rbm, X, 0, 1, k=3)[1],
                               np.sort(rbm.transform(X)[:, 1])[::-1][:3], rtol=1e-4)
    ae = lf.models.Autoencoder(hidden=(6,), n_epochs=1, random_state=0).fit(X)
    np.testing.assert_allclose(insight.top_activating(ae, X, -1, 0, k=3)[1],
                               np.sort(ae.transform(X)[:, 0])[::-1][:3], rtol=1e-4)
    clf = lf.models.MLPClassifier(hidden=(8,), max_epochs=1, random_state=0).fit(X, y)
    assert insight.layers(clf)[0] is clf.network_.layers[0]
    assert insight.maximize_activation(clf, 0, 1, steps=3).shape == (16,)


def test_errors_name_the_argument():
    net = _mlp()
    X = np.zeros((4, 12), np.float32)
    with pytest.raises(ValueError, match="layer 5"):
        insight.top_activating(net, X, 5, 0)
    with pytest.raises(TypeError, match="layer"):
        insight.top_activating(net, X, "first", 0)
    with pytest.raises(ValueError, match="layer Linear"):
        insight.top_activating(net, X, nn.Linear(2, 2), 0)
    with pytest.raises(ValueError, match="unit 6"):
        insight.top_activating(net, X, 0, 6)
    with pytest.raises(TypeError, match="unit"):
        insight.top_activating(net, X, 0, "a")
    with pytest.raises(ValueError, match="k must"):
        insight.top_activating(net, X, 0, 1, k=0)
    with pytest.raises(ValueError, match="not fitted"):
        insight.top_activating(lf.models.MLPClassifier(), X, 0, 1)
    with pytest.raises(TypeError, match="model must"):
        insight.layers(object())
    with pytest.raises(ValueError, match="norm"):
        insight.maximize_activation(net, 0, 0, norm="l3")
    with pytest.raises(ValueError, match="radius"):
        insight.maximize_activation(net, 0, 0, radius=-1)
    with pytest.raises(ValueError, match="input shape"):
        insight.maximize_activation(nn.Sequential(nn.ReLU()), 0, 0)
    with pytest.raises(ValueError, match="eps"):
        insight.fgsm(net, X, np.zeros(4, int), -0.1)
    with pytest.raises(ValueError, match="y must"):
        insight.fgsm(net, X, np.zeros(3, int), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        insight.fgsm(net, np.full((4, 12), np.nan), np.zeros(4, int), 0.1)
    with pytest.raises(ValueError, match="bounds"):
        insight.fgsm(net, X, np.zeros(4, int), 0.1, clip=(1, 0))


# ---------------------------------------------------------------- FGSM

def test_fgsm_of_softmax_regression_matches_closed_form():
    lin = nn.Linear(12, 3, random_state=0)
    net = nn.Sequential(lin)
    X = np.random.default_rng(2).uniform(0.2, 0.8, (40, 12)).astype(np.float32)
    y = np.random.default_rng(3).integers(0, 3, 40)
    z = X.astype(np.float64) @ lin.weight.data.T + lin.bias.data
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(40), y] -= 1
    grad = p @ lin.weight.data.astype(np.float64)  # dJ_i/dx_i, up to the 1/N scale
    adv = insight.fgsm(net, X, y, 0.05, clip=None)
    np.testing.assert_allclose(adv, X + 0.05 * np.sign(grad), atol=1e-6)
    clipped = insight.fgsm(net, X, y, 0.5)  # clip="data": X's own range
    assert clipped.min() >= X.min() and clipped.max() <= X.max()
    np.testing.assert_array_equal(insight.fgsm(net, X, y, 0.0), X)


def test_fgsm_raises_the_error_of_a_trained_classifier_and_adversarial_training_helps():
    X, y = _blobs(900, d=12, seed=5)
    X, Xt, y, yt = X[:600], X[600:], y[:600], y[600:]
    common = dict(hidden=(32,), activation="relu", optimizer="adam", learning_rate=1e-2,
                  max_epochs=15, early_stopping=False, validation_fraction=0.0,
                  random_state=0)
    plain = lf.models.MLPClassifier(**common).fit(X, y)
    robust = lf.models.MLPClassifier(adversarial_eps=0.1, **common).fit(X, y)
    clean_err = 1 - plain.score(Xt, yt)
    adv_err = 1 - plain.score(insight.fgsm(plain, Xt, yt, 0.1), yt)
    robust_adv_err = 1 - robust.score(insight.fgsm(robust, Xt, yt, 0.1), yt)
    assert adv_err > clean_err + 0.1, (clean_err, adv_err)
    assert robust_adv_err < adv_err - 0.05, (adv_err, robust_adv_err)
    assert 1 - robust.score(Xt, yt) < 0.05


def test_adversarial_training_keeps_weights_of_zero_eps_and_validates():
    X, y = _blobs(200)
    a = lf.models.MLPClassifier(hidden=(8,), max_epochs=2, random_state=0).fit(X, y)
    b = lf.models.MLPClassifier(hidden=(8,), max_epochs=2, random_state=0,
                                adversarial_eps=0.0).fit(X, y)
    for p, q in zip(a.network_.parameters(), b.network_.parameters()):
        assert np.array_equal(p.data, q.data)
    with pytest.raises(ValueError, match="adversarial_eps"):
        lf.models.MLPClassifier(adversarial_eps=-1).fit(X, y)
    with pytest.raises(ValueError, match="adversarial_weight"):
        lf.models.MLPClassifier(adversarial_weight=2).fit(X, y)


def test_convnet_fgsm_and_adversarial_training_run_on_images():
    rng = np.random.default_rng(0)
    X = rng.random((64, 1, 8, 8)).astype(np.float32)
    y = (X[:, 0, :4].mean(axis=(1, 2)) > X[:, 0, 4:].mean(axis=(1, 2))).astype(int)
    clf = lf.models.ConvNetClassifier(channels=(4,), kernel_size=3, hidden=(), max_epochs=2,
                                      adversarial_eps=0.05, validation_fraction=0,
                                      random_state=0).fit(X, y)
    adv = insight.fgsm(clf, X, y, 0.1)
    assert adv.shape == X.shape
    assert np.abs(adv - X).max() <= 0.1 + 1e-6
    assert insight.maximize_activation(clf, 1, (1,), steps=3).shape == (64,)


# ---------------------------------------------------------------- plots

def test_plots(tmp_path):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    fig = lf.viz.unit_inputs(rng.random((3, 16)), rng.random((3, 4, 16)), shape=(4, 4),
                             titles=["a", "b", "c"], path=str(tmp_path / "u.png"))
    assert (tmp_path / "u.png").stat().st_size > 0 and len(fig.axes) == 15
    X = rng.random((5, 1, 4, 4))
    fig = lf.viz.adversarial_examples(X, X + 0.1, [1, 2, 3, 4, 5], [1, 0, 3, 0, 5], shape=(4, 4),
                                      labels=[1, 2, 3, 4, 5], n=4, path=str(tmp_path / "a.png"))
    assert len(fig.axes) == 12
    assert fig.axes[3 * 4 - 4 + 1].title.get_color() == "red"
    with pytest.raises(ValueError, match="top has 2 units"):
        lf.viz.unit_inputs(rng.random((3, 16)), rng.random((2, 4, 16)), shape=(4, 4))
    with pytest.raises(ValueError, match="images of shape"):
        lf.viz.unit_inputs(rng.random((3, 15)), rng.random((3, 4, 16)), shape=(4, 4))
    with pytest.raises(ValueError, match="pred_adv"):
        lf.viz.adversarial_examples(X, X, [1] * 5, [1] * 4, shape=(4, 4))


# ---------------------------------------------------------------- single-neuron detectors

def _brute_threshold(a, pos):
    best = -1
    vals = np.unique(a)
    cands = np.concatenate([[vals[0] - 1], (vals[1:] + vals[:-1]) / 2, [vals[-1]]])
    for t in cands:
        best = max(best, np.mean((a > t) == pos))
    return best


def test_best_thresholds_match_brute_force():
    rng = np.random.default_rng(0)
    A = rng.integers(0, 6, (40, 7)).astype(float)  # many ties
    pos = rng.random(40) < 0.4
    t, acc = insight._best_thresholds(A, pos)
    for j in range(7):
        assert np.isclose(acc[j], _brute_threshold(A[:, j], pos))
        assert np.isclose(np.mean((A[:, j] > t[j]) == pos), acc[j])


def test_best_single_neurons_finds_the_planted_detector():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 2000)
    F = rng.standard_normal((2000, 30))
    F[:, 17] += 3.0 * (y == 2)  # neuron 17 detects class 2
    res = insight.best_single_neurons(F, y)
    r2 = next(r for r in res if r["class"] == 2)
    assert r2["neuron"] == 17 and r2["accuracy"] > 0.9 and abs(r2["baseline"] - 0.5) < 0.05
    others = [r["accuracy"] for r in res if r["class"] != 2]
    assert max(others) < 0.75
    unbalanced = insight.best_single_neurons(F, y, balanced=False)
    assert all(abs(r["baseline"] - np.mean(y != r["class"])) < 0.05 for r in unbalanced)
    with pytest.raises(ValueError, match="features"):
        insight.best_single_neurons(F[:10], y)
    with pytest.raises(ValueError, match="split"):
        insight.best_single_neurons(F, y, split=1.5)
