#!/usr/bin/env python
"""float32 GEMM / fused-linear benchmark: latentforge vs numpy (as-is and OPENBLAS_* unset).

    python benchmarks/bench_gemm.py [--full] [--repeats N] [--threads N] [--json PATH]

The logic lives in ``latentforge.bench.gemm`` (so ``latentforge bench`` runs the
same code from an installed package); this is a thin wrapper.  Importable too:
``run(full=False, repeats=None, out=sys.stdout)`` returns the list of result dicts.
"""

import os
import sys

try:
    from latentforge.bench.gemm import main, run
except ImportError:  # a source checkout without PYTHONPATH=python: try the in-tree package
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "python"))
    from latentforge.bench.gemm import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
