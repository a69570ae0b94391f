"""Kernel benchmarks (pytest-benchmark): ``python -m pytest benchmarks --benchmark-only``.

Every op of ``latentforge._optable.OPS`` has ``benchmarks/ops/bench_<op>.py``. A benchmark
calls ``benchmark(fn)`` and then ``roofline(benchmark, op, case, flops=..., nbytes=...)``,
which puts the achieved GFLOP/s and GB/s and the fraction of this machine's roofline
(``_roofline.py``: peak FLOP/s of the active SIMD path x threads x measured clock; copy
bandwidth measured once per session) into ``benchmark.extra_info`` -- so they land in
``--benchmark-json`` output, to compare commits -- and into the table printed at the end.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _roofline  # noqa: E402

_MACHINE: list[_roofline.Machine] = []


@pytest.fixture(scope="session")
def machine(tmp_path_factory) -> _roofline.Machine:
    """This machine's roofline, measured once per session."""
    if not _MACHINE:
        _MACHINE.append(_roofline.probe(str(tmp_path_factory.mktemp("roofline"))))
    return _MACHINE[0]


@pytest.fixture
def roofline(machine):
    """``roofline(benchmark, op, case, flops=0, nbytes=0)`` after ``benchmark(fn)``."""

    def report(benchmark, op: str, case: str, *, flops: float = 0.0, nbytes: float = 0.0):
        stats = getattr(benchmark, "stats", None)
        if stats is None:  # --benchmark-disable: the function ran once, untimed
            return None
        row = machine.evaluate(stats.stats.min, float(flops), float(nbytes))
        benchmark.extra_info.update(row, op=op, case=case, **machine.describe())
        machine.rows.append(dict(row, op=op, case=case))
        return row

    return report


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _MACHINE and _MACHINE[0].rows:
        terminalreporter.section("kernel roofline (best time of each benchmark)")
        terminalreporter.write_line(_roofline.format_summary(_MACHINE[0]))
