"""RBM / DBN: conditionals and CD/PCD updates against independent numpy code, exact
likelihood of a tiny RBM, reproducibility, bad input, MNIST smoke tests."""

import itertools

import numpy as np
import pytest

import latentforge as lf
import reference as ref64
from latentforge import _C
from latentforge.models.rbm import DBN, RBM
from latentforge.testing import (
    ATOL_ACT,
    ATOL_F32,
    F32_U,
    RTOL_ACT,
    RTOL_F32,
    assert_close,
    dot_atol,
)

# Stream ids as documented in latentforge/models/rbm.py.
POS_H, CHAIN_H, CHAIN_V, SCORE = 1, 2, 3, 6


_sig = ref64.sigmoid
_softplus = ref64.softplus


def _sigmoid_err(x, W, b):
    """Bound on |sigmoid(x @ W + b) in float32 - float64|: the pre-activation's dot bound
    (sigmoid' <= 1/4 <= 1) plus the activation's own RTOL_ACT |y| + ATOL_ACT (|y| <= 1)."""
    x, W, b = (np.abs(np.asarray(a, np.float64)) for a in (x, W, b))
    return dot_atol(x @ W + b) + RTOL_ACT + ATOL_ACT


def _free_energy_err(V, W, b_h, b_v, gaussian=False):
    """Bound on the float32 free energy's error: the visible term's reduction (dot bound), the
    hidden pre-activations' dot bounds (softplus' <= 1, summed over hidden units), and the final
    rounding of F (the kernel accumulates in double)."""
    V, W, b_h, b_v = (np.asarray(a, np.float64) for a in (V, W, b_h, b_v))
    zerr = dot_atol(np.abs(V) @ np.abs(W).T + np.abs(b_h)).sum(axis=1)
    vis = 0.5 * ((np.abs(V) + np.abs(b_v)) ** 2).sum(1) if gaussian else np.abs(V) @ np.abs(b_v)
    energy = ref64.rbm_free_energy_gaussian if gaussian else ref64.rbm_free_energy
    F = energy(V, b_v, V @ W.T + b_h)
    return dot_atol(vis) + zerr + F32_U * np.abs(F)


def _binary_data(n, d, seed=0, noise=0.05, n_proto=3):
    rng = np.random.default_rng(seed)
    protos = rng.random((n_proto, d)) < 0.5
    X = protos[rng.integers(0, n_proto, n)]
    flip = rng.random((n, d)) < noise
    return (X ^ flip).astype(np.float32)


def _random_rbm(n_vis, n_hid, seed=0, **kw):
    rbm = RBM(n_hidden=n_hid, random_state=seed, **kw)
    rbm._initialize(n_vis)
    rng = np.random.default_rng(seed + 100)
    rbm.components_[...] = rng.normal(0, 0.5, rbm.components_.shape)
    rbm.intercept_hidden_[...] = rng.normal(0, 0.5, n_hid)
    rbm.intercept_visible_[...] = rng.normal(0, 0.5, n_vis)
    return rbm


# ---------------------------------------------------------------------- conditionals


def test_conditionals_and_free_energy_match_numpy():
    rbm = _random_rbm(12, 7)
    rng = np.random.default_rng(1)
    V = rng.random((9, 12)).astype(np.float32)
    H = (rng.random((9, 7)) < 0.5).astype(np.float32)
    W = rbm.components_.astype(np.float64)
    bh = rbm.intercept_hidden_.astype(np.float64)
    bv = rbm.intercept_visible_.astype(np.float64)
    # p(h | v)
    assert_close(rbm.transform(V), _sig(V @ W.T + bh), rtol=0, atol=_sigmoid_err(V, W.T, bh))
    # p(v | h)
    assert_close(rbm._visible_mean(H), _sig(H @ W + bv), rtol=0, atol=_sigmoid_err(H, W, bv))
    # one deterministic up-down pass: the hidden means' error passes through W
    h = _sig(V @ W.T + bh)
    err = _sigmoid_err(h, W, bv) + _sigmoid_err(V, W.T, bh) @ np.abs(W)
    assert_close(rbm.reconstruct(V), _sig(h @ W + bv), rtol=0, atol=err)
    # F(v) = -v.b_v - sum softplus(W v + b_h)
    F = ref64.rbm_free_energy(V, bv, V @ W.T + bh)
    assert_close(rbm.free_energy(V), F, rtol=0, atol=_free_energy_err(V, W, bh, bv))


def test_free_energy_matches_enumeration_over_hidden_states():
    rbm = _random_rbm(6, 4, seed=3)
    W = rbm.components_.astype(np.float64)
    bh = rbm.intercept_hidden_.astype(np.float64)
    bv = rbm.intercept_visible_.astype(np.float64)
    Hs = np.array(list(itertools.product([0, 1], repeat=4)), dtype=np.float64)
    V = np.array(list(itertools.product([0, 1], repeat=6)), dtype=np.float32)
    E = -(V @ bv)[:, None] - (Hs @ bh)[None, :] - (V @ W.T) @ Hs.T  # (2^6, 2^4)
    F = -np.log(np.exp(-E).sum(axis=1))
    assert_close(rbm.free_energy(V), F, rtol=0, atol=_free_energy_err(V, W, bh, bv))


def test_gibbs_samples_are_binary_reproducible_and_fresh():
    rbm = _random_rbm(10, 5)
    V = _binary_data(50, 10)
    s1 = rbm.gibbs(V, steps=3)
    assert s1.shape == V.shape and set(np.unique(s1)) <= {0.0, 1.0}
    s2 = rbm.gibbs(V, steps=3)
    assert not np.array_equal(s1, s2)  # counters advanced
    again = _random_rbm(10, 5)
    np.testing.assert_array_equal(again.gibbs(V, steps=3), s1)
    # one step from v against numpy with the same draws (stream 4 hidden, 5 visible)
    fresh = _random_rbm(10, 5)
    W = fresh.components_.astype(np.float64)
    uh = _C.uniform((50, 5), fresh._seed, 4, 0)
    uv = _C.uniform((50, 10), fresh._seed, 5, 0)
    h = (uh < _sig(V @ W.T + fresh.intercept_hidden_)).astype(np.float64)
    v = (uv < _sig(h @ W + fresh.intercept_visible_)).astype(np.float32)
    np.testing.assert_array_equal(fresh.gibbs(V, steps=1), v)


def test_score_samples_is_sklearn_pseudo_likelihood():
    rbm = _random_rbm(10, 5)
    V = _binary_data(40, 10)
    W = rbm.components_.astype(np.float64)
    bh = rbm.intercept_hidden_.astype(np.float64)
    bv = rbm.intercept_visible_.astype(np.float64)

    def F(v):
        return -v @ bv - _softplus(v @ W.T + bh).sum(axis=1)

    u = _C.uniform((40,), rbm._seed, SCORE, 0).astype(np.float64)
    col = np.minimum((u * 10).astype(int), 9)
    Vf = V.astype(np.float64).copy()
    Vf[np.arange(40), col] = 1 - Vf[np.arange(40), col]
    ref = 10 * -np.logaddexp(0, -(F(Vf) - F(V)))
    got = rbm.score_samples(V)
    # 10 * softplus(F(v) - F(v_flipped)): softplus' <= 1, so 10 times both free energies' errors
    err = 10 * (_free_energy_err(V, W, bh, bv) + _free_energy_err(Vf, W, bh, bv))
    assert_close(got, ref, rtol=RTOL_ACT, atol=err)
    np.testing.assert_array_equal(rbm.score_samples(V), got)  # deterministic
    assert np.all(got <= 0)


# ---------------------------------------------------------------------- CD / PCD updates


def _numpy_updates(W, bh, bv, X, batch, seed, *, lr, k, momentum, wd, persistent):
    """Independent float64 CD-k / PCD on the same Philox draws (via _C.uniform)."""
    W, bh, bv = W.astype(np.float64), bh.astype(np.float64), bv.astype(np.float64)
    vW, vbh, vbv = np.zeros_like(W), np.zeros_like(bh), np.zeros_like(bv)
    off = {POS_H: 0, CHAIN_H: 0, CHAIN_V: 0}

    def draws(stream, shape):
        u = _C.uniform(shape, seed, stream, off[stream]).astype(np.float64)
        off[stream] += int(np.prod(shape))
        return u

    chains = None
    H = W.shape[0]
    for s in range(0, X.shape[0], batch):
        v0 = X[s:s + batch].astype(np.float64)
        B = v0.shape[0]
        h0p = _sig(v0 @ W.T + bh)
        h0s = (draws(POS_H, (B, H)) < h0p).astype(np.float64)
        if not persistent:
            vk = _sig(h0s @ W + bv)
            hkp = _sig(vk @ W.T + bh)
            for _ in range(k - 1):
                hs = (draws(CHAIN_H, (B, H)) < hkp).astype(np.float64)
                vk = _sig(hs @ W + bv)
                hkp = _sig(vk @ W.T + bh)
        else:
            if chains is None:
                chains = v0[np.arange(batch) % B].copy()
            vk = chains
            for _ in range(k):
                hs = (draws(CHAIN_H, vk.shape[:1] + (H,)) < _sig(vk @ W.T + bh)).astype(float)
                vk = (draws(CHAIN_V, vk.shape) < _sig(hs @ W + bv)).astype(np.float64)
            hkp = _sig(vk @ W.T + bh)
            chains = vk
        C = vk.shape[0]
        vW = momentum * vW + lr * (h0p.T @ v0 / B - hkp.T @ vk / C - wd * W)
        vbh = momentum * vbh + lr * (h0p.sum(0) / B - hkp.sum(0) / C)
        vbv = momentum * vbv + lr * (v0.sum(0) / B - vk.sum(0) / C)
        W, bh, bv = W + vW, bh + vbh, bv + vbv
    return W, bh, bv, chains


@pytest.mark.parametrize(
    "k,momentum,wd,persistent",
    [(1, 0.0, 0.0, False), (1, 0.5, 0.01, False), (3, 0.5, 0.0, False), (1, 0.5, 0.01, True),
     (2, 0.0, 0.0, True)],
)
def test_updates_match_numpy_reference(k, momentum, wd, persistent):
    X = _binary_data(30, 12, seed=4)  # batches of 8, 8, 8, 6
    rbm = RBM(n_hidden=6, learning_rate=0.2, batch_size=8, k=k, momentum=momentum,
              weight_decay=wd, persistent=persistent, random_state=7)
    rbm._initialize(12)
    rbm.components_ += np.random.default_rng(0).normal(0, 0.3, rbm.components_.shape).astype(
        np.float32)
    W0, bh0 = rbm.components_.copy(), rbm.intercept_hidden_.copy()
    bv0 = rbm.intercept_visible_.copy()
    rbm.partial_fit(X)
    W, bh, bv, chains = _numpy_updates(W0, bh0, bv0, X, 8, rbm._seed, lr=0.2, k=k,
                                       momentum=momentum, wd=wd, persistent=persistent)
    # A few float32 updates of O(0.3) parameters from batch-8 statistics (same draws).
    assert_close(rbm.components_, W, rtol=RTOL_F32, atol=ATOL_F32)
    assert_close(rbm.intercept_hidden_, bh, rtol=RTOL_F32, atol=ATOL_F32)
    assert_close(rbm.intercept_visible_, bv, rtol=RTOL_F32, atol=ATOL_F32)
    if persistent:
        np.testing.assert_array_equal(rbm.chains_, chains)


def test_pcd_chains_persist_and_differ_from_cd():
    X = _binary_data(16, 12, seed=5)
    kw = dict(n_hidden=6, learning_rate=0.1, batch_size=8, random_state=3)
    pcd = RBM(persistent=True, **kw).partial_fit(X[:8])
    chain1 = pcd.chains_.copy()
    assert set(np.unique(chain1)) <= {0.0, 1.0}
    assert not np.array_equal(chain1, X[:8])  # the negative sample, not the data
    # The next update's chain starts from chain1 (not from X[8:]): replay its negative
    # phase in numpy from chain1 with the parameters before the update and the same draws.
    W = pcd.components_.astype(np.float64).copy()
    bh, bv = pcd.intercept_hidden_.astype(np.float64), pcd.intercept_visible_.astype(np.float64)
    off_h, off_v = pcd._offsets[CHAIN_H], pcd._offsets[CHAIN_V]
    pcd.partial_fit(X[8:])
    hs = _C.uniform((8, 6), pcd._seed, CHAIN_H, off_h) < _sig(chain1 @ W.T + bh)
    v = (_C.uniform((8, 12), pcd._seed, CHAIN_V, off_v) < _sig(hs @ W + bv)).astype(np.float32)
    np.testing.assert_array_equal(pcd.chains_, v)
    cd = RBM(persistent=False, **kw).partial_fit(X)
    assert not hasattr(cd, "chains_")
    assert not np.allclose(cd.components_, pcd.components_)


# ---------------------------------------------------------------------- exact likelihood


def _exact_avg_loglik(rbm, X):
    """Average log p(v) by enumerating all 2^n_vis x 2^n_hid joint states."""
    W = rbm.components_.astype(np.float64)
    bh = rbm.intercept_hidden_.astype(np.float64)
    bv = rbm.intercept_visible_.astype(np.float64)
    nv, nh = W.shape[1], W.shape[0]
    Vs = np.array(list(itertools.product([0, 1], repeat=nv)), dtype=np.float64)
    Hs = np.array(list(itertools.product([0, 1], repeat=nh)), dtype=np.float64)
    negE = (Vs @ bv)[:, None] + (Hs @ bh)[None, :] + (Vs @ W.T) @ Hs.T
    m = negE.max()
    logZ = m + np.log(np.exp(negE - m).sum())
    negE_x = (X @ bv)[:, None] + (Hs @ bh)[None, :] + (X @ W.T) @ Hs.T
    mx = negE_x.max(axis=1, keepdims=True)
    log_unnorm = (mx + np.log(np.exp(negE_x - mx).sum(axis=1, keepdims=True)))[:, 0]
    return float(np.mean(log_unnorm - logZ))


def test_cd1_increases_exact_log_likelihood_of_tiny_rbm():
    X = _binary_data(200, 8, seed=11, noise=0.05, n_proto=3)
    rbm = RBM(n_hidden=4, learning_rate=0.1, batch_size=10, k=1, random_state=0)
    rbm._initialize(8)
    lls = [_exact_avg_loglik(rbm, X.astype(np.float64))]
    for _ in range(30):
        rbm.partial_fit(X)
        lls.append(_exact_avg_loglik(rbm, X.astype(np.float64)))
    lls = np.array(lls)
    assert lls[0] == pytest.approx(8 * np.log(0.5), abs=0.1)  # ~uniform at initialisation
    assert lls[-1] > lls[0] + 1.5, lls
    assert np.mean(np.diff(lls) > -0.02) >= 0.8, lls  # mostly monotone


# ---------------------------------------------------------------------- reproducibility


def test_seed_reproducibility_bitwise_and_thread_independent(threads):
    X = _binary_data(300, 20, seed=2)
    kw = dict(n_hidden=16, n_iter=3, batch_size=32, k=2, momentum=0.5, random_state=42)
    lf.set_num_threads(1)
    a = RBM(**kw).fit(X)
    b = RBM(**kw).fit(X)
    lf.set_num_threads(2)
    c = RBM(**kw).fit(X)
    p = RBM(persistent=True, **kw).fit(X)
    lf.set_num_threads(1)
    p1 = RBM(persistent=True, **kw).fit(X)
    for m in (b, c):
        np.testing.assert_array_equal(a.components_, m.components_)
        np.testing.assert_array_equal(a.intercept_hidden_, m.intercept_hidden_)
        np.testing.assert_array_equal(a.intercept_visible_, m.intercept_visible_)
    np.testing.assert_array_equal(p.components_, p1.components_)
    np.testing.assert_array_equal(p.chains_, p1.chains_)
    d = RBM(**{**kw, "random_state": 43}).fit(X)
    assert not np.array_equal(a.components_, d.components_)
    # refit restarts from scratch
    np.testing.assert_array_equal(a.fit(X).components_, b.components_)
    assert len(a.history_["reconstruction_error"]) == 3


# ---------------------------------------------------------------------- bad input


def test_bad_input_rejected():
    X = _binary_data(20, 6)
    with pytest.raises(TypeError, match="numeric"):
        RBM(n_hidden=3).fit(np.full(X.shape, "a"))
    # Binary data as integers is converted to float32 once, as float64 is.
    a = RBM(n_hidden=3, n_iter=1, random_state=0).fit(X.astype(np.int64))
    b = RBM(n_hidden=3, n_iter=1, random_state=0).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    with pytest.raises(ValueError, match="2-D"):
        RBM(n_hidden=3).fit(X[0])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RBM(n_hidden=3).fit(bad)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        RBM(n_hidden=3).fit(X * 2)
    with pytest.raises(ValueError, match="no rows"):
        RBM(n_hidden=3).fit(np.zeros((0, 6), np.float32))
    for params in (dict(n_hidden=0), dict(k=0), dict(batch_size=1.5), dict(learning_rate=-1.0),
                   dict(momentum=1.0), dict(visible="poisson")):
        with pytest.raises(ValueError):
            RBM(**params).fit(X)
    with pytest.raises(AttributeError, match="not fitted"):
        RBM().transform(X)
    rbm = RBM(n_hidden=3, n_iter=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="features"):
        rbm.transform(X[:, :5])
    with pytest.raises(ValueError, match="features"):
        rbm.partial_fit(X[:, :5])
    with pytest.raises(ValueError, match="steps"):
        rbm.gibbs(X, steps=0)
    with pytest.raises(ValueError, match="invalid parameter"):
        rbm.set_params(n_visible=3)
    with pytest.raises(ValueError, match="rbm_params"):
        DBN(hidden=(3,), rbm_params={"n_hidden": 4}).fit(X)
    with pytest.raises(ValueError, match="hidden"):
        DBN(hidden=()).fit(X)


def test_gaussian_visible_units():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 6)).astype(np.float32) * 2.0  # outside [0, 1] is fine
    rbm = RBM(n_hidden=4, visible="gaussian", n_iter=2, learning_rate=0.01, batch_size=20,
              random_state=0).fit(X)
    W = rbm.components_.astype(np.float64)
    bh, bv = rbm.intercept_hidden_.astype(np.float64), rbm.intercept_visible_.astype(np.float64)
    F = ref64.rbm_free_energy_gaussian(X, bv, X @ W.T + bh)
    assert_close(rbm.free_energy(X), F, rtol=0, atol=_free_energy_err(X, W, bh, bv, True))
    h = _sig(X @ W.T + bh)  # linear visible units: the hidden means' error passes through W
    err = dot_atol(np.abs(h) @ np.abs(W) + np.abs(bv)) + _sigmoid_err(X, W.T, bh) @ np.abs(W)
    assert_close(rbm.reconstruct(X), h @ W + bv, rtol=0, atol=err)
    assert rbm.gibbs(X[:5]).shape == (5, 6)
    with pytest.raises(ValueError, match="bernoulli"):
        rbm.score_samples(X)
    pcd = RBM(n_hidden=4, visible="gaussian", persistent=True, n_iter=1, learning_rate=0.01,
              batch_size=20, random_state=0).fit(X)
    assert np.all(np.isfinite(pcd.components_))


# ---------------------------------------------------------------------- MNIST


@pytest.fixture(scope="module")
def mnist(real_data):
    (X, y), (Xt, yt) = lf.datasets.load_mnist()
    return X[:5000], y[:5000], Xt[:1000], yt[:1000]


def test_mnist_rbm_smoke_and_filter_grid(mnist, tmp_path):
    X = mnist[0]
    init = RBM(n_hidden=64, random_state=0)
    init._initialize(784)
    rbm = RBM(n_hidden=64, n_iter=1, random_state=0).fit(X)
    err0 = np.mean((init.reconstruct(X) - X) ** 2)
    err1 = np.mean((rbm.reconstruct(X) - X) ** 2)
    assert err1 < 0.5 * err0, (err0, err1)
    assert rbm.transform(X[:10]).shape == (10, 64)
    assert np.mean(rbm.score_samples(X[:500])) > np.mean(init.score_samples(X[:500]))
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path / "filters.png"
    ax = lf.viz.filter_grid(rbm.components_, shape=(28, 28), n=36, path=str(path))
    assert path.stat().st_size > 1000
    assert len(ax.images) == 1 and ax.images[0].get_array().shape == (6 * 29 + 1, 6 * 29 + 1)
    with pytest.raises(ValueError, match="columns"):
        lf.viz.filter_grid(rbm.components_, shape=(10, 10))
    plt.close("all")


def test_dbn_pretrain_and_fine_tune(mnist):
    X, y, Xt, yt = mnist
    dbn = DBN(hidden=(200, 100), rbm_params=dict(n_iter=5, learning_rate=0.1, batch_size=20),
              random_state=0).fit(X)
    assert [r.n_hidden for r in dbn.rbms_] == [200, 100]
    assert dbn.rbms_[1].n_features_in_ == 200
    assert dbn.transform(X[:7]).shape == (7, 100)
    clf = dbn.to_classifier(10, max_epochs=2, validation_fraction=0.0, random_state=0)
    assert isinstance(clf, lf.models.MLPClassifier)
    net = clf._build(784, 10, np.random.default_rng(0))  # the pretrained weights are copied
    np.testing.assert_array_equal(net[0].weight.data, dbn.rbms_[0].components_)
    np.testing.assert_array_equal(net[0].bias.data, dbn.rbms_[0].intercept_hidden_)
    np.testing.assert_array_equal(net[1].weight.data, dbn.rbms_[1].components_)
    assert net[0].activation == "sigmoid" and net[2].weight.shape == (10, 100)
    clf.fit(X, y)
    acc = clf.score(Xt, yt)
    assert acc > 0.85, acc
    with pytest.raises(ValueError, match="classes"):
        dbn.to_classifier(10).fit(X[:100], y[:100] % 3)
    with pytest.raises(ValueError, match="hidden"):
        dbn.to_classifier(10, hidden=(5,))


def test_verbose_prints_one_line_per_epoch(capsys):
    X = _binary_data(40, 6)
    RBM(n_hidden=3, n_iter=3, batch_size=10, random_state=0, verbose=1).fit(X)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and err[0].startswith("RBM epoch 1/3: reconstruction error")
    rbm = RBM(n_hidden=3, n_iter=2, batch_size=10, random_state=0).fit(X)
    assert capsys.readouterr().err == ""
    assert rbm.get_params()["n_hidden"] == 3 and rbm.set_params(k=2).k == 2
