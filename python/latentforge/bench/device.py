"""Device benchmark (``latentforge bench --device cuda``): latentforge's CUDA kernels on CuPy
arrays against what a GPU user would otherwise call, side by side in one run.

* GEMM: ``lf.ops.gemm`` on CuPy float32 matrices vs ``cupy.matmul`` (cuBLAS), square sizes,
  timed with CUDA events on the same stream, interleaved, after a correctness check against
  cuBLAS (max|lf - cuBLAS| / max|cuBLAS| <= 1e-4; a case that fails is reported and not timed).
* Training throughput vs PyTorch CUDA: the two layer workloads of the ``training`` suite (the
  784-1000-750-500-10 sigmoid MLP and the 784-...-30-...-784 autoencoder, batch 100, SGD
  momentum 0.9, forward + backward + update per step) with the parameters and the data on the
  device, latentforge (``lf.nn`` modules moved with ``.to("cuda")``, CuPy batches) against the
  same network in PyTorch on CUDA, in alternating chunks of steps; samples per second. Every
  step reads its loss back (``float(loss)``) on both sides, so the wall clock times finished
  work. The pixels are uniform random numbers (throughput does not depend on them). Without a
  CUDA build of PyTorch, latentforge is measured alone and the table says why.
* t-SNE: ``lf.models.TSNE(device="cuda")`` (Barnes-Hut, 1,000 iterations) on 10,000 points
  (5,000 with ``--smoke``: 50-D Gaussian clusters) against the same fit on the host, and against
  a GPU t-SNE when one is installed (tsnecuda's ``TSNE`` or cuML's ``cuml.manifold.TSNE``, same
  perplexity and iterations); wall seconds of one fit each and the final KL divergence of ours.
  A GPU t-SNE that is not installed is named in the output, never silently left out.

Without a GPU (a CPU-only build, no CUDA device, or no CuPy) the suite says which, measures
nothing and reports ``skipped`` (exit status 0: nothing failed, nothing was claimed).
"""

from __future__ import annotations

import sys
from typing import Any

from .. import _C
from . import SuiteResult
from ._harness import fmt, fmt_ratio, format_table, machine_meta, say

SUITE = "device"

SQUARE_DEFAULT: tuple[int, ...] = (512, 1024, 2048, 4096)
SQUARE_FULL: tuple[int, ...] = (512, 1024, 2048, 4096, 8192)
SQUARE_SMOKE: tuple[int, ...] = (256,)



def why_no_gpu() -> str | None:
    """None when a device benchmark can run, else the reason it cannot (one line)."""
    if not _C.cuda_compiled():
        return "this latentforge was built without CUDA (no nvcc at build time)"
    if _C.cuda_device_count() == 0:
        return "no CUDA device was found on this machine (no GPU or no driver)"
    try:
        import cupy  # noqa: F401
    except ImportError:
        return "CuPy is not installed (pip install 'latentforge[cuda]')"
    return None


def _time_pair(cp, f_lf, f_peer, repeats: int) -> tuple[float, float]:
    """Best milliseconds per call of each, interleaved, with CUDA events on the current stream."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, f in enumerate((f_lf, f_peer)):
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            f()
            stop.record()
            stop.synchronize()
            best[i] = min(best[i], cp.cuda.get_elapsed_time(start, stop))
    return best[0], best[1]


def run(
    full: bool = False,
    repeats: int | None = None,
    out: Any = sys.stdout,
    *,
    progress: Any = sys.stderr,
    smoke: bool = False,
    **_: Any,
) -> SuiteResult:
    import latentforge as lf

    meta = machine_meta()
    reason = why_no_gpu()
    if reason is not None:
        print(f"no GPU: {reason}. The device benchmarks were not run.", file=out)
        meta["skipped"] = reason
        return SuiteResult([], meta)

    import cupy as cp

    meta["device"] = _C.cuda_device_name(0)
    meta["cupy"] = cp.__version__
    sizes = SQUARE_SMOKE if smoke else (SQUARE_FULL if full else SQUARE_DEFAULT)
    reps = repeats or (3 if smoke else 10)
    results, rows = [], []
    rng = cp.random.default_rng(0)
    for n in sizes:
        say(progress, f"[device] gemm n={n}")
        A = rng.standard_normal((n, n), dtype=cp.float32)
        B = rng.standard_normal((n, n), dtype=cp.float32)
        res: dict[str, Any] = {"case": f"gemm {n}", "n": n}
        try:
            ours, ref = lf.ops.gemm(A, B), cp.matmul(A, B)
            err = float(cp.abs(ours - ref).max() / cp.abs(ref).max())
            res["rel_err"] = err
            res["verified"] = err <= 1e-4
            if res["verified"]:
                t_lf, t_peer = _time_pair(cp, lambda A=A, B=B: lf.ops.gemm(A, B),
                                          lambda A=A, B=B: cp.matmul(A, B), reps)
                res.update(lf_ms=t_lf, cublas_ms=t_peer, ratio=t_peer / t_lf,
                           lf_tflops=2 * n**3 / t_lf / 1e9)
        except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
            res["error"] = f"{type(exc).__name__}: {exc}"
        results.append(res)
        rows.append([
            f"{n}", fmt(res.get("lf_ms"), ".3f"), fmt(res.get("cublas_ms"), ".3f"),
            fmt_ratio(res.get("ratio")), fmt(res.get("lf_tflops"), ".1f"),
            res.get("error") or ("ok" if res.get("verified") else f"FAILED (err {err:.1e})"),
        ])
    print(f"GEMM on {meta['device']} (float32, TF32 off), ms per call, best of {reps}", file=out)
    print(format_table(["n", "lf ms", "cuBLAS ms", "cuBLAS/lf", "lf TFLOP/s", "check"], rows),
          file=out)
    results += _training(lf, cp, reps, out, progress, smoke)
    results += _tsne(lf, cp, out, progress, smoke)
    return SuiteResult(results, meta)


def _training(lf, cp, repeats: int, out: Any, progress: Any, smoke: bool) -> list[dict]:
    """Training throughput on the device, latentforge vs PyTorch CUDA (see the module doc)."""
    import numpy as np

    from .training import BATCH, _lf_autoencoder, _lf_mlp, _torch_autoencoder, _torch_mlp, measure

    steps = 3 if smoke else 50
    rng = np.random.default_rng(0)
    X = rng.random((steps * BATCH, 784), dtype=np.float32)
    y = rng.integers(0, 10, steps * BATCH)
    dX, dy = cp.asarray(X), cp.asarray(y)
    lf_batches = [(dX[i:i + BATCH], dy[i:i + BATCH]) for i in range(0, steps * BATCH, BATCH)]
    torch, why_not = None, None
    try:
        import torch

        if not torch.cuda.is_available():
            torch, why_not = None, "PyTorch is installed without CUDA (or sees no GPU)"
    except ImportError:
        why_not = "PyTorch is not installed"
    if torch is not None:
        tX = torch.as_tensor(X, device="cuda")
        ty = torch.as_tensor(y.astype(np.int64), device="cuda")
        torch_batches = [(tX[i:i + BATCH], ty[i:i + BATCH])
                         for i in range(0, steps * BATCH, BATCH)]
    results, rows = [], []
    for name, make_lf, make_torch in (("mlp 784-1000-750-500-10", _lf_mlp, _torch_mlp),
                                      ("autoencoder 784-1000-500-250-30-...-784",
                                       _lf_autoencoder, _torch_autoencoder)):
        say(progress, f"[device] training {name}: {repeats} chunks of {steps} steps")
        r: dict[str, Any] = {"case": f"training {name}"}
        try:
            runs = {"lf": (make_lf(lf, np.random.default_rng(0), "cuda"), lf_batches)}
            if torch is not None:
                runs["torch"] = (make_torch(torch, 0, "cuda"), torch_batches)
            r.update(measure(runs, repeats, steps))
        except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
            r["error"] = f"{type(exc).__name__}: {exc}"
        results.append(r)
        rows.append([name, fmt(r.get("lf_samples_per_s"), ".0f"),
                     fmt(r.get("torch_samples_per_s"), ".0f", "n/a"),
                     fmt_ratio(r.get("ratio"), "n/a"), r.get("error") or "ok"])
    print(f"\nTraining on the device (float32, batch {BATCH}, SGD momentum 0.9), best of "
          f"{repeats} chunks of {steps} steps, alternating", file=out)
    if why_not:
        print(f"  PyTorch CUDA not measured: {why_not}", file=out)
    print(format_table(["workload", "lf samples/s", "torch samples/s", "lf / torch", "check"],
                       rows), file=out)
    return results


def _gpu_tsnes() -> tuple[dict[str, Any], list[str]]:
    """The installed GPU t-SNEs, name -> ``fit(X, perplexity, n_iter) -> embedding``, and the
    names of those that are not installed."""
    found, missing = {}, []
    try:
        from tsnecuda import TSNE as CudaTSNE

        found["tsnecuda"] = lambda X, perp, it: CudaTSNE(
            perplexity=perp, n_iter=it, random_seed=0).fit_transform(X)
    except ImportError:
        missing.append("tsnecuda")
    try:
        from cuml.manifold import TSNE as CumlTSNE

        found["cuML"] = lambda X, perp, it: CumlTSNE(
            perplexity=perp, n_iter=it, random_state=0).fit_transform(X)
    except ImportError:
        missing.append("cuML")
    return found, missing


def _tsne(lf, cp, out: Any, progress: Any, smoke: bool, n: int | None = None,
          it: int = 1000) -> list[dict]:
    """t-SNE on the device vs the host and any installed GPU t-SNE (see the module doc);
    ``n`` and ``it`` override the size (tests)."""
    import time

    import numpy as np

    n, perp = n or (5000 if smoke else 10000), 30.0
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((10, 50)) * 4
    X = (centers[rng.integers(0, 10, n)] + rng.standard_normal((n, 50))).astype(np.float32)
    results, rows = [], []

    def timed(name: str, fit) -> None:
        say(progress, f"[device] t-SNE {name}: n={n}, {it} iterations")
        r: dict[str, Any] = {"case": f"tsne {name}", "n": n}
        try:
            t0 = time.perf_counter()
            kl = fit()
            r["seconds"] = time.perf_counter() - t0
            r["kl"] = kl
        except Exception as exc:  # noqa: BLE001 - reported in the table and the JSON
            r["error"] = f"{type(exc).__name__}: {exc}"
        results.append(r)
        rows.append([name, fmt(r.get("seconds"), ".2f"), fmt(r.get("kl"), ".4f"),
                     r.get("error") or "ok"])

    def ours(device: str):
        model = lf.models.TSNE(perplexity=perp, max_iter=it, random_state=0, device=device)
        model.fit(cp.asarray(X) if device == "cuda" else X)
        cp.cuda.get_current_stream().synchronize()
        return model.kl_divergence_

    timed("latentforge cuda", lambda: ours("cuda"))
    timed("latentforge cpu", lambda: ours("cpu"))
    found, missing = _gpu_tsnes()
    for name, fit in found.items():
        timed(name, lambda fit=fit: (fit(X, perp, it), None)[1])
    print(f"\nt-SNE (Barnes-Hut, perplexity {perp:g}, {it} iterations) on {n} points in 50-D, "
          "seconds of one fit", file=out)
    print(format_table(["implementation", "seconds", "KL (ours)", "check"], rows), file=out)
    if missing:
        print(f"  not installed, not measured: {', '.join(missing)}", file=out)
    return results
