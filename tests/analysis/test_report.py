"""The report as data and its renderers."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import pytest

from cnnzoo.analysis import (
    SCHEMA_VERSION,
    collapse,
    from_json,
    profile,
    render_table,
    to_csv,
    to_json,
)
from cnnzoo.analysis.report import CSV_COLUMNS


@pytest.fixture(scope="module")
def report():
    return profile("resnet18", (3, 64, 64))


def test_json_round_trip(report):
    text = to_json(report)
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION
    assert from_json(text) == report


def test_json_of_another_schema_version_is_refused(report):
    data = json.loads(to_json(report))
    data["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match="schema version"):
        from_json(json.dumps(data))


def test_report_is_frozen(report):
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.model = "other"


def test_csv_has_a_header_and_one_line_per_row(report):
    lines = list(csv.reader(io.StringIO(to_csv(report))))
    assert lines[0] == list(CSV_COLUMNS)
    assert len(lines) == 1 + len(report.rows)
    assert [line[0] for line in lines[1:]] == [r.name for r in report.rows]
    conv1 = dict(zip(lines[0], lines[1], strict=True))
    assert conv1["output_shape"] == "1x64x32x32"
    assert int(conv1["macs_conv_linear"]) == report.rows[0].macs_conv_linear
    assert conv1["rf_h"] == "7"


def test_collapse_to_depth_1_keeps_the_totals(report):
    stages = collapse(report.rows, 1, report.module_types)
    assert stages == report.stages
    assert [s.name for s in stages] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    assert sum(s.params for s in stages) == report.totals.params_in_rows
    assert sum(s.macs_conv_linear for s in stages) == report.totals.macs_conv_linear
    assert sum(s.macs_other for s in stages) == report.totals.macs_other
    assert sum(s.allocated_bytes for s in stages) == report.totals.activation_bytes
    layer4 = next(s for s in stages if s.name == "layer4")
    assert layer4.type == "Sequential"
    assert layer4.output_shape == (1, 512, 2, 2)
    assert layer4.receptive_field == report.final_receptive_field


def test_collapse_to_depth_2_gives_blocks(report):
    names = [r.name for r in collapse(report.rows, 2, report.module_types)]
    assert names[4:6] == ["layer1.0", "layer1.1"]
    with pytest.raises(ValueError):
        collapse(report.rows, 0, report.module_types)


def test_table_shows_rows_totals_and_flops_label(report):
    text = render_table(report)
    assert "resnet18" in text
    assert "FLOPs conv+linear (2 x MACs)" in text
    assert f"{report.totals.params:,}" in text
    assert "layer1.0.conv1" in text
    short = render_table(report, depth=1)
    assert "layer1.0.conv1" not in short
    assert len(short.splitlines()) < len(text.splitlines())
