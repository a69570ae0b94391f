#!/usr/bin/env python
"""Downpour (asynchronous) vs synchronous SGD on MNIST, with 1, 2 and 4 workers on Ray.

    python benchmarks/run_distributed.py [--workers 1 2 4] [--fetch-push 1:1 5:5]
        [--n-train 60000] [--epochs 1] [--hidden 256] [--batch-size 100] [--lr 0.05]
        [--optimizer adagrad] [--num-cpus N] [--out benchmarks/distributed.json]
        [--figure benchmarks/figures/distributed_mnist.png] [--seed 0]
    python benchmarks/run_distributed.py --smoke      # about a minute: small data, 1 epoch

A sigmoid autoencoder (784 -> hidden -> 784, squared error) is trained on MNIST (read with
``lf.datasets.load_mnist``: ``$LATENTFORGE_DATA``) by ``lf.distributed.SyncSGD`` and by
``lf.distributed.DownpourSGD`` for every worker count and every ``n_fetch:n_push`` pair.
Each run starts from the same initial network. Recorded per run (JSON): the training loss
the workers reported against wall time and against server updates, the staleness, the wall
time, and the reconstruction error of the final network on 5,000 test images. The figure
has the loss against wall time and against updates (a moving average over the pushes).

Needs Ray (``pip install "latentforge[distributed]"``) and matplotlib. Speed-ups need as
many idle cores as workers (plus one for the server); on a busy machine the timings mean
little. Downpour's ``batch_size`` is per worker; SyncSGD's is the global batch, so SyncSGD
with k workers makes the updates of one process and Downpour with k workers makes k times
as many (each on 1/k of the data).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

try:
    import latentforge as lf
except ImportError:  # a source checkout without an installed package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "python"))
    import latentforge as lf

HERE = os.path.dirname(os.path.abspath(__file__))


def _autoencoder(n_in: int, hidden: int, seed: int) -> lf.nn.Module:
    return lf.nn.Sequential(
        lf.nn.Linear(n_in, hidden, activation="sigmoid", random_state=seed),
        lf.nn.Linear(hidden, n_in, activation="sigmoid", random_state=seed + 1),
    )


def _test_error(model: lf.nn.Module, X: np.ndarray) -> float:
    with lf.no_grad():
        out = model.eval()(lf.Tensor(X)).data
    return float(np.mean((out - X) ** 2))


def _thin(values: list, n: int = 400) -> list:
    """At most ``n`` evenly spaced entries (the JSON stays small)."""
    if len(values) <= n:
        return list(values)
    idx = np.linspace(0, len(values) - 1, n).round().astype(int)
    return [values[i] for i in idx]


def _smooth(values, k: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    k = max(1, min(k, len(v)))
    return np.convolve(v, np.ones(k) / k, mode="valid")


def run(args) -> dict:
    import ray

    (X, _), (X_test, _) = lf.datasets.load_mnist()
    rng = np.random.default_rng(args.seed)
    X = X[rng.permutation(X.shape[0])[: args.n_train]]
    X_test = X_test[: args.n_test]
    init = _autoencoder(X.shape[1], args.hidden, args.seed)
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=args.num_cpus or os.cpu_count(), include_dashboard=False,
                 log_to_driver=False)
    configs = [("sync", k, 1, 1) for k in args.workers]
    for pair in args.fetch_push:
        n_fetch, n_push = (int(v) for v in pair.split(":"))
        configs += [("downpour", k, n_fetch, n_push) for k in args.workers]
    results = {"args": vars(args), "cpu_count": os.cpu_count(),
               "initial_test_mse": _test_error(init, X_test), "runs": []}
    try:
        for kind, k, n_fetch, n_push in configs:
            common = dict(optimizer=args.optimizer, lr=args.lr, n_workers=k,
                          batch_size=args.batch_size, epochs=args.epochs,
                          random_state=args.seed)
            if kind == "sync":
                trainer = lf.distributed.SyncSGD(init, "mse", **common)
                label = f"sync, {k} worker{'s' * (k > 1)}"
            else:
                trainer = lf.distributed.DownpourSGD(init, "mse", n_fetch=n_fetch,
                                                     n_push=n_push, **common)
                label = f"downpour, {k} worker{'s' * (k > 1)}, fetch {n_fetch} push {n_push}"
            t0 = time.perf_counter()
            trainer.fit(X)
            wall = time.perf_counter() - t0
            h = trainer.history_
            rec = {
                "label": label, "kind": kind, "n_workers": k, "n_fetch": n_fetch,
                "n_push": n_push, "wall_s": wall, "updates": trainer.n_updates_,
                "staleness": trainer.staleness_,
                "startup_s": float(h["time"][0]) if h["time"] else None,
                "test_mse": _test_error(trainer.model_, X_test),
                "final_loss": float(np.mean(h["loss"][-max(1, len(h["loss"]) // 20):])),
                "history": {key: _thin(h[key]) for key in ("loss", "updates", "time",
                                                           "staleness")},
                "loss_smoothed": _thin(_smooth(h["loss"], max(1, len(h["loss"]) // 50))
                                       .tolist()),
            }
            results["runs"].append(rec)
            print(f"{label:42s} {wall:7.2f} s  {rec['updates']:6d} updates  staleness mean "
                  f"{rec['staleness']['mean']:5.2f} max {rec['staleness']['max']:3d}  final "
                  f"loss {rec['final_loss']:.4f}  test mse {rec['test_mse']:.4f}", flush=True)
    finally:
        if started:
            ray.shutdown()
    return results


def draw(results: dict, path: str) -> None:
    from latentforge.viz import _pyplot

    plt = _pyplot()
    fig, (ax_t, ax_u) = plt.subplots(1, 2, figsize=(12, 4.5))
    # colour: the worker count; line style: sync, then one per (n_fetch, n_push) pair
    counts = sorted({rec["n_workers"] for rec in results["runs"]})
    pairs = sorted({(rec["n_fetch"], rec["n_push"]) for rec in results["runs"]
                    if rec["kind"] == "downpour"})
    styles = [":", "--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3))]
    for rec in results["runs"]:
        h = rec["history"]
        k = max(1, len(h["loss"]) // 50)
        loss = _smooth(h["loss"], k)
        style = ("-" if rec["kind"] == "sync"
                 else styles[pairs.index((rec["n_fetch"], rec["n_push"])) % len(styles)])
        kw = dict(linestyle=style, color=f"C{counts.index(rec['n_workers']) % 10}",
                  label=rec["label"])
        ax_t.plot(np.asarray(h["time"])[k - 1:], loss, **kw)
        ax_u.plot(np.asarray(h["updates"])[k - 1:], loss, **kw)
    ax_t.set_xlabel("wall time since fit() started (s, Ray actor start-up included)")
    ax_u.set_xlabel("server updates")
    for ax in (ax_t, ax_u):
        ax.set_ylabel("training loss (moving average)")
        ax.set_yscale("log")
    ax_u.legend(fontsize=7, loc="upper right")
    a = results["args"]
    fig.suptitle(f"MNIST autoencoder 784-{a['hidden']}-784, {a['n_train']} images, "
                 f"{a['epochs']} epoch(s), {a['optimizer']} lr {a['lr']}")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--fetch-push", nargs="+", default=["1:1", "5:5"],
                   help="n_fetch:n_push pairs of the Downpour runs (e.g. 1:1 1:5 5:1 5:5)")
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--n-test", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--optimizer", default="adagrad")
    p.add_argument("--num-cpus", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None,
                   help="JSON results (default benchmarks/distributed.json; with --smoke, in "
                        "the temporary directory)")
    p.add_argument("--figure", default=None,
                   help="figure (default benchmarks/figures/distributed_mnist.png; with "
                        "--smoke, in the temporary directory)")
    p.add_argument("--smoke", action="store_true",
                   help="a quick check: 3,000 images, hidden 64, workers 1 2, pairs 1:1 5:5")
    args = p.parse_args(argv)
    if args.smoke:
        args.n_train, args.n_test, args.hidden, args.workers = 3000, 1000, 64, [1, 2]
        where = tempfile.gettempdir()
        args.out = args.out or os.path.join(where, "distributed_smoke.json")
        args.figure = args.figure or os.path.join(where, "distributed_mnist_smoke.png")
    args.out = args.out or os.path.join(HERE, "distributed.json")
    args.figure = args.figure or os.path.join(HERE, "figures", "distributed_mnist.png")
    results = run(args)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    draw(results, args.figure)
    print(f"wrote {args.out} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
