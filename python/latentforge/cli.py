"""The ``latentforge`` command line (also ``python -m latentforge``).

Subcommands::

    latentforge info [--json]             build information (ISA, OpenMP, CUDA, threads)
    latentforge bench [--suite NAME ...]  benchmark suites (default: all registered)
                      [--full] [--repeats N] [--threads N] [--json PATH] [--list]
    latentforge bench --device cuda       the CUDA kernels on CuPy arrays (needs a GPU)

``bench`` exits with status 1 when any benchmarked latentforge result failed
its correctness check against the reference.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "format_info"]


def _fmt_value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        if not v:
            return "(none)"
        if all(isinstance(x, (str, int, float)) for x in v):
            return ", ".join(str(x) for x in v)
        return json.dumps(v, default=str)
    if isinstance(v, dict):
        return json.dumps(v, default=str)
    return str(v)


def format_info(info: dict[str, Any]) -> str:
    """``key: value`` lines with the values aligned."""
    width = max((len(str(k)) for k in info), default=0) + 1
    return "\n".join(f"{(str(k) + ':').ljust(width)} {_fmt_value(v)}" for k, v in info.items())


def _cmd_info(args: argparse.Namespace) -> int:
    import latentforge as lf

    info = lf.build_info()
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_info(info))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from latentforge.bench import SUITES, get_suite, write_json

    if args.list:
        width = max(len(s.name) for s in SUITES)
        for s in SUITES:
            print(f"{s.name.ljust(width)}  {s.description}")
        return 0
    if args.device == "cuda":
        if args.suite:
            print("latentforge bench: --device cuda runs the device suite; drop --suite",
                  file=sys.stderr)
            return 2
        from latentforge.bench import Suite

        suites = [Suite("device", "CUDA kernels on CuPy arrays vs cuBLAS",
                        "latentforge.bench.device")]
    else:
        names: list[str] = args.suite or [s.name for s in SUITES]
        try:
            suites = [get_suite(n) for n in dict.fromkeys(names)]
        except KeyError as exc:
            print(f"latentforge bench: {exc.args[0]}", file=sys.stderr)
            return 2

    options: dict[str, Any] = {"threads": args.threads, "smoke": args.smoke}
    if args.min_time is not None:
        options["min_time"] = args.min_time
    if args.stat is not None:
        options["stat"] = args.stat

    # Quietly given to the suites that train on images (the others have no data to fetch).
    quiet = {"download": not args.offline}
    all_ok = True
    report: dict[str, Any] = {"suites": {}}
    t0 = time.perf_counter()
    for i, suite in enumerate(suites):
        run = suite.load()
        params = inspect.signature(run).parameters
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        kwargs = {}
        for k, v in options.items():
            if accepts_any or k in params:
                kwargs[k] = v
            elif v not in (None, False):
                print(
                    f"[{suite.name}] note: suite ignores --{k.replace('_', '-')}", file=sys.stderr
                )
        kwargs.update({k: v for k, v in quiet.items() if accepts_any or k in params})
        if i:
            print()
        print(f"=== latentforge bench: {suite.name} ===", flush=True)
        res = run(full=args.full, repeats=args.repeats, out=sys.stdout, **kwargs)
        ok = getattr(res, "ok", True)
        all_ok = all_ok and ok
        report["suites"][suite.name] = (
            res.to_json() if hasattr(res, "to_json") else {"results": list(res), "ok": ok}
        )
    report["ok"] = all_ok
    report["elapsed_s"] = time.perf_counter() - t0
    if args.json:
        write_json(args.json, report)
        print(f"\nresults written to {args.json}", file=sys.stderr)
    if not all_ok:
        print("\nlatentforge bench: some results FAILED their correctness check", file=sys.stderr)
    return 0 if all_ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentforge",
        description="latentforge: native representation-learning kernels (C++/OpenMP, CUDA)",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p_info = sub.add_parser("info", help="print build information (ISA, OpenMP, CUDA, threads)")
    p_info.add_argument("--json", action="store_true", help="print as JSON")
    p_info.set_defaults(func=_cmd_info)

    p_bench = sub.add_parser(
        "bench",
        help="run benchmark suites against numpy",
        description="Run latentforge benchmark suites. Progress goes to stderr, tables to stdout.",
    )
    p_bench.add_argument(
        "--suite",
        action="append",
        metavar="NAME",
        help="suite to run (repeatable; default: all; see --list)",
    )
    p_bench.add_argument("--list", action="store_true", help="list the suites and exit")
    p_bench.add_argument("--full", action="store_true", help="add n = 2048 and 4096 (slower)")
    p_bench.add_argument("--repeats", type=int, metavar="N", help="timed repetitions per case")
    p_bench.add_argument(
        "--threads", type=int, metavar="N", help="threads for latentforge and numpy"
    )
    p_bench.add_argument(
        "--min-time", type=float, metavar="S", help="minimum seconds per timed repetition"
    )
    p_bench.add_argument(
        "--stat", choices=("best", "median"), help="statistic shown in the tables (default best)"
    )
    p_bench.add_argument("--smoke", action="store_true", help="tiny sizes, a quick check")
    p_bench.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu",
        help="cpu (default): the CPU suites; cuda: the CUDA kernels on CuPy arrays vs cuBLAS "
             "(says so and measures nothing when no GPU is found)")
    p_bench.add_argument(
        "--offline", action="store_true",
        help="never download MNIST (default: fetch it into ~/.cache/latentforge, 11 MB, when "
             "it is not on the machine; without it the suites use scikit-learn's digits)")
    p_bench.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    p_bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import latentforge as lf

        print(f"latentforge {lf.__version__}")
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
