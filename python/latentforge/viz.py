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
