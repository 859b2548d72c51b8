"""The one text-table formatter of the commands' plain-text output (``list``, ``summary``,
``explain``, ``bench``, ``eval``, ``predict``): columns as wide as their widest cell, two spaces
apart, each aligned left or right, no trailing spaces. Plain string formatting, so a table of
thousands of rows renders in milliseconds. (``compare`` keeps ``rich``'s table: it folds its long
columns to the terminal width.)"""

from __future__ import annotations

from collections.abc import Sequence

GAP = "  "  # between columns
ALIGNS = ("<", ">")


def table(
    rows: Sequence[Sequence[str]],
    columns: Sequence[str] | None = None,
    *,
    align: str = "<",
    rule: str | None = None,
    indent: str = "",
) -> str:
    """Rows of text cells as aligned columns.

    Args:
        rows: the cells, already formatted, the same number in every row.
        columns: the header line's cells; ``None``: no header.
        align: ``"<"`` (left) or ``">"`` (right) per column (``"<<>"``), or one for all.
        rule: a character to draw a rule under the header with (``"─"``); ``None``: no rule.
        indent: put before every line.

    Returns:
        The lines joined by newlines, without a final one; trailing spaces are removed.

    Raises:
        ValueError: a row or the header of another length than the others, or a bad ``align``.
    """
    lines = [list(columns)] if columns is not None else []
    lines += [list(row) for row in rows]
    if not lines:
        return ""
    count = len(lines[0])
    aligns = align * count if len(align) == 1 else align
    if len(aligns) != count or any(a not in ALIGNS for a in aligns):
        raise ValueError(f"align {align!r}: give '<' or '>' for each of {count} columns")
    for line in lines:
        if len(line) != count:
            raise ValueError(f"a row of {len(line)} cells in a table of {count} columns")
    widths = [max(len(line[i]) for line in lines) for i in range(count)]

    def render(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if a == "<" else c.rjust(w)
            for c, a, w in zip(cells, aligns, widths, strict=True)
        )
        return (indent + GAP.join(padded)).rstrip()

    out = [render(line) for line in lines]
    if columns is not None and rule is not None:
        out.insert(1, (indent + GAP.join(rule * w for w in widths)).rstrip())
    return "\n".join(out)
