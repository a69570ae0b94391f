#!/usr/bin/env python
"""Training throughput, latentforge vs PyTorch on the CPU (samples/s).

    python benchmarks/run_training.py [--full] [--repeats N] [--threads N] [--steps N]

The logic lives in ``latentforge.bench.training`` (``latentforge bench --suite training`` runs
the same code from an installed package); this is a thin wrapper. PyTorch is optional:
``pip install torch==2.13.0`` (the CPU build).
"""

import sys

from _wrapper import bench_module

_module = bench_module("training")
main = _module.main
run = _module.run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
