"""``cnnzoo plot``: each chart's data is right, and each writes a real PNG and SVG."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.reference import ilsvrc_top5_error
from cnnzoo.viz import charts
from cnnzoo.viz.figure import save_figure
from cnnzoo.viz.plot import CHARTS, DPI, FIGURE_SIZES, PlotConfig, output_paths, render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def bench_record(results: list[dict]) -> dict:
    """A hand-made ``cnnzoo bench --format json`` record around ``results``."""
    return {
        "schema": "cnnzoo-bench",
        "version": 1,
        "environment": {},
        "settings": {},
        "results": results,
        "summary": [],
    }


def bench_result(model, runtime, precision, batch_size, median, status="ok") -> dict:
    ok = status == "ok"
    return {
        "model": model,
        "runtime": runtime,
        "precision": precision,
        "batch_size": batch_size,
        "input": [3, 224, 224],
        "mode": "infer",
        "status": status,
        "reason": None if ok else "not supported",
        "prepare_s": 0.1,
        "latency_ms": {"median": median, "min": median, "max": median, "iqr": 0.0} if ok else None,
        "images_per_s": None,
        "peak_memory_mib": None,
        "max_abs_diff": None,
        "max_rel_diff": None,
        "exact": None,
        "speedup": None,
        "emulated": False,
    }


BENCH_RESULTS = [
    bench_result("resnet18", "eager", "fp32", 1, 20.0),
    bench_result("resnet18", "fold", "fp32", 1, 18.0),
    bench_result("mobilenet_v1", "eager", "fp32", 1, 8.0),
    bench_result("mobilenet_v1", "fold", "fp32", 1, 6.0),
    bench_result("mobilenet_v1", "onnxruntime", "int8", 1, 3.0, status="failed"),
    bench_result("lenet5", "eager", "fp32", 1, 0.1),
    bench_result("resnet18", "eager", "fp32", 8, 100.0),
]


@pytest.fixture(scope="module")
def top1() -> dict[str, float]:
    return charts.paper_top1_table()


@pytest.fixture(scope="module")
def figures(top1) -> list[charts.ModelFigures]:
    """The models with a paper top-1, the notable ones and two without a top-1 (not the whole
    zoo, to keep the suite fast; `cnnzoo plot` profiles all of it)."""
    names = dict.fromkeys([*top1, *charts.NOTABLE_DEPTH, "lenet5", "resnet20"])
    return charts.model_figures(names)


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    path.write_text(json.dumps(bench_record(BENCH_RESULTS)))
    return path


@pytest.fixture(scope="module")
def all_data(figures, top1, bench_file) -> dict[str, charts.ChartData]:
    return {
        "accuracy-vs-ops": charts.accuracy_vs_ops(figures, top1),
        "ilsvrc": charts.ilsvrc(ilsvrc_top5_error()),
        "depth": charts.depth(figures),
        "mobilenet": charts.mobilenet_grid(charts.mobilenet_grid_rows()),
        "latency": charts.latency(charts.read_bench(bench_file), top1),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22.85/6.71 (Table 3, 10-crop); 20.74/5.25 (Table 4)", 77.15),
        ("acc 74.0/91.6", 74.0),
        ("top-1 err 32.6", 67.4),
        ("top-1/top-5 err 30.6/11.1", 69.4),
        ("top-1 27.88 (Table 2, 10-crop)", 72.12),
        ("ILSVRC-2010 test 37.5/17.0; ILSVRC-2012 val 1 CNN 40.7/18.2", 59.3),
        ("top-5: 10.07%; top-1 not reported by the paper (69.8% in MobileNet Table 8)", 69.8),
        ("top-5 10.07% (1 crop)", None),
        ("MNIST test err 0.95% (no distortion)", None),
        ("-", None),
        (None, None),
    ],
)
def test_paper_top1(text, expected):
    assert charts.paper_top1(text) == expected


def test_accuracy_vs_ops_points(all_data):
    data = all_data["accuracy-vs-ops"]
    for name, gmacs, acc in (
        ("resnet50", 4.1, 77.15),
        ("vgg16", 15.5, 75.2),
        ("mobilenet_v1", 0.57, 70.6),
    ):
        point = data.point(name)
        assert point.x == pytest.approx(gmacs, rel=0.03)
        assert point.y == pytest.approx(acc)
    assert data.point("vgg16").size == pytest.approx(138.4e6, rel=0.01)
    assert "lenet5" in data.left_out and data.left_out_reason == "no ImageNet top-1"
    assert len({p.label for p in data.points}) == len(data.points) >= 20
    assert set(data.series) >= {"vgg", "resnet", "mobilenet", "alexnet"}


def test_ilsvrc_bars_equal_reference(all_data):
    data = all_data["ilsvrc"]
    reference = ilsvrc_top5_error()
    assert {p.label: p.y for p in data.points} == {
        k: v for k, v in reference.items() if k != "human"
    }
    assert data.point("2012 AlexNet").y == 16.4
    assert [y for _, y in data.hlines] == [5.1]


def test_depth_points(all_data):
    data = all_data["depth"]
    assert data.point("vgg16").y == 16
    assert data.point("resnet152").y == 152
    assert data.point("lenet5").x == 1998
    assert set(charts.NOTABLE_DEPTH) <= {p.label for p in data.points}


def test_mobilenet_grid(all_data):
    data = all_data["mobilenet"]
    assert data.series == ("width 1.0", "width 0.75", "width 0.5", "width 0.25")
    for series in data.series:
        points = [p for p in data.points if p.series == series]
        assert [p.label for p in points] == ["224", "192", "160", "128"]
        macs = [p.x for p in points]
        assert macs == sorted(macs, reverse=True) and len(set(macs)) == 4
    top = data.point("224", "width 1.0")
    assert top.x == pytest.approx(569, rel=0.01) and top.ref_x == 569 and top.y == 70.6
    assert data.point("128", "width 0.25").y is None
    assert sum(p.y is not None for p in data.points) == 8


def test_latency_series_and_points(all_data):
    data = all_data["latency"]
    assert data.series == ("eager fp32", "fold fp32")
    assert {(p.label, p.series): (p.x, p.y) for p in data.points} == {
        ("resnet18", "eager fp32"): (20.0, 72.12),
        ("resnet18", "fold fp32"): (18.0, 72.12),
        ("mobilenet_v1", "eager fp32"): (8.0, 70.6),
        ("mobilenet_v1", "fold fp32"): (6.0, 70.6),
    }  # the failed onnxruntime row and batch 8 are not plotted
    assert data.left_out == ("lenet5",)
    assert "batch 1" in data.title


def test_latency_batch_size_choice(bench_file, top1):
    rows = charts.read_bench(bench_file)
    data = charts.latency(rows, top1, batch_size=8)
    assert [(p.label, p.x) for p in data.points] == [("resnet18", 100.0)]
    assert charts.choose_batch_size([r for r in rows if r.batch_size == 8], None) == 8
    with pytest.raises(ValueError, match="--batch-size 4 was not measured"):
        charts.latency(rows, top1, batch_size=4)
    with pytest.raises(ValueError, match="no measured model has a paper ImageNet top-1"):
        charts.latency([r for r in rows if r.model == "lenet5"], top1)


@pytest.mark.parametrize("kind", list(CHARTS))
def test_writes_png_and_svg(kind, all_data, tmp_path):
    data = all_data[kind]
    fig = render(data, CHARTS[kind][1])
    png = save_figure(fig, tmp_path / f"{kind}.png")
    svg = save_figure(fig, tmp_path / f"{kind}.svg")
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(png) as image:
        width, height = FIGURE_SIZES[kind]
        assert image.size == (round(width * DPI), round(height * DPI))
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([png.name, svg.name])  # no temp


def test_output_paths():
    assert output_paths(PlotConfig("depth")) == [Path("depth.png")]
    assert output_paths(PlotConfig("depth", out="a/b.svg", format="png,svg")) == [
        Path("a/b.png"),
        Path("a/b.svg"),
    ]
    with pytest.raises(ValueError, match=r"must end in \.png or \.svg"):
        output_paths(PlotConfig("depth", out="chart.pdf"))


def test_cli_writes_and_prints(tmp_path, capsys):
    out = tmp_path / "ilsvrc.png"
    assert main(["plot", "ilsvrc", "--out", str(out), "--format", "png,svg"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out), str(out.with_suffix(".svg"))]
    assert out.read_bytes()[:8] == PNG_SIGNATURE


def test_cli_latency_from_bench(bench_file, tmp_path, capsys):
    out = tmp_path / "latency.svg"
    assert main(["plot", "latency", "--bench", str(bench_file), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert "lenet5" in captured.err


def test_cli_unknown_kind(capsys):
    with pytest.raises(SystemExit):
        main(["plot", "pie"])
    assert "invalid choice: 'pie'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["plot", "ilsvrc", "--out", "chart.pdf"], "must end in .png or .svg"),
        (["plot", "latency"], "--format json --out FILE.json"),
        (["plot", "latency", "--bench", "{missing}"], "cannot read bench file {missing}"),
        (["plot", "latency", "--bench", "{garbage}"], "bench file {garbage} is not JSON"),
        (["plot", "latency", "--bench", "{other}"], "bench file {other} is not a `cnnzoo bench"),
        (["plot", "latency", "--bench", "{broken}"], "bench file {broken}: malformed result"),
        (["plot", "latency", "--bench", "{empty}"], 'no result with status "ok"'),
    ],
)
def test_cli_bad_input_one_line(argv, message, tmp_path, capsys):
    files = {
        "missing": tmp_path / "missing.json",
        "garbage": tmp_path / "garbage.json",
        "other": tmp_path / "other.json",
        "broken": tmp_path / "broken.json",
        "empty": tmp_path / "empty.json",
    }
    files["garbage"].write_text("{not json")
    files["other"].write_text(json.dumps({"schema": "something-else"}))
    files["broken"].write_text(json.dumps(bench_record([{"status": "ok", "model": "resnet18"}])))
    failed = bench_result("resnet18", "eager", "fp32", 1, 1.0, status="failed")
    files["empty"].write_text(json.dumps(bench_record([failed])))
    names = {k: str(v) for k, v in files.items()}
    argv = [a.format(**names) for a in argv]
    assert main([*argv, "--out", str(tmp_path / "x.png")] if "--out" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cnnzoo plot: error: ")
    assert message.format(**names) in err
    assert not (tmp_path / "x.png").exists()
