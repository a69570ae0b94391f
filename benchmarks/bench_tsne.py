#!/usr/bin/env python
"""t-SNE on MNIST: latentforge vs scikit-learn, openTSNE, MulticoreTSNE (time, KL, 10-NN).

    python benchmarks/bench_tsne.py [--full] [--sizes N ...] [--threads N] [--plot DIR]

The logic lives in ``latentforge.bench.tsne`` (``latentforge bench --suite tsne`` runs
the same code from an installed package); this is a thin wrapper. The peers are optional:
scikit-learn, openTSNE and MulticoreTSNE (``pip install scikit-learn openTSNE``;
MulticoreTSNE needs the two build fixes noted in benchmarks/RESULTS.md).
"""

import os
import sys

try:
    from latentforge.bench.tsne import main, run
except ImportError:  # a source checkout without PYTHONPATH=python: try the in-tree package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "python"))
    from latentforge.bench.tsne import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
