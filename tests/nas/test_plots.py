"""Search curves and Pareto-front plots (cnnzoo.nas.plots)."""

import math
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from cnnzoo.nas.plots import save_pareto_front, save_search_curve, search_curve


def _rows():
    rows = []
    scores = {
        ("random", 0): [None, 0.5, 0.4, None, 0.7, 0.6],
        ("random", 1): [0.3, 0.35, float("nan"), 0.8],
        ("evolution", 0): [0.2, None, 0.9, 0.1],
    }
    for (strategy, seed), values in scores.items():
        for i, s in enumerate(values, start=1):
            rows.append({"strategy": strategy, "seed": seed, "index": i, "score": s})
    return rows


def test_search_curve_best_so_far():
    rows = _rows()
    curves = search_curve(list(reversed(rows)))  # row order must not matter
    assert set(curves) == {"random seed 0", "random seed 1", "evolution"}
    assert curves["random seed 0"] == [(2, 0.5), (3, 0.5), (4, 0.5), (5, 0.7), (6, 0.7)]
    assert curves["random seed 1"] == [(1, 0.3), (2, 0.35), (3, 0.35), (4, 0.8)]
    assert curves["evolution"] == [(1, 0.2), (2, 0.2), (3, 0.9), (4, 0.9)]
    for curve in curves.values():
        values = [v for _, v in curve]
        assert values == sorted(values) and not any(math.isnan(v) for v in values)
    failed = [{"strategy": "x", "seed": 3, "index": 1, "score": None}]
    assert search_curve(failed) == {"x": []}


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_save_search_curve(tmp_path, suffix):
    path = save_search_curve(tmp_path / f"curve{suffix}", _rows(), title="demo")
    assert path.exists()
    if suffix == ".png":
        with Image.open(path) as im:
            assert im.format == "PNG"
            lo, hi = im.convert("L").getextrema()
            assert hi - lo > 100
    else:
        text = "".join(ET.parse(path).getroot().itertext())
        assert "demo" in text and "evolution" in text and "%" in text


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_save_pareto_front(tmp_path, suffix):
    rows = [
        {"strategy": "random", "score": 0.5, "macs": 2e6},
        {"strategy": "random", "score": 0.7, "macs": 5e6},
        {"strategy": "random", "score": 0.6, "macs": 6e6},  # dominated: not on the front
        {"strategy": "random", "score": None, "macs": 1e6},  # failed: left out
        {"strategy": "evolution", "score": 0.8, "macs": 9e6},
    ]
    path = save_pareto_front(tmp_path / f"front{suffix}", rows, title="front demo")
    assert path == tmp_path / f"front{suffix}"
    if suffix == ".png":
        with Image.open(path) as im:
            assert im.format == "PNG"
    else:
        text = "".join(ET.parse(path).getroot().itertext())
        assert "front demo" in text
        assert "random: 2 on the front of 3" in text and "evolution: 1 on the front of 1" in text
