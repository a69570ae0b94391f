#!/usr/bin/env python
"""RBM training speed and quality: latentforge vs scikit-learn vs PyTorch (CPU).

    python benchmarks/bench_rbm.py [--full] [--repeats N] [--threads N] [--epochs N] [--n-train N]

The logic lives in ``latentforge.bench.rbm`` (``latentforge bench --suite rbm`` runs
the same code from an installed package); this is a thin wrapper. The peers are optional:
scikit-learn and PyTorch (``pip install scikit-learn torch==2.13.0``).
"""

import os
import sys

try:
    from latentforge.bench.rbm import main, run
except ImportError:  # a source checkout without PYTHONPATH=python: try the in-tree package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "python"))
    from latentforge.bench.rbm import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
