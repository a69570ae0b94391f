"""GEMM benchmark: latentforge vs numpy, side by side in one run.

Measures float32 ``lf.ops.gemm(A, B)`` against numpy's ``A @ B`` twice:

* *numpy as-is*: in this process, with whatever ``OPENBLAS_*`` settings the
  environment has (some environments pin ``OPENBLAS_CORETYPE=Haswell`` and a
  small ``OPENBLAS_L2_SIZE``, which slow OpenBLAS down on newer CPUs);
* *numpy (OPENBLAS_* unset)*: in a subprocess whose environment lacks
  ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, so OpenBLAS picks its own
  kernel for the CPU (``_harness.run_isolated`` runs :func:`unset_worker` there;
  it imports the same latentforge as this process).

In each process latentforge and that process's numpy are timed interleaved
(``_harness.interleave``), and every ratio compares two timings from the same
process: numpy as-is vs lf in this process, numpy (OPENBLAS_* unset) vs lf in
the subprocess. The headline ratio is the smaller of the two ("lf / best numpy").

It also times the fused ``lf.ops.linear(X, W, b, activation="sigmoid")``
against numpy's three-pass ``1/(1+np.exp(-(X@W+b)))`` at the MLP shapes.

Every latentforge result is checked once against numpy before it is timed; a
case that fails the check (max|lf - numpy| / max|numpy| > 1e-4) or raises is
reported loudly and its speed is NOT measured.

Used by ``latentforge bench`` (suite ``gemm``) and ``benchmarks/run_gemm.py``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from ._harness import (
    DEFAULT_SETTLE,
    env_report,
    fmt,
    fmt_ratio,
    format_table,
    interleave,
    machine_meta,
    openblas_info,
    run_isolated,
    say,
    suite_main,
    suite_parser,
    thread_limits,
)

SUITE = "gemm"

#: Square sizes n (an n x n @ n x n product).
SQUARE_DEFAULT: tuple[int, ...] = (128, 256, 512, 1024)
SQUARE_FULL: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096)
#: MLP shapes as (M, K, N): (M x K) @ (K x N) -- batch 128, 784-1000-784 layers.
MLP_SHAPES: tuple[tuple[int, int, int], ...] = (
    (128, 784, 1000),  # forward  X(128x784) @ W(784x1000)
    (784, 128, 1000),  # weight-gradient-like (784x128) @ (128x1000)
    (128, 1000, 784),  # forward of the second layer (128x1000) @ (1000x784)
)
#: Tiny shapes for smoke tests.
SMOKE_SQUARE: tuple[int, ...] = (64,)
SMOKE_MLP: tuple[tuple[int, int, int], ...] = ((32, 48, 40),)

DEFAULT_REPEATS = 7
DEFAULT_REPEATS_FULL = 5
DEFAULT_MIN_TIME = 0.05  # seconds of back-to-back calls per timed repetition
REL_TOL = 1e-4
#: Unset in the subprocess run ("numpy (OPENBLAS_* unset)").
UNSET_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
WORKER = f"{__name__}:unset_worker"

_STDERR = object()  # sentinel: "sys.stderr at call time"

Case = dict[str, Any]


# --------------------------------------------------------------------------- cases & data


def make_cases(
    sizes: Sequence[int], mlp_shapes: Sequence[tuple[int, int, int]], linear: bool = True
) -> list[Case]:
    cases: list[Case] = []
    for n in sizes:
        cases.append(_case("gemm", "square", n, n, n))
    for m, k, n in mlp_shapes:
        cases.append(_case("gemm", "mlp", m, k, n))
    if linear:
        for m, k, n in mlp_shapes:
            cases.append(_case("linear", "mlp", m, k, n))
    return cases


def _case(kind: str, label: str, m: int, k: int, n: int) -> Case:
    return {
        "kind": kind,
        "label": label,
        "M": int(m),
        "K": int(k),
        "N": int(n),
        "shape": f"{m}x{k} @ {k}x{n}",
        "flops": 2 * int(m) * int(n) * int(k),
    }


def _make_data(case: Case, seed: int) -> dict[str, np.ndarray]:
    m, k, n = case["M"], case["K"], case["N"]
    rng = np.random.default_rng([seed, m, k, n, 0 if case["kind"] == "gemm" else 1])
    a = rng.standard_normal((m, k), dtype=np.float32)
    # Scaled like an initialised weight matrix so that pre-activations are O(1).
    b = rng.standard_normal((k, n), dtype=np.float32) * np.float32(1.0 / math.sqrt(k))
    data = {"A": a, "B": b}
    if case["kind"] == "linear":
        data["bias"] = rng.standard_normal(n, dtype=np.float32) * np.float32(0.1)
    return data


def _numpy_fn(case: Case, data: dict[str, np.ndarray]) -> Callable[[], np.ndarray]:
    A, B = data["A"], data["B"]
    if case["kind"] == "gemm":
        return lambda: A @ B
    bias = data["bias"]
    return lambda: 1 / (1 + np.exp(-(A @ B + bias)))


def _lf_fn(lf: Any, case: Case, data: dict[str, np.ndarray]) -> Callable[[], np.ndarray]:
    A, B = data["A"], data["B"]
    if case["kind"] == "gemm":
        return lambda: lf.ops.gemm(A, B)
    bias = data["bias"]
    return lambda: lf.ops.linear(A, B, bias, activation="sigmoid")


def _rel_err(got: Any, ref: np.ndarray) -> float:
    got = np.asarray(got)
    if got.shape != ref.shape:
        raise ValueError(f"result shape {got.shape} != expected {ref.shape}")
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = (
        float(np.max(np.abs(got.astype(np.float64) - ref.astype(np.float64)))) if ref.size else 0.0
    )
    return diff / max(scale, np.finfo(np.float32).tiny)


def _timed(fns: dict[str, Callable[[], Any]], repeats: int, min_time: float, settle: float):
    with np.errstate(over="ignore"):
        return {k: t.as_dict() for k, t in interleave(fns, repeats, min_time=min_time,
                                                     settle=settle).items()}


# --------------------------------------------------------------------------- the subprocess run


def unset_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the subprocess (``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` unset).

    Times latentforge interleaved with this process's numpy for every case; latentforge only
    where the parent's check passed (``time_lf``) and this process's own check passes too.
    """
    import latentforge as lf

    show = bool(spec.get("progress", True))
    cases = spec["cases"]
    if spec.get("threads"):
        lf.set_num_threads(int(spec["threads"]))
    settle = float(spec.get("settle", DEFAULT_SETTLE))
    results = []
    for i, case in enumerate(cases, 1):
        data = _make_data(case, spec["seed"])
        fns: dict[str, Callable[[], Any]] = {"numpy_unset": _numpy_fn(case, data)}
        entry: dict[str, Any] = {"lf_rel_err": None, "lf_error": None}
        if case.get("time_lf", True):
            with np.errstate(over="ignore"):
                ref = fns["numpy_unset"]()
            try:
                entry["lf_rel_err"] = _rel_err(_lf_fn(lf, case, data)(), ref)
                if entry["lf_rel_err"] <= REL_TOL:
                    fns = {"lf": _lf_fn(lf, case, data), **fns}
                else:
                    entry["lf_error"] = f"mismatch in the worker: rel_err={entry['lf_rel_err']:.2e}"
            except Exception as exc:
                entry["lf_error"] = f"{type(exc).__name__}: {exc}"
            time.sleep(settle)  # the check ran numpy last
        if show:
            what = "numpy (OPENBLAS_* unset)"
            if "lf" in fns:
                what = "lf + " + what + ", interleaved"
            say(sys.stderr, f"[gemm] ({i}/{len(cases)}) subprocess: timing {what}: "
                f"{case['kind']} {case['shape']}")
        m = _timed(fns, spec["repeats"], spec["min_time"], settle)
        entry["numpy_unset"] = m["numpy_unset"]
        entry["lf"] = m.get("lf")
        results.append(entry)
    return {
        "numpy_version": np.__version__,
        "openblas": openblas_info(),
        "env": env_report(),
        "latentforge_file": os.path.abspath(lf.__file__),
        "lf_num_threads": lf.get_num_threads(),
        "results": results,
    }


def run_unset_worker(
    cases: list[Case],
    repeats: int,
    min_time: float,
    seed: int,
    threads: int | None,
    progress: Any,
    settle: float = DEFAULT_SETTLE,
) -> dict[str, Any]:
    """:func:`unset_worker` in a subprocess without ``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE``.

    A case with ``time_lf`` false gets numpy timed alone (its lf result failed the check).
    """
    spec = {"cases": cases, "repeats": repeats, "min_time": min_time, "seed": seed,
            "threads": threads, "settle": settle, "progress": progress is not None}
    set_env = {"OPENBLAS_NUM_THREADS": str(threads)} if threads else None
    return run_isolated(WORKER, spec, unset_env=UNSET_VARS, set_env=set_env, progress=progress)


# --------------------------------------------------------------------------- formatting


def _check_cell(r: dict[str, Any]) -> str:
    if r.get("error"):
        return f"!! ERROR: {r['error']} !!"
    if r.get("verified") is False:
        return f"!! MISMATCH rel_err={r['rel_err']:.2e} (speed not measured) !!"
    if r.get("unsetrun_error"):
        return f"ok here (rel_err {r['rel_err']:.1e}); !! unset run: {r['unsetrun_error']} !!"
    return f"ok (rel_err {r['rel_err']:.1e})"


def _lf_cell(r: dict[str, Any], key: str, spec: str) -> str:
    if r.get("error"):
        return "ERROR"
    if r.get("verified") is False:
        return "MISMATCH"
    return fmt(r.get(key), spec)


def format_report(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    stat = meta["stat"]
    how = (
        f"{stat} of {meta['repeats']} timed repetitions (each >= {meta['min_time_s'] * 1e3:.0f} ms "
        "of back-to-back calls) after a warm-up"
    )
    bi = meta.get("latentforge", {})
    ob, obu = meta.get("openblas_inprocess", {}), meta.get("openblas_unset") or {}
    env = meta.get("env", {})
    env_s = " ".join(f"{k}={env[k]}" for k in UNSET_VARS if env.get(k) is not None) or "none set"
    lines = [
        "latentforge GEMM benchmark (float32)",
        f"  latentforge {bi.get('version', '?')}: isa_selected={bi.get('isa_selected', '?')} "
        f"num_threads={meta.get('lf_num_threads', bi.get('num_threads', '?'))} "
        f"openmp={bi.get('openmp', '?')} compiler={bi.get('compiler', '?')}",
        f"  numpy {meta.get('numpy_version')}: as-is OpenBLAS core={ob.get('core', 'unknown')} "
        f"threads={ob.get('num_threads', '?')} ({env_s})",
    ]
    if meta.get("openblas_unset_error"):
        lines.append(
            f"  numpy (OPENBLAS_* unset) subprocess FAILED: {meta['openblas_unset_error']}"
        )
    elif obu:
        lines.append(
            f"  numpy (OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset, subprocess): OpenBLAS "
            f"core={obu.get('core', 'unknown')} threads={obu.get('num_threads', '?')}"
        )
    lines.append(f"  CPU: {meta.get('cpu_model')} ({meta.get('logical_cpus')} logical CPUs)")
    lines.append(f"  timing: {how}")
    lines.append(
        "  lf and each numpy are timed interleaved in the same process (repetitions alternate; "
        f"{meta.get('settle_s', DEFAULT_SETTLE) * 1e3:.0f} ms pause when the library changes)"
    )
    lines.append(
        "  ratio is per process: numpy as-is / lf here, numpy unset / lf (unset run) in the "
        "subprocess; 'lf / best numpy' = the smaller"
    )
    load, ncpu = meta.get("loadavg_at_start"), meta.get("logical_cpus") or 1
    if load is not None and load > 0.5 * ncpu:
        lines.append(
            "  WARNING: the machine was busy when the suite started "
            f"(1-min load average {load:.2f} "
            f"on {ncpu} CPUs); expect noisy numbers"
        )

    gem = [r for r in results if r["kind"] == "gemm"]
    lin = [r for r in results if r["kind"] == "linear"]
    if gem:
        rows = []
        for r in gem:
            rows.append(
                [
                    f"{r['shape']} ({r['label']})",
                    _lf_cell(r, "lf_gflops", ".1f"),
                    fmt(r.get("numpy_gflops"), ".1f"),
                    _lf_cell(r, "lf_unsetrun_gflops", ".1f"),
                    fmt(r.get("numpy_unset_gflops"), ".1f"),
                    fmt_ratio(r.get("ratio")),
                    _check_cell(r),
                ]
            )
        lines += [
            "",
            f"GEMM C = A @ B, GFLOP/s = 2*M*N*K / time ({stat}); "
            "ratio = min over processes of numpy time / lf time; > 1 means latentforge is faster",
            format_table(
                [
                    "shape (M x K @ K x N)",
                    "lf GFLOP/s",
                    "numpy as-is GFLOP/s",
                    "lf GFLOP/s (unset run)",
                    "numpy (OPENBLAS_* unset) GFLOP/s",
                    "lf / best numpy",
                    "check vs numpy",
                ],
                rows,
            ),
        ]
    if lin:
        rows = []
        for r in lin:
            rows.append(
                [
                    r["shape"],
                    _lf_cell(r, "lf_ms", ".4g"),
                    fmt(r.get("numpy_ms"), ".4g"),
                    _lf_cell(r, "lf_unsetrun_ms", ".4g"),
                    fmt(r.get("numpy_unset_ms"), ".4g"),
                    fmt_ratio(r.get("ratio")),
                    _check_cell(r),
                ]
            )
        lines += [
            "",
            "Fused linear sigmoid(X @ W + b): lf.ops.linear(X, W, b, 'sigmoid') vs numpy "
            f"1/(1+np.exp(-(X@W+b))); ms per call ({stat}); speedup = min over processes "
            "of numpy ms / lf ms",
            format_table(
                [
                    "X @ W (M x K @ K x N)",
                    "lf ms",
                    "numpy as-is ms",
                    "lf ms (unset run)",
                    "numpy (OPENBLAS_* unset) ms",
                    "lf speedup vs best numpy",
                    "check vs numpy",
                ],
                rows,
            ),
        ]
    bad = [r for r in results if r.get("error") or r.get("verified") is False]
    if bad:
        lines += [
            "",
            f"!!! {len(bad)} latentforge case(s) FAILED the correctness check or raised; "
            "their speed is not reported !!!",
        ]
    lines.append(f"\n(suite took {meta.get('elapsed_s', 0):.1f} s)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the suite


def _timing_fields(
    prefix: str, m: dict[str, Any] | None, flops: int, stat: str
) -> dict[str, Any]:
    if m is None:
        return {prefix: None, f"{prefix}_ms": None, f"{prefix}_gflops": None}
    for s in ("best", "median"):
        m[f"gflops_{s}"] = flops / m[f"{s}_s"] / 1e9
    t = m[f"{stat}_s"]
    return {prefix: m, f"{prefix}_ms": t * 1e3, f"{prefix}_gflops": flops / t / 1e9}


def _ratio(num_ms: float | None, den_ms: float | None) -> float | None:
    return num_ms / den_ms if (num_ms is not None and den_ms) else None


def run(
    full: bool = False,
    repeats: int | None = None,
    out: Any = None,
    *,
    progress: Any = _STDERR,
    threads: int | None = None,
    sizes: Sequence[int] | None = None,
    mlp_shapes: Sequence[tuple[int, int, int]] | None = None,
    linear: bool = True,
    smoke: bool = False,
    min_time: float | None = None,
    stat: str = "best",
    unset_subprocess: bool = True,
    seed: int = 0,
    settle: float | None = None,
):
    """Run the GEMM suite, print its tables to ``out`` and return a ``SuiteResult``.

    ``full`` adds n = 2048 and 4096; ``smoke`` uses tiny shapes and few
    repetitions (for tests); ``sizes`` / ``mlp_shapes`` override the shapes;
    ``stat`` ("best" or "median") picks the statistic shown in the tables
    (both are in the result dicts); ``progress`` receives progress lines
    (default ``sys.stderr``, ``None`` silences); ``threads`` sets the thread
    count of latentforge and of both numpy runs (in both processes);
    ``unset_subprocess=False`` skips the subprocess run; ``settle`` is the
    pause (s) between repetitions of different libraries (default 0.1, 0 with
    ``smoke``).
    """
    import latentforge as lf

    if stat not in ("best", "median"):
        raise ValueError(f"stat must be 'best' or 'median', not {stat!r}")
    out = sys.stdout if out is None else out
    progress = sys.stderr if progress is _STDERR else progress
    if smoke:
        sizes = SMOKE_SQUARE if sizes is None else sizes
        mlp_shapes = SMOKE_MLP if mlp_shapes is None else mlp_shapes
        repeats = 2 if repeats is None else repeats
        min_time = 0.002 if min_time is None else min_time
        settle = 0.0 if settle is None else settle
    if sizes is None:
        sizes = SQUARE_FULL if full else SQUARE_DEFAULT
    if mlp_shapes is None:
        mlp_shapes = MLP_SHAPES
    if repeats is None:
        repeats = DEFAULT_REPEATS_FULL if full else DEFAULT_REPEATS
    if min_time is None:
        min_time = DEFAULT_MIN_TIME
    if settle is None:
        settle = DEFAULT_SETTLE
    repeats = max(1, int(repeats))

    with thread_limits(threads, progress=progress, tag=SUITE):
        res = _run_cases(
            lf,
            make_cases(sizes, mlp_shapes, linear),
            repeats,
            min_time,
            stat,
            seed,
            threads,
            unset_subprocess,
            progress,
            settle,
        )
    print(format_report(res, res.meta), file=out, flush=True)
    return res


def _run_cases(
    lf: Any,
    cases: list[Case],
    repeats: int,
    min_time: float,
    stat: str,
    seed: int,
    threads: int | None,
    unset_subprocess: bool,
    progress: Any,
    settle: float = DEFAULT_SETTLE,
):
    from latentforge.bench import SuiteResult

    t_start = time.perf_counter()
    meta: dict[str, Any] = {
        "suite": SUITE,
        "stat": stat,
        "repeats": repeats,
        "min_time_s": min_time,
        "settle_s": settle,
        "rel_tol": REL_TOL,
        "seed": seed,
        "latentforge": lf.build_info(),
        "lf_num_threads": lf.get_num_threads(),
        "numpy_version": np.__version__,
        "openblas_inprocess": openblas_info(),
        "env": env_report(),
        **machine_meta(),
    }
    say(
        progress,
        f"[gemm] {len(cases)} cases, {repeats} repetitions each; lf is timed interleaved with "
        "numpy as-is here and with numpy (OPENBLAS_* unset) in a subprocess",
    )

    # 1. correctness of every latentforge case against in-process numpy (before timing it).
    data = {i: _make_data(c, seed) for i, c in enumerate(cases)}
    results: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        r = dict(case, suite=SUITE, verified=None, rel_err=None, error=None)
        say(progress, f"[gemm] ({i + 1}/{len(cases)}) checking lf {case['kind']} {case['shape']}")
        with np.errstate(over="ignore"):
            ref = _numpy_fn(case, data[i])()
        try:
            got = _lf_fn(lf, case, data[i])()
            r["rel_err"] = _rel_err(got, ref)
            r["verified"] = bool(r["rel_err"] <= REL_TOL)
        except Exception as exc:
            r["error"] = f"{type(exc).__name__}: {exc}"
            r["verified"] = False
        if not r["verified"]:
            say(progress, f"[gemm] !! {case['kind']} {case['shape']}: {_check_cell(r)}")
        results.append(r)

    # 2. lf interleaved with numpy (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset) in a subprocess.
    unset: list[dict[str, Any]] | None = None
    if unset_subprocess:
        try:
            w = run_unset_worker(
                [dict(c, time_lf=bool(r["verified"])) for c, r in zip(cases, results)],
                repeats,
                min_time,
                seed,
                threads,
                progress,
                settle,
            )
            unset = w["results"]
            meta["openblas_unset"] = w["openblas"]
            meta["numpy_unset_env"] = w["env"]
            meta["lf_num_threads_unsetrun"] = w.get("lf_num_threads")
            meta["latentforge_file_unsetrun"] = w.get("latentforge_file")
        except Exception as exc:  # report, keep going with the in-process numbers
            meta["openblas_unset_error"] = str(exc)
            say(progress, f"[gemm] numpy worker failed: {exc}")

    # 3. lf interleaved with numpy as-is, in this process.  The checks above (and the
    # subprocess's end) leave spinning OpenBLAS threads behind: let them go idle first.
    times: dict[int, dict[str, dict[str, Any]]] = {}
    time.sleep(0.2)
    for i, case in enumerate(cases):
        fns: dict[str, Callable[[], Any]] = {}
        if results[i]["verified"]:
            fns["lf"] = _lf_fn(lf, case, data[i])
        fns["numpy"] = _numpy_fn(case, data[i])
        what = "lf + numpy as-is, interleaved" if "lf" in fns else "numpy as-is"
        say(progress,
            f"[gemm] ({i + 1}/{len(cases)}) timing {what}: {case['kind']} {case['shape']}")
        times[i] = _timed(fns, repeats, min_time, settle)

    for i, r in enumerate(results):
        fl = r["flops"]
        u = unset[i] if unset else {}
        r.update(_timing_fields("lf", times[i].get("lf"), fl, stat))
        r.update(_timing_fields("numpy", times[i].get("numpy"), fl, stat))
        r.update(_timing_fields("lf_unsetrun", u.get("lf"), fl, stat))
        r.update(_timing_fields("numpy_unset", u.get("numpy_unset"), fl, stat))
        if u.get("lf_error") and r["verified"]:
            r["unsetrun_error"] = u["lf_error"]
        r["ratio_asis"] = _ratio(r["numpy_ms"], r["lf_ms"])
        r["ratio_unset"] = _ratio(r["numpy_unset_ms"], r["lf_unsetrun_ms"])
        ratios = {
            k: v for k, v in (("numpy", r["ratio_asis"]), ("numpy_unset", r["ratio_unset"]))
            if v is not None
        }
        r["ratio"] = min(ratios.values()) if ratios else None
        if ratios:  # the faster numpy, each judged against lf timed alongside it
            r["best_numpy"] = min(ratios, key=lambda k: ratios[k])
        else:  # no lf timing to normalise by: raw times from different moments
            raw = {
                k: r[f"{k}_ms"] for k in ("numpy", "numpy_unset") if r[f"{k}_ms"] is not None
            }
            r["best_numpy"] = min(raw, key=lambda k: raw[k]) if raw else None

    meta["elapsed_s"] = time.perf_counter() - t_start
    return SuiteResult(results, meta)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    p = suite_parser(
        "float32 GEMM and fused linear benchmark: latentforge vs numpy "
        "(as-is and with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset)",
        full_help="add n = 2048 and 4096 (slower)",
    )
    p.add_argument("--min-time", type=float, metavar="S",
                   help=f"minimum seconds per timed repetition (default {DEFAULT_MIN_TIME})")
    p.add_argument("--stat", choices=("best", "median"), default="best",
                   help="statistic shown in the tables")
    args = p.parse_args(argv)
    return suite_main(run, args, min_time=args.min_time, stat=args.stat)


if __name__ == "__main__":
    sys.exit(main())
