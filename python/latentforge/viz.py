"""Plots of what a model learned. matplotlib is optional: ``pip install latentforge[plot]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _pyplot():
    try:
        import matplotlib.pyplot as plt  # picks a non-interactive backend without a display
    except ImportError as exc:  # optional dependency
        raise ImportError(
            "latentforge.viz needs matplotlib: pip install 'latentforge[plot]' (or matplotlib)"
        ) from exc
    return plt


def plot_history(history: dict[str, Sequence[float]], keys: Sequence[str] | None = None,
                 ax: Any = None, path: str | None = None):
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


def filter_grid(W, shape: Sequence[int] = (28, 28), n: int | None = None,
                ncols: int | None = None, ax: Any = None, path: str | None = None):
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


def reconstruction_grid(originals, corrupted=None, reconstructions=None,
                        shape: Sequence[int] = (28, 28), n: int = 10, ax: Any = None,
                        path: str | None = None):
    """Show ``n`` images per row: the originals, then (when given) their corrupted versions,
    then the reconstructions (e.g. ``Autoencoder.reconstruct``). Rows of each array are
    flattened images of ``shape``, shown on a fixed [0, 1] grey scale (values are clipped).
    ``path`` saves the figure. Returns the Axes."""
    import numpy as np

    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (height, width) of positive ints, got {shape}")
    rows = []
    for name, A in (("originals", originals), ("corrupted", corrupted),
                    ("reconstructions", reconstructions)):
        if A is None:
            continue
        A = np.asarray(A)
        if A.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real array, got dtype {A.dtype}")
        if A.ndim != 2 or A.shape[1] != shape[0] * shape[1]:
            raise ValueError(f"{name} must be 2-D with {shape[0] * shape[1]} columns for shape "
                             f"{shape}, got {A.shape}")
        rows.append(A)
    count = min([int(n)] + [A.shape[0] for A in rows])
    if count < 1:
        raise ValueError("no images to show (n < 1 or an empty array)")
    h, w = shape
    pad = 1
    grid = np.ones((len(rows) * (h + pad) + pad, count * (w + pad) + pad), dtype=np.float64)
    for r, A in enumerate(rows):
        imgs = np.clip(A[:count].astype(np.float64), 0.0, 1.0)
        for i in range(count):
            y0, x0 = pad + r * (h + pad), pad + i * (w + pad)
            grid[y0:y0 + h, x0:x0 + w] = imgs[i].reshape(h, w)
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(min(16, 0.7 * count + 1), 0.7 * len(rows) + 0.5))
    ax.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax


def code_scatter(Z, labels, ax: Any = None, path: str | None = None):
    """Scatter 2-D codes ``Z`` (n_samples, 2), e.g. a 2-unit autoencoder's ``transform``,
    one colour per distinct label, with a legend. ``path`` saves the figure. Returns the
    Axes."""
    import numpy as np

    Z = np.asarray(Z)
    labels = np.asarray(labels)
    if Z.dtype.kind not in "fiu":
        raise TypeError(f"Z must be a real array, got dtype {Z.dtype}")
    if Z.ndim != 2 or Z.shape[1] != 2:
        raise ValueError(f"Z must have shape (n_samples, 2), got {Z.shape}")
    if labels.shape != (Z.shape[0],):
        raise ValueError(f"labels must have shape ({Z.shape[0]},), got {labels.shape}")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        sel = labels == c
        ax.scatter(Z[sel, 0], Z[sel, 1], s=6, alpha=0.7, color=cmap(i % cmap.N), label=str(c))
    ax.set_xlabel("code 1")
    ax.set_ylabel("code 2")
    ax.legend(loc="best", markerscale=2, fontsize="small")
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax


def scatter(Y, labels, ax: Any = None, path: str | None = None, s: float = 2):
    """Scatter a 2-D embedding ``Y`` (n_samples, 2), e.g. ``lf.models.TSNE().fit_transform``,
    one colour per distinct label, with a legend; ``s`` is the marker size. ``path`` saves the
    figure. Returns the Axes (same checks and colours as :func:`code_scatter`)."""
    ax = code_scatter(Y, labels, ax=ax)
    for coll in ax.collections:
        coll.set_sizes([s])
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax


def text_scatter(Y, texts, ax: Any = None, path: str | None = None, fontsize: float = 7,
                 s: float = 4):
    """Scatter a 2-D embedding ``Y`` (n_samples, 2) with each point labelled by its text
    (e.g. a t-SNE map of word vectors: ``texts`` are the words). ``path`` saves the figure.
    Returns the Axes."""
    import numpy as np

    Y = np.asarray(Y)
    if Y.dtype.kind not in "fiu":
        raise TypeError(f"Y must be a real array, got dtype {Y.dtype}")
    if Y.ndim != 2 or Y.shape[1] != 2:
        raise ValueError(f"Y must have shape (n_samples, 2), got {Y.shape}")
    texts = [str(t) for t in texts]
    if len(texts) != Y.shape[0]:
        raise ValueError(f"texts must have {Y.shape[0]} entries (one per row of Y), got "
                         f"{len(texts)}")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(16, 16))
    ax.scatter(Y[:, 0], Y[:, 1], s=s, color="tab:blue", alpha=0.6)
    for (x, y), t in zip(Y, texts):
        ax.annotate(t, (x, y), xytext=(2, 2), textcoords="offset points", fontsize=fontsize)
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
    if path is not None:
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    return ax
