"""The figures of ``cnnzoo embed``: a 2-D t-SNE map of a model's features, drawn four ways.

* :func:`grid_image` — the classic picture: the map cut into a square grid, each cell showing
  the image embedded nearest its centre (:func:`grid_layout` chooses them).
* :func:`map_image` — thumbnails pasted at their embedded positions.
* :func:`draw_scatter` — one point per image, coloured by class (:func:`save_scatter`,
  :func:`save_compare` for maps side by side).
* :func:`added_figure` — new points drawn over an existing map (:func:`save_added`).

Data functions (layouts, pixel arrays) are pure numpy; charts are made and written by
:mod:`cnnzoo.viz.figure` (a bare figure on the Agg canvas, so nothing touches pyplot's global state
or needs a display). Every ``save_*`` writes through :func:`cnnzoo.files.write_atomic`.

Inputs: ``embedding`` float (n, 2); ``labels`` int (n,), a class index or ``-1`` (unlabelled);
``class_names`` one string per class; ``thumbs`` uint8 (n, h, w, c) with c in {1, 3} (or (n, h, w)
grey), the images that were embedded.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cnnzoo.files import write_atomic
from cnnzoo.viz.figure import new_figure, save_figure

UNLABELLED = -1
GRID_CELLS_PER_SQRT_N = 0.9  # cells per side ~ 0.9 sqrt(n): most cells filled, few points wasted
GRID_CELLS_RANGE = (8, 80)  # cells per side; 80 x 80 thumbnails of 32 px is a 2560 px picture
MAP_COVERAGE = 0.5  # default thumbnails on a map: half the canvas area, so clusters stay readable
TAB10_UP_TO = 10  # classes; then tab20, then a continuous colormap with a colourbar
TAB20_UP_TO = 20
CONTINUOUS_CMAP = "turbo"  # many classes: hues that stay apart along the index
UNLABELLED_COLOUR = (0.55, 0.55, 0.55, 1.0)  # grey points in a scatter
UNLABELLED_BORDER = (0, 0, 0)  # black thumbnail border on a map
SCATTER_SIZE = (8.0, 7.0)  # inches
PANEL_SIZE = (7.0, 7.0)  # inches per panel of save_compare
DPI = 150
SCATTER_SEED = 0  # the fixed order points are drawn in (so no class always lies on top)


# --- layout (pure) -------------------------------------------------------------------------------


def _as_embedding(embedding) -> np.ndarray:
    """``embedding`` as a finite float64 (n, 2) array."""
    emb = np.asarray(embedding, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[1] != 2:
        raise ValueError(f"embedding must have shape (n, 2), got {emb.shape}")
    if not np.isfinite(emb).all():
        raise ValueError("embedding has NaN or infinite values")
    return emb


def unit_square(embedding) -> np.ndarray:
    """Scale an embedding into [0, 1]^2 keeping its aspect: both axes are divided by the larger
    range and the smaller one is centred.

    Args:
        embedding: (n, 2) points.

    Returns:
        (n, 2) float64 in [0, 1]; a single point (or all points equal) lands at (0.5, 0.5).
    """
    emb = _as_embedding(embedding)
    if len(emb) == 0:
        return emb
    low, high = emb.min(axis=0), emb.max(axis=0)
    extent = high - low
    scale = extent.max()
    if scale <= 0:
        return np.full_like(emb, 0.5)
    return (emb - low) / scale + (1.0 - extent / scale) / 2


def default_grid_cells(n: int) -> int:
    """Cells per side of the grid picture for ``n`` points: about ``0.9 sqrt(n)``, clamped to
    [8, 80] (5000 points -> 64)."""
    low, high = GRID_CELLS_RANGE
    return int(min(max(round(GRID_CELLS_PER_SQRT_N * math.sqrt(max(n, 0))), low), high))


def grid_layout(embedding, cells: int) -> np.ndarray:
    """Which point each cell of a ``cells x cells`` grid over the map shows.

    The embedding is scaled by :func:`unit_square` and cut into equal cells; a cell shows the
    point inside it nearest its centre.

    Args:
        embedding: (n, 2) points.
        cells: cells per side.

    Returns:
        int64 (cells, cells): a point index, or -1 where no point falls in the cell. Row 0 is the
        top of the picture (highest y), column 0 the leftmost x.
    """
    if cells < 1:
        raise ValueError(f"cells must be at least 1, got {cells}")
    unit = unit_square(embedding)
    layout = np.full((cells, cells), -1, dtype=np.int64)
    if len(unit) == 0:
        return layout
    # x = 1.0 (or y = 1.0) belongs to the last cell, not to one past the edge
    col = np.minimum((unit[:, 0] * cells).astype(np.int64), cells - 1)
    up = np.minimum((unit[:, 1] * cells).astype(np.int64), cells - 1)  # 0 = bottom row
    dist = (unit[:, 0] - (col + 0.5) / cells) ** 2 + (unit[:, 1] - (up + 0.5) / cells) ** 2
    row = cells - 1 - up
    cell = row * cells + col
    order = np.lexsort((dist, cell))  # by cell, then nearest first
    first = np.unique(cell[order], return_index=True)[1]
    chosen = order[first]
    layout.reshape(-1)[cell[chosen]] = chosen
    return layout


# --- pixel pictures (pure) -----------------------------------------------------------------------


def _rgb_thumbs(thumbs) -> np.ndarray:
    """``thumbs`` as uint8 (n, h, w, 3); grey ones repeated to RGB."""
    arr = np.asarray(thumbs)
    if arr.dtype != np.uint8:
        raise TypeError(f"thumbs must be uint8, got {arr.dtype}")
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"thumbs must have shape (n, h, w, 1|3), got {arr.shape}")
    return np.repeat(arr, 3, axis=-1) if arr.shape[-1] == 1 else arr


def grid_image(layout: np.ndarray, thumbs, *, background: int = 255) -> np.ndarray:
    """The grid picture: cell (r, c) holds ``thumbs[layout[r, c]]``.

    Args:
        layout: (cells, cells) point indices from :func:`grid_layout`, -1 = empty.
        thumbs: (n, h, w, c) uint8 thumbnails, c in {1, 3}.
        background: grey level of empty cells.

    Returns:
        uint8 (cells * h, cells * w, 3).
    """
    layout = np.asarray(layout)
    rgb = _rgb_thumbs(thumbs)
    if layout.ndim != 2:
        raise ValueError(f"layout must be 2-D, got shape {layout.shape}")
    if layout.size and layout.max() >= len(rgb):
        raise ValueError(f"layout refers to point {layout.max()} but there are {len(rgb)} thumbs")
    rows, cols = layout.shape
    _, h, w, _ = rgb.shape
    blocks = np.full((rows, cols, h, w, 3), background, dtype=np.uint8)
    filled = layout >= 0
    blocks[filled] = rgb[layout[filled]]
    return blocks.transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, 3)


def class_colours(num_classes: int) -> np.ndarray:
    """RGBA per class, shared by every figure: tab10 up to 10 classes, tab20 up to 20, else
    :data:`CONTINUOUS_CMAP` sampled at ``(i + 0.5) / num_classes`` (what the colourbar shows).

    Returns:
        float (num_classes, 4) in [0, 1].
    """
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba_array

    for name, up_to in (("tab10", TAB10_UP_TO), ("tab20", TAB20_UP_TO)):
        if num_classes <= up_to:
            return to_rgba_array(colormaps[name].colors[:num_classes])
    return colormaps[CONTINUOUS_CMAP]((np.arange(num_classes) + 0.5) / num_classes)


def default_map_images(size: int, thumb_side: int) -> int:
    """Thumbnails on a ``size`` px map by default: enough to cover :data:`MAP_COVERAGE` of its
    area (2400 px with 28 px thumbnails -> 3673), so dense clusters do not merge into a blob."""
    return max(1, int(MAP_COVERAGE * (size / max(thumb_side, 1)) ** 2))


def _check_labels(labels, n: int, num_classes: int | None = None) -> np.ndarray:
    """``labels`` as int64 (n,), each -1 or a class index below ``num_classes``."""
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"labels must be integers, got {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < UNLABELLED:
        raise ValueError(f"labels must be -1 or a class index, got {arr.min()}")
    if num_classes is not None and arr.size and arr.max() >= num_classes:
        raise ValueError(f"label {arr.max()} but only {num_classes} class names")
    return arr


def map_image(
    embedding,
    thumbs,
    *,
    size: int = 2400,
    max_images: int | None = None,
    labels=None,
    num_classes: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Thumbnails pasted at their embedded positions on a white canvas, at native resolution.

    Args:
        embedding: (n, 2) points.
        thumbs: (n, h, w, c) uint8 thumbnails of the embedded images.
        size: canvas side in pixels; a margin keeps every thumbnail whole.
        max_images: at most this many thumbnails, a random subset (default
            :func:`default_map_images`).
        labels: (n,) class indices (-1 = unlabelled) for a 1 px border in the class colour
            (:func:`class_colours`; unlabelled: black).
        num_classes: the number of classes for the colours (default ``labels.max() + 1``); pass
            ``len(class_names)`` to match :func:`draw_scatter` exactly.
        seed: chooses the subset and the order they are drawn in (later ones on top).

    Returns:
        uint8 (size, size, 3).
    """
    emb = _as_embedding(embedding)
    rgb = _rgb_thumbs(thumbs)
    n = len(emb)
    if len(rgb) != n:
        raise ValueError(f"{n} points but {len(rgb)} thumbs")
    _, h, w, _ = rgb.shape
    border = 0 if labels is None else 1
    foot_h, foot_w = h + 2 * border, w + 2 * border
    if size < max(foot_h, foot_w):
        raise ValueError(f"size {size} is smaller than a thumbnail ({foot_h} x {foot_w})")
    canvas = np.full((size, size, 3), 255, dtype=np.uint8)
    if n == 0:
        return canvas
    if labels is not None:
        labels = _check_labels(labels, n, num_classes)
        k = num_classes if num_classes is not None else max(int(labels.max()) + 1, 1)
        palette = np.round(class_colours(k)[:, :3] * 255).astype(np.uint8)
    count = min(n, max_images if max_images is not None else default_map_images(size, max(h, w)))
    chosen = np.random.default_rng(seed).permutation(n)[:count]
    unit = unit_square(emb)
    left = np.round(unit[:, 0] * (size - foot_w)).astype(np.int64)
    top = np.round((1.0 - unit[:, 1]) * (size - foot_h)).astype(np.int64)
    for i in chosen:
        y, x = top[i], left[i]
        if border:
            colour = UNLABELLED_BORDER if labels[i] == UNLABELLED else palette[labels[i]]
            canvas[y : y + foot_h, x : x + foot_w] = colour
        canvas[y + border : y + border + h, x + border : x + border + w] = rgb[i]
    return canvas


def _save_png(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 RGB array as a (lossless) PNG."""
    from PIL import Image

    picture = Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    return write_atomic(path, lambda tmp: picture.save(tmp, format="PNG"))


def save_grid(path: str | Path, layout: np.ndarray, thumbs, *, background: int = 255) -> Path:
    """Save :func:`grid_image` as a PNG.

    Returns:
        The path written (its folder created if missing).
    """
    return _save_png(path, grid_image(layout, thumbs, background=background))


def save_map(path: str | Path, embedding, thumbs, **kwargs: Any) -> Path:
    """Save :func:`map_image` (``kwargs`` are its keywords) as a PNG.

    Returns:
        The path written (its folder created if missing).
    """
    return _save_png(path, map_image(embedding, thumbs, **kwargs))


# --- charts --------------------------------------------------------------------------------------


def _point_colours(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """RGBA per point: its class colour, grey when unlabelled."""
    palette = np.vstack([class_colours(num_classes), [UNLABELLED_COLOUR]])
    return palette[np.where(labels == UNLABELLED, num_classes, labels)]


def _default_point_size(n: int) -> float:
    """Marker area (points^2): small for big maps, 1 for 4000 points and more, at most 20."""
    return float(min(max(4000 / max(n, 1), 1.0), 20.0))


def _plain_axes(ax) -> None:
    """Equal aspect and no ticks: t-SNE's axes have no units."""
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])


def _legend_handles(class_names: Sequence[str], *, extra: Sequence = ()) -> list:
    """Marker handles, one per class, then ``extra`` ones."""
    from matplotlib.lines import Line2D

    colours = class_colours(len(class_names))
    handles = [
        Line2D([], [], marker="o", linestyle="", markersize=6, color=colours[i], label=str(name))
        for i, name in enumerate(class_names)
    ]
    return handles + list(extra)


def _colourbar(fig: Figure, axes, num_classes: int) -> Any:
    """A colourbar of class indices (for more than :data:`TAB20_UP_TO` classes)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    mappable = ScalarMappable(Normalize(-0.5, num_classes - 0.5), colormaps[CONTINUOUS_CMAP])
    bar = fig.colorbar(mappable, ax=axes, shrink=0.8)
    bar.set_label("class index")
    return bar


def _class_key(fig: Figure, ax, class_names: Sequence[str], *, extra: Sequence = ()) -> None:
    """A legend of class names beside ``ax`` (a colourbar when there are too many classes)."""
    if len(class_names) > TAB20_UP_TO:
        _colourbar(fig, ax, len(class_names))
        handles = list(extra)
    else:
        handles = _legend_handles(class_names, extra=extra)
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
        )


def draw_scatter(
    fig: Figure,
    ax,
    embedding,
    labels,
    class_names: Sequence[str],
    *,
    title: str | None = None,
    point_size: float | None = None,
    legend: bool = True,
):
    """Draw the map as points coloured by class.

    Points are drawn in a fixed shuffled order, so no class always lies on top. Up to 20 classes
    get a legend of class names beside the axes (tab10 / tab20 colours), more a colourbar of class
    indices; unlabelled points (-1) are grey.

    Args:
        fig, ax: the figure and the axes to draw on.
        embedding: (n, 2) points.
        labels: (n,) class indices, -1 = unlabelled.
        class_names: one name per class.
        title: above the axes.
        point_size: marker area in points^2 (default: smaller the more points).
        legend: draw the legend / colourbar (``False`` where the caller draws a shared one).

    Returns:
        The scatter's ``PathCollection``.
    """
    emb = _as_embedding(embedding)
    labels = _check_labels(labels, len(emb), len(class_names))
    order = np.random.default_rng(SCATTER_SEED).permutation(len(emb))
    size = point_size if point_size is not None else _default_point_size(len(emb))
    points = ax.scatter(
        emb[order, 0],
        emb[order, 1],
        s=size,
        c=_point_colours(labels[order], len(class_names)),
        linewidths=0,
        rasterized=True,
    )
    _plain_axes(ax)
    if title:
        ax.set_title(title, fontsize=10)
    if legend:
        extra = _unlabelled_handle() if (labels == UNLABELLED).any() else ()
        _class_key(fig, ax, class_names, extra=extra)
    return points


def _unlabelled_handle() -> tuple:
    """The legend entry of grey unlabelled points."""
    from matplotlib.lines import Line2D

    marker = Line2D([], [], marker="o", linestyle="", markersize=6, color=UNLABELLED_COLOUR)
    marker.set_label("unlabelled")
    return (marker,)


def scatter_figure(
    embedding, labels, class_names: Sequence[str], *, title: str | None = None
) -> Figure:
    """The figure :func:`save_scatter` writes (8 x 7 inches)."""
    fig = new_figure(SCATTER_SIZE, dpi=DPI)
    draw_scatter(fig, fig.add_subplot(), embedding, labels, class_names, title=title)
    return fig


def save_scatter(
    path: str | Path, embedding, labels, class_names: Sequence[str], *, title: str | None = None
) -> Path:
    """Save the map as a scatter of class-coloured points (:func:`draw_scatter`), a PNG of
    8 x 7 inches at 150 dpi.

    Returns:
        The path written (its folder created if missing).
    """
    return save_figure(scatter_figure(embedding, labels, class_names, title=title), path)


def compare_figure(panels: Sequence[Mapping[str, Any]]) -> Figure:
    """The figure :func:`save_compare` writes: one 7 x 7 inch scatter per panel, side by side,
    one legend (of the first panel's class names) for all."""
    if not panels:
        raise ValueError("save_compare needs at least one panel")
    fig = new_figure((PANEL_SIZE[0] * len(panels) + 2.0, PANEL_SIZE[1]), dpi=DPI)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    unlabelled = False
    for ax, panel in zip(axes, panels, strict=True):
        draw_scatter(
            fig,
            ax,
            panel["embedding"],
            panel["labels"],
            panel["class_names"],
            title=panel.get("title"),
            legend=False,
        )
        unlabelled |= bool((np.asarray(panel["labels"]) == UNLABELLED).any())
    class_names = panels[0]["class_names"]
    extra = _unlabelled_handle() if unlabelled else ()
    if len(class_names) > TAB20_UP_TO:
        _colourbar(fig, list(axes), len(class_names))
        handles = list(extra)
    else:
        handles = _legend_handles(class_names, extra=extra)
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)
    return fig


def save_compare(path: str | Path, panels: Sequence[Mapping[str, Any]]) -> Path:
    """Save maps side by side in one PNG, e.g. two models' features of the same images.

    Args:
        path: the file to write, a PNG (the format follows the suffix).
        panels: dicts with ``embedding``, ``labels``, ``class_names`` and ``title`` (the caller
            puts the model name and its k-NN accuracy there).

    Returns:
        The path written (its folder created if missing).
    """
    return save_figure(compare_figure(panels), path)


def added_figure(
    old_embedding,
    old_labels,
    new_embedding,
    new_labels,
    class_names: Sequence[str],
    *,
    title: str | None = None,
) -> Figure:
    """The figure :func:`save_added` writes (8 x 7 inches)."""
    from matplotlib.lines import Line2D

    old = _as_embedding(old_embedding)
    new = _as_embedding(new_embedding)
    k = len(class_names)
    old_labels = _check_labels(old_labels, len(old), k)
    new_labels = _check_labels(new_labels, len(new), k)
    fig = new_figure(SCATTER_SIZE, dpi=DPI)
    ax = fig.add_subplot()
    ax.scatter(
        old[:, 0],
        old[:, 1],
        s=2 * _default_point_size(len(old)),  # faint points need a little more area
        c=_point_colours(old_labels, k),
        alpha=0.25,
        linewidths=0,
        rasterized=True,
    )
    known = new_labels != UNLABELLED
    ax.scatter(
        new[known, 0],
        new[known, 1],
        s=36,
        c=_point_colours(new_labels[known], k),
        edgecolors="black",
        linewidths=0.8,
        zorder=3,
    )
    ax.scatter(
        new[~known, 0], new[~known, 1], s=36, marker="x", c="black", linewidths=1.2, zorder=4
    )
    _plain_axes(ax)
    if title:
        ax.set_title(title, fontsize=10)
    faint = dict(marker="o", linestyle="", markersize=4, color="0.6", alpha=0.5)
    added = dict(marker="o", linestyle="", markersize=7, markerfacecolor="0.8")
    extra = [
        Line2D([], [], **faint, label="existing map"),
        Line2D([], [], **added, markeredgecolor="black", label="added"),
    ]
    if (~known).any():
        cross = dict(marker="x", linestyle="", markersize=7, color="black")
        extra.append(Line2D([], [], **cross, label="added, unlabelled"))
    _class_key(fig, ax, class_names, extra=extra)
    return fig


def save_added(
    path: str | Path,
    old_embedding,
    old_labels,
    new_embedding,
    new_labels,
    class_names: Sequence[str],
    *,
    title: str | None = None,
) -> Path:
    """Save new points over an existing map: the map faint, the new points larger with a black
    edge in their class colour, unlabelled new points (-1) as black crosses.

    Args:
        path: the file to write, a PNG (the format follows the suffix).
        old_embedding, old_labels: the existing map and its classes.
        new_embedding, new_labels: the added points (e.g. ``TSNEEmbedding.transform``) and their
            classes, -1 where unknown.
        class_names: one name per class.
        title: above the axes.

    Returns:
        The path written (its folder created if missing).
    """
    fig = added_figure(
        old_embedding, old_labels, new_embedding, new_labels, class_names, title=title
    )
    return save_figure(fig, path)
