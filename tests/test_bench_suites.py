"""The training and RBM benchmark suites run end to end on tiny settings (speed is not asserted)."""

import io

import numpy as np

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


def test_tsne_suite_without_mnist_says_so_and_uses_digits(monkeypatch):
    """A fresh machine has no MNIST: the suite must not end in a traceback but run on
    scikit-learn's digits, saying so (and how to get MNIST) at the top of its table."""
    from latentforge import datasets

    def missing(*args, **kwargs):
        raise FileNotFoundError("no MNIST here")

    monkeypatch.setattr(datasets, "load_mnist", missing)
    out = io.StringIO()
    res = get_suite("tsne").load()(smoke=True, out=out, progress=None, sizes=(300,))
    text = out.getvalue()
    assert text.startswith("MNIST not found") and "LATENTFORGE_DATA" in text
    assert "scikit-learn digits" in text.splitlines()[0]
    assert res.ok and res.meta["dataset"] == "scikit-learn digits"
    lf_row = next(r for r in res if r["library"] == "latentforge")
    assert lf_row["n"] == 300 and lf_row["knn_agreement"] > 0.8
