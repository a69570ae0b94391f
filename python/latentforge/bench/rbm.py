"""RBM training speed: latentforge vs scikit-learn's BernoulliRBM vs CD-1 in PyTorch (CPU).

Seconds per epoch of Bernoulli-Bernoulli RBM training on MNIST (batch 100, learning rate 0.05,
n_hidden 256 and 500), all three in one run, alternating libraries between repetitions. Speed
cannot hide a broken sampler: after the timed epochs every model is scored with the same numpy
code from its weights -- reconstruction error on held-out images (one up-down pass with
probabilities) and the pseudo-likelihood scikit-learn reports (one flipped bit per image, same
bits for every model).

scikit-learn runs persistent CD (its only algorithm); latentforge and PyTorch run CD-1. A CD-1
step is five GEMMs (v@W.T, h@W, v'@W.T, and the two outer products), so an epoch of 60,000
images at 500 hidden units is about 235 GFLOP.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

SUITE = "rbm"
BATCH = 100
LR = 0.05


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _quality(W, bh, bv, X_eval, seed=0) -> Tuple[float, float]:
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
    t0 = time.perf_counter()
    rbm.fit(X)
    dt = time.perf_counter() - t0
    return dt, (rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_)


def _sklearn(X, n_hidden, epochs, seed):
    from sklearn.neural_network import BernoulliRBM

    rbm = BernoulliRBM(n_components=n_hidden, learning_rate=LR, batch_size=BATCH, n_iter=epochs,
                       random_state=seed)
    t0 = time.perf_counter()
    rbm.fit(X)
    dt = time.perf_counter() - t0
    return dt, (rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_)


def _torch(X, n_hidden, epochs, seed):
    import torch

    g = torch.Generator().manual_seed(seed)
    n_vis = X.shape[1]
    W = torch.randn(n_hidden, n_vis, generator=g) * 0.01
    bh = torch.zeros(n_hidden)
    bv = torch.zeros(n_vis)
    Xt = torch.from_numpy(X)
    t0 = time.perf_counter()
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
    dt = time.perf_counter() - t0
    return dt, (W.numpy(), bh.numpy(), bv.numpy())


RUNNERS: Dict[str, Callable] = {"latentforge": _lf, "scikit-learn": _sklearn, "pytorch": _torch}


def _available() -> List[str]:
    names = ["latentforge"]
    for name, mod in (("scikit-learn", "sklearn"), ("pytorch", "torch")):
        try:
            __import__(mod)
            names.append(name)
        except ImportError:
            pass
    return names


def run(full: bool = False, repeats: Optional[int] = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: Optional[int] = None, smoke: bool = False,
        n_train: Optional[int] = None, epochs: int = 1, seed: int = 0, **_: Any):
    """Time ``epochs`` epochs per library on ``n_train`` MNIST images (default 10,000; all
    60,000 with ``full``), ``repeats`` times (default 2), and score each model."""
    import latentforge as lf
    from latentforge import datasets
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    repeats = max(1, int(repeats or (1 if smoke else 2)))
    if threads:
        lf.set_num_threads(int(threads))
    nthreads = lf.get_num_threads()
    try:
        import torch

        torch.set_num_threads(nthreads)
    except ImportError:
        pass
    try:
        (X, _), (Xt, _) = datasets.load_mnist()
        source = "MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(seed)
        X, Xt = rng.random((60000, 784), dtype=np.float32), rng.random((2000, 784), dtype=np.float32)
        source = "uniform noise (MNIST not found)"
    n = int(n_train or (500 if smoke else (60000 if full else 10000)))
    X = np.ascontiguousarray(X[:n])
    X_eval = Xt[:2000]
    sizes = (64,) if smoke else (256, 500)
    libs = _available()
    results = []
    for n_hidden in sizes:
        best = {name: np.inf for name in libs}
        weights: Dict[str, Any] = {}
        errors: Dict[str, str] = {}
        for rep in range(repeats):
            order = libs if rep % 2 == 0 else libs[::-1]
            for name in order:
                if name in errors:
                    continue
                if progress is not None:
                    print(f"[rbm] n_hidden={n_hidden} {name} (repetition {rep + 1}/{repeats})",
                          file=progress, flush=True)
                try:
                    dt, w = RUNNERS[name](X, n_hidden, epochs, seed)
                    best[name] = min(best[name], dt / epochs)
                    weights[name] = w
                except Exception as exc:  # report, keep going
                    errors[name] = f"{type(exc).__name__}: {exc}"
        for name in libs:
            r: Dict[str, Any] = {"n_hidden": n_hidden, "library": name,
                                 "error": errors.get(name)}
            if name in weights:
                mse, pl = _quality(*weights[name], X_eval, seed)
                r.update(s_per_epoch=best[name], s_per_60k=best[name] * 60000 / n,
                         recon_mse=mse, pseudo_likelihood=pl,
                         gflops=5 * 2 * n * 784 * n_hidden / best[name] / 1e9)
            results.append(r)
    lines = [
        "RBM training (Bernoulli, batch 100, lr 0.05): latentforge CD-1, PyTorch CD-1, "
        "scikit-learn PCD",
        f"  threads={nthreads} data={source} images/epoch={n} epochs={epochs} "
        f"best of {repeats} repetition(s); quality on 2000 test images",
        "",
        f"{'n_hidden':>8} | {'library':12} | {'s/epoch':>8} | {'s/60k':>7} | {'GFLOP/s':>7} | "
        f"{'recon MSE':>9} | {'pseudo-LL':>9} | {'vs sklearn':>10} | {'vs torch':>8}",
    ]
    lines.append("-" * len(lines[-1]))
    for n_hidden in sizes:
        rows = {r["library"]: r for r in results if r["n_hidden"] == n_hidden}
        for name, r in rows.items():
            if r["error"]:
                lines.append(f"{n_hidden:8d} | {name:12} | ERROR: {r['error']}")
                continue

            def ratio(other):
                o = rows.get(other)
                if name == "latentforge" and o and not o["error"]:
                    return f"{o['s_per_epoch'] / r['s_per_epoch']:.2f}x"
                return ""

            lines.append(
                f"{n_hidden:8d} | {name:12} | {r['s_per_epoch']:8.3f} | {r['s_per_60k']:7.2f} | "
                f"{r['gflops']:7.1f} | {r['recon_mse']:9.5f} | {r['pseudo_likelihood']:9.2f} | "
                f"{ratio('scikit-learn'):>10} | {ratio('pytorch'):>8}")
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, {"suite": SUITE, "threads": nthreads, "data": source,
                                 "n_train": n, "epochs": epochs})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="all 60,000 training images per epoch")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--n-train", type=int, default=None)
    args = p.parse_args(argv)
    res = run(full=args.full, repeats=args.repeats, threads=args.threads, epochs=args.epochs,
              n_train=args.n_train)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
