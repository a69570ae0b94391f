"""Training throughput: latentforge vs PyTorch (CPU), samples per second.

Two workloads, both float32, minibatch 100, SGD with momentum 0.9:

* ``mlp``: the 784-1000-750-500-10 sigmoid classifier (softmax cross-entropy);
* ``autoencoder``: a 784-1000-500-250-30 sigmoid encoder (linear 30-unit code) with the mirrored
  sigmoid decoder, squared-error reconstruction loss; once as layers and a hand-written loop,
  once through the estimator ``lf.models.Autoencoder.fit`` (same network and update).

Each step is forward, backward and the optimizer update. latentforge and PyTorch run the same
math with the same thread count, timed in alternating chunks of steps in one process (so a
drifting machine affects both alike); the table reports the best chunk of each. Inputs are real
MNIST images when ``lf.datasets.load_mnist`` finds them, otherwise uniform noise of the same
shape (throughput does not depend on pixel values; the header says which).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

SUITE = "training"
BATCH = 100
MLP_SIZES = (784, 1000, 750, 500, 10)
AE_SIZES = (784, 1000, 500, 250, 30)


def _data(n: int, seed: int) -> Tuple[np.ndarray, np.ndarray, str]:
    from latentforge import datasets

    try:
        X, y = datasets.load_mnist(return_test=False)
        return X[:n], y[:n], "MNIST"
    except FileNotFoundError:
        rng = np.random.default_rng(seed)
        return (rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n), "uniform noise")


# ----------------------------------------------------------------------------- latentforge


def _lf_mlp(lf, rng):
    nn = lf.nn
    layers = [nn.Linear(a, b, activation="sigmoid", random_state=rng)
              for a, b in zip(MLP_SIZES[:-2], MLP_SIZES[1:-1])]
    layers.append(nn.Linear(MLP_SIZES[-2], MLP_SIZES[-1], random_state=rng))
    net = nn.Sequential(*layers)
    opt = lf.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step(X, y):
        loss = lf.losses.softmax_cross_entropy(net(lf.Tensor(X)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.data)

    return step


def _ae_layer_acts() -> List[Optional[str]]:
    # encoder: sigmoid, sigmoid, sigmoid, linear code; decoder: sigmoid x 4 (output in [0, 1])
    return ["sigmoid", "sigmoid", "sigmoid", None, "sigmoid", "sigmoid", "sigmoid", "sigmoid"]


def _ae_dims() -> List[Tuple[int, int]]:
    enc = list(zip(AE_SIZES[:-1], AE_SIZES[1:]))
    dec = [(b, a) for a, b in reversed(enc)]
    return enc + dec


def _lf_autoencoder(lf, rng):
    nn = lf.nn
    net = nn.Sequential(*[nn.Linear(a, b, activation=act, random_state=rng)
                          for (a, b), act in zip(_ae_dims(), _ae_layer_acts())])
    opt = lf.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step(X, y):
        x = lf.Tensor(X)
        loss = lf.losses.mse(net(x), X)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.data)

    return step


def _lf_autoencoder_model(lf, rng):
    """The same network through the estimator users call, ``lf.models.Autoencoder.fit``: one
    epoch over the chunk's images (its own shuffling, loss bookkeeping and validation)."""

    def train(batches):
        X = np.concatenate([b[0] for b in batches])
        ae = lf.models.Autoencoder(hidden=AE_SIZES[1:], activation="sigmoid", tied=False,
                                   loss="mse", output_activation="sigmoid", optimizer="momentum",
                                   momentum=0.9, learning_rate=0.1, batch_size=BATCH, n_epochs=1,
                                   random_state=rng)
        ae.fit(X)
        return ae.history_["loss"][-1]

    train.whole_chunk = True
    return train


# ----------------------------------------------------------------------------- PyTorch


def _torch_mlp(torch, seed):
    torch.manual_seed(seed)
    mods: List[Any] = []
    for a, b in zip(MLP_SIZES[:-2], MLP_SIZES[1:-1]):
        mods += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
    mods.append(torch.nn.Linear(MLP_SIZES[-2], MLP_SIZES[-1]))
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()

    def step(X, y):
        loss = lossf(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def _torch_autoencoder(torch, seed):
    torch.manual_seed(seed)
    mods: List[Any] = []
    for (a, b), act in zip(_ae_dims(), _ae_layer_acts()):
        mods.append(torch.nn.Linear(a, b))
        if act == "sigmoid":
            mods.append(torch.nn.Sigmoid())
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step(X, y):
        loss = torch.mean((net(X) - X) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


# ----------------------------------------------------------------------------- timing


def _chunk(step: Callable, batches: List[Tuple[Any, Any]]) -> float:
    t0 = time.perf_counter()
    last = 0.0
    if getattr(step, "whole_chunk", False):
        last = step(batches)
    else:
        for X, y in batches:
            last = step(X, y)
    if not np.isfinite(last):
        raise FloatingPointError(f"loss became {last}")
    return time.perf_counter() - t0


def run(full: bool = False, repeats: Optional[int] = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: Optional[int] = None, smoke: bool = False,
        steps: Optional[int] = None, seed: int = 0, **_: Any):
    """Run the suite, print the table to ``out`` and return a ``SuiteResult``.

    ``steps`` minibatches per timed chunk (default 50, 600 = one MNIST epoch with ``full``);
    ``repeats`` chunks per library (default 3).
    """
    import latentforge as lf
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    repeats = max(1, int(repeats or (2 if smoke else 3)))
    steps = int(steps or (3 if smoke else (600 if full else 50)))
    if threads:
        lf.set_num_threads(int(threads))
    nthreads = lf.get_num_threads()
    X, y, source = _data(steps * BATCH, seed)
    lf_batches = [(X[i:i + BATCH], y[i:i + BATCH]) for i in range(0, steps * BATCH, BATCH)]
    try:
        import torch

        torch.set_num_threads(nthreads)
        tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        torch_batches = [(tX[i:i + BATCH], ty[i:i + BATCH]) for i in range(0, steps * BATCH, BATCH)]
        torch_version: Optional[str] = torch.__version__
    except ImportError:
        torch, torch_version = None, None

    meta: Dict[str, Any] = {"suite": SUITE, "batch": BATCH, "steps_per_chunk": steps,
                            "chunks": repeats, "threads": nthreads, "data": source,
                            "torch": torch_version, "latentforge": lf.build_info()}
    workloads = [("mlp 784-1000-750-500-10", _lf_mlp, _torch_mlp),
                 ("autoencoder 784-1000-500-250-30-...-784", _lf_autoencoder, _torch_autoencoder),
                 ("Autoencoder.fit, same network", _lf_autoencoder_model, _torch_autoencoder)]
    results = []
    for name, make_lf, make_torch in workloads:
        if progress is not None:
            print(f"[training] {name}: {repeats} chunks of {steps} steps per library",
                  file=progress, flush=True)
        r: Dict[str, Any] = {"workload": name, "error": None}
        try:
            fns = {"lf": (make_lf(lf, np.random.default_rng(seed)), lf_batches)}
            if torch is not None:
                fns["torch"] = (make_torch(torch, seed), torch_batches)
            for fn, batches in fns.values():  # warm-up (allocations, thread pools)
                _chunk(fn, batches[:2])
            best = {k: np.inf for k in fns}
            for rep in range(repeats):
                order = list(fns) if rep % 2 == 0 else list(fns)[::-1]
                for k in order:
                    time.sleep(0.05)
                    best[k] = min(best[k], _chunk(*fns[k]))
            n = steps * BATCH
            r["lf_samples_per_s"] = n / best["lf"]
            if torch is not None:
                r["torch_samples_per_s"] = n / best["torch"]
                r["ratio"] = best["torch"] / best["lf"]
        except Exception as exc:  # report and keep going
            r["error"] = f"{type(exc).__name__}: {exc}"
        results.append(r)

    lines = ["latentforge training benchmark (float32, batch 100, SGD momentum 0.9)",
             f"  threads={nthreads} data={source} torch={torch_version or 'not installed'}",
             f"  best of {repeats} chunks of {steps} steps per library, alternating in one process",
             "",
             f"{'workload':42} | {'lf samples/s':>12} | {'torch samples/s':>15} | lf / torch"]
    lines.append("-" * len(lines[-1]))
    for r in results:
        if r["error"]:
            lines.append(f"{r['workload']:42} | ERROR: {r['error']}")
            continue
        t = r.get("torch_samples_per_s")
        torch_cell = f"{t:15.0f}" if t else "n/a".rjust(15)
        ratio_cell = f"{r['ratio']:.2f}x" if t else "n/a"
        lines.append(f"{r['workload']:42} | {r['lf_samples_per_s']:12.0f} | {torch_cell} | "
                     f"{ratio_cell}")
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, meta)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="chunks of 600 steps (one MNIST epoch)")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    args = p.parse_args(argv)
    res = run(full=args.full, repeats=args.repeats, threads=args.threads, steps=args.steps)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
