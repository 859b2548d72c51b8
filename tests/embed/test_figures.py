"""``cnnzoo embed``'s figures: the grid layout picks the right points, the pictures hold the exact
thumbnail pixels, and every chart writes a real PNG with its legend."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from cnnzoo.embed import figures
from cnnzoo.embed.figures import (
    added_figure,
    class_colours,
    compare_figure,
    default_grid_cells,
    grid_image,
    grid_layout,
    map_image,
    save_added,
    save_compare,
    save_grid,
    save_map,
    save_scatter,
    scatter_figure,
    unit_square,
)

NAMES = [f"class {i}" for i in range(10)]


def blobs(n: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points in ``k`` Gaussian clusters and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n)
    centres = rng.normal(0, 10, (k, 2))
    return centres[labels] + rng.normal(0, 1, (n, 2)), labels


def random_thumbs(n: int, side: int = 8, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, channels), dtype=np.uint8)


def png(path) -> np.ndarray:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"))


def legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def find(canvas: np.ndarray, patch: np.ndarray) -> list[tuple[int, int]]:
    """Top-left corners where ``patch`` (h, w, 3) appears exactly in ``canvas``."""
    windows = sliding_window_view(canvas, patch.shape)[:, :, 0]
    hits = np.argwhere((windows == patch).all(axis=(2, 3, 4)))
    return [tuple(map(int, hit)) for hit in hits]


# --- layout --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "cells"), [(0, 8), (10, 8), (5000, 64), (60000, 80), (10**7, 80)])
def test_default_grid_cells(n, cells):
    assert default_grid_cells(n) == cells


def test_grid_layout_by_hand():
    # (0, 0) and (1, 1) span the unit square; 2 x 2 cells with centres at 0.25 / 0.75
    emb = np.array([[0, 0], [1, 1], [0.2, 0.3], [0.8, 0.9], [0.9, 0.1]])
    layout = grid_layout(emb, 2)
    # top-left empty; top-right: 3 is nearer (0.75, 0.75) than 1; bottom-left: 2 beats 0
    np.testing.assert_array_equal(layout, [[-1, 3], [2, 4]])
    assert layout.dtype.kind == "i"


def test_grid_layout_row_zero_is_top():
    layout = grid_layout(np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), 3)
    assert layout[0, 0] == 1  # highest y, leftmost x
    assert layout[2, 0] == 0
    assert layout[2, 2] == 2
    assert (layout >= 0).sum() == 3


def test_grid_layout_keeps_aspect():
    # x spans 4, y spans 1: y is scaled by 4 too and centred, into [0.375, 0.625]
    emb = np.array([[0, 0], [4, 1], [2, 0.5], [1, 0.2], [3, 0.1]], dtype=float)
    layout = grid_layout(emb, 4)
    assert (layout[[0, 3]] == -1).all()  # top and bottom rows stay empty
    assert sorted(layout[layout >= 0].tolist()) == [0, 1, 2, 3, 4]
    unit = unit_square(emb)
    np.testing.assert_allclose(unit[:, 1].min() + unit[:, 1].max(), 1.0)  # centred
    np.testing.assert_allclose(np.ptp(unit, axis=0), [1.0, 0.25])


def test_grid_layout_against_brute_force():
    emb, _ = blobs(600, 5, seed=3)
    emb[:, 1] *= 0.6
    cells = 9
    layout = grid_layout(emb, cells)
    unit = unit_square(emb)
    for r in range(cells):
        for c in range(cells):
            lo = np.array([c, cells - 1 - r]) / cells  # (x, y) of the cell's bottom-left corner
            hi = lo + 1 / cells
            inside = np.all((unit >= lo) & ((unit < hi) | (hi >= 1.0)), axis=1)
            if not inside.any():
                assert layout[r, c] == -1
                continue
            chosen = layout[r, c]
            assert inside[chosen], (r, c)
            dist = ((unit - (lo + hi) / 2) ** 2).sum(axis=1)
            assert dist[chosen] == dist[inside].min()
    assert len(set(layout[layout >= 0].tolist())) == (layout >= 0).sum()  # no point twice


def test_grid_layout_is_fast_and_handles_degenerate_input():
    emb = np.random.default_rng(0).uniform(-30, 30, (60000, 2))
    layout = grid_layout(emb, 80)
    assert layout.shape == (80, 80) and (layout >= 0).sum() > 6300  # ~9 points a cell
    assert grid_layout(np.zeros((0, 2)), 4).tolist() == [[-1] * 4] * 4
    single = grid_layout(np.array([[5.0, 5.0]]), 3)
    assert single[1, 1] == 0 and (single >= 0).sum() == 1
    with pytest.raises(ValueError, match="NaN"):
        grid_layout(np.array([[0.0, np.nan]]), 3)
    with pytest.raises(ValueError, match="shape"):
        grid_layout(np.zeros((3, 3)), 3)


# --- pictures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_save_grid_holds_the_exact_thumbnails(tmp_path, channels):
    thumbs = random_thumbs(6, side=7, channels=channels)
    layout = np.array([[0, -1, 5], [2, 3, -1]])
    path = save_grid(tmp_path / "sub" / "grid.png", layout, thumbs)
    assert path == tmp_path / "sub" / "grid.png"
    img = png(path)
    assert img.shape == (2 * 7, 3 * 7, 3)
    np.testing.assert_array_equal(img, grid_image(layout, thumbs))
    for (r, c), index in np.ndenumerate(layout):
        block = img[r * 7 : (r + 1) * 7, c * 7 : (c + 1) * 7]
        if index < 0:
            assert (block == 255).all()
        else:
            expected = np.broadcast_to(thumbs[index], (7, 7, 3))  # grey repeated to RGB
            np.testing.assert_array_equal(block, expected)


def test_grid_image_background_and_checks():
    thumbs = random_thumbs(2, side=4, seed=1)
    img = grid_image(np.array([[-1, 1]]), thumbs, background=0)
    assert img.shape == (4, 8, 3) and (img[:, :4] == 0).all()
    with pytest.raises(ValueError, match="thumbs"):
        grid_image(np.array([[2]]), thumbs)
    with pytest.raises(TypeError, match="uint8"):
        grid_image(np.array([[0]]), thumbs.astype(np.float32))


def test_map_image_one_point_appears_exactly():
    thumb = random_thumbs(1, side=10, channels=3, seed=2)
    canvas = map_image(np.array([[3.0, -1.0]]), thumb, size=60)
    assert canvas.shape == (60, 60, 3) and canvas.dtype == np.uint8
    assert find(canvas, thumb[0]) == [(25, 25)]  # centred
    assert (canvas[:25] == 255).all()


def test_map_image_positions_subset_and_seed():
    # four corners and the centre, each a flat thumbnail of its own grey level
    emb = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.5]], dtype=float)
    thumbs = np.stack([np.full((6, 6, 1), 10 * (i + 1), np.uint8) for i in range(5)])
    canvas = map_image(emb, thumbs, size=50)
    assert canvas.shape == (50, 50, 3)
    assert (canvas[44:, :6] == 10).all()  # (0, 0): bottom-left, inside the margin
    assert (canvas[:6, :6] == 20).all()  # (0, 1): top-left
    assert (canvas[:6, 44:] == 40).all()  # (1, 1): top-right
    assert (canvas[:, 6:20] == 255).all()
    subset = map_image(emb, thumbs, size=50, max_images=2, seed=1)
    greys = set(np.unique(subset).tolist()) - {255}
    assert len(greys) == 2
    np.testing.assert_array_equal(subset, map_image(emb, thumbs, size=50, max_images=2, seed=1))


def test_map_image_default_subset_is_bounded():
    emb, _ = blobs(3000, 4)
    thumbs = np.stack([np.full((4, 4, 1), i % 250, np.uint8) for i in range(3000)])
    canvas = map_image(emb, thumbs, size=80)
    assert figures.default_map_images(80, 4) == 200
    assert len(np.unique(canvas)) <= 201
    assert not (canvas == 255).all()


def test_map_image_border_in_class_colour(tmp_path):
    thumb = np.zeros((1, 5, 5, 1), np.uint8)
    canvas = map_image(np.zeros((1, 2)), thumb, size=21, labels=np.array([3]), num_classes=10)
    colour = np.round(class_colours(10)[3, :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(canvas[7, 7], colour)  # the 7 x 7 footprint starts at (7, 7)
    np.testing.assert_array_equal(canvas[13, 10], colour)
    assert (canvas[8:13, 8:13] == 0).all()
    unlabelled = map_image(np.zeros((1, 2)), thumb, size=21, labels=np.array([-1]))
    assert (unlabelled[7, 7:14] == 0).all()
    path = save_map(tmp_path / "m.png", np.zeros((1, 2)), thumb, size=21, labels=np.array([3]))
    np.testing.assert_array_equal(png(path)[8:13, 8:13], 0)
    with pytest.raises(ValueError, match="smaller"):
        map_image(np.zeros((1, 2)), thumb, size=6, labels=np.array([0]))


# --- charts --------------------------------------------------------------------------------------


def assert_real_png(path, size):
    img = png(path)
    assert (img.shape[1], img.shape[0]) == size
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10


def test_scatter_legend_and_png(tmp_path):
    emb, labels = blobs(400, 10)
    labels[:5] = -1
    fig = scatter_figure(emb, labels, NAMES, title="resnet20 (k-NN 91.2%)")
    ax = fig.axes[0]
    assert legend_texts(ax.get_legend()) == [*NAMES, "unlabelled"]
    assert ax.get_title() == "resnet20 (k-NN 91.2%)"
    assert ax.get_xticks().size == 0 and ax.get_yticks().size == 0
    assert ax.get_aspect() == 1.0
    colours = ax.collections[0].get_facecolors()
    assert len(np.unique(colours.round(3), axis=0)) == 11  # ten classes and grey
    path = save_scatter(tmp_path / "out" / "scatter.png", emb, labels, NAMES)
    assert path.exists() and path.parent.name == "out"
    assert_real_png(path, (1200, 1050))


def test_scatter_colours_are_shared_with_the_map():
    emb, labels = blobs(50, 3)
    fig = scatter_figure(emb, labels, NAMES[:3])
    handles = fig.axes[0].get_legend().legend_handles
    for i, handle in enumerate(handles):
        np.testing.assert_allclose(to_rgba(handle.get_color()), class_colours(3)[i])
    np.testing.assert_allclose(class_colours(12)[:10], class_colours(20)[:10])  # tab20 prefix


def test_many_classes_use_a_colourbar(tmp_path):
    names = [f"c{i}" for i in range(25)]
    emb, labels = blobs(500, 25)
    fig = scatter_figure(emb, labels, names)
    assert len(fig.axes) == 2  # the map and its colourbar
    assert fig.axes[0].get_legend() is None
    assert_real_png(save_scatter(tmp_path / "s.png", emb, labels, names), (1200, 1050))
    panels = [{"embedding": emb, "labels": labels, "class_names": names, "title": "a"}]
    assert save_compare(tmp_path / "c.png", panels * 2).exists()
    assert save_added(tmp_path / "a.png", emb, labels, emb[:5], labels[:5], names).exists()
    assert map_image(emb, random_thumbs(500, 4), size=64, labels=labels).shape == (64, 64, 3)


def test_labels_are_checked():
    emb, _ = blobs(5, 2)
    with pytest.raises(ValueError, match="class names"):
        scatter_figure(emb, np.array([0, 1, 2, 0, 1]), NAMES[:2])
    with pytest.raises(ValueError, match="shape"):
        scatter_figure(emb, np.array([0, 1]), NAMES[:2])
    with pytest.raises(ValueError, match="-1"):
        scatter_figure(emb, np.array([0, 1, -2, 0, 1]), NAMES[:2])


def test_save_compare_one_shared_legend(tmp_path):
    a, la = blobs(300, 10, seed=1)
    b, lb = blobs(300, 10, seed=2)
    panels = [
        {"embedding": a, "labels": la, "class_names": NAMES, "title": "lenet5 (k-NN 85%)"},
        {"embedding": b, "labels": lb, "class_names": NAMES, "title": "resnet20 (k-NN 92%)"},
    ]
    fig = compare_figure(panels)
    assert [ax.get_title() for ax in fig.axes] == ["lenet5 (k-NN 85%)", "resnet20 (k-NN 92%)"]
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1 and legend_texts(fig.legends[0]) == NAMES
    path = save_compare(tmp_path / "compare.png", panels)
    assert_real_png(path, (2400, 1050))  # (2 x 7 + 2) x 7 inches at 150 dpi
    with pytest.raises(ValueError, match="panel"):
        compare_figure([])


def test_save_added(tmp_path):
    old, old_labels = blobs(500, 10)
    new = old[:8] + 0.1
    new_labels = old_labels[:8].copy()
    new_labels[:3] = -1
    fig = added_figure(old, old_labels, new, new_labels, NAMES, title="added")
    ax = fig.axes[0]
    assert legend_texts(ax.get_legend()) == [*NAMES, "existing map", "added", "added, unlabelled"]
    faint, known, crosses = ax.collections
    assert faint.get_alpha() == pytest.approx(0.25)
    assert len(known.get_offsets()) == 5 and len(crosses.get_offsets()) == 3
    np.testing.assert_allclose(known.get_edgecolors()[0], [0, 0, 0, 1])
    assert known.get_sizes()[0] > faint.get_sizes()[0]
    path = save_added(tmp_path / "added.png", old, old_labels, new, new_labels, NAMES)
    assert_real_png(path, (1200, 1050))
    all_known = added_figure(old, old_labels, new, old_labels[:8], NAMES)
    assert "added, unlabelled" not in legend_texts(all_known.axes[0].get_legend())
