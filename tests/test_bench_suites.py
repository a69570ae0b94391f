"""The benchmark suites run end to end on tiny settings (speed is not asserted)."""

import io

import numpy as np
import pytest

from latentforge.bench import get_suite


def test_training_suite_smoke():
    out = io.StringIO()
    res = get_suite("training").load()(out=out, progress=None, smoke=True)
    assert res.ok, list(res)
    assert [r["workload"].split()[0] for r in res] == ["mlp", "autoencoder", "Autoencoder.fit,"]
    for r in res:
        assert r["lf_samples_per_s"] > 0
    assert "lf samples/s" in out.getvalue()


def test_rbm_suite_smoke():
    out = io.StringIO()
    res = get_suite("rbm").load()(out=out, progress=None, smoke=True)
    assert res.ok, list(res)
    lf_rows = [r for r in res if r["library"] == "latentforge"]
    assert lf_rows and all(r["s_per_epoch"] > 0 and np.isfinite(r["recon_mse"]) for r in lf_rows)
    assert "recon MSE" in out.getvalue()


def test_tsne_suite_smoke():
    out = io.StringIO()
    res = get_suite("tsne").load()(out=out, progress=None, smoke=True)
    assert res.ok, list(res)
    lf_row = next(r for r in res if r["library"] == "latentforge")
    assert lf_row["seconds"] > 0 and lf_row["knn_agreement"] > 0.5 and np.isfinite(lf_row["kl"])
    assert "10-NN agree" in out.getvalue()


def test_conv_suite_smoke():
    out = io.StringIO()
    res = get_suite("conv").load()(out=out, progress=None, smoke=True)
    assert res.ok, list(res)
    assert [r["case"].split()[0] for r in res] == ["conv", "conv", "conv", "max", "L2", "batch",
                                                   "MNIST"]
    assert all(r.get("lf_s", 0) > 0 for r in res[:-1]) and res[-1]["lf_samples_per_s"] > 0
    assert all(r["lf_gflops"] > 0 for r in res[:3])
    assert "lf / torch" in out.getvalue()


def test_word2vec_suite_smoke():
    out = io.StringIO()
    res = get_suite("word2vec").load()(out=out, progress=None, smoke=True)
    assert res.ok, list(res)
    libs = [r["library"] for r in res]
    assert libs[0] == "latentforge" and all(r["config"] == "skip-gram neg 5" for r in res)
    assert all(r["words_per_s"] > 0 and r["train_s"] > 0 for r in res)
    assert "WS353 rho" in out.getvalue()


def test_word2vec_suite_without_data_or_gensim_says_so(monkeypatch):
    """A fresh machine without the text data: a synthetic corpus, said in the first line,
    and no traceback; without gensim: said too, latentforge alone."""
    import importlib.util

    from latentforge import datasets

    monkeypatch.setattr(datasets, "find_text_data",
                        lambda path=None: (None, ["  - $LATENTFORGE_DATA: not set"]))
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gensim" else real_find_spec(name, *a))
    out = io.StringIO()
    res = get_suite("word2vec").load()(out=out, progress=None, smoke=True, tokens=5000)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("the word2vec text data was not found ($LATENTFORGE_DATA: not "
                               "set): using a synthetic Zipfian corpus")
    assert "LATENTFORGE_DATA=" in lines[0]
    assert lines[1].startswith("gensim is not installed")
    assert [r["library"] for r in res] == ["latentforge"]
    assert res.meta["corpus"].startswith("synthetic")
    assert res.ok, list(res)
    assert res[0]["words_per_s"] > 0 and res[0].get("wordsim353_rho") is None


def test_every_op_has_a_kernel_benchmark_and_pytest_collects_only_those():
    """benchmarks/ops/bench_<op>.py exists for every op of the op table, and nothing else in
    benchmarks/ matches pytest's bench_*.py / test_*.py patterns (the suite scripts are run_*)."""
    from pathlib import Path

    from latentforge._optable import OPS

    # Like tests/test_layout.py, this reads the checkout the tests live in: a missing
    # benchmarks/ folder is a failure, never a skip.
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    assert bench.is_dir(), f"{bench} not found: run the tests from a checkout"
    missing = [op.name for op in OPS if not (bench / "ops" / f"bench_{op.name}.py").is_file()]
    assert not missing, f"ops without a kernel benchmark: {missing}"
    stray = [p.name for p in bench.glob("*.py") if p.name.startswith(("bench_", "test_"))]
    assert not stray, f"would be collected as kernel benchmarks: {stray}"


@pytest.mark.parametrize("suite", ["training", "rbm", "tsne", "conv"])
def test_suite_without_mnist_says_so_and_uses_digits(monkeypatch, suite):
    """A fresh machine has no MNIST and, here, no network: each suite that trains on images
    tries the download once (when allowed), then runs on scikit-learn's digits scaled to
    28x28 instead of ending in a traceback, saying so and how to get MNIST in one line at the
    top of its table."""
    from latentforge import datasets
    from latentforge.bench._harness import data

    calls = []

    def missing(*args, download=False, **kwargs):
        calls.append(download)
        raise FileNotFoundError("MNIST files not found.\n  - x.gz: Name or service not known")

    monkeypatch.setattr(datasets, "load_mnist", missing)
    monkeypatch.setattr(data, "_download_failed", None)
    out = io.StringIO()
    kwargs = {"sizes": (300,)} if suite == "tsne" else {}
    res = get_suite(suite).load()(smoke=True, out=out, progress=None, download=True, **kwargs)
    first = out.getvalue().splitlines()[0]
    assert first.startswith("MNIST not found, its download failed (Name or service not known)")
    assert "scikit-learn's 1,797 digits scaled to 28x28" in first and "LATENTFORGE_DATA" in first
    assert calls == [False, True]  # looked on the machine, then tried the download once
    assert res.ok, list(res)
    if suite == "tsne":
        assert res.meta["dataset"] == "scikit-learn digits (28x28)"
        lf_row = next(r for r in res if r["library"] == "latentforge")
        assert lf_row["n"] == 300 and lf_row["knn_agreement"] > 0.8
    else:
        assert res.meta["data"] == "scikit-learn digits (28x28)"
    # a second suite of the same run does not try the download again
    calls.clear()
    assert data.load(download=True, progress=None).name == "scikit-learn digits (28x28)"
    assert calls == [False]


def test_bench_data_repeats_a_small_set_and_says_so():
    from latentforge.bench._harness import data

    d = data.load(download=False, progress=None)
    if d.name == "MNIST":
        X, y, note = d.train(1000)
        assert note is None and X.shape == (1000, 784)
    else:
        X, y, note = d.train(5000)
        assert X.shape == (5000, 784) and "repeated to 5,000 rows" in note
        np.testing.assert_array_equal(X[len(d.X_train)], d.X_train[0])
    assert X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
