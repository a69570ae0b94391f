"""Two convolutional-net experiments, reproduced with latentforge (results in RESULTS.md).

1. MNIST CNN: two conv (5x5, 32 and 64 channels, "same" padding) + 2x2 max-pool blocks, a
   dense ReLU head with dropout 0.5, Adam; test accuracy (the reference text reports 99.4%).
2. Batch normalisation's effect on Fashion-MNIST (CIFAR-10 is not available offline): the same
   net with and without batch norm after each convolution, the learning rate 10x higher with
   batch norm; minibatches until the validation accuracy first reaches a threshold, and the
   final test accuracy of each. Plots both validation curves (``lf.viz.plot_history``).

    python benchmarks/reproduce_cnn.py [--only 1|2] [--epochs N] [--seed S] [--figure PATH]

(``benchmarks/reproduce_cnn.py`` is a thin wrapper around this module.) Needs the MNIST and
Fashion-MNIST files (``LATENTFORGE_DATA``; see ``latentforge.datasets``).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import latentforge as lf


def mnist_cnn(X, y, Xt, yt, epochs: int, seed: int, verbose: int = 1) -> dict:
    """Experiment 1: fit the ConvNetClassifier, return test accuracy, epochs and wall time."""
    clf = lf.models.ConvNetClassifier(
        channels=(32, 64), kernel_size=5, pool="max", hidden=(512,), dropout=0.5,
        optimizer="adam", learning_rate=1e-3, batch_size=64, max_epochs=epochs,
        validation_fraction=1 / 12, early_stopping=True, patience=4, random_state=seed,
        verbose=verbose)
    t0 = time.perf_counter()
    clf.fit(X, y)
    wall = time.perf_counter() - t0
    return {"test_accuracy": clf.score(Xt, yt), "epochs": clf.n_iter_, "wall_s": wall,
            "val_accuracy": clf.history_.get("val_accuracy", []), "model": repr(clf)}


def _bn_net(batchnorm: bool, rng) -> lf.nn.Sequential:
    nn = lf.nn
    layers = [nn.Unflatten(1, 28, 28)]
    prev = 1
    for ch in (32, 64):
        layers.append(nn.Conv2d(prev, ch, 5, padding=2, bias=not batchnorm, random_state=rng))
        if batchnorm:
            layers.append(nn.BatchNorm2d(ch))
        layers += [nn.MaxPool2d(2), nn.ReLU()]
        prev = ch
    layers += [nn.Flatten(), nn.Linear(64 * 7 * 7, 256, activation="relu", random_state=rng),
               nn.Dropout(0.5, random_state=rng), nn.Linear(256, 10, random_state=rng)]
    return nn.Sequential(*layers)


def _accuracy(net, X, y) -> float:
    net.eval()
    correct = 0
    with lf.no_grad():
        for i in range(0, len(X), 1000):
            correct += int((net(lf.Tensor(X[i:i + 1000])).data.argmax(axis=1) == y[i:i + 1000])
                           .sum())
    net.train()
    return correct / len(X)


def bn_effect(X, y, Xt, yt, epochs: int, seed: int, threshold: float = 0.88,
              every: int = 100, lr: float = 1e-3, progress=sys.stderr) -> dict:
    """Experiment 2: the same SGD-momentum-trained net without and with batch norm (lr and 10x
    lr); validation accuracy every ``every`` minibatches of 64."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(X))
    val, tr = order[:5000], order[5000:]
    Xv, yv, Xtr, ytr = X[val], y[val], X[tr], y[tr]
    out = {}
    for name, bn, rate in (("without batch norm", False, lr), ("with batch norm", True, 10 * lr)):
        net = _bn_net(bn, np.random.default_rng(seed))
        opt = lf.optim.SGD(net.parameters(), lr=rate, momentum=0.9)
        curve, steps, reached = [], 0, None
        t0 = time.perf_counter()
        r = np.random.default_rng(seed + 1)
        for epoch in range(epochs):
            perm = r.permutation(len(Xtr))
            for i in range(0, len(perm) - 63, 64):
                idx = perm[i:i + 64]
                loss = lf.losses.softmax_cross_entropy(net(lf.Tensor(Xtr[idx])), ytr[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                steps += 1
                if steps % every == 0:
                    acc = _accuracy(net, Xv, yv)
                    curve.append((steps, acc))
                    if reached is None and acc >= threshold:
                        reached = steps
            print(f"[bn] {name}: epoch {epoch + 1}/{epochs}, val accuracy {curve[-1][1]:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=progress, flush=True)
        out[name] = {"lr": rate, "steps_to_threshold": reached, "curve": curve,
                     "test_accuracy": _accuracy(net, Xt, yt),
                     "wall_s": time.perf_counter() - t0}
    out["threshold"] = threshold
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["1", "2"])
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: 15 for experiment 1, 8 for experiment 2)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threshold", type=float, default=0.88, help="[2] validation accuracy")
    p.add_argument("--figure", default="benchmarks/figures/batchnorm_fashion_mnist.png",
                   help="[2] where to save the validation curves")
    args = p.parse_args(argv)
    if args.only in (None, "1"):
        (X, y), (Xt, yt) = lf.datasets.load_mnist()
        r = mnist_cnn(X, y, Xt, yt, args.epochs or 15, args.seed)
        print(f"[1] MNIST CNN: test accuracy {r['test_accuracy']:.4f} after {r['epochs']} "
              f"epochs, {r['wall_s']:.0f} s ({lf.get_num_threads()} threads)\n    {r['model']}")
    if args.only in (None, "2"):
        (X, y), (Xt, yt) = lf.datasets.load_fashion_mnist()
        r = bn_effect(X, y, Xt, yt, args.epochs or 8, args.seed, args.threshold)
        print(f"[2] Fashion-MNIST, minibatches of 64 until validation accuracy >= "
              f"{r['threshold']:.2f}, and final test accuracy:")
        for name in ("without batch norm", "with batch norm"):
            e = r[name]
            print(f"    {name:20s} lr {e['lr']:g}: {e['steps_to_threshold']} minibatches, test "
                  f"accuracy {e['test_accuracy']:.4f} ({e['wall_s']:.0f} s)")
        if args.figure:
            from latentforge import viz

            hist = {f"val_accuracy, {name}": [a for _, a in r[name]["curve"]]
                    for name in ("without batch norm", "with batch norm")}
            ax = viz.plot_history(hist, keys=list(hist))
            ax.set_xlabel("minibatches of 64 (x 100)")
            ax.set_ylabel("")
            ax.set_yticks([])  # no losses here: the accuracies are on the right axis
            ax.set_title("Fashion-MNIST: validation accuracy with and without batch norm")
            ax.figure.savefig(args.figure, dpi=100, bbox_inches="tight")
            print(f"    figure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
