"""Training throughput: latentforge vs PyTorch (CPU), samples per second.

Two workloads, both float32, minibatch 100, SGD with momentum 0.9:

* ``mlp``: the 784-1000-750-500-10 sigmoid classifier (softmax cross-entropy);
* ``autoencoder``: a 784-1000-500-250-30 sigmoid encoder (linear 30-unit code) with the mirrored
  sigmoid decoder, squared-error reconstruction loss; once as layers and a hand-written loop,
  once through the estimator ``lf.models.Autoencoder.fit`` (same network and update).

Each step is forward, backward and the optimizer update. latentforge and PyTorch run the same
math with the same thread count, timed in alternating chunks of steps in one process
(``_harness.interleave``, so a drifting machine affects both alike); the table reports the best
chunk of each. Inputs are real MNIST images when ``lf.datasets.load_mnist`` finds them (or
downloads them, from ``latentforge bench``), otherwise scikit-learn's digits scaled to 28x28
(``_harness.data``; throughput does not depend on pixel values; the table's first line says
which).
"""

from __future__ import annotations

import sys
from typing import Any, Callable

import numpy as np

from ._harness import data as bench_data
from ._harness import (
    fmt,
    fmt_ratio,
    format_table,
    interleave,
    machine_meta,
    say,
    suite_main,
    suite_parser,
    thread_limits,
)

SUITE = "training"
BATCH = 100
MLP_SIZES = (784, 1000, 750, 500, 10)
AE_SIZES = (784, 1000, 500, 250, 30)


# ----------------------------------------------------------------------------- latentforge


def _lf_mlp(lf, rng, device: str = "cpu"):
    nn = lf.nn
    layers = [nn.Linear(a, b, activation="sigmoid", random_state=rng)
              for a, b in zip(MLP_SIZES[:-2], MLP_SIZES[1:-1])]
    layers.append(nn.Linear(MLP_SIZES[-2], MLP_SIZES[-1], random_state=rng))
    net = nn.Sequential(*layers).to(device)
    opt = lf.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step(X, y):
        loss = lf.losses.softmax_cross_entropy(net(lf.Tensor(X)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.data)

    return step


def _ae_layer_acts() -> list[str | None]:
    # encoder: sigmoid, sigmoid, sigmoid, linear code; decoder: sigmoid x 4 (output in [0, 1])
    return ["sigmoid", "sigmoid", "sigmoid", None, "sigmoid", "sigmoid", "sigmoid", "sigmoid"]


def _ae_dims() -> list[tuple[int, int]]:
    enc = list(zip(AE_SIZES[:-1], AE_SIZES[1:]))
    dec = [(b, a) for a, b in reversed(enc)]
    return enc + dec


def _lf_autoencoder(lf, rng, device: str = "cpu"):
    nn = lf.nn
    net = nn.Sequential(*[nn.Linear(a, b, activation=act, random_state=rng)
                          for (a, b), act in zip(_ae_dims(), _ae_layer_acts())]).to(device)
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


def _torch_mlp(torch, seed, device: str = "cpu"):
    torch.manual_seed(seed)
    mods: list[Any] = []
    for a, b in zip(MLP_SIZES[:-2], MLP_SIZES[1:-1]):
        mods += [torch.nn.Linear(a, b), torch.nn.Sigmoid()]
    mods.append(torch.nn.Linear(MLP_SIZES[-2], MLP_SIZES[-1]))
    net = torch.nn.Sequential(*mods).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()

    def step(X, y):
        loss = lossf(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def _torch_autoencoder(torch, seed, device: str = "cpu"):
    torch.manual_seed(seed)
    mods: list[Any] = []
    for (a, b), act in zip(_ae_dims(), _ae_layer_acts()):
        mods.append(torch.nn.Linear(a, b))
        if act == "sigmoid":
            mods.append(torch.nn.Sigmoid())
    net = torch.nn.Sequential(*mods).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    def step(X, y):
        loss = torch.mean((net(X) - X) ** 2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


# ----------------------------------------------------------------------------- timing


def _chunk(step: Callable, batches: list[tuple[Any, Any]]) -> None:
    """Train on ``batches`` (one timed unit); raises when the loss stops being finite."""
    if getattr(step, "whole_chunk", False):
        last = step(batches)
    else:
        for X, y in batches:
            last = step(X, y)
    if not np.isfinite(last):
        raise FloatingPointError(f"loss became {last}")


def measure(steps_of: dict[str, tuple[Callable, list]], repeats: int,
            steps: int) -> dict[str, float]:
    """Samples per second of each library's ``(step, batches)`` ("lf", and "torch" when given):
    a chunk of each in turn, alternating, 50 ms pause before each; the warm-up (allocations,
    thread pools) is a chunk of two steps. Returns ``lf_samples_per_s`` and, with PyTorch,
    ``torch_samples_per_s`` and ``ratio`` (lf over torch throughput)."""
    m = interleave(
        {k: (lambda s=s, b=b: _chunk(s, b)) for k, (s, b) in steps_of.items()},
        repeats, number=1, settle=0.05, settle_always=True,
        warmup={k: (lambda s=s, b=b: _chunk(s, b[:2])) for k, (s, b) in steps_of.items()},
    )
    n = steps * BATCH
    r = {"lf_samples_per_s": n / m["lf"].best_s}
    if "torch" in steps_of:
        r["torch_samples_per_s"] = n / m["torch"].best_s
        r["ratio"] = m["torch"].best_s / m["lf"].best_s
    return r


def run(full: bool = False, repeats: int | None = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: int | None = None, smoke: bool = False,
        steps: int | None = None, seed: int = 0, download: bool = False, **_: Any):
    """Run the suite, print the table to ``out`` and return a ``SuiteResult``.

    ``steps`` minibatches per timed chunk (default 50, 600 = one MNIST epoch with ``full``);
    ``repeats`` chunks per library (default 3). ``download``: fetch MNIST when it is not on
    the machine (otherwise a stand-in, said in the table's first line).
    """
    import latentforge as lf
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    repeats = max(1, int(repeats or (2 if smoke else 3)))
    steps = int(steps or (3 if smoke else (600 if full else 50)))
    with thread_limits(threads, torch=True, progress=progress, tag=SUITE) as nthreads:
        results, meta = _run(lf, repeats, steps, seed, nthreads, progress, download)
    headers = ["workload", "lf samples/s", "torch samples/s", "lf / torch"]
    rows = []
    for r in results:
        if r["error"]:
            rows.append([r["workload"], f"ERROR: {r['error']}"])
            continue
        t = r.get("torch_samples_per_s")
        rows.append([r["workload"], f"{r['lf_samples_per_s']:.0f}", fmt(t, ".0f", "n/a"),
                     fmt_ratio(r.get("ratio"), "n/a")])
    lines = [*meta["notes"],
             "latentforge training benchmark (float32, batch 100, SGD momentum 0.9)",
             f"  threads={nthreads} data={meta['data']} torch={meta['torch'] or 'not installed'}",
             f"  best of {repeats} chunks of {steps} steps per library, alternating in one process",
             "",
             format_table(headers, rows)]
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, meta)


def _run(lf, repeats: int, steps: int, seed: int, nthreads: int, progress: Any,
         download: bool):
    data = bench_data.load(download=download, progress=progress, seed=seed)
    X, y, repeated = data.train(steps * BATCH)
    lf_batches = [(X[i:i + BATCH], y[i:i + BATCH]) for i in range(0, steps * BATCH, BATCH)]
    try:
        import torch

        tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        torch_batches = [(tX[i:i + BATCH], ty[i:i + BATCH]) for i in range(0, steps * BATCH, BATCH)]
        torch_version: str | None = torch.__version__
    except ImportError:
        torch, torch_version = None, None

    meta: dict[str, Any] = {"suite": SUITE, "batch": BATCH, "steps_per_chunk": steps,
                            "chunks": repeats, "threads": nthreads, "data": data.name,
                            "notes": [n for n in (data.note, repeated) if n],
                            "torch": torch_version, "latentforge": lf.build_info(),
                            **machine_meta()}
    workloads = [("mlp 784-1000-750-500-10", _lf_mlp, _torch_mlp),
                 ("autoencoder 784-1000-500-250-30-...-784", _lf_autoencoder, _torch_autoencoder),
                 ("Autoencoder.fit, same network", _lf_autoencoder_model, _torch_autoencoder)]
    results = []
    for name, make_lf, make_torch in workloads:
        say(progress, f"[training] {name}: {repeats} chunks of {steps} steps per library")
        r: dict[str, Any] = {"workload": name, "error": None}
        try:
            steps_of = {"lf": (make_lf(lf, np.random.default_rng(seed)), lf_batches)}
            if torch is not None:
                steps_of["torch"] = (make_torch(torch, seed), torch_batches)
            r.update(measure(steps_of, repeats, steps))
        except Exception as exc:  # report and keep going
            r["error"] = f"{type(exc).__name__}: {exc}"
        results.append(r)
    return results, meta


def main(argv=None) -> int:
    p = suite_parser(__doc__.splitlines()[0], full_help="chunks of 600 steps (one MNIST epoch)",
                     data=True)
    p.add_argument("--steps", type=int, default=None, help="minibatches per timed chunk")
    args = p.parse_args(argv)
    return suite_main(run, args, steps=args.steps)


if __name__ == "__main__":
    sys.exit(main())
