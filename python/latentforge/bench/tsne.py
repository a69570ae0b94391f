"""t-SNE: latentforge vs scikit-learn, openTSNE, MulticoreTSNE on MNIST (time, KL, 10-NN).

The first N MNIST images (train then test, 70,000 in all) are reduced to 50 principal
components once, and every library embeds the same array in 2-D with perplexity 30, 1000
iterations (250 of early exaggeration 12), learning rate "auto"/N/12, PCA initialisation, 2
threads. Quality is measured the same way for everyone: the KL divergence of each final
embedding against one shared P (latentforge's symmetrised perplexity-30 affinities over the 90
exact nearest neighbours) with the exact normalisation Z (theta = 0: all n^2 pairs), and the
10-nearest-neighbour label agreement of the embedding.

MulticoreTSNE (0.1, 2019) joins when it is importable. Its sdist does not build with CMake 4 as
published; two edits make it build (setup.py passes ``--`` as a CMake argument, and its
CMakeLists asks for CMake 2.8): see benchmarks/RESULTS.md. It takes no PCA initialisation,
so it gets the same scaled PCA array as the others compute, and scikit-learn's "auto" learning
rate ``max(N / 12, 200)`` -- ``max(N / 12, 50)`` in scikit-learn itself, but 200 is
MulticoreTSNE's own default and the floor only matters below N = 2,400.
"""

from __future__ import annotations

import importlib.util
import sys
from typing import Any

import numpy as np

from ._harness import data as bench_data
from ._harness import (
    fmt_ratio,
    format_table,
    interleave,
    machine_meta,
    say,
    suite_main,
    suite_parser,
    thread_limits,
)

SUITE = "tsne"


def _knn_agreement(Y: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    from latentforge import _tsne

    idx, _ = _tsne.knn(np.ascontiguousarray(Y, dtype=np.float32), k)
    return float((labels[idx] == labels[:, None]).mean())


def _kl(Y: np.ndarray, P) -> float:
    """KL(P || Q) with the exact Z (theta = 0 lists every pair: O(N^2), 0.7 s at N = 70,000)."""
    from latentforge import _C

    _, kl = _C.TsneBarnesHut(*P).gradient(np.ascontiguousarray(Y, dtype=np.float32), 0.0, 1.0,
                                           True)
    return float(kl)


def _plot(Y, labels, n, r, plot_dir) -> None:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latentforge import viz

    os.makedirs(plot_dir, exist_ok=True)
    fig, ax = plt.subplots(figsize=(9, 8))
    viz.scatter(Y, labels, ax=ax, s=0.5 if n > 20000 else 2)
    ax.set_title(f"latentforge t-SNE of the first {n:,} MNIST digits (50 PCA components): "
                 f"{r['seconds']:.1f} s, KL {r['kl']:.3f}, 10-NN agreement "
                 f"{r['knn_agreement']:.3f}", fontsize=9)
    fig.savefig(os.path.join(plot_dir, f"tsne_mnist_{n}.png"), dpi=110, bbox_inches="tight")
    plt.close(fig)


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


def _run_multicore(X, seed, threads):
    from MulticoreTSNE import MulticoreTSNE

    from latentforge.models import PCA

    init = PCA(2, random_state=seed).fit_transform(X).astype(np.float64)
    init = init / init[:, 0].std() * 1e-4
    n = X.shape[0]
    return MulticoreTSNE(n_components=2, perplexity=30.0, early_exaggeration=12,
                         learning_rate=max(n / 12.0, 200.0), n_iter=1000, n_iter_early_exag=250,
                         init=init, angle=0.5, n_jobs=threads,
                         random_state=seed).fit_transform(X)


def _libraries() -> dict[str, Any]:
    libs: dict[str, Any] = {"latentforge": _run_lf}
    if importlib.util.find_spec("sklearn") is not None:
        libs["scikit-learn (bh)"] = _run_sklearn
    if importlib.util.find_spec("openTSNE") is not None:
        libs["openTSNE (bh)"] = _run_opentsne("bh")
        libs["openTSNE (fft)"] = _run_opentsne("fft")
    if importlib.util.find_spec("MulticoreTSNE") is not None:
        libs["MulticoreTSNE"] = _run_multicore
    return libs


def run(full: bool = False, repeats: int | None = None, out: Any = None, *,
        progress: Any = sys.stderr, threads: int | None = None, smoke: bool = False,
        sizes=None, seed: int = 0, plot_dir: str | None = None, download: bool = False,
        **_: Any):
    """Embed the first N MNIST images for N in ``sizes`` (default 2,000; with ``full``
    5,000, 20,000 and 70,000), each library once. ``plot_dir``: save latentforge's embedding
    of each N there, coloured by digit (``tsne_mnist_<N>.png``, ``lf.viz.scatter``).
    ``download``: fetch MNIST when it is not on the machine (otherwise a stand-in, said in the
    table's first line)."""
    import latentforge as lf
    from latentforge import _tsne
    from latentforge.bench import SuiteResult

    out = sys.stdout if out is None else out
    data = bench_data.load(download=download, progress=progress, seed=seed)
    X_all = np.concatenate([data.X_train, data.X_test])
    y_all = np.concatenate([data.y_train, data.y_test])
    source, note = data.name, data.note
    if sizes is None:
        sizes = (500,) if smoke else ((5000, 20000, 70000) if full else (2000,))
    # A smaller dataset than asked for: embed all of it once.
    sizes = tuple(dict.fromkeys(min(int(n), len(X_all)) for n in sizes))
    libs = _libraries()
    results: list[dict[str, Any]] = []
    with thread_limits(threads, progress=progress, tag=SUITE) as threads:
        for n in sizes:
            n_pca = min(50, X_all.shape[1])
            Xn = lf.models.PCA(n_pca, random_state=seed).fit_transform(X_all[:n])
            Xn = Xn.astype(np.float32)
            labels = y_all[:n]
            P = _tsne.joint_probabilities(Xn, perplexity=30.0)
            # Each library once (a run lasts seconds to minutes), one after the other.
            errors: dict[str, str] = {}
            m = interleave(
                {name: (lambda fn=fn, Xn=Xn: fn(Xn, seed, threads)) for name, fn in libs.items()},
                1, number=1, warmup=False, settle=0.0, errors=errors,
                on_start=lambda name, _, n=n: say(progress, f"[tsne] N={n} {name}"),
            )
            for name in libs:
                r: dict[str, Any] = {"n": n, "library": name, "error": errors.get(name)}
                if name in m:
                    try:
                        r["seconds"] = m[name].best_s
                        Y = m[name].value
                        r["kl"] = _kl(Y, P)
                        r["knn_agreement"] = _knn_agreement(Y, labels)
                        if plot_dir is not None and name == "latentforge":
                            _plot(Y, labels, n, r, plot_dir)
                    except Exception as exc:  # report, keep going
                        r["error"] = f"{type(exc).__name__}: {exc}"
                results.append(r)
    rows = []
    for n in sizes:
        by_n = [r for r in results if r["n"] == n]
        lf_row = next((r for r in by_n if r["library"] == "latentforge" and not r["error"]), None)
        for r in by_n:
            if r["error"]:
                rows.append([str(n), r["library"], f"ERROR: {r['error']}"])
                continue
            sp = fmt_ratio(r["seconds"] / lf_row["seconds"]) if lf_row and r is not lf_row else ""
            rows.append([str(n), r["library"], f"{r['seconds']:.1f}", f"{r['kl']:.3f}",
                         f"{r['knn_agreement']:.3f}", sp])
    lines = ([note] if note else []) + [
             f"t-SNE on {source} (50 PCA components at most, perplexity 30, 2-D)",
             f"  threads={threads}; KL against one shared P (latentforge affinities), exact Z",
             "",
             format_table(["N", "library", "seconds", "KL", "10-NN agree", "lf speed-up"], rows,
                          align="rlrrrr")]
    print("\n".join(lines), file=out, flush=True)
    return SuiteResult(results, {"suite": SUITE, "threads": threads, "sizes": list(sizes),
                                 "dataset": source,
                                 **machine_meta()})


def main(argv=None) -> int:
    p = suite_parser(__doc__.splitlines()[0], full_help="N = 5,000, 20,000 and 70,000",
                     repeats=False, data=True)
    p.add_argument("--sizes", type=int, nargs="*", default=None)
    p.add_argument("--plot", metavar="DIR", default=None,
                   help="save latentforge's embedding of each N as DIR/tsne_mnist_<N>.png")
    args = p.parse_args(argv)
    return suite_main(run, args, sizes=args.sizes, plot_dir=args.plot)


if __name__ == "__main__":
    sys.exit(main())
