"""GEMM benchmark: latentforge vs numpy, side by side in one run.

Measures float32 ``lf.ops.gemm(A, B)`` against numpy's ``A @ B`` twice:

* *numpy as-is*: in this process, with whatever ``OPENBLAS_*`` settings the
  environment has (some environments pin ``OPENBLAS_CORETYPE=Haswell`` and a
  small ``OPENBLAS_L2_SIZE``, which slow OpenBLAS down on newer CPUs);
* *numpy (OPENBLAS_* unset)*: in a subprocess whose environment lacks
  ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE``, so OpenBLAS picks its own
  kernel for the CPU.  The subprocess runs this very file by path with the
  hidden ``--numpy-worker`` flag (same ``sys.executable``; it imports the same
  latentforge as the parent, whose location it is told) and answers JSON on
  stdout.

Shared and virtual machines drift in throughput (by up to 2x over tens of
seconds), so numbers measured at different moments cannot be compared.  In
each process latentforge and that process's numpy are therefore timed
*interleaved* (``_measure_interleaved``: one repetition of each in turn, the
order alternating every round, with a short settle pause whenever the library
changes), and every ratio compares two timings from the same process: numpy
as-is vs lf in this process, numpy (OPENBLAS_* unset) vs lf in the
subprocess.  The headline ratio is the smaller of the two ("lf / best numpy").

It also times the fused ``lf.ops.linear(X, W, b, activation="sigmoid")``
against numpy's three-pass ``1/(1+np.exp(-(X@W+b)))`` at the MLP shapes.

Every latentforge result is checked once against numpy before it is timed; a
case that fails the check (max|lf - numpy| / max|numpy| > 1e-4) or raises is
reported loudly and its speed is NOT measured.

Used by ``latentforge bench`` (suite ``gemm``) and ``benchmarks/bench_gemm.py``.
This module must stay runnable as a plain script (``python gemm.py
--numpy-worker``): it imports latentforge lazily, inside functions.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

SUITE = "gemm"

#: Square sizes n (an n x n @ n x n product).
SQUARE_DEFAULT: Tuple[int, ...] = (128, 256, 512, 1024)
SQUARE_FULL: Tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096)
#: MLP shapes as (M, K, N): (M x K) @ (K x N) -- batch 128, 784-1000-784 layers.
MLP_SHAPES: Tuple[Tuple[int, int, int], ...] = (
    (128, 784, 1000),  # forward  X(128x784) @ W(784x1000)
    (784, 128, 1000),  # weight-gradient-like (784x128) @ (128x1000)
    (128, 1000, 784),  # forward of the second layer (128x1000) @ (1000x784)
)
#: Tiny shapes for smoke tests.
SMOKE_SQUARE: Tuple[int, ...] = (64,)
SMOKE_MLP: Tuple[Tuple[int, int, int], ...] = ((32, 48, 40),)

DEFAULT_REPEATS = 7
DEFAULT_REPEATS_FULL = 5
DEFAULT_MIN_TIME = 0.05  # seconds of back-to-back calls per timed repetition
#: Pause (s) before a timed repetition whose library differs from the previous one's:
#: OpenBLAS workers keep spinning ~0.1 s after a call (latentforge's OpenMP threads briefly).
DEFAULT_SETTLE = 0.1
REL_TOL = 1e-4
UNSET_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
REPORTED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")

_STDERR = object()  # sentinel: "sys.stderr at call time"

Case = Dict[str, Any]


# --------------------------------------------------------------------------- cases & data


def make_cases(
    sizes: Sequence[int], mlp_shapes: Sequence[Tuple[int, int, int]], linear: bool = True
) -> List[Case]:
    cases: List[Case] = []
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


def _make_data(case: Case, seed: int) -> Dict[str, np.ndarray]:
    m, k, n = case["M"], case["K"], case["N"]
    rng = np.random.default_rng([seed, m, k, n, 0 if case["kind"] == "gemm" else 1])
    a = rng.standard_normal((m, k), dtype=np.float32)
    # Scaled like an initialised weight matrix so that pre-activations are O(1).
    b = rng.standard_normal((k, n), dtype=np.float32) * np.float32(1.0 / math.sqrt(k))
    data = {"A": a, "B": b}
    if case["kind"] == "linear":
        data["bias"] = rng.standard_normal(n, dtype=np.float32) * np.float32(0.1)
    return data


def _numpy_fn(case: Case, data: Dict[str, np.ndarray]) -> Callable[[], np.ndarray]:
    A, B = data["A"], data["B"]
    if case["kind"] == "gemm":
        return lambda: A @ B
    bias = data["bias"]
    return lambda: 1 / (1 + np.exp(-(A @ B + bias)))


def _lf_fn(lf: Any, case: Case, data: Dict[str, np.ndarray]) -> Callable[[], np.ndarray]:
    A, B = data["A"], data["B"]
    if case["kind"] == "gemm":
        return lambda: lf.ops.gemm(A, B)
    bias = data["bias"]
    return lambda: lf.ops.linear(A, B, bias, activation="sigmoid")


# --------------------------------------------------------------------------- timing


def _measure(fn: Callable[[], Any], repeats: int, min_time: float) -> Dict[str, Any]:
    """One warm-up call, one calibration call, then ``repeats`` timed repetitions.

    Each repetition runs ``number`` back-to-back calls (chosen so it lasts at
    least ``min_time`` seconds) and records the mean time per call.
    """
    number = _calibrate(fn, min_time)
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return {
        "best_s": min(times),
        "median_s": statistics.median(times),
        "number": number,
        "repeats": len(times),
    }


def _calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """One warm-up call and one timed call; returns how many calls last ``min_time`` s."""
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter() - t0
    return 1 if t1 >= min_time else min(100_000, max(1, math.ceil(min_time / max(t1, 1e-7))))


def _measure_interleaved(
    fns: Dict[str, Callable[[], Any]], repeats: int, min_time: float, settle: float = 0.1
) -> Dict[str, Dict[str, Any]]:
    """Time several functions interleaved, so that they see the same machine state.

    Each function is warmed up and calibrated as in ``_measure`` (``number``
    back-to-back calls per repetition, lasting at least ``min_time`` s).  Then
    each of ``repeats`` rounds times one repetition of every function in turn,
    the order alternating between rounds (A, B, then B, A, ...), so a slow
    drift of the machine's speed hits all of them alike.  Before a repetition
    (or calibration) of a function other than the one that ran last, the
    process sleeps ``settle`` seconds: one library's worker threads that are
    still spinning after its last call must not steal a core from the next.

    Returns ``{name: {"best_s", "median_s", "number", "repeats"}}`` like ``_measure``.
    """
    names = list(fns)
    prev: Optional[str] = None

    def pause(name: str) -> None:
        if settle > 0 and prev is not None and prev != name:
            time.sleep(settle)

    numbers: Dict[str, int] = {}
    for name in names:
        pause(name)
        numbers[name] = _calibrate(fns[name], min_time)
        prev = name
    times: Dict[str, List[float]] = {name: [] for name in names}
    for rnd in range(max(1, repeats)):
        for name in names if rnd % 2 == 0 else names[::-1]:
            fn, number = fns[name], numbers[name]
            pause(name)
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - t0) / number)
            prev = name
    return {
        name: {
            "best_s": min(ts),
            "median_s": statistics.median(ts),
            "number": numbers[name],
            "repeats": len(ts),
        }
        for name, ts in times.items()
    }


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


# --------------------------------------------------------------------------- environment info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _openblas_ctypes_libs() -> List[str]:
    """Paths of loaded OpenBLAS libraries (Linux /proc/self/maps), numpy's first."""
    paths: List[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) == 6:
                    path = parts[5].strip()
                    if "openblas" in os.path.basename(path).lower() and path not in paths:
                        paths.append(path)
    except OSError:
        return []
    return sorted(paths, key=lambda p: 0 if "numpy" in p or "scipy_openblas" in p else 1)


def _openblas_sym(lib: Any, fn: str) -> Optional[Any]:
    for pre in ("scipy_openblas", "openblas"):
        for suf in ("64_", "", "_64"):
            try:
                return getattr(lib, f"{pre}_{fn}{suf}")
            except AttributeError:
                continue
    return None


def _openblas_via_ctypes() -> Optional[Dict[str, Any]]:
    for path in _openblas_ctypes_libs():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        corename = _openblas_sym(lib, "get_corename")
        if corename is None:
            continue
        corename.restype = ctypes.c_char_p
        info: Dict[str, Any] = {"core": (corename() or b"unknown").decode(), "filepath": path}
        nthreads = _openblas_sym(lib, "get_num_threads")
        if nthreads is not None:
            nthreads.restype = ctypes.c_int
            info["num_threads"] = int(nthreads())
        config = _openblas_sym(lib, "get_config")
        if config is not None:
            config.restype = ctypes.c_char_p
            info["config"] = (config() or b"").decode().strip()
        info["source"] = "ctypes"
        return info
    return None


def openblas_info() -> Dict[str, Any]:
    """Which OpenBLAS kernel core numpy runs in *this* process.

    Uses threadpoolctl when installed, else asks the loaded OpenBLAS library
    itself through ctypes (Linux), else reports ``"unknown"``.
    """
    infos = None
    warn = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from threadpoolctl import threadpool_info

            infos = threadpool_info()
    except ImportError:
        pass
    except Exception as exc:  # pragma: no cover - threadpoolctl internals
        warn = f"threadpoolctl failed: {exc}"
    if infos is not None:
        blas = [i for i in infos if i.get("internal_api") == "openblas"]
        blas.sort(key=lambda i: 0 if "numpy" in str(i.get("filepath", "")) else 1)
        if blas:
            i = blas[0]
            return {
                "core": i.get("architecture") or "unknown",
                "num_threads": i.get("num_threads"),
                "version": i.get("version"),
                "filepath": i.get("filepath"),
                "source": "threadpoolctl",
            }
        other = [i for i in infos if i.get("user_api") == "blas"]
        if other:
            return {
                "core": f"not OpenBLAS ({other[0].get('internal_api')})",
                "num_threads": other[0].get("num_threads"),
                "version": other[0].get("version"),
                "source": "threadpoolctl",
            }
    info = _openblas_via_ctypes()
    if info is not None:
        return info
    out: Dict[str, Any] = {"core": "unknown", "source": None}
    if warn:
        out["warning"] = warn
    return out


def _set_openblas_threads(n: int) -> Optional[Callable[[], None]]:
    """Limit this process's OpenBLAS to ``n`` threads; returns an undo callable (None: failed)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from threadpoolctl import threadpool_limits

            limits = threadpool_limits(limits=n, user_api="blas")
        return limits.restore_original_limits
    except ImportError:
        pass
    for path in _openblas_ctypes_libs():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        set_fn, get_fn = (
            _openblas_sym(lib, "set_num_threads"),
            _openblas_sym(lib, "get_num_threads"),
        )
        if set_fn is not None and get_fn is not None:
            set_fn.argtypes, set_fn.restype, get_fn.restype = [ctypes.c_int], None, ctypes.c_int
            before = int(get_fn())
            set_fn(int(n))
            return lambda: set_fn(before)
    return None


def _loadavg() -> Optional[float]:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _env_report() -> Dict[str, Optional[str]]:
    return {k: os.environ.get(k) for k in REPORTED_ENV}


# --------------------------------------------------------------------------- numpy worker


def _import_latentforge(lf_parent: Optional[str]) -> Any:
    """Import latentforge, from the directory ``lf_parent`` (the parent's copy) when given."""
    if lf_parent:
        here = os.path.dirname(os.path.abspath(__file__))
        # Run by path, this file's folder is sys.path[0]; it is no place to import from.
        sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
        sys.path.insert(0, lf_parent)
    import latentforge as lf

    return lf


def _numpy_worker_main() -> int:
    """Entry of the ``--numpy-worker`` subprocess: spec JSON on stdin, results JSON on stdout.

    Times latentforge interleaved with this process's numpy (OPENBLAS_* unset)
    for every case; latentforge only where the parent's check passed and this
    process's own check passes too.
    """
    spec = json.loads(sys.stdin.read())
    show = bool(spec.get("progress", True))
    cases = spec["cases"]
    lf = _import_latentforge(spec.get("lf_parent"))
    if spec.get("threads"):
        lf.set_num_threads(int(spec["threads"]))
    settle = float(spec.get("settle", DEFAULT_SETTLE))
    results = []
    for i, case in enumerate(cases, 1):
        data = _make_data(case, spec["seed"])
        fns: Dict[str, Callable[[], Any]] = {"numpy_unset": _numpy_fn(case, data)}
        entry: Dict[str, Any] = {"lf_rel_err": None, "lf_error": None}
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
            print(
                f"[gemm] ({i}/{len(cases)}) subprocess: timing {what}: "
                f"{case['kind']} {case['shape']}",
                file=sys.stderr,
                flush=True,
            )
        with np.errstate(over="ignore"):
            m = _measure_interleaved(fns, spec["repeats"], spec["min_time"], settle)
        entry["numpy_unset"] = m["numpy_unset"]
        entry["lf"] = m.get("lf")
        results.append(entry)
    out = {
        "numpy_version": np.__version__,
        "openblas": openblas_info(),
        "env": _env_report(),
        "latentforge_file": os.path.abspath(lf.__file__),
        "lf_num_threads": lf.get_num_threads(),
        "results": results,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


def _run_numpy_worker(
    cases: List[Case],
    repeats: int,
    min_time: float,
    seed: int,
    threads: Optional[int],
    progress: Any,
    settle: float = DEFAULT_SETTLE,
) -> Dict[str, Any]:
    """Run the ``--numpy-worker`` subprocess (OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset).

    A case with ``time_lf`` false gets numpy timed alone (its lf result failed the check).
    """
    import latentforge

    env = dict(os.environ)
    for k in UNSET_VARS:
        env.pop(k, None)
    if threads:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    spec = {
        "cases": cases,
        "repeats": repeats,
        "min_time": min_time,
        "seed": seed,
        "threads": threads,
        "settle": settle,
        "lf_parent": os.path.dirname(os.path.dirname(os.path.abspath(latentforge.__file__))),
        "progress": progress is not None,
    }
    cmd = [sys.executable, os.path.abspath(__file__), "--numpy-worker"]
    stdout_chunks: List[str] = []
    tail: List[str] = []
    with subprocess.Popen(
        cmd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        # stdout is read on a thread while stderr (progress) is forwarded live: no pipe deadlock.
        reader = threading.Thread(
            target=lambda: stdout_chunks.append(proc.stdout.read()), daemon=True
        )
        reader.start()
        try:
            proc.stdin.write(json.dumps(spec))
            proc.stdin.close()
            for line in proc.stderr:
                tail = (tail + [line.rstrip("\n")])[-20:]
                if progress is not None:
                    progress.write(line)
                    progress.flush()
            rc = proc.wait()
            reader.join()
        finally:
            if proc.poll() is None:
                proc.kill()
    stdout = "".join(stdout_chunks)
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    if rc != 0 or not lines:
        raise RuntimeError(f"numpy worker exited with {rc}: " + " | ".join(tail[-5:]))
    return json.loads(lines[-1])


# --------------------------------------------------------------------------- formatting


def _fmt_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cols = list(zip(*([list(headers)] + [list(r) for r in rows])))
    widths = [max(len(c) for c in col) for col in cols]
    last = len(headers) - 1

    def fmt(row: Sequence[str]) -> str:
        cells = []
        for j, (c, w) in enumerate(zip(row, widths)):
            cells.append(c.ljust(w) if j in (0, last) else c.rjust(w))
        return " | ".join(cells).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([fmt(headers), sep] + [fmt(r) for r in rows])


def _f(x: Optional[float], spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _check_cell(r: Dict[str, Any]) -> str:
    if r.get("error"):
        return f"!! ERROR: {r['error']} !!"
    if r.get("verified") is False:
        return f"!! MISMATCH rel_err={r['rel_err']:.2e} (speed not measured) !!"
    if r.get("unsetrun_error"):
        return f"ok here (rel_err {r['rel_err']:.1e}); !! unset run: {r['unsetrun_error']} !!"
    return f"ok (rel_err {r['rel_err']:.1e})"


def _lf_cell(r: Dict[str, Any], key: str, spec: str) -> str:
    if r.get("error"):
        return "ERROR"
    if r.get("verified") is False:
        return "MISMATCH"
    return _f(r.get(key), spec)


def format_report(results: List[Dict[str, Any]], meta: Dict[str, Any]) -> str:
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
                    _f(r.get("numpy_gflops"), ".1f"),
                    _lf_cell(r, "lf_unsetrun_gflops", ".1f"),
                    _f(r.get("numpy_unset_gflops"), ".1f"),
                    _f(r.get("ratio"), ".2f") + ("x" if r.get("ratio") is not None else ""),
                    _check_cell(r),
                ]
            )
        lines += [
            "",
            f"GEMM C = A @ B, GFLOP/s = 2*M*N*K / time ({stat}); "
            "ratio = min over processes of numpy time / lf time; > 1 means latentforge is faster",
            _fmt_table(
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
                    _f(r.get("numpy_ms"), ".4g"),
                    _lf_cell(r, "lf_unsetrun_ms", ".4g"),
                    _f(r.get("numpy_unset_ms"), ".4g"),
                    _f(r.get("ratio"), ".2f") + ("x" if r.get("ratio") is not None else ""),
                    _check_cell(r),
                ]
            )
        lines += [
            "",
            "Fused linear sigmoid(X @ W + b): lf.ops.linear(X, W, b, 'sigmoid') vs numpy "
            f"1/(1+np.exp(-(X@W+b))); ms per call ({stat}); speedup = min over processes "
            "of numpy ms / lf ms",
            _fmt_table(
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


def _say(progress: Any, msg: str) -> None:
    if progress is not None:
        progress.write(msg + "\n")
        progress.flush()


def _timing_fields(
    prefix: str, m: Optional[Dict[str, Any]], flops: int, stat: str
) -> Dict[str, Any]:
    if m is None:
        return {prefix: None, f"{prefix}_ms": None, f"{prefix}_gflops": None}
    for s in ("best", "median"):
        m[f"gflops_{s}"] = flops / m[f"{s}_s"] / 1e9
    t = m[f"{stat}_s"]
    return {prefix: m, f"{prefix}_ms": t * 1e3, f"{prefix}_gflops": flops / t / 1e9}


def _ratio(num_ms: Optional[float], den_ms: Optional[float]) -> Optional[float]:
    return num_ms / den_ms if (num_ms is not None and den_ms) else None


def run(
    full: bool = False,
    repeats: Optional[int] = None,
    out: Any = None,
    *,
    progress: Any = _STDERR,
    threads: Optional[int] = None,
    sizes: Optional[Sequence[int]] = None,
    mlp_shapes: Optional[Sequence[Tuple[int, int, int]]] = None,
    linear: bool = True,
    smoke: bool = False,
    min_time: Optional[float] = None,
    stat: str = "best",
    unset_subprocess: bool = True,
    seed: int = 0,
    settle: Optional[float] = None,
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

    undo: List[Callable[[], None]] = []
    if threads:
        lf_before = lf.get_num_threads()
        lf.set_num_threads(int(threads))
        undo.append(lambda: lf.set_num_threads(lf_before))
        restore_blas = _set_openblas_threads(int(threads))
        if restore_blas is None:
            _say(progress, "[gemm] warning: could not limit this process's OpenBLAS threads")
        else:
            undo.append(restore_blas)
    try:
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
    finally:
        for fn in reversed(undo):
            fn()
    print(format_report(res, res.meta), file=out, flush=True)
    return res


def _run_cases(
    lf: Any,
    cases: List[Case],
    repeats: int,
    min_time: float,
    stat: str,
    seed: int,
    threads: Optional[int],
    unset_subprocess: bool,
    progress: Any,
    settle: float = DEFAULT_SETTLE,
):
    from latentforge.bench import SuiteResult

    t_start = time.perf_counter()
    info = lf.build_info()
    meta: Dict[str, Any] = {
        "suite": SUITE,
        "stat": stat,
        "repeats": repeats,
        "min_time_s": min_time,
        "settle_s": settle,
        "rel_tol": REL_TOL,
        "seed": seed,
        "latentforge": info,
        "lf_num_threads": lf.get_num_threads(),
        "numpy_version": np.__version__,
        "openblas_inprocess": openblas_info(),
        "env": _env_report(),
        "cpu_model": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": _loadavg(),
    }
    _say(
        progress,
        f"[gemm] {len(cases)} cases, {repeats} repetitions each; lf is timed interleaved with "
        "numpy as-is here and with numpy (OPENBLAS_* unset) in a subprocess",
    )

    # 1. correctness of every latentforge case against in-process numpy (before timing it).
    data = {i: _make_data(c, seed) for i, c in enumerate(cases)}
    results: List[Dict[str, Any]] = []
    for i, case in enumerate(cases):
        r = dict(case, suite=SUITE, verified=None, rel_err=None, error=None)
        _say(progress, f"[gemm] ({i + 1}/{len(cases)}) checking lf {case['kind']} {case['shape']}")
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
            _say(progress, f"[gemm] !! {case['kind']} {case['shape']}: {_check_cell(r)}")
        results.append(r)

    # 2. lf interleaved with numpy (OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset) in a subprocess.
    unset: Optional[List[Dict[str, Any]]] = None
    if unset_subprocess:
        try:
            w = _run_numpy_worker(
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
            _say(progress, f"[gemm] numpy worker failed: {exc}")

    # 3. lf interleaved with numpy as-is, in this process.  The checks above (and the
    # subprocess's end) leave spinning OpenBLAS threads behind: let them go idle first.
    times: Dict[int, Dict[str, Dict[str, Any]]] = {}
    time.sleep(0.2)
    for i, case in enumerate(cases):
        fns: Dict[str, Callable[[], Any]] = {}
        if results[i]["verified"]:
            fns["lf"] = _lf_fn(lf, case, data[i])
        fns["numpy"] = _numpy_fn(case, data[i])
        what = "lf + numpy as-is, interleaved" if "lf" in fns else "numpy as-is"
        _say(
            progress, f"[gemm] ({i + 1}/{len(cases)}) timing {what}: {case['kind']} {case['shape']}"
        )
        with np.errstate(over="ignore"):
            times[i] = _measure_interleaved(fns, repeats, min_time, settle)

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


def build_parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="float32 GEMM and fused linear benchmark: latentforge vs numpy "
        "(as-is and with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset)",
    )
    add_arguments(p)
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p.add_argument("--numpy-worker", action="store_true", help=argparse.SUPPRESS)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared with ``latentforge bench``."""
    p.add_argument("--full", action="store_true", help="add n = 2048 and 4096 (slower)")
    p.add_argument(
        "--repeats",
        type=int,
        metavar="N",
        help=f"timed repetitions per case (default {DEFAULT_REPEATS}, "
        f"{DEFAULT_REPEATS_FULL} with --full)",
    )
    p.add_argument("--threads", type=int, metavar="N", help="threads for latentforge and numpy")
    p.add_argument(
        "--min-time",
        type=float,
        metavar="S",
        help=f"minimum seconds per timed repetition (default {DEFAULT_MIN_TIME})",
    )
    p.add_argument(
        "--stat", choices=("best", "median"), default="best", help="statistic shown in the tables"
    )
    p.add_argument(
        "--smoke", action="store_true", help="tiny shapes, 2 repetitions (a quick check)"
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.numpy_worker:
        return _numpy_worker_main()
    res = run(
        full=args.full,
        repeats=args.repeats,
        threads=args.threads,
        min_time=args.min_time,
        stat=args.stat,
        smoke=args.smoke,
    )
    if args.json:
        from latentforge.bench import write_json

        write_json(args.json, res.to_json())
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
