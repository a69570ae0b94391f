#!/usr/bin/env python
"""A/B timing of GEMM and kNN between two builds (run it once per build, alternating): prints one
JSON line with the best time of each case in ms. Used for the interrupt-polling check in
RESULTS.md (issue 15)."""

import json
import time

import numpy as np

import latentforge as lf
from latentforge import _C


def best_ms(fn, reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    cases = {}
    for m, n, k in [(256, 256, 256), (128, 1000, 784), (1024, 1024, 1024), (2048, 2048, 2048)]:
        A = rng.random((m, k), dtype=np.float32)
        B = rng.random((k, n), dtype=np.float32)
        cases[f"gemm {m}x{n}x{k}"] = (lambda A=A, B=B: lf.ops.gemm(A, B), 3 if m == 2048 else 20)
    X = rng.random((20000, 50), dtype=np.float32)
    cases["knn 20000x50 k=90"] = (lambda: _C.knn(X, 90), 3)
    print(json.dumps({name: best_ms(fn, reps) for name, (fn, reps) in cases.items()}))


if __name__ == "__main__":
    main()
