#!/usr/bin/env python
"""Reproduce two convolutional-net experiments (MNIST CNN accuracy; batch norm on Fashion-MNIST).

    python benchmarks/reproduce_cnn.py [--only 1|2] [--epochs N] [--seed S]

The code lives in ``latentforge.bench.reproduce_cnn``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("reproduce_cnn")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
