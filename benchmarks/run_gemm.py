#!/usr/bin/env python
"""float32 GEMM / fused-linear benchmark: latentforge vs numpy (as-is and OPENBLAS_* unset).

    python benchmarks/run_gemm.py [--full] [--repeats N] [--threads N] [--json PATH]

The logic lives in ``latentforge.bench.gemm`` (so ``latentforge bench`` runs the
same code from an installed package); this is a thin wrapper.  Importable too:
``run(full=False, repeats=None, out=sys.stdout)`` returns the list of result dicts.
"""

import sys

from _wrapper import bench_module

_module = bench_module("gemm")
main = _module.main
run = _module.run

__all__ = ["main", "run"]

if __name__ == "__main__":
    sys.exit(main())
