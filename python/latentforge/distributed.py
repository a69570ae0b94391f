"""Data-parallel training on Ray: asynchronous Downpour SGD and synchronous SGD.

Example (starts a local Ray)::

    import numpy as np, latentforge as lf
    X = np.random.default_rng(0).random((2000, 64), dtype=np.float32)
    ae = lf.nn.Sequential(lf.nn.Linear(64, 16, activation="sigmoid", random_state=0),
                          lf.nn.Linear(16, 64, activation="sigmoid", random_state=1))
    run = lf.distributed.DownpourSGD(ae, "mse", n_workers=4, epochs=2).fit(X)
    run.model_, run.history_["loss"][-1], run.staleness_

Both trainers take any :class:`latentforge.nn.Module` and a loss, train a copy of the module
(``model`` itself is never modified) and leave the trained copy in ``model_``. Ray (an
optional dependency: ``pip install "latentforge[distributed]"``) runs the workers; importing
latentforge never imports it.

Downpour SGD (Dean et al. 2012, "Large Scale Distributed Deep Networks")
-----------------------------------------------------------------------
* A **parameter server**: ``n_shards`` Ray actors, each owning a disjoint subset of the
  module's parameters (whole parameters, balanced by size) and the optimizer state of those
  parameters. Every update rule of :mod:`latentforge.optim` is per parameter, so sharding
  does not change the arithmetic. AdaGrad is the default, as in the paper.
* ``n_workers`` **worker** actors, each with its own contiguous slice of the rows of ``X``
  (``np.array_split`` order; shuffle sorted data first), put in Ray's object store once.
  Worker ``w`` visits its rows in epoch ``e`` in the order
  ``np.random.default_rng([seed, e, w]).permutation(n_rows_w)`` cut into minibatches of
  ``batch_size`` rows (the last one may be smaller). numpy's ``SeedSequence`` ignores
  trailing zeros, so worker 0 takes SyncSGD's order (below): with one worker and
  ``n_fetch = n_push = 1``, DownpourSGD is the single-process loop SyncSGD is, bit for bit.
* A worker **fetches** fresh parameters from every shard before its first step and then every
  ``n_fetch`` steps (between fetches it computes gradients on the parameters it holds: it
  does not update them locally), and **pushes** to every shard, every ``n_push`` steps, the
  **average** of the gradients of those steps, weighted by their rows (so ``lr`` means the
  same whatever ``n_push``; a final push carries the steps left over at the end). Each shard
  applies a push at once, in arrival order, with no barrier between workers: one push is one
  server update.
* **Staleness** of a push: the server's version (updates applied so far) when the push is
  applied minus the version of the parameters the oldest of its gradients was computed
  from; with several shards, the largest over the shards. One worker with ``n_fetch=1``
  always has staleness 0.

Synchronous SGD
---------------
Each step takes one **global** minibatch of ``batch_size`` rows, the same batches a
single-process loop takes: in epoch ``e`` the rows are visited in the order
``np.random.default_rng([seed, e]).permutation(n_samples)``, cut into minibatches of
``batch_size`` rows (the last may be smaller). Each global batch is split into ``n_workers``
contiguous parts (``np.array_split``); each worker returns the gradient of the loss on its
part, the driver averages them weighted by the parts' rows (for a loss that is a mean over
rows this is the gradient of the whole batch) and applies one update. So the result does not
depend on ``n_workers`` and equals single-process training with the same initial model,
batches and optimizer up to float32 rounding (bit for bit with one worker). Every worker
holds a reference to the whole ``X`` (one copy per machine in Ray's object store) and is
sent only the row indices of its part.

``seed`` above is ``random_state`` when it is an int; otherwise it is drawn from it (a
numpy Generator) or from fresh entropy (None).

Losses
------
``loss`` is one of

* ``"mse"``: ``mean((model(x) - target)**2)``,
* ``"binary_cross_entropy"``: on probabilities (a model ending in a sigmoid),
* ``"binary_cross_entropy_with_logits"``,

where ``target`` is ``y`` (a float array, one row per row of ``X``) or, with ``y=None``,
``X`` itself (an autoencoder's reconstruction); or

* ``"cross_entropy"``: softmax cross-entropy of the model's outputs (logits) against class
  labels ``y`` (required; any labels, encoded as indices into ``classes_``);

or a callable ``loss(model, xb, yb) -> scalar Tensor`` (``xb``: float32 rows of ``X``;
``yb``: the matching rows of ``y`` as given, or None). The callable and the model are sent
to the Ray workers, so both must be serializable by Ray's cloudpickle: a function defined at
the top level of an importable module, or a lambda / nested function that captures only
picklable values (no open files, locks, or Ray handles). A callable defined in a module the
workers cannot import (e.g. a test file outside ``sys.path``) is pickled by reference and
fails in the worker: register it with ``cloudpickle.register_pickle_by_value(module)``.

Only parameters are trained and synchronized: module state that is not a parameter (a
BatchNorm layer's running statistics, Dropout's counter) is each worker's own, and
``model_`` keeps the driver's copy of it.

Ray
---
When Ray is not running, ``fit`` starts a local instance
(``ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False)``) and shuts it
down at the end; with ``address=...`` it joins that cluster (``ray.init(address=address)``)
and disconnects at the end; when Ray is already initialized it uses it and leaves it
running. Workers are actors that claim no CPU, so any ``n_workers`` fits on any cluster (Ray
runs them with ``OMP_NUM_THREADS=1``).

Failures and interrupts
-----------------------
A worker actor that dies (``ray.exceptions.RayActorError``: process killed, node lost) is
replaced by a new actor on the same data shard, which fetches the current parameters and
resumes after the last push the servers applied from that worker, while fewer than
``max_restarts`` workers have been replaced in the run; the gradients it had computed but
not pushed are lost (and recomputed by the replacement), no applied update is lost or
applied twice (the servers ignore a push they already applied). Past ``max_restarts`` (0 by
default) ``fit`` stops the other workers and raises ``RuntimeError`` naming the worker, with
the number of updates applied; ``model_``, ``history_`` and ``failures_`` then hold the
state reached, as after Ctrl-C. An exception raised by the loss or the model inside a worker
is re-raised by ``fit`` (its type kept) after stopping the workers.

Ctrl-C (``KeyboardInterrupt``) stops the workers and keeps the progress made: ``model_``
holds the parameters the servers had reached, ``history_`` the updates applied, and
``interrupted_`` is True; then the interrupt propagates (the library's convention for long
training: :func:`latentforge.models._base.keeps_progress_on_interrupt`).
"""

from __future__ import annotations

import copy
import os
import sys
import time
from typing import Any, Callable

import numpy as np

from . import losses as _losses
from . import nn, optim
from .models._base import (
    ParamsMixin,
    check_array,
    check_labels,
    keeps_progress_on_interrupt,
    minibatches,
    progress_bar,
)
from .models._params import InvalidParameterError, choice_param, dict_param, int_param, real_param
from .tensor import Tensor, no_grad

__all__ = ["DownpourSGD", "SyncSGD", "worker_info"]

#: Optimizer names accepted by ``optimizer`` (as in the models): class and default keywords.
OPTIMIZERS: dict[str, tuple[type, dict[str, Any]]] = {
    "sgd": (optim.SGD, {}),
    "momentum": (optim.SGD, {"momentum": 0.9}),
    "nesterov": (optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (optim.AdaGrad, {}),
    "rmsprop": (optim.RMSProp, {}),
    "adam": (optim.Adam, {}),
    "adadelta": (optim.AdaDelta, {}),
}

#: Loss names accepted by ``loss``.
LOSSES = ("mse", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits")

#: Seconds between the driver's checks on the workers (and chances to see Ctrl-C).
_POLL_S = 0.1

#: Test hook: when set, the Downpour driver calls ``_poll_hook(updates)`` after each check on
#: the workers, with the number of updates shard 0 has applied (and the SyncSGD driver after
#: each step), from the driver's thread. Not part of the API.
_poll_hook: Callable[[int], None] | None = None

_INSTALL = 'pip install "latentforge[distributed]"'


def _import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"latentforge.distributed needs Ray, an optional dependency: {_INSTALL} "
            "(or pip install ray)"
        ) from exc
    return ray


# ---------------------------------------------------------------------- worker-side context

_WORKER_INFO: dict[str, int] | None = None


def worker_info() -> dict[str, int] | None:
    """Inside a worker, while it computes a gradient: ``{"worker": w, "step": s, "epoch": e}``
    (worker index, the worker's step counted from 0 over the whole run, epoch); None in the
    driver or outside training. A loss callable may read it (e.g. to log, or to inject
    faults in tests); note that ``fit`` also calls the loss once in the driver, on two rows,
    to check that the data fit the model (there ``worker_info()`` is None)."""
    return None if _WORKER_INFO is None else dict(_WORKER_INFO)


# ---------------------------------------------------------------------- losses


def _target(xb: np.ndarray, yb: Any) -> Any:
    return xb if yb is None else yb


def _loss_mse(model: nn.Module, xb: np.ndarray, yb: Any) -> Tensor:
    return _losses.mse(model(Tensor(xb)), _target(xb, yb))


def _loss_bce(model: nn.Module, xb: np.ndarray, yb: Any) -> Tensor:
    return _losses.binary_cross_entropy(model(Tensor(xb)), _target(xb, yb))


def _loss_bce_logits(model: nn.Module, xb: np.ndarray, yb: Any) -> Tensor:
    return _losses.binary_cross_entropy_with_logits(model(Tensor(xb)), _target(xb, yb))


def _loss_cross_entropy(model: nn.Module, xb: np.ndarray, yb: Any) -> Tensor:
    return _losses.softmax_cross_entropy(model(Tensor(xb)), yb)


_LOSS_FUNCTIONS: dict[str, Callable[[nn.Module, np.ndarray, Any], Tensor]] = {
    "mse": _loss_mse,
    "cross_entropy": _loss_cross_entropy,
    "binary_cross_entropy": _loss_bce,
    "binary_cross_entropy_with_logits": _loss_bce_logits,
}


def _gradients(model: nn.Module, loss_fn: Callable, xb: np.ndarray, yb: Any,
               what: str) -> tuple[list[np.ndarray | None], float]:
    """Loss and gradients of every parameter (None where it got none) on one batch; a
    FloatingPointError naming ``what`` when the loss is not finite."""
    params = model.parameters()
    with np.errstate(over="ignore", invalid="ignore"):
        loss = loss_fn(model, xb, yb)
        if not isinstance(loss, Tensor) or loss.size != 1:
            raise TypeError(f"the loss must return a scalar Tensor, got "
                            f"{type(loss).__name__}"
                            + (f" of shape {loss.shape}" if isinstance(loss, Tensor) else ""))
        value = float(loss.data)
        if not np.isfinite(value):
            raise FloatingPointError(f"training diverged at {what} (loss {value}); lower lr")
        for p in params:
            p.grad = None
        loss.backward()
    grads = [None if p.grad is None else np.asarray(p.grad, np.float32) for p in params]
    for p in params:
        p.grad = None
    return grads, value


# ---------------------------------------------------------------------- actors
#
# Plain classes, made Ray actors in ``fit`` (``ray.remote(cls)``), so that this module imports
# without Ray. Workers find them by reference: latentforge must be importable on every node.


class _Slot:
    """A parameter held by a server shard: what the optimizers need (``.data``, ``.grad``)."""

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray):
        self.data = np.array(data, dtype=np.float32, order="C", copy=True)
        self.grad: np.ndarray | None = None


class _ParamServer:
    """One shard of the parameter server: its parameters, their optimizer state, the number
    of updates applied (``version``) and a log of the pushes it applied."""

    LOG_KEYS = ("time", "worker", "push", "version", "staleness", "loss", "rows")

    def __init__(self, shard: int, arrays: list, opt_cls: type, opt_kwargs: dict,
                 n_workers: int, t0: float):
        self.shard = shard
        self.slots = [_Slot(a) for a in arrays]
        self.opt = opt_cls(self.slots, **opt_kwargs)
        self.version = 0
        self.next_push = [0] * n_workers
        self.ignored = 0
        self.t0 = t0
        self.log: dict[str, list] = {k: [] for k in self.LOG_KEYS}

    def pull(self) -> tuple[int, list]:
        return self.version, [s.data for s in self.slots]

    def push(self, worker: int, push: int, grads: list, seen: int, loss: float,
             rows: int) -> bool:
        """Apply one update now; False (and nothing changes) for a push already applied."""
        if push < self.next_push[worker]:
            self.ignored += 1
            return False
        for s, g in zip(self.slots, grads):
            s.grad = g
        try:
            self.opt.step()
        finally:
            for s in self.slots:
                s.grad = None
        staleness = self.version - seen
        self.version += 1
        self.next_push[worker] = push + 1
        for k, v in zip(self.LOG_KEYS, (time.time() - self.t0, worker, push, self.version,
                                        staleness, loss, rows)):
            self.log[k].append(v)
        return True

    def get_version(self) -> int:
        return self.version

    def applied(self) -> list:
        """Pushes applied so far from each worker."""
        return list(self.next_push)

    def state(self) -> dict:
        return {"version": self.version, "arrays": [s.data for s in self.slots],
                "log": self.log, "next_push": list(self.next_push), "ignored": self.ignored}


def _load(params: list, owner: list, replies: list) -> list:
    """Copy each shard's arrays into ``params`` (in place); returns the shards' versions."""
    versions = []
    for idx, (version, arrays) in zip(owner, replies):
        for i, a in zip(idx, arrays):
            params[i].data[...] = a
        versions.append(version)
    return versions


class _DownpourWorker:
    """A model replica training on its own rows; fetches from and pushes to every shard."""

    def __init__(self, index: int, model: nn.Module, loss_fn: Callable, X: np.ndarray,
                 y: Any, servers: list, owner: list, cfg: dict):
        # A copy: the arrays Ray hands over are read-only views of its object store.
        self.index, self.model, self.loss_fn = index, copy.deepcopy(model), loss_fn
        self.X, self.y, self.servers, self.owner, self.cfg = X, y, servers, owner, cfg
        self.model.train()

    def run(self, start_push: int) -> int:
        """Train from push ``start_push`` (0, or where a dead predecessor stopped) to the end
        of the last epoch; returns the number of pushes made in all."""
        global _WORKER_INFO
        ray = _import_ray()
        cfg, w, X, y = self.cfg, self.index, self.X, self.y
        n_fetch, n_push, epochs = cfg["n_fetch"], cfg["n_push"], cfg["epochs"]
        n = X.shape[0]
        batches = minibatches(n, cfg["batch_size"])
        nb = len(batches)
        total = epochs * nb
        params = self.model.parameters()
        start = step = start_push * n_push
        push = start_push
        acc: list | None = None
        seen: list = []
        versions: list = []
        rows_acc, loss_acc = 0, 0.0
        pending: list = []
        perm_epoch, perm = -1, None
        while step < total:
            epoch, b = divmod(step, nb)
            if epoch != perm_epoch:
                perm = np.random.default_rng([cfg["seed"], epoch, w]).permutation(n)
                perm_epoch = epoch
            if (step - start) % n_fetch == 0:
                versions = _load(params, self.owner,
                                 ray.get([s.pull.remote() for s in self.servers]))
            idx = perm[batches[b]]
            xb = X[idx]
            yb = None if y is None else y[idx]
            _WORKER_INFO = {"worker": w, "step": step, "epoch": epoch}
            try:
                grads, value = _gradients(self.model, self.loss_fn, xb, yb,
                                          f"worker {w}, epoch {epoch + 1}, batch {b + 1}")
            finally:
                _WORKER_INFO = None
            r = len(idx)
            if acc is None:
                acc = [None if g is None else g.astype(np.float64) * r for g in grads]
                seen = list(versions)  # the oldest parameters among the accumulated steps
            else:
                for i, g in enumerate(grads):
                    if g is not None:
                        acc[i] = g.astype(np.float64) * r if acc[i] is None else acc[i] + g * r
            rows_acc += r
            loss_acc += value * r
            step += 1
            if step % n_push == 0 or step == total:
                mean = [None if a is None else (a / rows_acc).astype(np.float32) for a in acc]
                ray.get(pending)  # at most one push in flight; surfaces a server error
                pending = [
                    s.push.remote(w, push, [mean[i] for i in own], seen[j],
                                  loss_acc / rows_acc, rows_acc)
                    for j, (s, own) in enumerate(zip(self.servers, self.owner))
                ]
                push += 1
                acc, rows_acc, loss_acc = None, 0, 0.0
        ray.get(pending)
        return push


class _SyncWorker:
    """Computes the gradient of the loss on given rows of ``X`` at given parameters."""

    def __init__(self, index: int, model: nn.Module, loss_fn: Callable, X: np.ndarray,
                 y: Any):
        self.index, self.loss_fn, self.X, self.y = index, loss_fn, X, y
        self.model = copy.deepcopy(model)  # writable arrays (Ray's are read-only views)
        self.model.train()

    def grad(self, arrays: list, idx: np.ndarray, step: int, epoch: int,
             batch: int) -> tuple[list, float, int]:
        global _WORKER_INFO
        for p, a in zip(self.model.parameters(), arrays):
            p.data[...] = a
        xb = self.X[idx]
        yb = None if self.y is None else self.y[idx]
        _WORKER_INFO = {"worker": self.index, "step": step, "epoch": epoch}
        try:
            grads, value = _gradients(self.model, self.loss_fn, xb, yb,
                                      f"worker {self.index}, epoch {epoch + 1}, "
                                      f"batch {batch + 1}")
        finally:
            _WORKER_INFO = None
        return grads, value, len(idx)


# ---------------------------------------------------------------------- driver helpers


def _assign_shards(sizes: list, n_shards: int) -> list:
    """Parameter indices of each shard: whole parameters, largest first onto the shard with
    the fewest elements so far (each shard's list in parameter order)."""
    load = [0] * n_shards
    owner: list = [[] for _ in range(n_shards)]
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        j = min(range(n_shards), key=lambda j: (load[j], j))
        owner[j].append(i)
        load[j] += sizes[i]
    return [sorted(o) for o in owner]


def _draw_seed(random_state: Any) -> int:
    """``random_state`` when an int (>= 0), else a 63-bit seed drawn from it / fresh entropy."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise InvalidParameterError(f"random_state must be a non-negative int, got "
                                        f"{random_state}")
        return int(random_state)
    if random_state is None:
        return int(np.random.default_rng().integers(0, 2**63 - 1))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise InvalidParameterError(f"random_state must be None, an int or a numpy Generator, got "
                                f"{type(random_state).__name__}")


def _start_ray(ray: Any, address: str | None, num_cpus: int | None) -> bool:
    """Make sure Ray runs; True when this call started (or connected) it."""
    if ray.is_initialized():
        return False
    if address is not None:
        ray.init(address=address)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False)
    return True


def _kill_all(ray: Any, actors: list) -> None:
    for a in actors:
        try:
            ray.kill(a, no_restart=True)
        except Exception:  # already dead or Ray going down: nothing left to stop
            pass


def _summarize_staleness(values: list) -> dict:
    if not values:
        return {"mean": 0.0, "max": 0, "n": 0}
    v = np.asarray(values)
    return {"mean": float(v.mean()), "max": int(v.max()), "n": int(v.size)}


class _DataParallel(ParamsMixin):
    """What DownpourSGD and SyncSGD share: validation, Ray start-up, results."""

    def save(self, path) -> None:
        """Not supported: a trainer holds user code (a model class, a loss callable). Save the
        trained module's arrays instead: ``np.savez(path, **trainer.model_.state_dict())``."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot be saved (it holds code: the module and the loss); "
            "save the trained parameters, e.g. np.savez(path, **trainer.model_.state_dict())"
        )

    # ------------------------------------------------------------------ validation

    def _validate_common(self) -> dict:
        """Every hyper-parameter, checked before Ray is imported or started."""
        if not isinstance(self.model, nn.Module):
            raise TypeError(f"model must be a latentforge.nn.Module, got "
                            f"{type(self.model).__name__}")
        if not self.model.parameters():
            raise ValueError("model has no parameters to train")
        if isinstance(self.loss, str):
            choice_param(self.loss, "loss", LOSSES)
        elif not callable(self.loss):
            raise TypeError(f"loss must be one of {', '.join(map(repr, LOSSES))} or a callable "
                            f"loss(model, xb, yb) -> scalar Tensor, got {self.loss!r}")
        opt = self.optimizer
        if isinstance(opt, str):
            choice_param(opt, "optimizer", sorted(OPTIMIZERS))
            opt_cls, opt_kwargs = OPTIMIZERS[opt]
            opt_kwargs = dict(opt_kwargs)
        elif isinstance(opt, type) and issubclass(opt, optim.Optimizer):
            opt_cls, opt_kwargs = opt, {}
        else:
            raise InvalidParameterError(
                f"optimizer must be one of {sorted(OPTIMIZERS)} or a latentforge.optim."
                f"Optimizer subclass, got {opt!r}")
        opt_kwargs.update(dict_param(self.optimizer_params, "optimizer_params",
                                     forbidden=("lr", "params")))
        opt_kwargs["lr"] = real_param(self.lr, "lr", low=0, low_open=True)
        cfg = {"opt_cls": opt_cls, "opt_kwargs": opt_kwargs}
        for name in self._INT_PARAMS:
            cfg[name] = int_param(getattr(self, name), name)
        cfg["max_restarts"] = int_param(self.max_restarts, "max_restarts", low=0)
        if self.address is not None and not isinstance(self.address, str):
            raise InvalidParameterError(f"address must be None or a Ray address (str), got "
                                        f"{self.address!r}")
        if self.num_cpus is not None:
            int_param(self.num_cpus, "num_cpus")
        int_param(self.verbose, "verbose", low=0)
        cfg["seed"] = _draw_seed(self.random_state)
        return cfg

    def _prepare_data(self, X: Any, y: Any, cfg: dict) -> tuple:
        """Validated ``X`` (float32), ``y`` (None, class indices or an array) and the loss
        function; a trial step on two rows checks that they fit the model and the loss."""
        X = check_array(X, "X", integer=True)
        n = X.shape[0]
        if cfg["n_workers"] > n:
            raise InvalidParameterError(f"n_workers = {cfg['n_workers']} is more than the "
                                        f"{n} rows of X: each worker needs at least one row")
        self.n_features_in_ = X.shape[1]
        loss_fn = _LOSS_FUNCTIONS[self.loss] if isinstance(self.loss, str) else self.loss
        if self.loss == "cross_entropy":
            y = check_labels(y, n)
            self.classes_, y = np.unique(y, return_inverse=True)
            y = y.astype(np.intp)
        elif y is not None:
            y = np.asarray(y)
            if y.ndim == 0 or y.shape[0] != n:
                raise ValueError(f"y must have one entry per row of X ({n}), got shape "
                                 f"{y.shape}")
            if isinstance(self.loss, str):  # a float target for mse / binary cross-entropies
                y = check_array(y.reshape(n, -1) if y.ndim == 1 else y, "y",
                                integer=True).reshape(y.shape)
        trial = copy.deepcopy(self.model)
        rows = slice(0, min(n, 2))
        try:
            _gradients(trial, loss_fn, X[rows], None if y is None else y[rows], "the trial step")
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"X of shape {X.shape}"
                            + ("" if y is None else f" and y of shape {y.shape}")
                            + f" do not fit the model and loss {self.loss!r}: {exc}") from exc
        if self.loss == "cross_entropy":
            with no_grad():
                out = trial.eval()(Tensor(X[rows]))
            if out.ndim != 2 or out.shape[1] < len(self.classes_):
                raise ValueError(f"loss 'cross_entropy': the model's output has shape "
                                 f"{out.shape} but y has {len(self.classes_)} classes (one "
                                 "logit per class is needed)")
        try:  # the optimizer's own checks of optimizer_params
            cfg["opt_cls"](trial.parameters(), **cfg["opt_kwargs"])
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"optimizer {self.optimizer!r} with optimizer_params "
                            f"{self.optimizer_params!r}: {exc}") from exc
        return X, y, loss_fn

    def _check_picklable(self, ray: Any, loss_fn: Callable) -> None:
        for what, obj in (("model", self.model), ("loss", loss_fn)):
            try:
                ray.cloudpickle.dumps(obj)
            except Exception as exc:
                raise TypeError(f"{what} must be serializable (Ray sends it to the workers "
                                f"with cloudpickle): {type(exc).__name__}: {exc}") from exc

    def _start(self, X: Any, y: Any) -> tuple:
        cfg = self._validate_common()
        X, y, loss_fn = self._prepare_data(X, y, cfg)
        ray = _import_ray()
        self._check_picklable(ray, loss_fn)
        self.seed_ = cfg["seed"]
        return ray, cfg, X, y, loss_fn

    def _finish(self, model: nn.Module, history: dict, worker_updates: list,
                failures: list) -> None:
        model.eval()
        self.model_ = model
        self.history_ = history
        self.n_updates_ = int(history["updates"][-1]) if history["updates"] else 0
        self.worker_updates_ = np.asarray(worker_updates, dtype=np.int64)
        self.staleness_ = _summarize_staleness(history["staleness"])
        self.failures_ = failures

    @keeps_progress_on_interrupt
    def fit(self, X: Any, y: Any = None) -> _DataParallel:
        """Train on ``X`` (n_samples, n_features) and ``y`` (see ``loss``); returns self."""
        ray, cfg, X, y, loss_fn = self._start(X, y)
        started = _start_ray(ray, self.address, self.num_cpus)
        self.interrupted_ = False
        try:
            self._run(ray, cfg, X, y, loss_fn)
        finally:
            if started:
                ray.shutdown()
        return self

    def _run(self, ray: Any, cfg: dict, X: np.ndarray, y: Any, loss_fn: Callable) -> None:
        raise NotImplementedError


_PARAMS_DOC = """
    Parameters
    ----------
    model : latentforge.nn.Module
        The network to train (e.g. a Sequential autoencoder or classifier); it is copied,
        never modified.
    loss : str or callable
        "mse", "cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"
        or ``loss(model, xb, yb) -> scalar Tensor`` (picklable: see the module notes).
    optimizer : str or latentforge.optim.Optimizer subclass, default "adagrad"
        "sgd", "momentum", "nesterov" (SGD with momentum 0.9), "adagrad", "rmsprop", "adam",
        "adadelta", or a class called as ``optimizer(params, lr=lr, **optimizer_params)``.
    lr : float, default 0.01
        Learning rate, > 0.
    n_workers : int, default 2
        Worker actors (at most the number of rows of ``X``).{extra}
    batch_size : int, default 100
        {batch}
    epochs : int, default 1
        Passes over the data ({epochs}).
    optimizer_params : dict or None
        More keyword arguments of the optimizer (e.g. ``{{"momentum": 0.5}}``).
    max_restarts : int, default 0
        Dead workers that may be replaced during a fit before it stops with RuntimeError.
    address : str or None
        A running Ray cluster to join; None starts a local Ray when none is running.
    num_cpus : int or None
        CPUs of the local Ray that ``fit`` starts (default ``os.cpu_count()``).
    random_state : None, int or numpy Generator
        Seeds the minibatch orders (the module's own initialisation is already done).
    verbose : int, default 0
        A progress bar (on a terminal) or progress lines on stderr.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    model_ : latentforge.nn.Module
        A copy of ``model`` with the trained parameters, in eval mode.
    history_ : dict of lists
        One entry per {record}:
        "loss": {loss};
        "updates": updates applied, counting this one;
        "time": seconds since fit started (Ray actor start-up included);
        "staleness": {staleness};{worker}
    n_updates_ : int
        Updates applied.
    worker_updates_ : ndarray of int, shape (n_workers,)
        {worker_updates}
    staleness_ : dict
        ``{{"mean": float, "max": int, "n": int}}`` over ``history_["staleness"]``.
    failures_ : list of dict
        Each worker that died: "worker", "time", "error", "restarted", and the updates
        "applied" from it before it died.
    interrupted_ : bool
        True when the last fit was stopped by Ctrl-C (the progress is kept).
    seed_ : int
        The seed of the minibatch orders (see the module notes).
    classes_ : ndarray
        With ``loss="cross_entropy"``: the labels, in the order of the model's outputs.
    n_features_in_ : int
"""

class DownpourSGD(_DataParallel):
    __doc__ = (
        """Asynchronous data-parallel SGD with a sharded parameter server (Downpour SGD).

    Workers train replicas of ``model`` on their own contiguous slices of the data, fetch
    parameters every ``n_fetch`` steps and push averaged gradients every ``n_push`` steps to
    the server shards, which apply each push as it arrives. See the module notes
    (:mod:`latentforge.distributed`) for the exact protocol.
"""
        + _PARAMS_DOC.format(
            extra="""
    n_fetch : int, default 1
        A worker fetches fresh parameters every ``n_fetch`` of its steps.
    n_push : int, default 1
        A worker pushes the row-weighted average of its last ``n_push`` gradients.
    n_shards : int, default 1
        Parameter-server actors, each owning whole parameters (at most the number of
        parameters).""",
            batch="Rows of a worker's minibatch.",
            epochs="each worker passes over its own rows ``epochs`` times",
        )
        + _ATTRS_DOC.format(
            record="push applied, in the order shard 0 applied them",
            loss="the pushing worker's mean minibatch loss over the steps of the push",
            staleness="see the module notes",
            worker=('\n        "worker": the worker who pushed;'
                    '\n        "rows": rows behind the push.'),
            worker_updates=("Updates applied from each worker.\n    ignored_pushes_ : int\n"
                            "        Pushes a shard had already applied (re-sent after a worker "
                            "was replaced),\n        ignored."),
        )
    )

    _INT_PARAMS = ("n_workers", "n_fetch", "n_push", "batch_size", "epochs", "n_shards")

    def __init__(self, model: nn.Module, loss: str | Callable = "mse",
                 optimizer: str | type = "adagrad", lr: float = 0.01, n_workers: int = 2,
                 n_fetch: int = 1, n_push: int = 1, batch_size: int = 100, epochs: int = 1,
                 n_shards: int = 1, optimizer_params: dict | None = None,
                 max_restarts: int = 0, address: str | None = None,
                 num_cpus: int | None = None, random_state: Any = None, verbose: int = 0):
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.n_workers = n_workers
        self.n_fetch = n_fetch
        self.n_push = n_push
        self.batch_size = batch_size
        self.epochs = epochs
        self.n_shards = n_shards
        self.optimizer_params = optimizer_params
        self.max_restarts = max_restarts
        self.address = address
        self.num_cpus = num_cpus
        self.random_state = random_state
        self.verbose = verbose

    def _validate_common(self) -> dict:
        cfg = super()._validate_common()
        n_params = len(self.model.parameters())
        if cfg["n_shards"] > n_params:
            raise InvalidParameterError(f"n_shards = {cfg['n_shards']} is more than the "
                                        f"model's {n_params} parameters (a shard owns whole "
                                        "parameters)")
        return cfg

    def _run(self, ray: Any, cfg: dict, X: np.ndarray, y: Any, loss_fn: Callable) -> None:
        t0 = time.time()
        model = copy.deepcopy(self.model)
        params = model.parameters()
        owner = _assign_shards([p.data.size for p in params], cfg["n_shards"])
        n_workers = cfg["n_workers"]
        server_cls = ray.remote(num_cpus=0, max_restarts=0)(_ParamServer)
        worker_cls = ray.remote(num_cpus=0, max_restarts=0)(_DownpourWorker)
        servers = [server_cls.remote(j, [params[i].data for i in own], cfg["opt_cls"],
                                     cfg["opt_kwargs"], n_workers, t0)
                   for j, own in enumerate(owner)]
        bounds = [0] + [int(len(part)) for part in np.array_split(np.arange(X.shape[0]),
                                                                    n_workers)]
        bounds = np.cumsum(bounds)
        x_refs = [ray.put(X[bounds[w]:bounds[w + 1]]) for w in range(n_workers)]
        y_refs = [None if y is None else ray.put(y[bounds[w]:bounds[w + 1]])
                  for w in range(n_workers)]
        model_ref = ray.put(model)
        wcfg = {k: cfg[k] for k in ("n_fetch", "n_push", "batch_size", "epochs", "seed")}

        def spawn(w: int) -> Any:
            return worker_cls.remote(w, model_ref, loss_fn, x_refs[w], y_refs[w], servers,
                                     owner, wcfg)

        def expected(w: int) -> int:
            steps = cfg["epochs"] * len(minibatches(int(bounds[w + 1] - bounds[w]),
                                                    cfg["batch_size"]))
            return -(-steps // cfg["n_push"])

        total = sum(expected(w) for w in range(n_workers))
        workers = {w: spawn(w) for w in range(n_workers)}
        runs = {workers[w].run.remote(0): w for w in range(n_workers)}
        failures: list = []
        bar = progress_bar(self.verbose, total, "DownpourSGD")
        shown = 0
        try:
            while runs:
                ready, _ = ray.wait(list(runs), num_returns=len(runs), timeout=_POLL_S)
                for ref in ready:
                    w = runs.pop(ref)
                    try:
                        ray.get(ref)
                    except ray.exceptions.RayActorError as exc:
                        if isinstance(exc, ray.exceptions.RayTaskError):
                            raise  # the worker raised (e.g. it lost a server): not its death
                        applied = min(a[w] for a in ray.get([s.applied.remote()
                                                             for s in servers]))
                        restart = sum(f["restarted"] for f in failures) < cfg["max_restarts"]
                        failures.append({"worker": w, "time": time.time() - t0,
                                         "error": f"{type(exc).__name__}: {exc}"[:2000],
                                         "applied": applied, "restarted": restart})
                        if not restart:
                            _kill_all(ray, list(workers.values()))
                            self._collect(ray, model, owner, servers, failures)
                            raise RuntimeError(
                                f"DownpourSGD: worker {w} died ({type(exc).__name__}) after "
                                f"{applied} of its {expected(w)} updates were applied; "
                                f"{self.n_updates_} of {total} updates were applied in all "
                                f"(max_restarts={cfg['max_restarts']} replacement(s) "
                                "allowed). model_, history_ and failures_ hold the state "
                                "reached."
                            ) from exc
                        workers[w] = spawn(w)
                        runs[workers[w].run.remote(applied)] = w
                if bar is not None or self.verbose or _poll_hook is not None:
                    done = ray.get(servers[0].get_version.remote())
                    if bar is not None:
                        bar.update(done - shown)
                        shown = done
                    elif self.verbose and done - shown >= max(1, total // 10):
                        print(f"DownpourSGD: {done}/{total} updates "
                              f"({time.time() - t0:.1f} s)", file=sys.stderr, flush=True)
                        shown = done
                    if _poll_hook is not None:
                        _poll_hook(done)
            self._collect(ray, model, owner, servers, failures)
        except KeyboardInterrupt:
            _kill_all(ray, list(workers.values()))
            self._collect(ray, model, owner, servers, failures)
            self.interrupted_ = True
            raise
        finally:
            if bar is not None:
                bar.close()
            _kill_all(ray, list(workers.values()) + servers)

    def _collect(self, ray: Any, model: nn.Module, owner: list, servers: list,
                 failures: list) -> None:
        """The servers' parameters into ``model``; history and counts from their logs."""
        states = ray.get([s.state.remote() for s in servers])
        params = model.parameters()
        _load(params, owner, [(st["version"], st["arrays"]) for st in states])
        log = states[0]["log"]
        worst: dict = {}
        for st in states:
            lg = st["log"]
            for w, p, s in zip(lg["worker"], lg["push"], lg["staleness"]):
                worst[(w, p)] = max(worst.get((w, p), 0), s)
        history = {
            "loss": [float(v) for v in log["loss"]],
            "updates": [int(v) for v in log["version"]],
            "time": [float(v) for v in log["time"]],
            "staleness": [int(worst[(w, p)]) for w, p in zip(log["worker"], log["push"])],
            "worker": [int(v) for v in log["worker"]],
            "rows": [int(v) for v in log["rows"]],
        }
        self._finish(model, history, states[0]["next_push"], failures)
        self.ignored_pushes_ = int(sum(st["ignored"] for st in states))


class SyncSGD(_DataParallel):
    __doc__ = (
        """Synchronous data-parallel SGD: every step, each worker computes the gradient on its
    part of one global minibatch; the driver averages them (weighted by rows) and applies one
    update. Equals single-process training on the same batches up to float32 rounding: see
    the module notes (:mod:`latentforge.distributed`).
"""
        + _PARAMS_DOC.format(
            extra="",
            batch="Rows of a *global* minibatch, split across the workers.",
            epochs="over all rows of ``X``",
        )
        + _ATTRS_DOC.format(
            record="step",
            loss="the loss of the global minibatch (the row-weighted mean of the workers')",
            staleness="always 0 (every gradient is computed on the current parameters)",
            worker='\n        "rows": rows of the global batch.',
            worker_updates="Gradients each worker contributed.",
        )
    )

    _INT_PARAMS = ("n_workers", "batch_size", "epochs")

    def __init__(self, model: nn.Module, loss: str | Callable = "mse",
                 optimizer: str | type = "adagrad", lr: float = 0.01, n_workers: int = 2,
                 batch_size: int = 100, epochs: int = 1, optimizer_params: dict | None = None,
                 max_restarts: int = 0, address: str | None = None,
                 num_cpus: int | None = None, random_state: Any = None, verbose: int = 0):
        self.model = model
        self.loss = loss
        self.optimizer = optimizer
        self.lr = lr
        self.n_workers = n_workers
        self.batch_size = batch_size
        self.epochs = epochs
        self.optimizer_params = optimizer_params
        self.max_restarts = max_restarts
        self.address = address
        self.num_cpus = num_cpus
        self.random_state = random_state
        self.verbose = verbose

    def _run(self, ray: Any, cfg: dict, X: np.ndarray, y: Any, loss_fn: Callable) -> None:
        t0 = time.time()
        model = copy.deepcopy(self.model)
        params = model.parameters()
        opt = cfg["opt_cls"](params, **cfg["opt_kwargs"])
        n, n_workers = X.shape[0], cfg["n_workers"]
        worker_cls = ray.remote(num_cpus=0, max_restarts=0)(_SyncWorker)
        x_ref = ray.put(X)
        y_ref = None if y is None else ray.put(y)
        model_ref = ray.put(model)

        def spawn(w: int) -> Any:
            return worker_cls.remote(w, model_ref, loss_fn, x_ref, y_ref)

        workers = [spawn(w) for w in range(n_workers)]
        batches = minibatches(n, cfg["batch_size"])
        total = cfg["epochs"] * len(batches)
        history: dict = {k: [] for k in ("loss", "updates", "time", "staleness", "rows")}
        contributed = [0] * n_workers
        failures: list = []
        bar = progress_bar(self.verbose, total, "SyncSGD")
        step = 0
        try:
            for epoch in range(cfg["epochs"]):
                perm = np.random.default_rng([cfg["seed"], epoch]).permutation(n)
                for b, rows in enumerate(batches):
                    parts = np.array_split(perm[rows], n_workers)
                    arrays_ref = ray.put([p.data for p in params])
                    results = self._gather(ray, workers, spawn, arrays_ref, parts, step, epoch,
                                           b, failures, cfg, model, history, contributed, t0)
                    total_rows = sum(r for _, _, r in results.values())
                    with np.errstate(over="ignore", invalid="ignore"):
                        for i, p in enumerate(params):
                            acc = None
                            for grads, _, r in results.values():
                                g = grads[i]
                                if g is not None:
                                    t = g.astype(np.float64) * (r / total_rows)
                                    acc = t if acc is None else acc + t
                            p.grad = None if acc is None else acc.astype(np.float32)
                        opt.step()
                        opt.zero_grad()
                    step += 1
                    loss = sum(v * r for _, v, r in results.values()) / total_rows
                    history["loss"].append(float(loss))
                    history["updates"].append(step)
                    history["time"].append(time.time() - t0)
                    history["staleness"].append(0)
                    history["rows"].append(int(total_rows))
                    for w in results:
                        contributed[w] += 1
                    if bar is not None:
                        bar.update(1)
                    if _poll_hook is not None:
                        _poll_hook(step)
                if self.verbose and bar is None:
                    k = len(batches)
                    print(f"SyncSGD epoch {epoch + 1}/{cfg['epochs']}: loss "
                          f"{np.mean(history['loss'][-k:]):.4f} ({time.time() - t0:.1f} s)",
                          file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            self._finish(model, history, contributed, failures)
            self.interrupted_ = True
            raise
        finally:
            if bar is not None:
                bar.close()
            _kill_all(ray, workers)
        self._finish(model, history, contributed, failures)

    def _gather(self, ray, workers, spawn, arrays_ref, parts, step, epoch, b, failures, cfg,
                model, history, contributed, t0) -> dict:
        """Every non-empty part's (gradients, loss, rows), keyed by worker; a dead worker is
        replaced and its part recomputed, or RuntimeError past ``max_restarts``."""
        pending = {workers[w].grad.remote(arrays_ref, part, step, epoch, b): w
                   for w, part in enumerate(parts) if len(part)}
        results: dict = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=_POLL_S)
            for ref in ready:
                w = pending.pop(ref)
                try:
                    results[w] = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    if isinstance(exc, ray.exceptions.RayTaskError):
                        raise  # the worker raised: not its death
                    restart = sum(f["restarted"] for f in failures) < cfg["max_restarts"]
                    failures.append({"worker": w, "time": time.time() - t0,
                                     "error": f"{type(exc).__name__}: {exc}"[:2000],
                                     "applied": contributed[w], "restarted": restart})
                    if not restart:
                        _kill_all(ray, workers)
                        self._finish(model, history, contributed, failures)
                        raise RuntimeError(
                            f"SyncSGD: worker {w} died ({type(exc).__name__}) during step "
                            f"{step + 1} (epoch {epoch + 1}, batch {b + 1}); {step} updates "
                            f"were applied (max_restarts={cfg['max_restarts']} replacement(s) "
                            "allowed). model_, history_ and failures_ hold the state reached."
                        ) from exc
                    workers[w] = spawn(w)
                    pending[workers[w].grad.remote(arrays_ref, parts[w], step, epoch, b)] = w
        return results
