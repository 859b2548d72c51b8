"""The confusion-matrix figure of ``cnnzoo eval``.

Drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, so nothing touches pyplot's global
state or needs a display, and written atomically (:mod:`cnnzoo.viz.figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from cnnzoo.viz.figure import new_figure, save_figure

DPI = 100
ANNOTATE_UP_TO = 20  # classes; beyond, the cells are too small for their counts
LABEL_UP_TO = 50  # classes; beyond, the axes carry no class names


def plot_confusion_matrix(
    confusion: torch.Tensor,
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Save ``confusion`` as a picture: rows are true classes, columns predictions, colour the share
    of each row (so classes of different sizes compare), the counts written in the cells.

    Args:
        confusion: C x C counts, row = true class.
        class_names: C names.
        path: the file to write, PNG (or SVG, PDF: any format matplotlib knows) by its suffix.
        title: drawn above the matrix.

    Returns:
        ``path``.
    """
    counts = confusion.to(torch.float64)
    shares = counts / counts.sum(1, keepdim=True).clamp_min(1)
    n = len(class_names)
    side = min(16.0, max(5.0, 0.5 * n + 2))
    fig = new_figure((side + 1.5, side), dpi=DPI, layout=None)  # tight_layout below
    ax = fig.add_subplot()
    image = ax.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    if n <= LABEL_UP_TO:
        ax.set_xticks(range(n), class_names, rotation=90 if n > 10 else 45, ha="right")
        ax.set_yticks(range(n), class_names)
    if n <= ANNOTATE_UP_TO:
        for i in range(n):
            for j in range(n):
                white = shares[i, j] > 0.5
                ax.text(
                    j,
                    i,
                    f"{int(counts[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if white else "black",
                )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)
