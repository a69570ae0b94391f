"""The ``latentforge`` command line and the benchmark-suite machinery (fast: tiny shapes)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import latentforge as lf
from latentforge import cli
from latentforge.bench import SUITES, Suite, SuiteResult, _harness, get_suite, register_suite
from latentforge.bench import gemm as bench_gemm
from latentforge.bench._harness import timing as harness_timing

REPO = Path(__file__).resolve().parents[1]


def _env_with_package_on_path() -> dict:
    """Environment for a child interpreter that imports the same latentforge as this process."""
    env = dict(os.environ)
    pkg_parent = str(Path(lf.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    return env


def _run_child(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        env=_env_with_package_on_path(),
        timeout=timeout,
    )


# --------------------------------------------------------------------------- info


def test_python_m_latentforge_info_prints_isa_and_version():
    proc = _run_child("-m", "latentforge", "info")
    assert proc.returncode == 0, proc.stderr
    info = lf.build_info()
    lines = dict(
        (k.strip(), v.strip()) for k, v in (ln.split(":", 1) for ln in proc.stdout.splitlines())
    )
    assert lines["version"] == lf.__version__
    assert lines["isa_selected"] == str(info["isa_selected"])
    assert "isa_compiled" in lines and "num_threads" in lines


def test_info_values_are_aligned(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == len(lf.build_info())
    value_columns = {len(ln) - len(ln.split(":", 1)[1].lstrip()) for ln in out}
    assert len(value_columns) == 1  # every value starts in the same column


def test_info_json(capsys):
    assert cli.main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["version"] == lf.__version__
    assert info["isa_selected"] in info["isa_compiled"]


def test_version_flag(capsys):
    assert cli.main(["--version"]) == 0
    assert lf.__version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "bench" in capsys.readouterr().err


def test_format_info_formats_lists_and_bools():
    text = cli.format_info({"a": [1, 2], "long_key": True, "empty": []})
    assert text.splitlines() == ["a:        1, 2", "long_key: yes", "empty:    (none)"]


# --------------------------------------------------------------------------- bench suite


def _check_results(res):
    assert isinstance(res, SuiteResult) and res.ok
    kinds = {r["kind"] for r in res}
    assert kinds == {"gemm", "linear"}
    for r in res:
        assert r["verified"] is True and r["error"] is None
        assert r["rel_err"] <= bench_gemm.REL_TOL
        for key in (
            "lf_gflops",
            "numpy_gflops",
            "lf_unsetrun_gflops",
            "numpy_unset_gflops",
            "ratio",
            "ratio_asis",
            "ratio_unset",
        ):
            assert r[key] is not None and r[key] > 0, (key, r)
        assert r["lf_ms"] > 0 and r["numpy_ms"] > 0 and r["lf_unsetrun_ms"] > 0
        # Each ratio compares two timings taken in the same process; the headline is the smaller.
        assert r["ratio_asis"] == pytest.approx(r["numpy_ms"] / r["lf_ms"])
        assert r["ratio_unset"] == pytest.approx(r["numpy_unset_ms"] / r["lf_unsetrun_ms"])
        assert r["ratio"] == min(r["ratio_asis"], r["ratio_unset"])
        assert r["best_numpy"] == ("numpy" if r["ratio"] == r["ratio_asis"] else "numpy_unset")


def test_gemm_suite_smoke_runs_and_reports_positive_speeds():
    out = io.StringIO()
    res = bench_gemm.run(smoke=True, out=out, progress=None)
    _check_results(res)
    table = out.getvalue()
    assert "lf / best numpy" in table and "numpy (OPENBLAS_* unset)" in table
    assert "lf GFLOP/s (unset run)" in table and "lf ms (unset run)" in table
    assert "timed interleaved in the same process" in table and "per process" in table
    assert "best of 2" in table
    assert "MISMATCH" not in table and "ERROR" not in table
    meta = res.meta
    assert meta["openblas_inprocess"]["core"]
    assert "core" in meta["openblas_unset"], meta.get("openblas_unset_error")
    assert meta["latentforge"]["isa_selected"] == lf.build_info()["isa_selected"]
    # The subprocess imported the very latentforge this process runs.
    assert meta["latentforge_file_unsetrun"] == os.path.abspath(lf.__file__)
    json.dumps(res.to_json(), default=str)


def test_gemm_suite_sizes_override_and_median():
    res = bench_gemm.run(
        sizes=[40],
        mlp_shapes=[(8, 16, 24)],
        linear=False,
        repeats=1,
        min_time=0.001,
        out=io.StringIO(),
        progress=None,
        stat="median",
        unset_subprocess=False,
        settle=0.0,
    )
    assert [(r["M"], r["K"], r["N"]) for r in res] == [(40, 40, 40), (8, 16, 24)]
    assert all(r["numpy_unset_gflops"] is None and r["lf_gflops"] > 0 for r in res)
    assert all(r["lf_unsetrun_ms"] is None and r["ratio_unset"] is None for r in res)
    assert all(r["ratio"] == r["ratio_asis"] > 0 and r["best_numpy"] == "numpy" for r in res)
    assert res.meta["stat"] == "median"


def test_gemm_suite_flags_a_wrong_result_and_does_not_time_it(monkeypatch):
    monkeypatch.setattr(lf.ops, "gemm", lambda A, B, **kw: np.asarray(A @ B) * np.float32(1.01))

    def broken_linear(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(lf.ops, "linear", broken_linear)
    out = io.StringIO()
    res = bench_gemm.run(smoke=True, out=out, progress=None, unset_subprocess=False)
    assert not res.ok
    gem = [r for r in res if r["kind"] == "gemm"]
    lin = [r for r in res if r["kind"] == "linear"]
    assert all(
        r["verified"] is False and r["lf_gflops"] is None and r["ratio"] is None for r in gem
    )
    assert all("boom" in r["error"] and r["lf_ms"] is None for r in lin)
    table = out.getvalue()
    assert "MISMATCH" in table and "ERROR: RuntimeError: boom" in table and "FAILED" in table


def test_numpy_worker_runs_without_openblas_overrides(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    cases = bench_gemm.make_cases([16], [], linear=False)
    cases += [dict(c, time_lf=False) for c in bench_gemm.make_cases([8], [], linear=False)]
    w = bench_gemm.run_unset_worker(cases, 1, 0.001, 0, 1, None, settle=0.0)
    assert w["env"]["OPENBLAS_CORETYPE"] is None and w["env"]["OPENBLAS_L2_SIZE"] is None
    assert w["env"]["OPENBLAS_NUM_THREADS"] == "1" and w["lf_num_threads"] == 1
    assert w["latentforge_file"] == os.path.abspath(lf.__file__)
    timed, untimed = w["results"]
    assert timed["numpy_unset"]["best_s"] > 0 and timed["lf"]["best_s"] > 0
    assert timed["lf_rel_err"] <= bench_gemm.REL_TOL and timed["lf_error"] is None
    assert untimed["numpy_unset"]["best_s"] > 0 and untimed["lf"] is None  # failed: not timed
    assert w["openblas"]["core"]


def _busy(calls, name, seconds):
    def fn():
        calls.append(name)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:  # busy-wait: sleep granularity is too coarse
            pass
        return name

    return fn


def test_interleave_alternates_and_orders_by_speed(monkeypatch):
    calls = []
    sleeps = []
    monkeypatch.setattr(harness_timing.time, "sleep", lambda s: sleeps.append(s))
    m = _harness.interleave(
        {"fast": _busy(calls, "fast", 0.002), "slow": _busy(calls, "slow", 0.004)}, 4,
        min_time=0.0, settle=0.05,
    )
    assert list(m) == ["fast", "slow"]
    for name in m:
        d = m[name].as_dict()
        assert set(d) == {"best_s", "median_s", "number", "repeats"}
        assert d["repeats"] == 4 and d["number"] == 1
        assert d["best_s"] <= d["median_s"]
        assert m[name].value == name
    assert 0.002 <= m["fast"].best_s < m["slow"].best_s
    assert m["slow"].best_s >= 0.004
    # warm-up + calibration of each, then 4 rounds in alternating order.
    timed = calls[4:]
    assert calls[:4] == ["fast", "fast", "slow", "slow"]
    assert timed == ["fast", "slow", "slow", "fast", "fast", "slow", "slow", "fast"]
    # A pause wherever the function changes: after calibration and inside every round.
    changes = sum(a != b for a, b in zip(calls, calls[1:]))
    assert sleeps == [0.05] * changes and changes == 6
    # settle=0 never sleeps.
    sleeps.clear()
    _harness.interleave({"a": _busy([], "a", 0.0), "b": _busy([], "b", 0.0)}, 3, settle=0)
    assert sleeps == []


def test_interleave_fixed_number_custom_warmup_settle_always_and_errors(monkeypatch):
    calls, sleeps, started = [], [], []
    monkeypatch.setattr(harness_timing.time, "sleep", lambda s: sleeps.append(s))

    def broken():
        calls.append("broken")
        raise RuntimeError("boom")

    errors = {}
    m = _harness.interleave(
        {"a": _busy(calls, "a", 0.0), "broken": broken, "b": _busy(calls, "b", 0.0)}, 2,
        number=3, warmup={"a": lambda: calls.append("warm a")}, settle=0.01,
        settle_always=True, errors=errors, on_start=lambda name, rnd: started.append((name, rnd)),
    )
    assert list(m) == ["a", "b"] and m["a"].number == 3 and len(m["b"].times) == 2
    assert errors == {"broken": "RuntimeError: boom"}
    # custom warm-up for a, none for the others; then 3 calls per repetition, alternating.
    assert calls == ["warm a"] + ["a"] * 3 + ["broken"] + ["b"] * 3 + ["b"] * 3 + ["a"] * 3
    assert started == [("a", 0), ("broken", 0), ("b", 0), ("b", 1), ("a", 1)]
    assert sleeps == [0.01] * 5  # before every timed repetition (settle_always)
    with pytest.raises(RuntimeError, match="boom"):  # without ``errors`` it propagates
        _harness.interleave({"broken": broken}, 1, number=1, warmup=False)


def test_format_table_alignment_and_free_text_rows():
    text = _harness.format_table(
        ["name", "value", "note"], [["a", "1.5", "ok"], ["bb", "ERROR: long message"]],
        align="lrl",
    )
    assert text.splitlines() == [
        "name | value | note",
        "-----+-------+-----",
        "a    |   1.5 | ok",
        "bb   | ERROR: long message",
    ]
    assert _harness.fmt(None, ".1f") == "-" and _harness.fmt_ratio(1.234) == "1.23x"
    assert _harness.fmt_ratio(None, "n/a") == "n/a"


def test_run_isolated_changes_the_environment_and_imports_this_latentforge(monkeypatch):
    monkeypatch.setenv("LF_BENCH_TEST_UNSET", "1")
    lines = io.StringIO()
    res = _harness.run_isolated(
        "latentforge.bench._harness.isolation:describe_child",
        {"keys": ["LF_BENCH_TEST_UNSET", "LF_BENCH_TEST_SET"]},
        unset_env=["LF_BENCH_TEST_UNSET"], set_env={"LF_BENCH_TEST_SET": "yes"}, progress=lines,
    )
    assert res["env"] == {"LF_BENCH_TEST_UNSET": None, "LF_BENCH_TEST_SET": "yes"}
    assert res["latentforge_file"] == os.path.abspath(lf.__file__)
    assert "describe_child" in lines.getvalue()  # the child's stderr was forwarded
    with pytest.raises(RuntimeError, match="no_such_function"):
        _harness.run_isolated("latentforge.bench._harness.isolation:no_such_function", {})


def test_cli_bench_smoke_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--suite", "gemm", "--smoke", "--json", str(path)]) == 0
    captured = capsys.readouterr()
    assert "=== latentforge bench: gemm ===" in captured.out
    assert "[gemm]" in captured.err  # progress lines go to stderr
    report = json.loads(path.read_text())
    assert report["ok"] is True
    results = report["suites"]["gemm"]["results"]
    assert results and all(r["lf_gflops"] > 0 for r in results)
    assert report["suites"]["gemm"]["meta"]["suite"] == "gemm"


def test_cli_bench_list_and_unknown_suite(capsys):
    assert cli.main(["bench", "--list"]) == 0
    assert "gemm" in capsys.readouterr().out
    assert cli.main(["bench", "--suite", "no-such-suite"]) == 2
    assert "unknown benchmark suite" in capsys.readouterr().err


def test_suite_registry_accepts_new_suites(monkeypatch, capsys):
    monkeypatch.setattr("latentforge.bench.SUITES", list(SUITES))
    calls = []

    def fake_run(full=False, repeats=None, out=None, **kwargs):
        calls.append((full, repeats, kwargs))
        print("fake table", file=out)
        return SuiteResult([{"kind": "x", "verified": True}], {"suite": "fake"})

    mod = type(sys)("latentforge_fake_suite")
    mod.run = fake_run
    monkeypatch.setitem(sys.modules, "latentforge_fake_suite", mod)
    register_suite(Suite("fake", "a fake suite", "latentforge_fake_suite"))
    assert get_suite("fake").load() is fake_run
    assert cli.main(["bench", "--suite", "fake", "--full", "--repeats", "3"]) == 0
    # --offline is given quietly to suites that take it (download=not offline)
    assert calls == [(True, 3, {"threads": None, "smoke": False, "download": True})]
    assert "fake table" in capsys.readouterr().out
    calls.clear()
    assert cli.main(["bench", "--suite", "fake", "--offline"]) == 0
    assert calls == [(False, None, {"threads": None, "smoke": False, "download": False})]


@pytest.mark.skipif(not (REPO / "benchmarks" / "run_gemm.py").exists(), reason="source tree only")
def test_benchmarks_script_smoke(tmp_path):
    path = tmp_path / "r.json"
    proc = _run_child(str(REPO / "benchmarks" / "run_gemm.py"), "--smoke", "--json", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "lf / best numpy" in proc.stdout
    assert json.loads(path.read_text())["ok"] is True


def test_gemm_suite_threads_option_is_restored():
    before = lf.get_num_threads()
    res = bench_gemm.run(
        smoke=True, threads=1, out=io.StringIO(), progress=None, unset_subprocess=False
    )
    assert res.ok and res.meta["lf_num_threads"] == 1
    assert lf.get_num_threads() == before
