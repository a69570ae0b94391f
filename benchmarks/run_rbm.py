#!/usr/bin/env python
"""RBM training speed and quality: latentforge vs scikit-learn vs PyTorch (CPU).

    python benchmarks/run_rbm.py [--full] [--repeats N] [--threads N] [--epochs N] [--n-train N]

The logic lives in ``latentforge.bench.rbm`` (``latentforge bench --suite rbm`` runs
the same code from an installed package); this is a thin wrapper. The peers are optional:
scikit-learn and PyTorch (``pip install scikit-learn torch==2.13.0``).
"""

import sys

from _wrapper import bench_module

_module = bench_module("rbm")
main = _module.main
run = _module.run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
