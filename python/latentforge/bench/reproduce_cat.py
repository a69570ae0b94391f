"""The "cat paper" (Le et al. 2012), scaled to this machine, trained by Downpour SGD on Ray.

A :class:`latentforge.models.cat.CatNet` of three identical parts (3x3 locally connected
filters, a tenth of the 28-pixel side; 8 maps; L2 pooling over overlapping 5x5 windows; local
contrast normalization) is trained without labels on Fashion-MNIST, part after part, each as a
reconstruction-TICA autoencoder by ``lf.distributed.DownpourSGD`` (AdaGrad at the parameter
server, as Dean et al.). Then, on the test set, for each class, the single top-layer neuron
(an L2-pooling unit of the third part) whose activation alone best separates the class from
the rest (threshold and neuron chosen on one half of a balanced class-vs-rest set, accuracy on
the other half: ``lf.insight.best_single_neurons``) is compared with the all-negative
baseline, the best first-layer neuron and the best top-layer neuron of the same network
untrained — the paper's comparisons. The best neurons' top-activating test images and
maximized inputs are drawn (``benchmarks/figures/cat_neurons.png``).

    python benchmarks/reproduce_cat.py [--n-train N] [--epochs E] [--workers W] [--seed S]

(``benchmarks/reproduce_cat.py`` is a thin wrapper around this module.) Needs Ray
(``pip install "latentforge[distributed]"``) and the Fashion-MNIST files
(``LATENTFORGE_DATA``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

import numpy as np

import latentforge as lf
from latentforge import insight
from latentforge.models.cat import CatNet, probe, tica_loss

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


def train(net: CatNet, X: np.ndarray, epochs: int, workers: int, lr: float, n_fetch: int,
          n_push: int, seed: int, progress=sys.stderr) -> list[dict]:
    """Train the parts of ``net`` in turn by Downpour SGD; returns one record per part."""
    records = []
    for k, part in enumerate(net.parts):
        Xk = net.part_input(X, k).reshape(len(X), -1)
        t0 = time.perf_counter()
        run = lf.distributed.DownpourSGD(
            part, tica_loss, optimizer="adagrad", lr=lr, n_workers=workers, n_fetch=n_fetch,
            n_push=n_push, batch_size=64, epochs=epochs, random_state=seed + k).fit(Xk)
        part.load_state_dict(run.model_.state_dict())
        losses = run.history_["loss"]
        rec = {"part": k + 1, "wall_s": time.perf_counter() - t0,
               "updates": len(losses), "first_loss": float(np.mean(losses[:20])),
               "last_loss": float(np.mean(losses[-20:])), "staleness": run.staleness_}
        records.append(rec)
        print(f"    part {k + 1}: {rec['updates']} updates, loss {rec['first_loss']:.4f} -> "
              f"{rec['last_loss']:.4f}, staleness {run.staleness_}, {rec['wall_s']:.0f} s",
              file=progress, flush=True)
    return records


def evaluate(net: CatNet, untrained: CatNet, Xt: np.ndarray, yt: np.ndarray,
             seed: int) -> dict:
    """Best single neurons per class: top layer, first layer, untrained top layer."""
    out = {}
    for name, model, part in (("top", net, -1), ("first", net, 0),
                              ("untrained top", untrained, -1)):
        F = model.features(Xt, part=part, stage="pooled")
        out[name] = insight.best_single_neurons(F, yt, random_state=seed)
    return out


def figure(net: CatNet, best: list[dict], Xt: np.ndarray, path: str, radius: float,
           k: int = 8) -> None:
    """Each class's best top-layer neuron: its maximized input and top-k test images."""
    model = probe(net, -1, "pooled")
    units = [r["neuron"] for r in best]
    opt = insight.maximize_activation(model, None, units, steps=100, lr=0.05, radius=radius,
                                      bounds=(0.0, 1.0), input_shape=(Xt.shape[1],),
                                      random_state=0)
    top = np.stack([Xt[insight.top_activating(model, Xt, None, u, k=k)[0]] for u in units])
    titles = [f"{CLASSES[r['class']] if r['class'] < 10 else r['class']}\n#{r['neuron']}"
              for r in best]
    lf.viz.unit_inputs(opt, top, shape=(28, 28), titles=titles, path=path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-train", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=1, help="epochs of each part")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n-fetch", type=int, default=1)
    p.add_argument("--n-push", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--sparsity", type=float, default=0.1)
    p.add_argument("--maps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default="benchmarks/figures/cat_neurons.png")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    (X, _), (Xt, yt) = lf.datasets.load_fashion_mnist()
    X = X[np.random.default_rng(args.seed).permutation(len(X))[:args.n_train]]
    net = CatNet((1, 28, 28), maps=args.maps, n_parts=3, kernel_size=3, pool_size=5,
                 lcn_size=5, sparsity=args.sparsity, random_state=args.seed)
    untrained = copy.deepcopy(net)
    print(f"Cat network on {len(X)} Fashion-MNIST images (no labels), Downpour SGD with "
          f"{args.workers} workers:", flush=True)
    import ray  # started here (and not by each fit): one Ray for the three parts

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             object_store_memory=min(6 * 2**30, 2 * X.nbytes * args.maps + 2**28))
    try:
        records = train(net, X, args.epochs, args.workers, args.lr, args.n_fetch, args.n_push,
                        args.seed)
    finally:
        ray.shutdown()
    res = evaluate(net, untrained, Xt, yt, args.seed)
    print("Best single neuron per class (balanced class-vs-rest test halves; accuracy):")
    print("| class | baseline (all negative) | best first-layer neuron | best top-layer neuron "
          "(untrained) | best top-layer neuron (trained) |")
    print("|---|---|---|---|---|")
    for c in range(len(res["top"])):
        t, f, u = res["top"][c], res["first"][c], res["untrained top"][c]
        print(f"| {CLASSES[t['class']]} | {100 * t['baseline']:.1f}% | "
              f"{100 * f['accuracy']:.1f}% | {100 * u['accuracy']:.1f}% | "
              f"{100 * t['accuracy']:.1f}% (#{t['neuron']}) |")
    mean = {k: float(np.mean([r["accuracy"] for r in v])) for k, v in res.items()}
    print(f"| mean | {100 * np.mean([r['baseline'] for r in res['top']]):.1f}% | "
          f"{100 * mean['first']:.1f}% | {100 * mean['untrained top']:.1f}% | "
          f"{100 * mean['top']:.1f}% |")
    if args.figure:
        radius = float(np.linalg.norm(Xt, axis=1).mean())
        figure(net, res["top"], Xt, args.figure, radius)
        print(f"figure: {args.figure}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "training": records, "neurons": res}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
