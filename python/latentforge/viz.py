"""Plots of what a model learned. matplotlib is optional: ``pip install latentforge[plot]``."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence


def _pyplot():
    try:
        import matplotlib.pyplot as plt  # picks a non-interactive backend without a display
    except ImportError as exc:  # optional dependency
        raise ImportError(
            "latentforge.viz needs matplotlib: pip install 'latentforge[plot]' (or matplotlib)"
        ) from exc
    return plt


def plot_history(history: Dict[str, Sequence[float]], keys: Optional[Sequence[str]] = None,
                 ax: Any = None, path: Optional[str] = None):
    """Plot per-epoch training curves (e.g. ``model.history_``).

    Losses go on the left axis and accuracies on a right axis. ``path`` saves the figure (PNG,
    PDF, ... by extension). Returns the matplotlib Axes.
    """
    plt = _pyplot()
    if keys is None:
        keys = [k for k in ("loss", "val_loss", "val_accuracy") if k in history and len(history[k])]
    if not keys:
        raise ValueError("history has nothing to plot (expected keys like 'loss', 'val_loss')")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    ax2 = None
    for k in keys:
        values = list(history[k])
        epochs = range(1, len(values) + 1)
        if "acc" in k:
            ax2 = ax2 or ax.twinx()
            ax2.plot(epochs, values, "--", label=k)
            ax2.set_ylabel("accuracy")
        else:
            ax.plot(epochs, values, label=k)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    if ax2 is not None:
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="best")
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax


def filter_grid(W, shape: Sequence[int] = (28, 28), n: Optional[int] = None,
                ncols: Optional[int] = None, ax: Any = None, path: Optional[str] = None):
    """Tile the rows of ``W`` (e.g. an RBM's ``components_`` or a first layer's ``weight``,
    shape ``(n_filters, prod(shape))``) as grey-scale images in one grid.

    Each filter is scaled to its own range (min -> black, max -> white; a constant filter is
    mid-grey). ``n`` limits the number of filters shown (the first ``n``), ``ncols`` the
    grid width (default: about square). ``path`` saves the figure. Returns the Axes.
    """
    import numpy as np

    W = np.asarray(W)
    if W.dtype.kind not in "fiu":
        raise TypeError(f"W must be a real array, got dtype {W.dtype}")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (height, width) of positive ints, got {shape}")
    if W.ndim != 2 or W.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"W must be 2-D with {shape[0] * shape[1]} columns for shape {shape}, got {W.shape}"
        )
    count = W.shape[0] if n is None else min(int(n), W.shape[0])
    if count < 1:
        raise ValueError("no filters to show")
    ncols = int(ncols) if ncols is not None else int(np.ceil(np.sqrt(count)))
    if ncols < 1:
        raise ValueError(f"ncols must be positive, got {ncols}")
    nrows = -(-count // ncols)
    h, w = shape
    pad = 1
    grid = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad), dtype=np.float64)
    F = W[:count].astype(np.float64)
    lo = F.min(axis=1, keepdims=True)
    span = F.max(axis=1, keepdims=True) - lo
    F = np.where(span > 0, (F - lo) / np.where(span > 0, span, 1.0), 0.5)
    for i in range(count):
        r, c = divmod(i, ncols)
        y0, x0 = pad + r * (h + pad), pad + c * (w + pad)
        grid[y0:y0 + h, x0:x0 + w] = F[i].reshape(h, w)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 0.6 * ncols + 1), min(12, 0.6 * nrows + 1)))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax
