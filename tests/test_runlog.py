"""A run's metrics.csv: what the engine writes is what its reader gives back."""

from __future__ import annotations

import pytest

from cnnzoo.runlog import METRICS_COLUMNS, read_metrics, read_metrics_csv, write_metrics_csv


def test_rows_are_read_back_as_written(tmp_path):
    rows = [{key: 0.5 + i for key in METRICS_COLUMNS} | {"epoch": i + 1} for i in range(3)]
    write_metrics_csv(tmp_path / "metrics.csv", rows)
    back = read_metrics_csv(tmp_path / "metrics.csv")
    assert back == rows and all(isinstance(r["epoch"], int) for r in back)
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary file left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch,test_top1\n1,0.5\n2,high\n", "line 3, column 'test_top1': 'high' is not a number"),
        ("epoch,test_top1\n1.5,0.5\n", "line 2, column 'epoch': '1.5' is not a number"),
    ],
)
def test_a_cell_that_is_not_a_number_is_named(text, message):
    with pytest.raises(ValueError, match=message):
        read_metrics(text)


def test_an_empty_cell_is_none():
    assert read_metrics("epoch,lr\n1,\n") == [{"epoch": 1, "lr": None}]
