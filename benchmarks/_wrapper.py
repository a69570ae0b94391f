"""Shared by the scripts in benchmarks/: each is a thin wrapper around a module of
``latentforge.bench``, imported from the installed package or, in a source checkout without
PYTHONPATH=python, from the in-tree ``python/`` directory."""

import importlib
import os
import sys


def bench_module(name: str):
    """``latentforge.bench.<name>``, from the installed package or the source tree."""
    try:
        return importlib.import_module(f"latentforge.bench.{name}")
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(os.path.dirname(here), "python"))
        return importlib.import_module(f"latentforge.bench.{name}")
