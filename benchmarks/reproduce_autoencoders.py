#!/usr/bin/env python
"""Reproduce the autoencoder experiments on MNIST (deep AE vs PCA, pretraining, denoising,
k-sparse); figures go to benchmarks/figures/.

    python benchmarks/reproduce_autoencoders.py [--only 1|2|3|4] [--epochs N] [--out DIR]

The code lives in ``latentforge.bench.reproduce_ae``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("reproduce_ae")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
