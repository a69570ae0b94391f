"""This machine's roofline, measured once per benchmark session (``benchmarks/conftest.py``).

* Peak FLOP/s = threads x clock x FLOP per cycle per core of the SIMD path latentforge runs
  (``latentforge._C.isa_active()``). FLOP per cycle is a stated assumption: two FMA pipes per
  core, i.e. 2 x 2 x lanes float32 FLOP (avx512: 64, avx2: 32); the scalar path (SSE2, no FMA)
  issues one 4-wide multiply and one 4-wide add per cycle (8). Override with
  ``LATENTFORGE_BENCH_FLOPS_PER_CYCLE``.
* The clock is measured: a chain of dependent 64-bit ``imul`` (3 cycles each on every x86 core
  since 2011), compiled with ``cc`` into a small shared library and timed; where that cannot
  be built, ``/proc/cpuinfo``'s "cpu MHz" is used and said so. Override with
  ``LATENTFORGE_BENCH_CLOCK_GHZ``.
* Memory bandwidth is measured with numpy copies (bytes read + bytes written per second, the
  best of single-threaded and one-thread-per-core copies): once for arrays much larger than
  the last-level cache (DRAM) and once for arrays that fit in it (L3). A benchmark whose
  compulsory traffic fits in half the L3 is held to the L3 roof, otherwise to the DRAM roof.

A case's roofline time is ``max(flops / peak, bytes / bandwidth)``; the fraction reported is
that time over the measured (best) time, so 1.0 means the kernel runs at the roof and small
values point at the work the model does not count (or at latency and overheads).
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FLOPS_PER_CYCLE = {"avx512": 64, "avx2": 32, "scalar": 8}

_PROBE_SRC = r"""
#include <stddef.h>
#include <stdint.h>
uint64_t lf_mul_chain(uint64_t n, uint64_t x) {
  for (uint64_t i = 0; i < n; ++i)
    __asm__ volatile("imul %0, %0\n\timul %0, %0\n\timul %0, %0\n\timul %0, %0" : "+r"(x));
  return x;
}
/* STREAM triad a = b + s c, reps times (12 bytes per element per pass). */
void lf_triad(float* a, const float* b, const float* c, size_t n, int reps) {
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
    __asm__ volatile("" : : "r"(a) : "memory");
  }
}
"""
_IMUL_LATENCY = 3  # cycles
_IMUL_PER_ITER = 4


def _cpuinfo_ghz() -> float | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("cpu mhz"):
                    return float(line.split(":", 1)[1]) / 1e3
    except (OSError, ValueError):
        pass
    return None


def build_probes(workdir: str) -> Any:
    """The probe library (``cc -O3 -march=native``), or None where it cannot be built."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    src, lib = os.path.join(workdir, "probe.c"), os.path.join(workdir, "probe.so")
    try:
        with open(src, "w", encoding="utf-8") as f:
            f.write(_PROBE_SRC)
        subprocess.run(["cc", "-O3", "-march=native", "-shared", "-fPIC", "-o", lib, src],
                       check=True, capture_output=True, timeout=60)
        return ctypes.CDLL(lib)
    except (OSError, subprocess.SubprocessError):
        return None


def measure_clock(probes: Any) -> tuple[float | None, str]:
    """(GHz, how it was obtained)."""
    env = os.environ.get("LATENTFORGE_BENCH_CLOCK_GHZ")
    if env:
        return float(env), "LATENTFORGE_BENCH_CLOCK_GHZ"
    if probes is not None:
        try:
            fn = probes.lf_mul_chain
            fn.restype, fn.argtypes = ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_uint64]
            # Many short runs, the best: on a shared machine some of them run uncontended.
            n, best = 500_000, float("inf")
            fn(n, 3)
            for _ in range(60):
                t0 = time.perf_counter()
                fn(n, 3)
                best = min(best, time.perf_counter() - t0)
            ghz = n * _IMUL_PER_ITER * _IMUL_LATENCY / best / 1e9
            return ghz, "measured (dependent imul chain)"
        except AttributeError:
            pass
    ghz = _cpuinfo_ghz()
    return ghz, "assumed: /proc/cpuinfo cpu MHz (nominal)"


def l3_bytes() -> int:
    """The largest cache's size (sysfs), 32 MiB when unknown."""
    best = 0
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for d in os.listdir(base):
            try:
                with open(os.path.join(base, d, "size"), encoding="utf-8") as f:
                    s = f.read().strip().upper()
            except OSError:
                continue
            mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(s[-1:], 1)
            best = max(best, int(s.rstrip("KMG")) * mult)
    except (OSError, ValueError):
        pass
    return best or 32 << 20


def _run_threads(threads: int, work: Any) -> float:
    """Seconds for ``work(i)`` on ``threads`` threads started together."""
    start = threading.Barrier(threads + 1)

    def body(i: int) -> None:
        start.wait()
        work(i)

    pool = [threading.Thread(target=body, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    start.wait()
    for t in pool:
        t.join()
    return time.perf_counter() - t0


def bandwidth(nbytes: int, threads: int, probes: Any, min_time: float = 0.05) -> float:
    """Best GB/s over 7 tries of streaming ``nbytes`` in all (split over ``threads`` threads).

    With the probe library: a STREAM triad ``a = b + s c`` in C (12 bytes per element, called
    through ctypes, which releases the GIL); without it: numpy copies (8 bytes per element).
    """
    per_elem = 12 if probes is not None else 8
    n = max(1024, nbytes // per_elem)
    bounds = np.linspace(0, n, threads + 1).astype(np.int64)
    a, b, c = (np.full(n, 1.0, dtype=np.float32) for _ in range(3))
    if probes is not None:
        fn = probes.lf_triad
        fn.restype = None
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                       ctypes.c_int]
        ptr = [x.ctypes.data for x in (a, b, c)]

        def part(i: int, reps: int) -> None:
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            fn(ptr[0] + 4 * lo, ptr[1] + 4 * lo, ptr[2] + 4 * lo, hi - lo, reps)
    else:

        def part(i: int, reps: int) -> None:
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            for _ in range(reps):
                np.copyto(a[lo:hi], b[lo:hi])

    one = _run_threads(threads, lambda i: part(i, 1))  # also the warm-up (page faults)
    reps = max(1, int(min_time / max(one, 1e-6)))
    best = min(_run_threads(threads, lambda i: part(i, reps)) / reps for _ in range(7))
    return n * per_elem / best / 1e9


@dataclass
class Machine:
    isa: str
    threads: int
    clock_ghz: float | None
    clock_source: str
    flops_per_cycle: int
    dram_gbs: float
    cache_gbs: float
    cache_bytes: int
    bandwidth_source: str = "numpy copy"
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def peak_gflops(self) -> float | None:
        if self.clock_ghz is None:
            return None
        return self.threads * self.clock_ghz * self.flops_per_cycle

    def evaluate(self, seconds: float, flops: float, nbytes: float) -> dict[str, Any]:
        """Achieved GFLOP/s and GB/s, the roof that binds, and the fraction of it reached."""
        in_cache = nbytes <= self.cache_bytes // 2
        bw = self.cache_gbs if in_cache else self.dram_gbs
        t_mem = nbytes / (bw * 1e9)
        peak = self.peak_gflops
        t_flop = flops / (peak * 1e9) if (peak and flops) else 0.0
        bound = "compute" if t_flop >= t_mem else ("L3" if in_cache else "DRAM")
        return {
            "seconds": seconds,
            "flops": flops,
            "bytes": nbytes,
            "gflops": flops / seconds / 1e9 if flops else None,
            "gbs": nbytes / seconds / 1e9,
            "roof": bound,
            "roofline_fraction": max(t_flop, t_mem) / seconds,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "isa": self.isa,
            "threads": self.threads,
            "clock_ghz": self.clock_ghz,
            "clock_source": self.clock_source,
            "flops_per_cycle_per_core": self.flops_per_cycle,
            "peak_gflops": self.peak_gflops,
            "dram_gbs": self.dram_gbs,
            "l3_gbs": self.cache_gbs,
            "l3_bytes": self.cache_bytes,
            "bandwidth_source": self.bandwidth_source,
        }


def probe(workdir: str | None = None) -> Machine:
    import latentforge as lf
    from latentforge import _C

    isa = str(_C.isa_active())
    threads = max(1, min(lf.get_num_threads(), os.cpu_count() or 1))
    fpc = int(os.environ.get("LATENTFORGE_BENCH_FLOPS_PER_CYCLE") or FLOPS_PER_CYCLE.get(isa, 8))
    with tempfile.TemporaryDirectory() as tmp:
        probes = build_probes(workdir or tmp)
        ghz, src = measure_clock(probes)
        l3 = l3_bytes()
        # DRAM: 4x the L3; cache: a footprint like the benchmarks' (a few MiB per array).
        dram = max(bandwidth(max(4 * l3, 256 << 20), t, probes) for t in {1, threads})
        cache = max(bandwidth(min(l3 // 4, 24 << 20), t, probes) for t in {1, threads})
        bw_src = "STREAM triad in C" if probes is not None else "numpy copy"
    return Machine(isa, threads, ghz, src, fpc, dram, cache, l3, bw_src)


def format_summary(m: Machine) -> str:
    from latentforge.bench._harness import fmt, format_table

    peak = m.peak_gflops
    head = [
        f"roofline: {m.isa}, {m.threads} threads x {fmt(m.clock_ghz, '.2f', '?')} GHz "
        f"({m.clock_source}) x {m.flops_per_cycle} FLOP/cycle = {fmt(peak, '.0f', '?')} "
        f"GFLOP/s peak; bandwidth ({m.bandwidth_source}) {m.dram_gbs:.1f} GB/s DRAM, "
        f"{m.cache_gbs:.1f} GB/s L3 (L3 {m.cache_bytes >> 20} MiB: traffic up to half of it is "
        "held to the L3 roof)",
    ]
    rows = []
    for r in m.rows:
        rows.append([r["op"], r["case"], f"{r['seconds'] * 1e3:.4g}", fmt(r["gflops"], ".1f"),
                     f"{r['gbs']:.1f}", r["roof"], f"{r['roofline_fraction']:.2g}"])
    table = format_table(["op", "case", "best ms", "GFLOP/s", "GB/s", "roof", "of roof"], rows,
                         align="llrrrlr")
    return "\n".join(head + [table])
