#!/usr/bin/env python
"""word2vec: latentforge vs gensim on the same corpus file (words/s, WordSim353/SimLex rho,
analogy accuracy).

    python benchmarks/run_word2vec.py [--full] [--tokens N] [--config NAME ...] [--threads N]
                                      [--repeats N] [--json PATH]

The logic lives in ``latentforge.bench.word2vec`` (``latentforge bench --suite word2vec`` runs
the same code from an installed package); this is a thin wrapper. The peer, gensim, is
optional (``pip install gensim``); the corpus and evaluation sets are read from
``$LATENTFORGE_DATA/text/`` (a synthetic corpus stands in without them).
"""

import sys

from _wrapper import bench_module

_module = bench_module("word2vec")
main = _module.main
run = _module.run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
