#!/usr/bin/env python
"""Reproduce the cat paper (Le et al. 2012), scaled down, trained by Downpour SGD on Ray.

    python benchmarks/reproduce_cat.py [--n-train N] [--epochs E] [--workers W]

The code lives in ``latentforge.bench.reproduce_cat``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("reproduce_cat")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
