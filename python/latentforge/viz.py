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


def _images(A, name: str, shape: tuple, lead: int):
    """``A`` as float64 images ``(*A.shape[:lead], h, w)``: after its ``lead`` leading axes
    each image is ``prod(shape)`` values (flat or already 2-D)."""
    import numpy as np

    A = np.asarray(A)
    if A.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, got dtype {A.dtype}")
    if A.ndim <= lead or int(np.prod(A.shape[lead:])) != shape[0] * shape[1] or A.size == 0:
        raise ValueError(f"{name} must hold images of shape {shape} after {lead} leading "
                         f"axes, got shape {A.shape}")
    return A.astype(np.float64).reshape(A.shape[:lead] + shape)


def _shape2(shape) -> tuple[int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"shape must be (height, width) of positive ints, got {shape}")
    return shape


def unit_inputs(optimal, top, shape: Sequence[int] = (28, 28), titles: Sequence[str] | None = None,
                path: str | None = None):
    """One row per unit: its optimal input (``lf.insight.maximize_activation``, scaled to its
    own range) and then its top-k inputs (``lf.insight.top_activating``, shown on their common
    range).

    ``optimal`` has shape ``(n_units, prod(shape))`` (or image-shaped), ``top``
    ``(n_units, k, prod(shape))``. ``titles`` labels the rows (e.g. "unit 7"). ``path`` saves
    the figure. Returns the matplotlib Figure.
    """
    import numpy as np

    shape = _shape2(shape)
    opt = _images(optimal, "optimal", shape, 1)
    top_imgs = _images(top, "top", shape, 2)
    if top_imgs.shape[0] != opt.shape[0]:
        raise ValueError(f"top has {top_imgs.shape[0]} units, optimal has {opt.shape[0]}")
    n, k = top_imgs.shape[:2]
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have {n} entries, got {len(titles)}")
    plt = _pyplot()
    fig, axes = plt.subplots(n, k + 1, figsize=(0.9 * (k + 1) + 0.6, 0.95 * n + 0.3),
                             squeeze=False)
    lo, hi = float(top_imgs.min()), float(top_imgs.max())
    for i in range(n):
        o = opt[i]
        span = o.max() - o.min()
        axes[i, 0].imshow((o - o.min()) / span if span > 0 else np.full_like(o, 0.5),
                          cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for j in range(k):
            axes[i, j + 1].imshow(top_imgs[i, j], cmap="gray", vmin=lo, vmax=hi if hi > lo
                                  else lo + 1, interpolation="nearest")
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
        if titles is not None:
            axes[i, 0].set_ylabel(str(titles[i]), fontsize=8)
    axes[0, 0].set_title("optimal", fontsize=8)
    for j in range(k):
        axes[0, j + 1].set_title(f"top {j + 1}", fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig


def adversarial_examples(X, X_adv, pred, pred_adv, shape: Sequence[int] = (28, 28),
                         labels=None, n: int = 8, path: str | None = None):
    """Three rows of ``n`` images: the originals (titled with the predicted label, and the
    true one when ``labels`` is given), the perturbations ``X_adv - X`` (grey is 0, on a scale
    symmetric about 0) and the adversarial images (titled with their predicted labels; red
    where the prediction changed). ``path`` saves the figure. Returns the Figure."""
    import numpy as np

    shape = _shape2(shape)
    A = _images(X, "X", shape, 1)
    B = _images(X_adv, "X_adv", shape, 1)
    if A.shape != B.shape:
        raise ValueError(f"X and X_adv must have the same shape, got {A.shape} and {B.shape}")
    pred, pred_adv = np.asarray(pred), np.asarray(pred_adv)
    for name, v in (("pred", pred), ("pred_adv", pred_adv)) + \
            ((("labels", np.asarray(labels)),) if labels is not None else ()):
        if v.shape != (A.shape[0],):
            raise ValueError(f"{name} must have shape ({A.shape[0]},), got {v.shape}")
    count = min(int(n), A.shape[0])
    if count < 1:
        raise ValueError("no images to show (n < 1)")
    plt = _pyplot()
    fig, axes = plt.subplots(3, count, figsize=(1.1 * count + 0.4, 3.9), squeeze=False)
    lo, hi = float(min(A.min(), B.min())), float(max(A.max(), B.max()))
    hi = hi if hi > lo else lo + 1
    D = B - A
    m = float(np.abs(D[:count]).max()) or 1.0
    for j in range(count):
        axes[0, j].imshow(A[j], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        title = f"pred {pred[j]}" + (f"\ntrue {np.asarray(labels)[j]}" if labels is not None
                                     else "")
        axes[0, j].set_title(title, fontsize=7)
        axes[1, j].imshow(D[j], cmap="gray", vmin=-m, vmax=m, interpolation="nearest")
        axes[2, j].imshow(B[j], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        axes[2, j].set_title(f"pred {pred_adv[j]}", fontsize=7,
                             color="red" if pred_adv[j] != pred[j] else "black")
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("original", fontsize=8)
    axes[1, 0].set_ylabel("perturbation", fontsize=8)
    axes[2, 0].set_ylabel("adversarial", fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=100, bbox_inches="tight")
    return fig
