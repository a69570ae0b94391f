"""Timing: warm-up, calibration, repetitions, and interleaving of the functions compared.

Shared and virtual machines drift in throughput (by up to 2x over tens of seconds), so two
timings taken at different moments cannot be compared. :func:`interleave` therefore times the
functions of one comparison in the same loop: one repetition of each in turn, the order
alternating every round (A, B, then B, A, ...), with a short settle pause whenever the function
changes (OpenBLAS workers keep spinning ~0.1 s after a call, latentforge's OpenMP threads
briefly; they must not steal a core from the next library).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

#: Pause (s) before a repetition whose function differs from the previous one's.
DEFAULT_SETTLE = 0.1


def say(progress: Any, msg: str) -> None:
    """Write a progress line to ``progress`` (a text stream; ``None`` silences)."""
    if progress is not None:
        progress.write(msg + "\n")
        progress.flush()


@dataclass
class Timing:
    """Seconds per call of each timed repetition (``number`` back-to-back calls each)."""

    times: list[float] = field(default_factory=list)
    number: int = 1
    value: Any = field(default=None, repr=False)  # what the last call returned

    @property
    def best_s(self) -> float:
        return min(self.times)

    @property
    def median_s(self) -> float:
        return statistics.median(self.times)

    def as_dict(self) -> dict[str, Any]:
        """``{"best_s", "median_s", "number", "repeats"}`` (JSON-friendly)."""
        return {
            "best_s": self.best_s,
            "median_s": self.median_s,
            "number": self.number,
            "repeats": len(self.times),
        }


def calibrate(fn: Callable[[], Any], min_time: float) -> int:
    """One warm-up call and one timed call; returns how many calls last ``min_time`` s."""
    fn()  # warm-up
    t0 = time.perf_counter()
    fn()
    t1 = time.perf_counter() - t0
    return 1 if t1 >= min_time else min(100_000, max(1, math.ceil(min_time / max(t1, 1e-7))))


def _time_calls(fn: Callable[[], Any], number: int) -> tuple[float, Any]:
    value = None
    t0 = time.perf_counter()
    for _ in range(number):
        value = fn()
    return (time.perf_counter() - t0) / number, value


def measure(fn: Callable[[], Any], repeats: int, min_time: float) -> dict[str, Any]:
    """One function alone: :func:`calibrate`, then ``repeats`` repetitions of ``number`` calls."""
    return interleave({"fn": fn}, repeats, min_time=min_time, settle=0.0)["fn"].as_dict()


def interleave(
    fns: Mapping[str, Callable[[], Any]],
    repeats: int,
    *,
    min_time: float = 0.0,
    number: int | None = None,
    warmup: Any = True,
    settle: float = DEFAULT_SETTLE,
    settle_always: bool = False,
    errors: dict[str, str] | None = None,
    on_start: Callable[[str, int], None] | None = None,
) -> dict[str, Timing]:
    """Time several functions interleaved, so that they see the same machine state.

    ``number=None`` (default): each function is warmed up and calibrated (:func:`calibrate`:
    ``number`` back-to-back calls per repetition, lasting at least ``min_time`` s). With a
    fixed ``number`` there is no calibration; ``warmup`` is then ``True`` (one call of each),
    ``False`` (none) or a mapping ``{name: callable}`` of custom warm-ups (a shorter workload).

    Then each of ``repeats`` rounds times one repetition of every function, the order
    alternating between rounds. Before a calibration or repetition of a function other than
    the one that ran last (before every repetition with ``settle_always``) the process sleeps
    ``settle`` seconds.

    ``errors``: when given, a function that raises is recorded there (``"Type: message"``) and
    dropped from the later rounds instead of the exception propagating; it is absent from the
    result. ``on_start(name, round)`` is called before each timed repetition (progress lines).

    Returns ``{name: Timing}`` in the order of ``fns``.
    """
    names = list(fns)
    state = {"prev": None}

    def pause(name: str) -> None:
        changed = state["prev"] is not None and state["prev"] != name
        if settle > 0 and (changed or (settle_always and state["prev"] is not None)):
            time.sleep(settle)

    def guarded(name: str, call: Callable[[], Any]) -> Any:
        if errors is None:
            return call()
        try:
            return call()
        except Exception as exc:  # recorded, the function leaves the comparison
            errors[name] = f"{type(exc).__name__}: {exc}"
            return None

    live = list(names)
    numbers: dict[str, int] = {}
    for name in names:
        if number is None:
            pause(name)
            n = guarded(name, lambda name=name: calibrate(fns[name], min_time))
        else:
            n = number
            if warmup is True:
                pause(name)
                guarded(name, fns[name])
            elif isinstance(warmup, Mapping) and name in warmup:
                pause(name)
                guarded(name, warmup[name])
        state["prev"] = name
        if errors is not None and name in errors:
            live.remove(name)
        else:
            numbers[name] = int(n)

    timings = {name: Timing(number=numbers[name]) for name in live}
    for rnd in range(max(1, int(repeats))):
        for name in live if rnd % 2 == 0 else live[::-1]:
            if errors is not None and name in errors:
                continue
            pause(name)
            if on_start is not None:
                on_start(name, rnd)
            got = guarded(name, lambda name=name: _time_calls(fns[name], numbers[name]))
            state["prev"] = name
            if got is not None:
                timings[name].times.append(got[0])
                timings[name].value = got[1]
    return {name: t for name, t in timings.items() if t.times and name not in (errors or {})}


@contextlib.contextmanager
def stopwatch() -> Iterator[dict[str, float]]:
    """``with stopwatch() as sw: ...`` then ``sw["s"]`` holds the elapsed wall seconds."""
    sw = {"s": 0.0}
    t0 = time.perf_counter()
    try:
        yield sw
    finally:
        sw["s"] = time.perf_counter() - t0

