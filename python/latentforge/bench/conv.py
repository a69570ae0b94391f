"""Conv-net kernels and training: latentforge vs PyTorch (CPU), milliseconds per call.

Cases (float32, NCHW, the shapes of the conv-nets issue):

* ``conv 3x3 64->64``: N=128, 16x16, padding 1: forward alone, and forward + backward (input,
  weight and bias gradients), with GFLOP/s (the fraction of this machine's FP32 peak is in the
  kernel benchmark, ``benchmarks/ops/bench_conv2d.py``, which measures the roofline);
* ``conv 5x5 1->32``: N=128, 28x28, padding 2 (an MNIST first layer): forward + backward
  without the input gradient (weight and bias only, as a first layer needs);
* ``max pool 2x2`` and ``L2 pool 2x2`` (PyTorch: ``lp_pool2d(p=2)``) on (128, 32, 28, 28),
  forward + backward;
* ``batch norm 2d``: training forward + backward on (128, 64, 16, 16);
* ``MNIST CNN epoch``: samples/s of training steps (forward, backward, Adam) of the network of
  ``reproduce_cnn`` (5x5 conv 32 -> pool -> 5x5 conv 64 -> pool -> dense 512 -> 10), batch 64.

Both libraries run with the same thread count, timed in alternating repetitions in one process
(``_harness.interleave``); the table reports the best repetition of each and the ratio
(PyTorch time / latentforge time: above 1 is faster than PyTorch).
"""

from __future__ import annotations

import sys
from typing import Any

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

SUITE = "conv"
CNN_BATCH = 64


def _conv_flops(n, c_in, c_out, oh, ow, kh, kw) -> float:
    return 2.0 * n * c_out * oh * ow * c_in * kh * kw


def _cases(lf, torch, rng, smoke: bool):
    """``(name, flops or None, {lib: callable})`` for every kernel case."""
    F = lf.functional
    n = 16 if smoke else 128
    cases = []

    def lf_t(a, grad=True):
        return lf.Tensor(a, requires_grad=grad)

    def t_t(a, grad=True):
        return torch.from_numpy(a).requires_grad_(grad) if torch is not None else None

    # conv 3x3 64->64, 16x16, pad 1
    x = rng.standard_normal((n, 64, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.05).astype(np.float32)
    b = np.zeros(64, np.float32)
    g = rng.standard_normal((n, 64, 16, 16)).astype(np.float32)
    flops = _conv_flops(n, 64, 64, 16, 16, 3, 3)
    fns = {"lf": lambda: lf.ops.conv2d(x, w, b, stride=1, padding=1)}
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        fns["torch"] = lambda: torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    cases.append(("conv 3x3 64->64 fwd", flops, fns))

    def lf_fb():
        xs, ws, bs = lf_t(x), lf_t(w), lf_t(b)
        F.conv2d(xs, ws, bs, stride=1, padding=1).backward(g)

    fns = {"lf": lf_fb}
    if torch is not None:
        tg = torch.from_numpy(g)

        def torch_fb():
            xs, ws, bs = t_t(x), t_t(w), t_t(b)
            torch.nn.functional.conv2d(xs, ws, bs, padding=1).backward(tg)

        fns["torch"] = torch_fb
    cases.append(("conv 3x3 64->64 fwd+bwd", 3 * flops, fns))

    # conv 5x5 1->32, 28x28, pad 2, no input gradient
    x1 = rng.random((n, 1, 28, 28), dtype=np.float32)
    w1 = (rng.standard_normal((32, 1, 5, 5)) * 0.2).astype(np.float32)
    b1 = np.zeros(32, np.float32)
    g1 = rng.standard_normal((n, 32, 28, 28)).astype(np.float32)
    flops1 = _conv_flops(n, 1, 32, 28, 28, 5, 5)

    def lf_first():
        ws, bs = lf_t(w1), lf_t(b1)
        F.conv2d(lf_t(x1, grad=False), ws, bs, stride=1, padding=2).backward(g1)

    fns = {"lf": lf_first}
    if torch is not None:
        tg1 = torch.from_numpy(g1)

        def torch_first():
            ws, bs = t_t(w1), t_t(b1)
            torch.nn.functional.conv2d(t_t(x1, grad=False), ws, bs, padding=2).backward(tg1)

        fns["torch"] = torch_first
    cases.append(("conv 5x5 1->32 fwd+bwd (no dx)", 2 * flops1, fns))

    # pooling, (n, 32, 28, 28), 2x2
    xp = rng.standard_normal((n, 32, 28, 28)).astype(np.float32)
    gp = rng.standard_normal((n, 32, 14, 14)).astype(np.float32)
    tgp = torch.from_numpy(gp) if torch is not None else None
    for name, lf_op, torch_op in (
        ("max pool 2x2 fwd+bwd", F.max_pool2d,
         (lambda t: torch.nn.functional.max_pool2d(t, 2)) if torch is not None else None),
        ("L2 pool 2x2 fwd+bwd", F.l2_pool2d,
         (lambda t: torch.nn.functional.lp_pool2d(t, 2, 2)) if torch is not None else None),
    ):
        fns = {"lf": lambda op=lf_op: op(lf_t(xp), 2).backward(gp)}
        if torch is not None:
            fns["torch"] = lambda op=torch_op: op(t_t(xp)).backward(tgp)
        cases.append((name, None, fns))

    # batch norm 2d, training, (n, 64, 16, 16)
    xb = rng.standard_normal((n, 64, 16, 16)).astype(np.float32)
    gb = rng.standard_normal((n, 64, 16, 16)).astype(np.float32)
    gamma, beta = np.ones(64, np.float32), np.zeros(64, np.float32)
    rm, rv = np.zeros(64, np.float32), np.ones(64, np.float32)

    def lf_bn():
        F.batch_norm2d(lf_t(xb), lf_t(gamma), lf_t(beta), running_mean=rm, running_var=rv,
                       training=True).backward(gb)

    fns = {"lf": lf_bn}
    if torch is not None:
        tgb, trm, trv = torch.from_numpy(gb), torch.from_numpy(rm.copy()), torch.from_numpy(
            rv.copy())

        def torch_bn():
            torch.nn.functional.batch_norm(t_t(xb), trm, trv, t_t(gamma), t_t(beta),
                                           training=True).backward(tgb)

        fns["torch"] = torch_bn
    cases.append(("batch norm 2d train fwd+bwd", None, fns))
    return cases


def _lf_cnn(lf, rng):
    nn = lf.nn
    net = nn.Sequential(
        nn.Unflatten(1, 28, 28),
        nn.Conv2d(1, 32, 5, padding=2, random_state=rng), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(32, 64, 5, padding=2, random_state=rng), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 512, activation="relu", random_state=rng),
        nn.Linear(512, 10, random_state=rng))
    opt = lf.optim.Adam(net.parameters(), lr=1e-3)

    def step(X, y):
        loss = lf.losses.softmax_cross_entropy(net(lf.Tensor(X)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.data)

    return step


def _torch_cnn(torch, seed):
    torch.manual_seed(seed)
    tnn = torch.nn
    net = tnn.Sequential(
        tnn.Unflatten(1, (1, 28, 28)),
        tnn.Conv2d(1, 32, 5, padding=2), tnn.MaxPool2d(2), tnn.ReLU(),
        tnn.Conv2d(32, 64, 5, padding=2), tnn.MaxPool2d(2), tnn.ReLU(),
        tnn.Flatten(), tnn.Linear(64 * 7 * 7, 512), tnn.ReLU(), tnn.Linear(512, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = tnn.CrossEntropyLoss()

    def step(X, y):
        loss = lossf(net(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def run(full: bool = False, repeats: int | None = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: int | None = None, smoke: bool = False,
        steps: int | None = None, seed: int = 0, download: bool = False, **_: Any):
    """Run the suite, print the table to ``out`` and return a ``SuiteResult``.

    ``repeats`` timed repetitions per case and library (default 5); ``steps`` minibatches per
    timed chunk of the MNIST CNN (default 20; 200 with ``full``). ``smoke``: tiny batches (a
    check that the suite runs, not a measurement).
    """
    import latentforge as lf
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    repeats = max(1, int(repeats or (2 if smoke else 5)))
    steps = int(steps or (2 if smoke else (200 if full else 20)))
    with thread_limits(threads, torch=True, progress=progress, tag=SUITE) as nthreads:
        results, meta = _run(lf, repeats, steps, seed, nthreads, progress, download, smoke)
    headers = ["case", "lf ms", "torch ms", "lf / torch", "lf GFLOP/s"]
    rows = []
    for r in results:
        if r["error"]:
            rows.append([r["case"], f"ERROR: {r['error']}"])
            continue
        gf_s = fmt(r.get("lf_gflops"), ".0f")
        unit_lf = (f"{r['lf_samples_per_s']:.0f}/s" if "lf_samples_per_s" in r
                   else f"{1e3 * r['lf_s']:.2f}")
        t = r.get("torch_samples_per_s") if "lf_samples_per_s" in r else r.get("torch_s")
        unit_t = (fmt(t, ".0f", "n/a") + "/s" if "lf_samples_per_s" in r and t is not None
                  else fmt(None if t is None else 1e3 * t, ".2f", "n/a"))
        rows.append([r["case"], unit_lf, unit_t, fmt_ratio(r.get("ratio"), "n/a"), gf_s])
    lines = [*meta["notes"],
             "latentforge conv-net benchmark (float32, NCHW; ratio = torch time / lf time)",
             f"  threads={nthreads} torch={meta['torch'] or 'not installed'}"
             f" data={meta['data']}",
             f"  best of {repeats} repetitions per case, alternating in one process; the CNN "
             f"row is samples/s over chunks of {steps} steps (batch {CNN_BATCH}, Adam)",
             "",
             format_table(headers, rows)]
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, meta)


def _run(lf, repeats, steps, seed, nthreads, progress, download, smoke):
    try:
        import torch

        torch_version: str | None = torch.__version__
    except ImportError:
        torch, torch_version = None, None
    meta: dict[str, Any] = {"suite": SUITE, "threads": nthreads, "torch": torch_version,
                            "notes": [], "latentforge": lf.build_info(), **machine_meta()}
    rng = np.random.default_rng(seed)
    results = []
    for name, flops, fns in _cases(lf, torch, rng, smoke):
        say(progress, f"[conv] {name}: {repeats} repetitions per library")
        r: dict[str, Any] = {"case": name, "error": None}
        try:
            m = interleave(fns, repeats, min_time=0.05 if not smoke else 0.0, settle=0.05)
            r["lf_s"] = m["lf"].best_s
            if flops:
                r["lf_gflops"] = flops / m["lf"].best_s / 1e9
            if "torch" in m:
                r["torch_s"] = m["torch"].best_s
                r["ratio"] = m["torch"].best_s / m["lf"].best_s
        except Exception as exc:  # report and keep going
            r["error"] = f"{type(exc).__name__}: {exc}"
        results.append(r)

    data = bench_data.load(download=download, progress=progress, seed=seed)
    meta["data"] = data.name
    meta["notes"] = [n for n in (data.note,) if n]
    X, y, repeated = data.train(steps * CNN_BATCH)
    if repeated:
        meta["notes"].append(repeated)
    name = "MNIST CNN training (samples/s)"
    say(progress, f"[conv] {name}: {repeats} chunks of {steps} steps per library")
    r = {"case": name, "error": None}
    try:
        lf_step = _lf_cnn(lf, np.random.default_rng(seed))
        lf_b = [(X[i:i + CNN_BATCH], y[i:i + CNN_BATCH]) for i in range(0, len(X), CNN_BATCH)]
        fns = {"lf": lambda: [lf_step(a, b) for a, b in lf_b]}
        warm = {"lf": lambda: lf_step(*lf_b[0])}
        if torch is not None:
            t_step = _torch_cnn(torch, seed)
            tX, ty = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
            t_b = [(tX[i:i + CNN_BATCH], ty[i:i + CNN_BATCH]) for i in range(0, len(X), CNN_BATCH)]
            fns["torch"] = lambda: [t_step(a, b) for a, b in t_b]
            warm["torch"] = lambda: t_step(*t_b[0])
        m = interleave(fns, repeats, number=1, settle=0.05, settle_always=True, warmup=warm)
        r["lf_samples_per_s"] = len(X) / m["lf"].best_s
        if "torch" in m:
            r["torch_samples_per_s"] = len(X) / m["torch"].best_s
            r["ratio"] = m["torch"].best_s / m["lf"].best_s
    except Exception as exc:
        r["error"] = f"{type(exc).__name__}: {exc}"
    results.append(r)
    return results, meta


def main(argv=None) -> int:
    p = suite_parser(__doc__.splitlines()[0], full_help="chunks of 200 CNN steps", data=True)
    p.add_argument("--steps", type=int, default=None, help="CNN minibatches per timed chunk")
    args = p.parse_args(argv)
    return suite_main(run, args, steps=args.steps)


if __name__ == "__main__":
    sys.exit(main())
