"""lf.distributed: Downpour SGD and synchronous SGD on one small local Ray for the module.

Worker processes import latentforge (installed) but not this file: everything defined here
that a worker runs (loss callables) is pickled by value (``register_pickle_by_value``).
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

ray = pytest.importorskip("ray")

import latentforge as lf  # noqa: E402
from latentforge import distributed as dist  # noqa: E402
from latentforge import losses, nn, optim  # noqa: E402
from latentforge.models._base import minibatches  # noqa: E402
from latentforge.tensor import Tensor  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False,
                 log_to_driver=False)
    yield
    if started:
        ray.shutdown()


# ---------------------------------------------------------------------- data and models


def _ae_data(n=240, d=12, seed=0):
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 3))
    A = rng.normal(size=(3, d))
    return (1.0 / (1.0 + np.exp(-Z @ A))).astype(np.float32)


def _ae(d=12, h=4, seed=0):
    return nn.Sequential(nn.Linear(d, h, activation="sigmoid", random_state=seed),
                         nn.Linear(h, d, activation="sigmoid", random_state=seed + 1))


def _blobs(n=240, d=6, seed=1):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(3, d))
    labels = rng.integers(0, 3, size=n)
    X = (centers[labels] + rng.normal(size=(n, d))).astype(np.float32)
    names = np.array(["ant", "bee", "cat"])
    return X, names[labels]


def _clf(d=6, seed=0):
    return nn.Sequential(nn.Linear(d, 8, activation="tanh", random_state=seed),
                         nn.Linear(8, 3, random_state=seed + 1))


def _mse_of(model, X):
    with lf.no_grad():
        return float(losses.mse(model.eval()(Tensor(X)), X).data)


def _params(model):
    return [p.data.copy() for p in model.parameters()]


def _expected_pushes(n, n_workers, batch_size, epochs, n_push):
    sizes = [len(p) for p in np.array_split(np.arange(n), n_workers)]
    return [-(-epochs * len(minibatches(s, batch_size)) // n_push) for s in sizes]


# ---------------------------------------------------------------------- Downpour


def test_downpour_autoencoder_learns_and_history_is_consistent():
    X = _ae_data()
    model = _ae()
    before = _params(model)
    run = dist.DownpourSGD(model, "mse", lr=0.1, n_workers=2, n_push=2, batch_size=20,
                           epochs=6, random_state=0).fit(X)
    assert all(np.array_equal(a, b) for a, b in zip(before, _params(model)))  # not modified
    assert _mse_of(run.model_, X) < 0.7 * _mse_of(model, X)
    h = run.history_
    expected = _expected_pushes(len(X), 2, 20, 6, 2)
    assert run.n_updates_ == sum(expected) == len(h["loss"])
    assert {len(v) for v in h.values()} == {run.n_updates_}
    assert h["updates"] == list(range(1, run.n_updates_ + 1))
    assert np.all(np.diff(h["time"]) >= 0) and h["time"][0] >= 0
    assert list(run.worker_updates_) == expected
    assert [h["worker"].count(w) for w in range(2)] == expected
    assert sum(h["rows"]) == 6 * len(X)
    assert np.mean(h["loss"][-6:]) < np.mean(h["loss"][:6])
    assert run.staleness_["max"] == max(h["staleness"])
    assert run.staleness_["mean"] == pytest.approx(np.mean(h["staleness"]))
    assert run.failures_ == [] and run.interrupted_ is False and run.ignored_pushes_ == 0
    assert run.model_.training is False


def test_downpour_classifier_with_two_shards():
    X, y = _blobs()
    model = _clf()
    run = dist.DownpourSGD(model, "cross_entropy", optimizer="adam", lr=0.05, n_workers=2,
                           n_shards=2, batch_size=16, epochs=5, random_state=1).fit(X, y)
    assert list(run.classes_) == ["ant", "bee", "cat"]
    with lf.no_grad():
        pred = run.classes_[run.model_(Tensor(X)).data.argmax(axis=1)]
    assert np.mean(pred == y) > 0.9
    assert np.mean(run.history_["loss"][-5:]) < 0.5 * np.mean(run.history_["loss"][:5])


def _single_process(model, X, optimizer, batch_size, epochs, orders, y=None,
                    loss=dist._loss_mse):
    """The plain loop: the given row order per epoch, minibatches of batch_size rows."""
    model = copy.deepcopy(model)
    opt = optimizer(model.parameters())
    losses_ = []
    for e in range(epochs):
        perm = orders(e)
        for rows in minibatches(len(X), batch_size):
            idx = perm[rows]
            value = loss(model, X[idx], None if y is None else y[idx])
            opt.zero_grad()
            value.backward()
            opt.step()
            losses_.append(float(value.data))
    return model, losses_


def test_downpour_one_worker_is_the_single_process_loop():
    """One worker fetching and pushing every step is plain SGD on its order, bit for bit, with
    staleness 0."""
    X = _ae_data(n=90)
    model = _ae()
    run = dist.DownpourSGD(model, "mse", optimizer="adagrad", lr=0.05, n_workers=1,
                           batch_size=16, epochs=2, random_state=7).fit(X)
    ref, ref_losses = _single_process(
        model, X, lambda p: optim.AdaGrad(p, lr=0.05), 16, 2,
        lambda e: np.random.default_rng([7, e, 0]).permutation(len(X)))
    for a, b in zip(_params(run.model_), _params(ref)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(run.history_["loss"], np.float64(ref_losses))
    assert run.staleness_ == {"mean": 0.0, "max": 0, "n": 12}
    # ... which is SyncSGD's run with one worker (worker 0 takes SyncSGD's order)
    sync = dist.SyncSGD(model, "mse", optimizer="adagrad", lr=0.05, n_workers=1,
                        batch_size=16, epochs=2, random_state=7).fit(X)
    for a, b in zip(_params(run.model_), _params(sync.model_)):
        np.testing.assert_array_equal(a, b)


def test_staleness_follows_n_fetch_and_n_push():
    """One worker, fetch every 3 steps, push every step: staleness 0, 1, 2, 0, 1, 2, ...
    (the largest over two shards, each counting its own updates)."""
    X = _ae_data(n=64)
    run = dist.DownpourSGD(_ae(), "mse", n_workers=1, n_fetch=3, batch_size=8, epochs=1,
                           n_shards=2, random_state=0).fit(X)
    assert run.history_["staleness"] == [k % 3 for k in range(8)]
    assert run.staleness_ == {"mean": pytest.approx(7 / 8), "max": 2, "n": 8}
    # Pushing every 3 steps the average of 3 gradients: one update per push, staleness 0.
    run = dist.DownpourSGD(_ae(), "mse", n_workers=1, n_push=3, batch_size=8, epochs=1,
                           random_state=0).fit(X)
    assert run.history_["staleness"] == [0, 0, 0] and run.history_["rows"] == [24, 24, 16]


# ---------------------------------------------------------------------- SyncSGD


@pytest.mark.parametrize("n_workers", [1, 3])
def test_sync_equals_the_single_process_loop(n_workers):
    X = _ae_data(n=100)
    model = _ae()
    run = dist.SyncSGD(model, "mse", optimizer="adam", lr=0.02, n_workers=n_workers,
                       batch_size=14, epochs=3, random_state=3).fit(X)
    ref, ref_losses = _single_process(
        model, X, lambda p: optim.Adam(p, lr=0.02), 14, 3,
        lambda e: np.random.default_rng([3, e]).permutation(len(X)))
    steps = 3 * len(minibatches(100, 14))
    assert run.n_updates_ == steps == len(run.history_["loss"])
    assert run.history_["updates"] == list(range(1, steps + 1))
    assert run.staleness_["max"] == 0 and sum(run.history_["rows"]) == 300
    for a, b in zip(_params(run.model_), _params(ref)):
        if n_workers == 1:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run.history_["loss"], ref_losses, rtol=1e-5)
    assert _mse_of(run.model_, X) < _mse_of(model, X)


def test_sync_classifier_labels_and_pickling():
    X, y = _blobs(n=120)
    model = _clf()
    again = pickle.loads(pickle.dumps(model))
    for a, b in zip(_params(model), _params(again)):
        np.testing.assert_array_equal(a, b)
    run = dist.SyncSGD(model, "cross_entropy", optimizer="sgd", lr=0.2, n_workers=2,
                       batch_size=20, epochs=4, random_state=0).fit(X, y)
    with lf.no_grad():
        pred = run.classes_[run.model_(Tensor(X)).data.argmax(axis=1)]
    assert np.mean(pred == y) > 0.9
    assert list(run.worker_updates_) == [24, 24]
    back = pickle.loads(pickle.dumps(run))  # the fitted trainer pickles, model_ included
    for a, b in zip(_params(run.model_), _params(back.model_)):
        np.testing.assert_array_equal(a, b)
    assert back.get_params()["n_workers"] == 2 and back.history_ == run.history_
    with pytest.raises(NotImplementedError, match="state_dict"):
        run.save("never.npz")


# ---------------------------------------------------------------------- failures


def _dying_loss(marker, worker, step):
    """mse, but the process of ``worker`` exits at its ``step`` (once: a marker file)."""

    def loss(model, xb, yb):
        info = dist.worker_info()  # None in the driver's trial step
        if info and info["worker"] == worker and info["step"] == step and not os.path.exists(
                marker):
            open(marker, "w").close()
            os._exit(1)
        return losses.mse(model(Tensor(xb)), xb)

    return loss


def test_downpour_worker_death_stops_with_a_clear_error(tmp_path):
    X = _ae_data(n=120)
    run = dist.DownpourSGD(_ae(), _dying_loss(str(tmp_path / "m"), 1, 4), n_workers=2,
                           batch_size=10, epochs=2, random_state=0)
    with pytest.raises(RuntimeError, match="worker 1 died") as info:
        run.fit(X)
    assert "max_restarts=0" in str(info.value)
    assert len(run.failures_) == 1
    f = run.failures_[0]
    assert f["worker"] == 1 and f["applied"] == 4 and not f["restarted"]
    assert run.worker_updates_[1] == 4 and run.n_updates_ == len(run.history_["loss"])
    assert f"{run.n_updates_} of 24 updates were applied" in str(info.value)


def test_downpour_dead_worker_is_replaced_and_no_update_is_lost(tmp_path):
    X = _ae_data(n=120)
    run = dist.DownpourSGD(_ae(), _dying_loss(str(tmp_path / "m"), 1, 4), n_workers=2,
                           n_push=2, batch_size=10, epochs=2, max_restarts=1,
                           random_state=0).fit(X)
    expected = _expected_pushes(120, 2, 10, 2, 2)
    assert list(run.worker_updates_) == expected and run.n_updates_ == sum(expected)
    assert [run.history_["worker"].count(w) for w in range(2)] == expected
    # each push of worker 1 applied exactly once, in order, the pushes 0, 1 before its death
    assert len(run.failures_) == 1 and run.failures_[0]["restarted"]
    assert run.failures_[0]["applied"] == 2
    assert sum(run.history_["rows"]) == 2 * 120


def test_sync_dead_worker_is_replaced(tmp_path):
    X = _ae_data(n=60)
    model = _ae()
    run = dist.SyncSGD(model, _dying_loss(str(tmp_path / "m"), 1, 2), n_workers=2, lr=0.05,
                       batch_size=20, epochs=2, max_restarts=1, random_state=0).fit(X)
    ref, _ = _single_process(model, X, lambda p: optim.AdaGrad(p, lr=0.05), 20, 2,
                             lambda e: np.random.default_rng([0, e]).permutation(len(X)))
    assert run.n_updates_ == 6 and list(run.worker_updates_) == [6, 6]
    assert len(run.failures_) == 1 and run.failures_[0]["restarted"]
    for a, b in zip(_params(run.model_), _params(ref)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # the step was recomputed


def test_an_error_in_the_loss_propagates():
    def bad(model, xb, yb):
        if dist.worker_info() is not None:
            raise ArithmeticError("boom in the worker")
        return losses.mse(model(Tensor(xb)), xb)

    with pytest.raises(ArithmeticError, match="boom in the worker"):
        dist.DownpourSGD(_ae(), bad, n_workers=2, batch_size=20).fit(_ae_data(n=80))


@pytest.mark.parametrize("cls", [dist.DownpourSGD, dist.SyncSGD])
def test_interrupt_keeps_the_progress(cls, monkeypatch):
    X = _ae_data(n=200)
    model = _ae()

    def hook(updates):
        if updates >= 5:
            raise KeyboardInterrupt

    monkeypatch.setattr(dist, "_poll_hook", hook)
    run = cls(model, "mse", lr=0.1, n_workers=2, batch_size=10, epochs=500, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        run.fit(X)
    assert run.interrupted_ is True
    assert 5 <= run.n_updates_ == len(run.history_["loss"]) < 500 * 10
    assert not all(np.array_equal(a, b) for a, b in zip(_params(model), _params(run.model_)))


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"n_workers": 0}, ValueError, "n_workers"),
    ({"n_workers": 2.0}, TypeError, "n_workers"),
    ({"n_fetch": 0}, ValueError, "n_fetch"),
    ({"n_push": -1}, ValueError, "n_push"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"epochs": True}, TypeError, "epochs"),
    ({"lr": 0.0}, ValueError, "lr"),
    ({"lr": "fast"}, TypeError, "lr"),
    ({"n_shards": 5}, ValueError, "n_shards"),
    ({"optimizer": "lbfgs"}, ValueError, "optimizer"),
    ({"optimizer": dict}, TypeError, "optimizer"),
    ({"loss": "hinge"}, ValueError, "loss"),
    ({"loss": 3}, TypeError, "loss"),
    ({"optimizer_params": {"momentum": 2.0}, "optimizer": "sgd"}, ValueError, "momentum"),
    ({"optimizer_params": {"lr": 1.0}}, ValueError, "optimizer_params"),
    ({"max_restarts": -1}, ValueError, "max_restarts"),
    ({"num_cpus": 0}, ValueError, "num_cpus"),
    ({"address": 5}, TypeError, "address"),
    ({"random_state": "x"}, TypeError, "random_state"),
    ({"n_workers": 500}, ValueError, "n_workers"),
])
def test_bad_parameters_fail_before_ray(kwargs, exc, match, monkeypatch):
    def no_ray():
        raise AssertionError("Ray was reached before the parameters were checked")

    monkeypatch.setattr(dist, "_import_ray", no_ray)
    args = dict(model=_ae(), loss="mse")
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        dist.DownpourSGD(**args).fit(_ae_data(n=40))


@pytest.mark.parametrize(("X", "y", "loss", "exc", "match"), [
    (np.zeros((10, 5), np.float32), None, "mse", ValueError, "X of shape"),
    (np.zeros(12, np.float32), None, "mse", ValueError, "X must be 2-D"),
    (np.full((10, 12), np.nan, np.float32), None, "mse", ValueError, "NaN"),
    (np.zeros((10, 12), np.float32), None, "cross_entropy", ValueError, "y is required"),
    (np.zeros((14, 12), np.float32), np.arange(14) % 13, "cross_entropy", ValueError,
     "13 classes"),
    (np.zeros((10, 12), np.float32), np.zeros((9, 12)), "mse", ValueError, "one entry per row"),
])
def test_bad_data_fails_before_ray(X, y, loss, exc, match, monkeypatch):
    monkeypatch.setattr(dist, "_import_ray", lambda: pytest.fail("Ray reached"))
    for cls in (dist.DownpourSGD, dist.SyncSGD):
        with pytest.raises(exc, match=match):
            cls(_ae(), loss).fit(X, y)


def test_model_must_be_a_module(monkeypatch):
    monkeypatch.setattr(dist, "_import_ray", lambda: pytest.fail("Ray reached"))
    with pytest.raises(TypeError, match="model must be a latentforge.nn.Module"):
        dist.SyncSGD(lambda x: x, "mse").fit(_ae_data(n=10))


def test_unpicklable_loss_is_refused():
    lock = threading.Lock()

    def loss(model, xb, yb):
        with lock:
            return losses.mse(model(Tensor(xb)), xb)

    with pytest.raises(TypeError, match="loss must be serializable"):
        dist.SyncSGD(_ae(), loss).fit(_ae_data(n=10))


def test_worker_info_is_none_in_the_driver():
    assert dist.worker_info() is None


def test_missing_ray_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"latentforge\[distributed\]"):
        dist._import_ray()


def test_import_latentforge_does_not_import_ray():
    code = "import sys, latentforge; print(latentforge.distributed.DownpourSGD.__name__); " \
           "assert 'ray' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DownpourSGD"


def test_downpour_trains_a_cat_paper_part():
    """The cat-paper model is an lf.nn module like any other: one part, its TICA loss."""
    from latentforge.models.cat import CatPart, tica_loss

    rng = np.random.default_rng(0)
    X = rng.random((96, 1 * 10 * 10)).astype(np.float32)
    part = CatPart(1, 3, (10, 10), 3, random_state=0)
    before = float(tica_loss(part, X).data)
    run = dist.DownpourSGD(part, tica_loss, lr=0.05, n_workers=2, batch_size=16, epochs=3,
                           random_state=0).fit(X)
    after = float(tica_loss(run.model_, X).data)
    assert after < 0.8 * before
    assert np.array_equal(part.encoder.weight.data,
                          CatPart(1, 3, (10, 10), 3, random_state=0).encoder.weight.data)
