import json

import pytest

from cnnzoo.analysis.compare import (
    compare_rows,
    compare_to_csv,
    compare_to_json,
    default_names,
    parse_millions,
    parse_mult_adds,
    render_compare_table,
)
from cnnzoo.reference import reference_models


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("60", 60e6),
        ("0.060 (60,000 trainable)", 60e3),
        ("~6.8 (Table 1 sum)", 6.8e6),
        ("- (not reported)", None),
        (None, None),
    ],
)
def test_parse_millions(text, value):
    assert parse_millions(text) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("720M (MobileNet Table 9)", 720e6),
        ("~1.5G", 1.5e9),
        ("23.8B @331", 23.8e9),
        ("15.3G (MobileNet Table 8) / 15.5G", 15.3e9),
        ("- (340,908 connections)", None),
    ],
)
def test_parse_mult_adds(text, value):
    assert parse_mult_adds(text) == pytest.approx(value) if value else parse_mult_adds(text) is None


def test_default_rows_are_the_registered_papers_in_year_order():
    names = default_names()
    assert names[0].startswith("lenet5")
    assert {"alexnet_original", "vgg16", "googlenet", "resnet152"} <= set(names)


def test_rows_measure_the_reference_configuration():
    reference = {r.name: r for r in reference_models()}
    rows = {r.name: r for r in compare_rows(["vgg16", "googlenet", "resnet50", "lenet5_original"])}
    for name, row in rows.items():
        assert row.params == reference[name].params
        assert row.depth == reference[name].depth
        assert row.macs == pytest.approx(reference[name].macs, rel=reference[name].macs_tolerance)
    assert rows["vgg16"].receptive_field == "212"
    assert rows["vgg16"].paper_params == 138e6
    assert rows["vgg16"].params_rel_diff == pytest.approx((138_357_544 - 138e6) / 138e6)
    assert rows["lenet5_original"].paper_mult_adds is None
    assert rows["lenet5_original"].macs_rel_diff is None


def test_renderers():
    rows = compare_rows(["alexnet", "resnet18"])
    table = render_compare_table(rows)
    assert "alexnet" in table and "resnet18" in table and "Paper mult-adds" in table
    data = json.loads(compare_to_json(rows))
    assert [d["name"] for d in data] == ["alexnet", "resnet18"]
    assert data[0]["macs_rel_diff"] == pytest.approx((714_188_480 - 720e6) / 720e6)
    lines = compare_to_csv(rows).splitlines()
    assert len(lines) == 3 and lines[0].startswith("name,family,year")
