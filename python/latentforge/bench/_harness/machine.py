"""What the numbers were measured on, and the thread counts they were measured with."""

from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import warnings
from collections.abc import Iterable, Iterator
from typing import Any, Callable

#: Environment variables every suite reports (they change what numpy's OpenBLAS does).
REPORTED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def loadavg() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def env_report(keys: Iterable[str] = REPORTED_ENV) -> dict[str, str | None]:
    return {k: os.environ.get(k) for k in keys}


def machine_meta() -> dict[str, Any]:
    """CPU, logical CPUs, Python, platform and the load when a suite starts."""
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": loadavg(),
    }


# --------------------------------------------------------------------------- OpenBLAS


def _openblas_ctypes_libs() -> list[str]:
    """Paths of loaded OpenBLAS libraries (Linux /proc/self/maps), numpy's first."""
    paths: list[str] = []
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


def _openblas_sym(lib: Any, fn: str) -> Any | None:
    for pre in ("scipy_openblas", "openblas"):
        for suf in ("64_", "", "_64"):
            try:
                return getattr(lib, f"{pre}_{fn}{suf}")
            except AttributeError:
                continue
    return None


def _openblas_via_ctypes() -> dict[str, Any] | None:
    for path in _openblas_ctypes_libs():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        corename = _openblas_sym(lib, "get_corename")
        if corename is None:
            continue
        corename.restype = ctypes.c_char_p
        info: dict[str, Any] = {"core": (corename() or b"unknown").decode(), "filepath": path}
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


def openblas_info() -> dict[str, Any]:
    """Which OpenBLAS kernel core numpy runs in *this* process.

    Uses threadpoolctl when installed, else asks the loaded OpenBLAS library itself through
    ctypes (Linux), else reports ``"unknown"``.
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
    out: dict[str, Any] = {"core": "unknown", "source": None}
    if warn:
        out["warning"] = warn
    return out


def limit_blas_threads(n: int) -> Callable[[], None] | None:
    """Limit this process's BLAS to ``n`` threads; returns an undo callable (None: failed)."""
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
        set_fn = _openblas_sym(lib, "set_num_threads")
        get_fn = _openblas_sym(lib, "get_num_threads")
        if set_fn is not None and get_fn is not None:
            set_fn.argtypes, set_fn.restype, get_fn.restype = [ctypes.c_int], None, ctypes.c_int
            before = int(get_fn())
            set_fn(int(n))
            return lambda: set_fn(before)
    return None


@contextlib.contextmanager
def thread_limits(
    threads: int | None, *, blas: bool = True, torch: bool = False, progress: Any = None,
    tag: str = "bench",
) -> Iterator[int]:
    """Run with ``threads`` threads in latentforge (and this process's BLAS, and PyTorch when
    ``torch``); everything is restored on exit. ``threads=None`` changes only PyTorch, which
    is given latentforge's count so both libraries run alike. Yields latentforge's count."""
    import latentforge as lf

    undo: list[Callable[[], None]] = []
    try:
        if threads:
            before = lf.get_num_threads()
            lf.set_num_threads(int(threads))
            undo.append(lambda: lf.set_num_threads(before))
            if blas:
                restore = limit_blas_threads(int(threads))
                if restore is None:
                    if progress is not None:
                        progress.write(f"[{tag}] warning: could not limit this process's BLAS "
                                       "threads\n")
                else:
                    undo.append(restore)
        n = lf.get_num_threads()
        if torch:
            try:
                import torch as _torch
            except ImportError:
                pass
            else:
                torch_before = _torch.get_num_threads()
                _torch.set_num_threads(n)
                undo.append(lambda: _torch.set_num_threads(torch_before))
        yield n
    finally:
        for fn in reversed(undo):
            fn()
