#!/usr/bin/env python
"""Reproduce two classic MNIST experiments (optimizer comparison; a deep sigmoid net).

    python benchmarks/reproduce_mnist.py [--only 1|2] [--max-epochs N] [--seed S]

The code lives in ``latentforge.bench.reproduce``; this is a thin wrapper.
"""

import os
import sys

try:
    from latentforge.bench.reproduce import main
except ImportError:  # a source checkout without PYTHONPATH=python: try the in-tree package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "python"))
    from latentforge.bench.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
