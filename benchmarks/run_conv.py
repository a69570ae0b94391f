#!/usr/bin/env python
"""Conv-net kernels and an MNIST CNN training epoch vs PyTorch: ``latentforge bench --suite conv``.

    python benchmarks/run_conv.py [--full] [--repeats N] [--threads N] [--steps N]

The code lives in ``latentforge.bench.conv``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("conv")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
