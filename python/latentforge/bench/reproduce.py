"""Two classic MNIST experiments, reproduced with latentforge (results in RESULTS.md).

1. Optimizer comparison: a 784-256-256-10 ReLU net, minibatch 100, learning rate 0.01.
   How many minibatch steps do plain SGD and SGD with momentum 0.9 need before the training
   cost (softmax cross-entropy, averaged over the last 100 minibatches) falls to 0.1?
   (Published: momentum needs roughly 9x fewer steps.)
2. A 784-1000-750-500-10 sigmoid net trained without pretraining (SGD, momentum 0.9, lr 0.1,
   batch 100): test error after 10 epochs.
3. Deep belief net: 784-1000-750-500 pretrained greedily with CD-1 RBMs, then fine-tuned with
   backprop (softmax on top), versus the same network from a random start, both fine-tuned for
   the same number of epochs (the budget is printed).

    python benchmarks/reproduce_mnist.py [--only 1|2|3] [--max-epochs N] [--seed S]
        [--pretrain-epochs N] [--finetune-epochs N]

(``benchmarks/reproduce_mnist.py`` is a thin wrapper around this module; the tests import
``steps_to_cost`` from here.)

Needs the MNIST files (``LATENTFORGE_DATA``; see ``latentforge.datasets``).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

import latentforge as lf

from ._harness import stopwatch


def steps_to_cost(X, y, momentum, target=0.1, max_epochs=60, seed=0, window=100, lr=0.01):
    """Minibatch steps until the mean loss of the last ``window`` steps is <= ``target``."""
    rng = np.random.default_rng(seed)
    nn = lf.nn
    net = nn.Sequential(
        nn.Linear(784, 256, activation="relu", random_state=rng),
        nn.Linear(256, 256, activation="relu", random_state=rng),
        nn.Linear(256, 10, random_state=rng),
    )
    opt = lf.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    recent, steps = [], 0
    for epoch in range(max_epochs):
        perm = rng.permutation(X.shape[0])
        for i in range(0, X.shape[0], 100):
            idx = perm[i:i + 100]
            loss = lf.losses.softmax_cross_entropy(net(lf.Tensor(X[idx])), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            recent.append(float(loss.data))
            if len(recent) > window:
                recent.pop(0)
            if len(recent) == window and np.mean(recent) <= target:
                return steps, epoch + 1
    return None, max_epochs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["1", "2", "3"])
    p.add_argument("--pretrain-epochs", type=int, default=5, help="[3] CD-1 epochs per RBM")
    p.add_argument("--finetune-epochs", type=int, default=5, help="[3] backprop epochs")
    p.add_argument("--max-epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    (X, y), (Xt, yt) = lf.datasets.load_mnist()
    print(f"latentforge {lf.__version__}, {lf.get_num_threads()} threads, "
          f"ISA {lf.build_info()['isa_selected']}", flush=True)
    if args.only in (None, "1"):
        print("\n[1] 784-256-256-10 ReLU, batch 100, lr 0.01: steps to training cost 0.1",
              flush=True)
        res = {}
        for name, mom in (("momentum 0.9", 0.9), ("plain SGD", 0.0)):
            with stopwatch() as sw:
                steps, epochs = steps_to_cost(X, y, mom, max_epochs=args.max_epochs,
                                              seed=args.seed)
            res[name] = steps
            shown = steps if steps is not None else f"> {epochs * 600} (not reached)"
            print(f"    {name:13}: {shown} steps ({epochs} epochs, "
                  f"{sw['s']:.0f} s)", flush=True)
        if all(res.values()):
            print(f"    ratio SGD / momentum: {res['plain SGD'] / res['momentum 0.9']:.1f}x "
                  "(published: about 9x)", flush=True)
    if args.only in (None, "2"):
        print("\n[2] 784-1000-750-500-10 sigmoid, no pretraining, SGD momentum 0.9, lr 0.1, "
              "batch 100, 10 epochs", flush=True)
        clf = lf.models.MLPClassifier(hidden=(1000, 750, 500), activation="sigmoid",
                                      optimizer="momentum", learning_rate=0.1, batch_size=100,
                                      max_epochs=10, validation_fraction=0.0,
                                      random_state=args.seed, verbose=1)
        with stopwatch() as sw:
            clf.fit(X, y)
        err = 1.0 - clf.score(Xt, yt)
        print(f"    test error after 10 epochs: {100 * err:.2f}% "
              f"(train loss {clf.history_['loss'][-1]:.4f}; {sw['s']:.0f} s)",
              flush=True)
    if args.only in (None, "3"):
        dbn_vs_random_start(X, y, Xt, yt, args.pretrain_epochs, args.finetune_epochs, args.seed)
    return 0


def dbn_vs_random_start(X, y, Xt, yt, pretrain_epochs, finetune_epochs, seed):
    hidden = (1000, 750, 500)
    tune = dict(optimizer="momentum", learning_rate=0.1, batch_size=100,
                max_epochs=finetune_epochs, validation_fraction=0.0, random_state=seed)
    print(f"\n[3] DBN 784-1000-750-500: CD-1 pretraining ({pretrain_epochs} epochs per layer, "
          f"lr 0.05, batch 100) + {finetune_epochs} epochs of backprop (momentum 0.9, lr 0.1) "
          f"vs the same {finetune_epochs} epochs from a random start", flush=True)
    with stopwatch() as sw_pre:
        dbn = lf.models.DBN(hidden=hidden, random_state=seed, verbose=1,
                            rbm_params=dict(learning_rate=0.05, n_iter=pretrain_epochs,
                                            batch_size=100, k=1)).fit(X)
    with stopwatch() as sw_pre_ft:
        pre = dbn.to_classifier(10, **tune).fit(X, y)
    with stopwatch() as sw_scr:
        scratch = lf.models.MLPClassifier(hidden=hidden, activation="sigmoid", **tune).fit(X, y)
    t_pre, t_pre_ft, t_scr = sw_pre["s"], sw_pre_ft["s"], sw_scr["s"]
    e_pre, e_scr = 1 - pre.score(Xt, yt), 1 - scratch.score(Xt, yt)
    print(f"    pretrained : test error {100 * e_pre:.2f}% (pretraining {t_pre:.0f} s, "
          f"fine-tuning {t_pre_ft:.0f} s)", flush=True)
    print(f"    random init: test error {100 * e_scr:.2f}% (training {t_scr:.0f} s)", flush=True)
    return e_pre, e_scr


if __name__ == "__main__":
    sys.exit(main())
