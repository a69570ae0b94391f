"""t-SNE: latentforge vs scikit-learn vs openTSNE on MNIST (wall time, KL, 10-NN agreement).

The first N MNIST images (train then test, 70,000 in all) are reduced to 50 principal
components once, and every library embeds the same array in 2-D with perplexity 30, 1000
iterations (250 of early exaggeration 12), learning rate "auto"/N/12, PCA initialisation, 2
threads. Quality is measured the same way for everyone: the KL divergence of each final
embedding against one shared P (latentforge's symmetrised perplexity-30 affinities, Barnes-Hut
with theta = 0.1 for Z), and the 10-nearest-neighbour label agreement of the embedding.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from typing import Any, Dict, List, Optional

import numpy as np

SUITE = "tsne"


def _knn_agreement(Y: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    from latentforge import _tsne

    idx, _ = _tsne.knn(np.ascontiguousarray(Y, dtype=np.float32), k)
    return float((labels[idx] == labels[:, None]).mean())


def _kl(Y: np.ndarray, P) -> float:
    from latentforge import _C

    indptr, indices, data = P
    _, kl = _C.tsne_gradient_bh(np.ascontiguousarray(Y, dtype=np.float32), indptr, indices,
                                data, 0.1, 1.0)
    return float(kl)


def _run_lf(X, seed, threads):
    import latentforge as lf

    return lf.models.TSNE(perplexity=30, random_state=seed, n_jobs=threads).fit_transform(X)


def _run_sklearn(X, seed, threads):
    from sklearn.manifold import TSNE

    return TSNE(perplexity=30, init="pca", learning_rate="auto", method="barnes_hut",
                max_iter=1000, random_state=seed, n_jobs=threads).fit_transform(X)


def _run_opentsne(method):
    def run(X, seed, threads):
        from openTSNE import TSNE

        emb = TSNE(perplexity=30, negative_gradient_method=method, n_jobs=threads,
                   random_state=seed, initialization="pca", n_iter=750,
                   early_exaggeration_iter=250).fit(X)
        return np.asarray(emb)

    return run


def _libraries() -> Dict[str, Any]:
    libs: Dict[str, Any] = {"latentforge": _run_lf}
    if importlib.util.find_spec("sklearn") is not None:
        libs["scikit-learn (bh)"] = _run_sklearn
    if importlib.util.find_spec("openTSNE") is not None:
        libs["openTSNE (bh)"] = _run_opentsne("bh")
        libs["openTSNE (fft)"] = _run_opentsne("fft")
    return libs


def run(full: bool = False, repeats: Optional[int] = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: Optional[int] = None, smoke: bool = False,
        sizes=None, seed: int = 0, **_: Any):
    """Embed the first N MNIST images for N in ``sizes`` (default 2,000; with ``full``
    5,000, 20,000 and 70,000), each library once."""
    import latentforge as lf
    from latentforge import _tsne, datasets
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    threads = int(threads or lf.get_num_threads())
    (X, y), (Xt, yt) = datasets.load_mnist()
    X_all, y_all = np.concatenate([X, Xt]), np.concatenate([y, yt])
    if sizes is None:
        sizes = (500,) if smoke else ((5000, 20000, 70000) if full else (2000,))
    libs = _libraries()
    results: List[Dict[str, Any]] = []
    for n in sizes:
        Xn = lf.models.PCA(50, random_state=seed).fit_transform(X_all[:n]).astype(np.float32)
        labels = y_all[:n]
        P = _tsne.joint_probabilities(Xn, perplexity=30.0)
        for name, fn in libs.items():
            if progress is not None:
                print(f"[tsne] N={n} {name}", file=progress, flush=True)
            r: Dict[str, Any] = {"n": n, "library": name, "error": None}
            try:
                t0 = time.perf_counter()
                Y = fn(Xn, seed, threads)
                r["seconds"] = time.perf_counter() - t0
                r["kl"] = _kl(Y, P)
                r["knn_agreement"] = _knn_agreement(Y, labels)
            except Exception as exc:  # report, keep going
                r["error"] = f"{type(exc).__name__}: {exc}"
            results.append(r)
    lines = ["t-SNE on MNIST (50 PCA components, perplexity 30, 2-D)",
             f"  threads={threads}; KL against one shared P (latentforge affinities, BH theta 0.1)",
             "",
             f"{'N':>6} | {'library':18} | {'seconds':>8} | {'KL':>6} | {'10-NN agree':>11} | "
             f"{'lf speed-up':>11}"]
    lines.append("-" * len(lines[-1]))
    for n in sizes:
        rows = [r for r in results if r["n"] == n]
        lf_row = next((r for r in rows if r["library"] == "latentforge" and not r["error"]), None)
        for r in rows:
            if r["error"]:
                lines.append(f"{n:6d} | {r['library']:18} | ERROR: {r['error']}")
                continue
            sp = (f"{r['seconds'] / lf_row['seconds']:.2f}x"
                  if lf_row and r is not lf_row else "")
            lines.append(f"{n:6d} | {r['library']:18} | {r['seconds']:8.1f} | {r['kl']:6.3f} | "
                         f"{r['knn_agreement']:11.3f} | {sp:>11}")
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, {"suite": SUITE, "threads": threads, "sizes": list(sizes)})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="N = 5,000, 20,000 and 70,000")
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    res = run(full=args.full, sizes=args.sizes, threads=args.threads)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
