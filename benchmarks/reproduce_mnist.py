#!/usr/bin/env python
"""Reproduce two classic MNIST experiments (optimizer comparison; a deep sigmoid net).

    python benchmarks/reproduce_mnist.py [--only 1|2] [--max-epochs N] [--seed S]

The code lives in ``latentforge.bench.reproduce``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("reproduce")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
