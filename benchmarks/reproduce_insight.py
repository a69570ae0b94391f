#!/usr/bin/env python
"""Reproduce feature visualization and FGSM adversarial examples on MNIST.

    python benchmarks/reproduce_insight.py [--only 1|2] [--epochs N] [--n-train N]

The code lives in ``latentforge.bench.reproduce_insight``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("reproduce_insight")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
