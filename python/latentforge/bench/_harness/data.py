"""The images every suite trains on: MNIST when it can be had, otherwise a stand-in that is on
the machine, said in one line at the top of the suite's table.

In order: MNIST found by :func:`latentforge.datasets.load_mnist` (``$LATENTFORGE_DATA``, the
per-user cache); downloaded into that cache when ``download`` is allowed and the network is
there (with a progress line and the SHA-256 check); scikit-learn's 1,797 8x8 digits (installed
with the ``bench`` extra) scaled up to 28x28 so the networks keep MNIST's 784 inputs; uniform
noise when scikit-learn is missing too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

HOW_TO_GET_MNIST = ("for MNIST set LATENTFORGE_DATA=<dir with mnist/> or run with a network "
                    "(11 MB into ~/.cache/latentforge)")


# Why the last download failed, so that the next suite of the same run does not try again.
_download_failed: str | None = None


@dataclass
class BenchData:
    """Training and test images (float32 in [0, 1], 784 columns) with their labels."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str  #: "MNIST", "scikit-learn digits (28x28)" or "uniform noise"
    note: str | None  #: one line for the top of a table when this is not MNIST, else None

    def train(self, n: int) -> tuple[np.ndarray, np.ndarray, str | None]:
        """The first ``n`` training rows (a smaller set repeated to ``n`` rows), and a note
        saying so when it was repeated (None otherwise)."""
        have = len(self.X_train)
        if n <= have:
            return self.X_train[:n], self.y_train[:n], None
        idx = np.arange(n) % have
        return (np.ascontiguousarray(self.X_train[idx]), self.y_train[idx],
                f"{self.name}: {have:,} training images repeated to {n:,} rows")


def _digits_28x28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, each 8x8 image scaled 3x (nearest) and padded to 28x28."""
    from sklearn.datasets import load_digits

    d = load_digits()
    img = d.images / 16.0
    big = np.kron(img, np.ones((1, 3, 3)))  # (n, 24, 24)
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    return big.reshape(len(img), 784).astype(np.float32), d.target.astype(np.int64)


def load(*, download: bool = False, progress: Any = sys.stderr, seed: int = 0,
         n_test: int = 297) -> BenchData:
    """MNIST, or the first stand-in available (see the module docstring). ``download``:
    fetch MNIST into the cache when it is not on the machine (a failed download is not an
    error: the note says why MNIST was not used). ``n_test``: test rows of a stand-in."""
    from latentforge import datasets

    why = "MNIST not found"
    try:
        (X, y), (Xt, yt) = datasets.load_mnist()
        return BenchData(X, y, Xt, yt, "MNIST", None)
    except FileNotFoundError:
        pass
    except ValueError as exc:  # a corrupt file: say so, use a stand-in
        why = f"MNIST unusable ({exc})"
    global _download_failed
    if download and _download_failed is None:
        try:
            (X, y), (Xt, yt) = datasets.load_mnist(download=True, progress=progress or False)
            return BenchData(X, y, Xt, yt, "MNIST", None)
        except (FileNotFoundError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[-1].split(".gz: ", 1)[-1]
            _download_failed = f"MNIST not found, its download failed ({reason[:100]})"
    if download:  # failed, now or for an earlier suite of this run: not tried again
        why = _download_failed
    try:
        X, y = _digits_28x28()
        name = "scikit-learn digits (28x28)"
        what = "scikit-learn's 1,797 digits scaled to 28x28"
    except ImportError:
        rng = np.random.default_rng(seed)
        X = rng.random((2000, 784), dtype=np.float32)
        y = rng.integers(0, 10, len(X))
        name = "uniform noise"
        what = "uniform noise (scikit-learn is not installed either)"
    k = len(X) - n_test
    note = f"{why}: using {what}; {HOW_TO_GET_MNIST}"
    return BenchData(X[:k], y[:k], X[k:], y[k:], name, note)
