"""The one way cnnzoo makes and saves a matplotlib figure: a bare ``Figure`` on the Agg canvas
(no pyplot, no global state, no display needed), written through a temporary file and a rename
(:func:`cnnzoo.files.write_atomic`) in the format its file name's suffix says.

Every figure of the tools goes through here: the charts of ``cnnzoo plot`` and of the report, the
confusion matrix of ``cnnzoo eval``, the maps of ``cnnzoo embed`` and the search pictures of
``cnnzoo nas search``.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from cnnzoo.files import write_atomic

DEFAULT_FORMAT = "png"  # a file name without a suffix


def new_figure(
    size: tuple[float, float], *, dpi: float, layout: str | None = "constrained"
) -> Figure:
    """A new, empty figure drawn off-screen.

    Args:
        size: width and height in inches.
        dpi: pixels per inch (also what :func:`save_figure` writes a raster file at).
        layout: matplotlib's layout engine (``"constrained"``, ``"tight"``, or ``None``).

    Returns:
        The figure, attached to a ``FigureCanvasAgg``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=size, dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(
    fig: Figure, path: str | Path, *, dpi: float | None = None, svg_text: bool = False
) -> Path:
    """Write ``fig`` to ``path`` atomically, in the format of its suffix (``.png``, ``.svg``,
    ``.pdf``, any format matplotlib knows; PNG when there is none).

    Args:
        fig: the figure.
        path: the file to write (its folder is created if missing).
        dpi: pixels per inch of a raster file; ``None``: the figure's own.
        svg_text: keep the text of an SVG as text (searchable, smaller, drawn in the reader's
            fonts) instead of glyph outlines.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        ValueError: a suffix matplotlib cannot write; ``path`` is then left as it was.
    """
    from matplotlib import rc_context

    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or DEFAULT_FORMAT
    rc = {"svg.fonttype": "none"} if svg_text else {}

    def write(tmp: Path) -> None:
        with rc_context(rc):
            fig.savefig(tmp, format=fmt, dpi=fig.dpi if dpi is None else dpi)

    return write_atomic(path, write)
