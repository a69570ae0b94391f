"""Autoencoder experiments on MNIST (issue 6), with their figures.

1. Hinton & Salakhutdinov's 784-1000-500-250-2 autoencoder (sigmoid, batch norm, Adam) against
   2-component PCA: test reconstruction error of each, 10-NN label agreement of the 2-D codes,
   and the two code sets plotted side by side.
2. Greedy layer-wise pretraining: ``DNN((1000, 750, 500), pretrain="ae")`` against no
   pretraining, test error after the same number of fine-tuning epochs.
3. Denoising with 30% and 50% masking noise: reconstructions of corrupted test digits.
4. k-sparse autoencoders with k = 70, 25, 10: filter grids and test reconstruction error.

    python benchmarks/reproduce_autoencoders.py [--only 1|2|3|4] [--epochs N] [--out DIR]

Figures are written to ``--out`` (default ``benchmarks/figures``).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import latentforge as lf

from ._harness import stopwatch


def knn_agreement(Z: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each point's k nearest neighbours (Euclidean, itself excluded) that
    share its label."""
    Z = np.asarray(Z, np.float64)
    sq = (Z * Z).sum(axis=1)
    agree = 0.0
    for i in range(0, Z.shape[0], 1000):
        d = sq[i:i + 1000, None] - 2 * Z[i:i + 1000] @ Z.T + sq[None, :]
        d[np.arange(d.shape[0]), np.arange(i, i + d.shape[0])] = np.inf
        nn_idx = np.argpartition(d, k, axis=1)[:, :k]
        agree += (labels[nn_idx] == labels[i:i + 1000, None]).sum()
    return agree / (Z.shape[0] * k)


def pca_fit(X: np.ndarray, d: int):
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return mean, Vt[:d]


def exp_deep_ae_vs_pca(X, y, Xt, yt, epochs, out, seed):
    print(f"\n[1] 784-1000-500-250-2 autoencoder (sigmoid, batchnorm, Adam, {epochs} epochs) "
          "vs 2-component PCA", flush=True)
    ae = lf.models.Autoencoder(hidden=(1000, 500, 250, 2), activation="sigmoid", tied=False,
                               loss="bce", batchnorm=True, optimizer="adam", learning_rate=1e-3,
                               batch_size=100, n_epochs=epochs, random_state=seed, verbose=1)
    with stopwatch() as sw:
        ae.fit(X)
    t_ae = sw["s"]
    mean, comps = pca_fit(X.astype(np.float64), 2)
    Zp = (Xt - mean) @ comps.T
    Rp = Zp @ comps + mean
    mse_pca = float(np.mean((Rp - Xt) ** 2))
    Za = ae.transform(Xt)
    mse_ae = float(np.mean((ae.reconstruct(Xt) - Xt) ** 2))
    n = 5000
    agree_ae = knn_agreement(Za[:n], yt[:n])
    agree_pca = knn_agreement(Zp[:n], yt[:n])
    print(f"    test reconstruction MSE: autoencoder {mse_ae:.4f}, PCA {mse_pca:.4f}")
    print(f"    10-NN label agreement of the 2-D codes (first {n} test images): "
          f"autoencoder {agree_ae:.3f}, PCA {agree_pca:.3f}  (training {t_ae:.0f} s)", flush=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
        lf.viz.code_scatter(Zp[:n], yt[:n], ax=axes[0])
        axes[0].set_title(f"PCA, 2 components (10-NN agreement {agree_pca:.3f})")
        lf.viz.code_scatter(Za[:n], yt[:n], ax=axes[1])
        axes[1].set_title(f"784-1000-500-250-2 autoencoder ({agree_ae:.3f})")
        path = os.path.join(out, "ae_vs_pca_codes.png")
        fig.savefig(path, dpi=80, bbox_inches="tight")
        plt.close(fig)
        print(f"    figure: {path}")
    except ImportError:
        print("    (matplotlib not installed: no figure)")
    return mse_ae, mse_pca, agree_ae, agree_pca


def exp_pretraining(X, y, Xt, yt, epochs, seed):
    print(f"\n[2] DNN 784-1000-750-500-10: autoencoder pretraining vs none, {epochs} fine-tuning "
          "epochs each", flush=True)
    res = {}
    for pretrain in ("ae", None):
        kw = {}
        if pretrain == "ae":
            kw["pretrain_params"] = dict(n_epochs=2, batch_size=100, learning_rate=1e-3,
                                         optimizer="adam", loss="bce")
        with stopwatch() as sw:
            clf = lf.models.DNN(hidden=(1000, 750, 500), pretrain=pretrain, max_epochs=epochs,
                                optimizer="momentum", learning_rate=0.1, batch_size=100,
                                validation_fraction=0.0, random_state=seed, **kw).fit(X, y)
        err = 1 - clf.score(Xt, yt)
        res[pretrain] = err
        print(f"    pretrain={pretrain!s:5}: test error {100 * err:.2f}% "
              f"({sw['s']:.0f} s)", flush=True)
    return res


def exp_denoising(X, Xt, epochs, out, seed):
    print(f"\n[3] denoising 784-500 autoencoders (masking noise, {epochs} epochs)", flush=True)
    rng = np.random.default_rng(seed)
    res = {}
    for p in (0.3, 0.5):
        plain = lf.models.Autoencoder(hidden=500, n_epochs=epochs, random_state=seed).fit(X)
        dae = lf.models.Autoencoder(hidden=500, corruption=("mask", p), n_epochs=epochs,
                                    random_state=seed).fit(X)
        mask = rng.random(Xt.shape) >= p
        Xc = (Xt * mask).astype(np.float32)
        e_plain = float(np.mean((plain.reconstruct(Xc) - Xt) ** 2))
        e_dae = float(np.mean((dae.reconstruct(Xc) - Xt) ** 2))
        res[p] = (e_dae, e_plain)
        print(f"    {int(p * 100)}% masked test digits -> clean: denoising MSE {e_dae:.4f}, "
              f"plain MSE {e_plain:.4f}", flush=True)
        try:
            path = os.path.join(out, f"denoising_{int(p * 100)}.png")
            lf.viz.reconstruction_grid(Xt[:10], Xc[:10], dae.reconstruct(Xc[:10]), path=path)
            import matplotlib.pyplot as plt

            plt.close("all")
            print(f"    figure: {path}")
        except ImportError:
            pass
    return res


def exp_ksparse(X, Xt, epochs, out, seed):
    print(f"\n[4] k-sparse 784-1000 autoencoders (k = 70, 25, 10; {epochs} epochs)", flush=True)
    res = {}
    for k in (70, 25, 10):
        ae = lf.models.Autoencoder(hidden=1000, activation=None, tied=True, loss="mse",
                                   sparsity=("topk", k), n_epochs=epochs, random_state=seed)
        ae.fit(X)
        err = float(np.mean((ae.reconstruct(Xt) - Xt) ** 2))
        res[k] = err
        print(f"    k={k:3d}: test reconstruction MSE {err:.4f}", flush=True)
        try:
            path = os.path.join(out, f"ksparse_k{k}_filters.png")
            lf.viz.filter_grid(ae.components_, shape=(28, 28), n=100, path=path)
            import matplotlib.pyplot as plt

            plt.close("all")
            print(f"    figure: {path}")
        except ImportError:
            pass
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["1", "2", "3", "4"])
    p.add_argument("--epochs", type=int, default=None, help="override every experiment's epochs")
    p.add_argument("--out", default=os.path.join("benchmarks", "figures"))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    (X, y), (Xt, yt) = lf.datasets.load_mnist()
    print(f"latentforge {lf.__version__}, {lf.get_num_threads()} threads", flush=True)
    e = args.epochs
    if args.only in (None, "1"):
        exp_deep_ae_vs_pca(X, y, Xt, yt, e or 10, args.out, args.seed)
    if args.only in (None, "2"):
        exp_pretraining(X, y, Xt, yt, e or 3, args.seed)
    if args.only in (None, "3"):
        exp_denoising(X, Xt, e or 5, args.out, args.seed)
    if args.only in (None, "4"):
        exp_ksparse(X, Xt, e or 5, args.out, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
