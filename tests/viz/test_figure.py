"""The one figure maker and saver: an off-screen figure, written atomically in its suffix's format
at the figure's (or a given) resolution, SVG text as outlines unless asked otherwise."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from cnnzoo.viz.figure import new_figure, save_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def labelled_figure(dpi: float = 50, layout: str | None = "constrained"):
    fig = new_figure((4.0, 2.0), dpi=dpi, layout=layout)
    ax = fig.add_subplot()
    ax.plot([0, 1], [1, 0])
    ax.set_title("a title")
    return fig


def test_new_figure_is_off_screen_at_its_size_and_layout():
    fig = new_figure((4.0, 2.0), dpi=50)
    assert isinstance(fig.canvas, FigureCanvasAgg)
    assert tuple(fig.get_size_inches()) == (4.0, 2.0) and fig.dpi == 50
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    assert new_figure((1.0, 1.0), dpi=50, layout=None).get_layout_engine() is None


@pytest.mark.parametrize(("dpi", "pixels"), [(None, (200, 100)), (100, (400, 200))])
def test_png_at_the_figure_dpi_or_the_given_one(tmp_path, dpi, pixels):
    path = save_figure(labelled_figure(), tmp_path / "sub" / "chart.png", dpi=dpi)
    assert path == tmp_path / "sub" / "chart.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        assert image.size == pixels
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["chart.png"]  # no temporary file left


def test_format_follows_the_suffix_png_without_one(tmp_path):
    fig = labelled_figure()
    assert save_figure(fig, tmp_path / "a.PDF").read_bytes().startswith(b"%PDF")
    assert save_figure(fig, tmp_path / "bare").read_bytes()[:8] == PNG_SIGNATURE
    assert ET.parse(save_figure(fig, tmp_path / "a.svg")).getroot().tag.endswith("svg")


def test_svg_text_as_outlines_or_as_text(tmp_path):
    fig = labelled_figure()
    outlines = save_figure(fig, tmp_path / "outlines.svg").read_text()
    text = save_figure(fig, tmp_path / "text.svg", svg_text=True).read_text()
    assert ">a title<" not in outlines
    assert ">a title<" in text


def test_an_unknown_format_leaves_the_old_file(tmp_path):
    old = tmp_path / "chart.nope"
    old.write_bytes(b"old")
    with pytest.raises(ValueError, match="nope"):
        save_figure(labelled_figure(), old)
    assert old.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["chart.nope"]
