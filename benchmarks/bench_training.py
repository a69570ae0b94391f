#!/usr/bin/env python
"""Training throughput, latentforge vs PyTorch on the CPU (samples/s).

    python benchmarks/bench_training.py [--full] [--repeats N] [--threads N] [--steps N]

The logic lives in ``latentforge.bench.training`` (``latentforge bench --suite training`` runs
the same code from an installed package); this is a thin wrapper. PyTorch is optional:
``pip install torch==2.13.0`` (the CPU build).
"""

import os
import sys

try:
    from latentforge.bench.training import main, run
except ImportError:  # a source checkout without PYTHONPATH=python: try the in-tree package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "python"))
    from latentforge.bench.training import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
