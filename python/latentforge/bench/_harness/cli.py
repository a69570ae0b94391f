"""The stand-alone command line of a suite (``python -m latentforge.bench.<suite>`` and the
scripts in the repository's ``benchmarks/``): the options ``latentforge bench`` also has."""

from __future__ import annotations

import argparse
from typing import Any, Callable


def suite_parser(
    description: str, *, full_help: str, repeats: bool = True, data: bool = False
) -> argparse.ArgumentParser:
    """``--full --repeats N --threads N --smoke --json PATH`` (and ``--download`` for a suite
    that trains on images, ``data=True``); a suite adds its own options."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--full", action="store_true", help=full_help)
    if repeats:
        p.add_argument("--repeats", type=int, metavar="N", help="timed repetitions per case")
    p.add_argument("--threads", type=int, metavar="N", help="threads for latentforge and its peers")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a quick check")
    if data:
        p.add_argument("--download", action="store_true",
                       help="fetch MNIST (11 MB) into ~/.cache/latentforge when it is not on "
                            "the machine (otherwise scikit-learn's digits stand in)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    return p


def suite_main(
    run: Callable[..., Any], args: argparse.Namespace, **kwargs: Any
) -> int:
    """Run a suite with the parsed common options (plus ``kwargs``), write ``--json``; the exit
    status is 1 when a latentforge result failed its correctness check."""
    from latentforge.bench import write_json

    res = run(full=args.full, repeats=getattr(args, "repeats", None), threads=args.threads,
              smoke=args.smoke, **kwargs,
              **({"download": args.download} if hasattr(args, "download") else {}))
    if args.json:
        write_json(args.json, res.to_json())
    return 0 if res.ok else 1
