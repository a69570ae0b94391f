#!/usr/bin/env python
"""t-SNE on MNIST: latentforge vs scikit-learn, openTSNE, MulticoreTSNE (time, KL, 10-NN).

    python benchmarks/run_tsne.py [--full] [--sizes N ...] [--threads N] [--plot DIR]

The logic lives in ``latentforge.bench.tsne`` (``latentforge bench --suite tsne`` runs
the same code from an installed package); this is a thin wrapper. The peers are optional:
scikit-learn, openTSNE and MulticoreTSNE (``pip install scikit-learn openTSNE``;
MulticoreTSNE needs the two build fixes noted in benchmarks/RESULTS.md).
"""

import sys

from _wrapper import bench_module

_module = bench_module("tsne")
main = _module.main
run = _module.run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
