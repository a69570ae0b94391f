#!/usr/bin/env python
"""Reproduce the autoencoder experiments on MNIST (deep AE vs PCA, pretraining, denoising,
k-sparse); figures go to benchmarks/figures/.

    python benchmarks/reproduce_autoencoders.py [--only 1|2|3|4] [--epochs N] [--out DIR]

The code lives in ``latentforge.bench.reproduce_ae``; this is a thin wrapper.
"""

import os
import sys

try:
    from latentforge.bench.reproduce_ae import main
except ImportError:  # a source checkout without PYTHONPATH=python: try the in-tree package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "python"))
    from latentforge.bench.reproduce_ae import main

if __name__ == "__main__":
    sys.exit(main())
