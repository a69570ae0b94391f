#!/usr/bin/env python
"""Reproduce word2vec with NCE (the reference configuration): neighbours, scores, a t-SNE map.

    python benchmarks/reproduce_word2vec.py [--tokens N] [--epochs E] [--figure PATH]

The code lives in ``latentforge.bench.reproduce_w2v``; this is a thin wrapper.
"""

import sys

from _wrapper import bench_module

_module = bench_module("reproduce_w2v")
main = _module.main

if __name__ == "__main__":
    sys.exit(main())
