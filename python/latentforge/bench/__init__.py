"""Benchmark suites shipped with latentforge (``latentforge bench``).

The suites live inside the package (not in the repository's ``benchmarks/``
directory) so that an installed wheel can run them.  ``benchmarks/*.py`` in the
repository (``run_<suite>.py``) are thin scripts that call into these modules; the timing,
interleaving, subprocess isolation and table formatting they share live once, in
``latentforge.bench._harness``.

Adding a suite
--------------
Write a module ``latentforge/bench/<name>.py`` that defines::

    def run(full=False, repeats=None, out=sys.stdout, *, progress=sys.stderr,
            threads=None, **kwargs) -> SuiteResult

``run`` prints its human-readable tables to ``out``, progress lines to
``progress`` (``None`` silences them) and returns a :class:`SuiteResult`: a
plain list of per-case result dicts carrying a ``meta`` dict (machine and
library information) and an ``ok`` flag (``False`` when any case failed its
correctness check or raised).  Then append a :class:`Suite` entry to
:data:`SUITES`.  Suites are imported lazily, only when selected.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any, Callable

__all__ = [
    "Suite",
    "SuiteResult",
    "SUITES",
    "get_suite",
    "register_suite",
    "suite_names",
    "write_json",
]


class SuiteResult(list):
    """A list of result dicts with a ``meta`` dict attached (JSON: ``{"meta", "results"}``)."""

    def __init__(self, results=(), meta: dict[str, Any] | None = None):
        super().__init__(results)
        self.meta: dict[str, Any] = dict(meta or {})

    @property
    def ok(self) -> bool:
        """False when any case failed its correctness check or raised."""
        return all(r.get("verified", True) is not False and not r.get("error") for r in self)

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "ok": self.ok, "results": list(self)}


@dataclass(frozen=True)
class Suite:
    """A registered benchmark suite: ``module`` must define ``run`` (see module docstring)."""

    name: str
    description: str
    module: str

    def load(self) -> Callable[..., SuiteResult]:
        return importlib.import_module(self.module).run


#: Registered suites, in the order ``latentforge bench`` runs them.
SUITES: list[Suite] = [
    Suite(
        "gemm",
        "float32 GEMM and fused linear+sigmoid vs numpy (in-process and with OPENBLAS_* unset)",
        "latentforge.bench.gemm",
    ),
    Suite(
        "training",
        "samples/s of an MLP and a deep autoencoder epoch (SGD momentum) vs PyTorch on the CPU",
        "latentforge.bench.training",
    ),
    Suite(
        "conv",
        "conv2d, pooling and batch norm kernels and an MNIST CNN training epoch vs PyTorch",
        "latentforge.bench.conv",
    ),
    Suite(
        "rbm",
        "seconds per epoch of RBM training vs scikit-learn's BernoulliRBM and CD-1 in PyTorch",
        "latentforge.bench.rbm",
    ),
    Suite(
        "tsne",
        "t-SNE on MNIST vs scikit-learn and openTSNE: wall time, KL on a shared P, 10-NN agreement",
        "latentforge.bench.tsne",
    ),
    Suite(
        "word2vec",
        "word2vec training vs gensim on one corpus file: words/s, WordSim353/SimLex rho, analogies",
        "latentforge.bench.word2vec",
    ),
]


def suite_names() -> list[str]:
    return [s.name for s in SUITES]


def get_suite(name: str) -> Suite:
    for s in SUITES:
        if s.name == name:
            return s
    raise KeyError(f"unknown benchmark suite {name!r}; available: {', '.join(suite_names())}")


def register_suite(suite: Suite) -> None:
    """Add (or replace, by name) a suite in the registry."""
    for i, s in enumerate(SUITES):
        if s.name == suite.name:
            SUITES[i] = suite
            return
    SUITES.append(suite)


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented JSON (non-JSON values via ``str``)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=str)
        f.write("\n")
