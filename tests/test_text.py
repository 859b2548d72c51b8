"""The one text-table formatter: columns as wide as their widest cell (header included), two
spaces apart, aligned per column, with an optional rule and indent, and no trailing spaces."""

from __future__ import annotations

import pytest

from cnnzoo.text import table

ROWS = [("resnet18", "11,689,512"), ("lenet5", "61,706")]


def test_header_and_alignment_per_column():
    assert table(ROWS, ("name", "parameters"), align="<>") == (
        "name      parameters\nresnet18  11,689,512\nlenet5        61,706"
    )


def test_one_alignment_for_all_columns_and_no_header():
    assert table(ROWS, align=">") == "resnet18  11,689,512\n  lenet5      61,706"


def test_a_wide_header_widens_its_column_and_the_rule_follows_the_widths():
    text = table([("a", "1")], ("long name", "n"), align="<>", rule="─")
    assert text.splitlines() == ["long name  n", "─────────  ─", "a          1"]


def test_indent_and_no_trailing_spaces():
    text = table([("T-shirt/top", "86.90%"), ("Bag", "no images")], indent="  ")
    assert text.splitlines() == ["  T-shirt/top  86.90%", "  Bag          no images"]
    assert all(line == line.rstrip() for line in text.splitlines())


def test_pre_padded_cells_keep_their_width():
    text = table([("Sandal", f"{0.0116:7.2%}"), ("Ankle boot", f"{0.9252:7.2%}")], align="<>")
    assert text.splitlines() == ["Sandal        1.16%", "Ankle boot   92.52%"]


def test_empty_table_is_empty_text():
    assert table([]) == ""
    assert table([], ("a", "b")) == "a  b"


@pytest.mark.parametrize(
    ("rows", "columns", "align", "message"),
    [
        ([("a", "b"), ("c",)], None, "<", "a row of 1 cells in a table of 2 columns"),
        ([("a", "b")], ("x",), "<", "a row of 2 cells in a table of 1 columns"),
        ([("a", "b")], None, "<<>", "give '<' or '>' for each of 2 columns"),
        ([("a", "b")], None, "^^", "give '<' or '>' for each of 2 columns"),
    ],
)
def test_mismatched_rows_or_alignment_are_refused(rows, columns, align, message):
    with pytest.raises(ValueError, match=message):
        table(rows, columns, align=align)
