"""Looking inside networks trained on MNIST, reproduced with latentforge (results in RESULTS.md).

1. Feature visualization (Erhan et al. 2009): an autoencoder, a DBN and a CNN trained on MNIST;
   their first-layer filters, and for units of deeper layers the input that maximizes the
   unit (``lf.insight.maximize_activation``, L2 norm of an average digit, pixels in [0, 1])
   beside the test digits that excite it most (``lf.insight.top_activating``). Figures
   ``benchmarks/figures/insight_<model>_{filters,units}.png``.
2. Adversarial examples (Goodfellow, Shlens & Szegedy 2015): test error of a softmax
   regression, an MLP and a CNN on clean MNIST and under the fast gradient sign method at
   eps = 0.1 and 0.25; then of the same models trained adversarially (eps 0.25, weight 0.5, as
   the paper). The paper reports 99.9% error at 0.25 for a shallow softmax, 89.4% for a
   maxout network, and 17.9% for the maxout network after adversarial training. A figure of
   examples ``benchmarks/figures/fgsm_examples.png``.

    python benchmarks/reproduce_insight.py [--only 1|2] [--epochs N] [--n-train N] [--seed S]

(``benchmarks/reproduce_insight.py`` is a thin wrapper around this module.) Needs the MNIST
files (``LATENTFORGE_DATA``; see ``latentforge.datasets``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import latentforge as lf
from latentforge import insight


def _units_figure(model, layer, units, X_test, radius, path, shape=(28, 28), k=8,
                  names=None):
    """Maximized inputs and top-k test digits of ``units`` of ``layer``; saves ``path``."""
    opt = insight.maximize_activation(model, layer, list(units), steps=300, lr=0.05,
                                      radius=radius, bounds=(0.0, 1.0), random_state=0,
                                      input_shape=(X_test.shape[1],))
    top = np.stack([X_test[insight.top_activating(model, X_test, layer, u, k=k)[0]]
                    for u in units])
    titles = names or [f"unit {u}" for u in units]
    lf.viz.unit_inputs(opt.reshape(len(units), -1), top, shape=shape, titles=titles, path=path)
    return opt


def feature_visualization(X, y, Xt, yt, epochs: int, seed: int, outdir: str) -> dict:
    """Experiment 1: train the three models, draw their filters and units."""
    radius = float(np.linalg.norm(X, axis=1).mean())
    out = {"radius": radius}
    t0 = time.perf_counter()
    ae = lf.models.Autoencoder(hidden=(256, 64), activation="sigmoid", loss="bce",
                               optimizer="adam", learning_rate=1e-3, n_epochs=epochs,
                               random_state=seed).fit(X)
    out["autoencoder_s"] = time.perf_counter() - t0
    lf.viz.filter_grid(ae.encoder_[0].weight.data, n=64,
                       path=f"{outdir}/insight_autoencoder_filters.png")
    _units_figure(ae, -1, range(8), Xt, radius, f"{outdir}/insight_autoencoder_units.png")

    t0 = time.perf_counter()
    dbn = lf.models.DBN(hidden=(500, 500), rbm_params={"n_iter": epochs, "learning_rate": 0.05},
                        random_state=seed).fit(X)
    out["dbn_s"] = time.perf_counter() - t0
    lf.viz.filter_grid(dbn.rbms_[0].components_, n=64, path=f"{outdir}/insight_dbn_filters.png")
    _units_figure(dbn, 1, range(8), Xt, radius, f"{outdir}/insight_dbn_units.png")

    t0 = time.perf_counter()
    cnn = lf.models.ConvNetClassifier(channels=(16, 32), kernel_size=5, hidden=(128,),
                                      max_epochs=epochs, random_state=seed).fit(X, y)
    out["cnn_s"] = time.perf_counter() - t0
    out["cnn_test_accuracy"] = cnn.score(Xt, yt)
    conv1 = insight.layers(cnn)[1]
    lf.viz.filter_grid(conv1.weight.data.reshape(conv1.weight.data.shape[0], -1), shape=(5, 5),
                       path=f"{outdir}/insight_cnn_filters.png")
    layers = insight.layers(cnn)
    conv2 = next(i for i, m in enumerate(layers) if m is not conv1
                 and type(m).__name__ == "Conv2d")
    # the second block's feature maps after pooling and ReLU (the mean of a rectified map)
    relu2 = next(i for i, m in enumerate(layers) if i > conv2 and type(m).__name__ == "ReLU")
    _units_figure(cnn, relu2, [(c,) for c in range(8)], Xt, radius,
                  f"{outdir}/insight_cnn_units.png", names=[f"map {c}" for c in range(8)])
    # The output units: what the CNN thinks each digit looks like.
    _units_figure(cnn, -1, range(10), Xt, radius, f"{outdir}/insight_cnn_classes.png",
                  names=[f"class {c}" for c in range(10)])
    return out


def _classifiers(epochs: int, seed: int, eps: float = 0.0) -> dict:
    common = dict(max_epochs=epochs, random_state=seed, adversarial_eps=eps)
    return {
        "softmax regression": lf.models.MLPClassifier(
            hidden=(), optimizer="adam", learning_rate=1e-3, **common),
        "MLP (800-800 ReLU)": lf.models.MLPClassifier(
            hidden=(800, 800), activation="relu", optimizer="adam", learning_rate=1e-3,
            dropout=0.2, **common),
        "CNN (16-32 conv, 128 dense)": lf.models.ConvNetClassifier(
            channels=(16, 32), kernel_size=5, hidden=(128,), **common),
    }


def adversarial(X, y, Xt, yt, epochs: int, seed: int, train_eps: float = 0.25,
                eps_list=(0.1, 0.25), progress=sys.stderr) -> dict:
    """Experiment 2: clean and FGSM test error, plain and adversarially trained."""
    rows, examples = [], None
    for trained_eps in (0.0, train_eps):
        for name, clf in _classifiers(epochs, seed, trained_eps).items():
            t0 = time.perf_counter()
            clf.fit(X, y)
            row = {"model": name, "adversarial_training_eps": trained_eps,
                   "fit_s": time.perf_counter() - t0, "epochs": clf.n_iter_,
                   "clean_error": 1 - clf.score(Xt, yt)}
            for eps in eps_list:
                adv = insight.fgsm(clf, Xt, yt, eps, clip=(0.0, 1.0))
                row[f"error_eps_{eps:g}"] = 1 - clf.score(adv, yt)
                if examples is None and trained_eps == 0.0 and name.startswith("CNN") \
                        and eps == eps_list[-1]:
                    examples = (clf, adv)
            rows.append(row)
            print(f"    {name}, adversarial training eps {trained_eps:g}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in row.items() if k.endswith("error") or
                k.startswith("error")) + f" ({row['fit_s']:.0f} s)", file=progress, flush=True)
    return {"rows": rows, "examples": examples}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["1", "2"])
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: 5)")
    p.add_argument("--n-train", type=int, default=None, help="use the first N training digits")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--outdir", default="benchmarks/figures")
    p.add_argument("--json", default=None, help="write the numbers to this file")
    args = p.parse_args(argv)
    (X, y), (Xt, yt) = lf.datasets.load_mnist()
    if args.n_train:
        X, y = X[:args.n_train], y[:args.n_train]
    os.makedirs(args.outdir, exist_ok=True)
    result = {}
    if args.only in (None, "1"):
        r = feature_visualization(X, y, Xt, yt, args.epochs or 5, args.seed, args.outdir)
        result["feature_visualization"] = r
        print(f"[1] feature visualization: figures in {args.outdir}/insight_*.png (CNN test "
              f"accuracy {r['cnn_test_accuracy']:.4f}; fits {r['autoencoder_s']:.0f} s, "
              f"{r['dbn_s']:.0f} s, {r['cnn_s']:.0f} s)")
    if args.only in (None, "2"):
        print("[2] FGSM on MNIST: test error (clean, eps 0.1, eps 0.25)", flush=True)
        r = adversarial(X, y, Xt, yt, args.epochs or 5, args.seed)
        result["fgsm"] = r["rows"]
        print("| model | adversarial training | clean | eps 0.1 | eps 0.25 |")
        print("|---|---|---|---|---|")
        for row in r["rows"]:
            adv = "no" if row["adversarial_training_eps"] == 0 else \
                f"eps {row['adversarial_training_eps']:g}"
            print(f"| {row['model']} | {adv} | {100 * row['clean_error']:.2f}% | "
                  f"{100 * row['error_eps_0.1']:.1f}% | {100 * row['error_eps_0.25']:.1f}% |")
        if r["examples"] is not None:
            clf, adv = r["examples"]
            path = f"{args.outdir}/fgsm_examples.png"
            lf.viz.adversarial_examples(Xt[:10], adv[:10], clf.predict(Xt[:10]),
                                        clf.predict(adv[:10]), labels=yt[:10], n=10, path=path)
            print(f"    figure: {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
