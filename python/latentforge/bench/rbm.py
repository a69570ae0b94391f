"""RBM training speed: latentforge vs scikit-learn's BernoulliRBM vs CD-1 in PyTorch (CPU).

Seconds per epoch of Bernoulli-Bernoulli RBM training on MNIST (batch 100, learning rate 0.05,
n_hidden 256 and 500), all three in one run, alternating libraries between repetitions
(``_harness.interleave``). Speed cannot hide a broken sampler: after the timed epochs every
model is scored with the same numpy code from its weights -- reconstruction error on held-out
images (one up-down pass with probabilities) and the pseudo-likelihood scikit-learn reports
(one flipped bit per image, same bits for every model).

scikit-learn runs persistent CD (its only algorithm); latentforge and PyTorch run CD-1. A CD-1
step is five GEMMs (v@W.T, h@W, v'@W.T, and the two outer products), so an epoch of 60,000
images at 500 hidden units is about 235 GFLOP.
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from ._harness import data as bench_data
from ._harness import (
    fmt_ratio,
    format_table,
    interleave,
    machine_meta,
    say,
    suite_main,
    suite_parser,
    thread_limits,
)

SUITE = "rbm"
BATCH = 100
LR = 0.05


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _quality(W, bh, bv, X_eval, seed=0) -> tuple[float, float]:
    """(reconstruction MSE, mean pseudo-likelihood) from weights, in float64 numpy."""
    W, bh, bv = (np.asarray(a, np.float64) for a in (W, bh, bv))
    V = X_eval.astype(np.float64)
    H = _sigmoid(V @ W.T + bh)
    R = _sigmoid(H @ W + bv)
    mse = float(np.mean((R - V) ** 2))
    Vb = (V > 0.5).astype(np.float64)  # binarised, as pseudo-likelihood needs binary states
    rng = np.random.default_rng(seed)
    flip = rng.integers(0, V.shape[1], V.shape[0])
    Vf = Vb.copy()
    Vf[np.arange(V.shape[0]), flip] = 1 - Vf[np.arange(V.shape[0]), flip]

    def free_energy(v):
        return -v @ bv - np.logaddexp(0, v @ W.T + bh).sum(axis=1)

    pl = V.shape[1] * -np.logaddexp(0, -(free_energy(Vf) - free_energy(Vb)))
    return mse, float(pl.mean())


def _lf(X, n_hidden, epochs, seed):
    import latentforge as lf

    rbm = lf.models.RBM(n_hidden=n_hidden, learning_rate=LR, n_iter=epochs, batch_size=BATCH,
                        k=1, random_state=seed)
    rbm.fit(X)
    return rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_


def _sklearn(X, n_hidden, epochs, seed):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=n_hidden, learning_rate=LR, batch_size=BATCH, n_iter=epochs,
                       random_state=seed)
    rbm.fit(X)
    return rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_


def _torch(X, n_hidden, epochs, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    n_vis = X.shape[1]
    W = torch.randn(n_hidden, n_vis, generator=g) * 0.01
    bh = torch.zeros(n_hidden)
    bv = torch.zeros(n_vis)
    Xt = torch.from_numpy(X)
    with torch.no_grad():
        for _ in range(epochs):
            perm = torch.randperm(Xt.shape[0], generator=g)
            for i in range(0, Xt.shape[0], BATCH):
                v0 = Xt[perm[i:i + BATCH]]
                h0p = torch.sigmoid(torch.addmm(bh, v0, W.t()))
                h0 = torch.bernoulli(h0p, generator=g)
                v1p = torch.sigmoid(torch.addmm(bv, h0, W))
                h1p = torch.sigmoid(torch.addmm(bh, v1p, W.t()))
                s = LR / v0.shape[0]
                W.addmm_(h0p.t(), v0, alpha=s).addmm_(h1p.t(), v1p, alpha=-s)
                bh.add_((h0p - h1p).sum(0), alpha=s)
                bv.add_((v0 - v1p).sum(0), alpha=s)
    return W.numpy(), bh.numpy(), bv.numpy()


RUNNERS: dict[str, Callable] = {"latentforge": _lf, "scikit-learn": _sklearn, "pytorch": _torch}


def _available() -> list[str]:
    names = ["latentforge"]
    for name, mod in (("scikit-learn", "sklearn"), ("pytorch", "torch")):
        try:
            __import__(mod)
            names.append(name)
        except ImportError:
            pass
    return names


def run(full: bool = False, repeats: int | None = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: int | None = None, smoke: bool = False,
        n_train: int | None = None, epochs: int = 1, seed: int = 0, download: bool = False,
        **_: Any):
    """Time ``epochs`` epochs per library on ``n_train`` MNIST images (default 10,000; all
    60,000 with ``full``), ``repeats`` times (default 2), and score each model. ``download``:
    fetch MNIST when it is not on the machine (otherwise a stand-in, said in the table's first
    line)."""
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    repeats = max(1, int(repeats or (1 if smoke else 2)))
    data = bench_data.load(download=download, progress=progress, seed=seed)
    source = data.name
    n = int(n_train or (500 if smoke else (60000 if full else 10000)))
    X, _, repeated = data.train(n)
    X = np.ascontiguousarray(X)
    X_eval = data.X_test[:2000]
    sizes = (64,) if smoke else (256, 500)
    libs = _available()
    results = []
    with thread_limits(threads, torch=True, progress=progress, tag=SUITE) as nthreads:
        for n_hidden in sizes:
            # Each library's training in turn, the order alternating between repetitions; a
            # library that raises is reported and left out of the later repetitions.
            errors: dict[str, str] = {}

            def start(name, rep, n_hidden=n_hidden):
                say(progress,
                    f"[rbm] n_hidden={n_hidden} {name} (repetition {rep + 1}/{repeats})")

            m = interleave(
                {name: (lambda name=name, h=n_hidden: RUNNERS[name](X, h, epochs, seed))
                 for name in libs},
                repeats, number=1, warmup=False, settle=0.0, errors=errors, on_start=start,
            )
            for name in libs:
                r: dict[str, Any] = {"n_hidden": n_hidden, "library": name,
                                     "error": errors.get(name)}
                if name in m:
                    best = m[name].best_s / epochs
                    mse, pl = _quality(*m[name].value, X_eval, seed)
                    r.update(s_per_epoch=best, s_per_60k=best * 60000 / n,
                             recon_mse=mse, pseudo_likelihood=pl,
                             gflops=5 * 2 * n * 784 * n_hidden / best / 1e9)
                results.append(r)
    headers = ["n_hidden", "library", "s/epoch", "s/60k", "GFLOP/s", "recon MSE", "pseudo-LL",
               "vs sklearn", "vs torch"]
    rows = []
    for n_hidden in sizes:
        by_lib = {r["library"]: r for r in results if r["n_hidden"] == n_hidden}
        for name, r in by_lib.items():
            if r["error"]:
                rows.append([str(n_hidden), name, f"ERROR: {r['error']}"])
                continue

            def ratio(other, r=r, name=name, by_lib=by_lib):
                o = by_lib.get(other)
                if name == "latentforge" and o and not o["error"]:
                    return fmt_ratio(o["s_per_epoch"] / r["s_per_epoch"])
                return ""

            rows.append([str(n_hidden), name, f"{r['s_per_epoch']:.3f}", f"{r['s_per_60k']:.2f}",
                         f"{r['gflops']:.1f}", f"{r['recon_mse']:.5f}",
                         f"{r['pseudo_likelihood']:.2f}", ratio("scikit-learn"), ratio("pytorch")])
    lines = [
        *(note for note in (data.note, repeated) if note),
        "RBM training (Bernoulli, batch 100, lr 0.05): latentforge CD-1, PyTorch CD-1, "
        "scikit-learn PCD",
        f"  threads={nthreads} data={source} images/epoch={n} epochs={epochs} "
        f"best of {repeats} repetition(s); quality on {len(X_eval)} test images",
        "",
        format_table(headers, rows, align="rlrrrrrrr"),
    ]
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, {"suite": SUITE, "threads": nthreads, "data": source,
                                 "n_train": n, "epochs": epochs, **machine_meta()})


def main(argv=None) -> int:
    p = suite_parser(__doc__.splitlines()[0], full_help="all 60,000 training images per epoch",
                     data=True)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--n-train", type=int, default=None)
    args = p.parse_args(argv)
    return suite_main(run, args, epochs=args.epochs, n_train=args.n_train)


if __name__ == "__main__":
    sys.exit(main())
