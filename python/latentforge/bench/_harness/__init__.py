"""The one benchmark harness every suite of ``latentforge bench`` uses.

=====================  ==========================================================================
``timing``             :func:`interleave` (warm-up, calibration, repetitions of several functions
                       in alternating order, settle pauses, per-function errors),
                       :func:`measure`, :class:`Timing` (best / median), :func:`stopwatch`
``isolation``          :func:`run_isolated`: a function in a fresh interpreter with a changed
                       environment (``OPENBLAS_*`` unset, thread counts), importing this very
                       latentforge; JSON in, JSON out, progress forwarded live
``machine``            what the numbers were measured on: CPU, load, environment, OpenBLAS core;
                       :func:`thread_limits` sets (and restores) latentforge/BLAS/torch threads
``table``              :func:`format_table` and the cell formatters of every printed table
``cli``                the argument parser and ``main`` of the suites' stand-alone scripts
=====================  ==========================================================================

Ratios are only formed between timings taken in the same process and, where the workload
allows it, in the same :func:`interleave` loop, so that a shared machine's drifting speed
affects both sides alike.
"""

from __future__ import annotations

from .cli import suite_main, suite_parser
from .isolation import package_parent, run_isolated
from .machine import (
    cpu_model,
    env_report,
    limit_blas_threads,
    loadavg,
    machine_meta,
    openblas_info,
    thread_limits,
)
from .table import fmt, fmt_ratio, format_table
from .timing import DEFAULT_SETTLE, Timing, calibrate, interleave, measure, say, stopwatch

__all__ = [
    "DEFAULT_SETTLE",
    "Timing",
    "calibrate",
    "cpu_model",
    "env_report",
    "fmt",
    "fmt_ratio",
    "format_table",
    "interleave",
    "limit_blas_threads",
    "loadavg",
    "machine_meta",
    "measure",
    "openblas_info",
    "package_parent",
    "run_isolated",
    "say",
    "stopwatch",
    "suite_main",
    "suite_parser",
    "thread_limits",
]
