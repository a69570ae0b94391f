"""Options and bookkeeping of the malformed-input fuzz test (tests/fuzz/test_fuzz.py).

Two profiles:

* short (default): a fixed, derandomized set of examples, part of every ``python -m pytest``.
* long: ``python -m pytest tests/fuzz --fuzz-long`` (or ``LATENTFORGE_FUZZ_LONG=1`` in the
  environment, which also works when only ``tests`` is named: pytest reads the
  ``pytest_addoption`` of a sub-directory conftest only when that directory is on the command
  line). At least 10,000 calls, with fresh random examples on every run (the seed is printed).

The number of calls each family made is printed at the end of the session, so a run can be
cited (``fuzz: N calls ...``).
"""

from __future__ import annotations

import os

import pytest

_STATS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        default=False,
        help="run the long malformed-input fuzz profile (>= 10,000 calls, random seed)",
    )


def pytest_configure(config):
    config.stash[_STATS] = {}


@pytest.fixture(scope="session")
def fuzz_long(pytestconfig) -> bool:
    """True for the long profile (--fuzz-long, or LATENTFORGE_FUZZ_LONG=1)."""
    return bool(pytestconfig.getoption("--fuzz-long", default=False)) or (
        os.environ.get("LATENTFORGE_FUZZ_LONG") == "1"
    )


@pytest.fixture(scope="session")
def fuzz_stats(pytestconfig) -> dict:
    """Per family: examples, calls, failures, known (expected) failures, seconds."""
    return pytestconfig.stash[_STATS]


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    stats = config.stash.get(_STATS, {})
    if not stats:
        return
    tr = terminalreporter
    tr.section("latentforge fuzz")
    total = {"examples": 0, "calls": 0, "failures": 0, "known": 0, "seconds": 0.0}
    for family in sorted(stats):
        s = stats[family]
        for k in total:
            total[k] += s.get(k, 0)
        tr.write_line(
            f"  {family:<14} {s['examples']:6d} examples {s['calls']:7d} calls "
            f"{s['failures']:4d} failures {s['known']:4d} known  {s['seconds']:7.1f} s"
            f"  ({s.get('profile', '?')}, seed {s.get('seed', '-')})"
        )
    tr.write_line(
        f"fuzz: {total['calls']} calls in {total['examples']} examples, "
        f"{total['failures']} failures, {total['known']} known (xfail) issues, "
        f"{total['seconds']:.1f} s"
    )
