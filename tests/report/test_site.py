"""``cnnzoo report``: the site has an index and a page per family, every link and image in it
resolves, it is written in under a minute, the optional inputs show up with their figures and
numbers, and a bad input gets one line while the rest is still written."""

from __future__ import annotations

import csv
import io
import itertools
import json
from contextlib import redirect_stderr, redirect_stdout
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from cnnzoo.analysis import profile
from cnnzoo.cli import main
from cnnzoo.registry import REGISTRY
from cnnzoo.report.figures import field_growth
from cnnzoo.report.site import ReportConfig, build_report, inline_html
from cnnzoo.report.zoo import doc_blocks, split_doc, stages


class Links(HTMLParser):
    """Every href and src of a page, and every id it defines."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.ids: set[str] = set()
        self.duplicate_ids: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.refs.append(attrs[key])
        if attrs.get("id"):
            if attrs["id"] in self.ids:
                self.duplicate_ids.append(attrs["id"])
            self.ids.add(attrs["id"])


def parse(path: Path) -> Links:
    links = Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def walk(site: Path) -> tuple[set[str], list[str]]:
    """Pages reached from index.html, and every reference that does not resolve."""
    seen, todo, broken = set(), ["index.html"], []
    parsed: dict[str, Links] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parsed[name] = parse(site / name)
        broken += [f"{name}: id {i} twice" for i in parsed[name].duplicate_ids]
        for ref in parsed[name].refs:
            parts = urlsplit(ref)
            if parts.scheme == "data":
                continue
            assert not parts.scheme and not parts.netloc, f"{name} fetches {ref}"
            target = unquote(parts.path) or name
            if not (site / target).is_file():
                broken.append(f"{name}: {ref}")
            elif target.endswith(".html"):
                todo.append(target)
    for name in seen:  # fragments, once every page is parsed
        for ref in parsed[name].refs:
            parts = urlsplit(ref)
            target = unquote(parts.path) or name
            if parts.fragment and target in parsed and parts.fragment not in parsed[target].ids:
                broken.append(f"{name}: {ref} (no such id)")
    return seen, broken


def test_the_site_has_an_index_and_one_page_per_family(zoo_site):
    site = Path(zoo_site["out"])
    families = {spec.family for spec in REGISTRY.values()}
    assert set(zoo_site["pages"]) == {
        "index.html",
        "explain.html",
        "results.html",
        *(f"{f}.html" for f in families),
    }
    reached, broken = walk(site)
    assert broken == []
    assert reached == set(zoo_site["pages"])  # every page is linked from the index, in clicks
    index = (site / "index.html").read_text()
    for name in REGISTRY:  # every model is on its family's page, with its stage table
        family = REGISTRY[name].family
        assert f'id="{name}"' in (site / f"{family}.html").read_text(), name
    assert index.count("<figure") == 4  # the four zoo charts


def test_the_whole_zoo_is_written_without_problems(zoo_site):
    assert zoo_site["problems"] == []  # its wall time: benchmarks/report_speed.py


def test_a_family_page_carries_the_paper_and_its_deviations(zoo_site):
    page = (Path(zoo_site["out"]) / "vgg.html").read_text()
    assert "Simonyan &amp; Zisserman" in page
    assert "Deviations from the paper" in page and "<code>_bn</code> variants" in page
    assert "receptive-field.svg" in page
    # the per-layer profile of VGG-16 folds into its stages: features, avgpool, classifier
    assert "Per-layer profile of vgg16" in page and "<summary>features:" in page


def test_explain_page_shows_each_formula_with_its_measurement(zoo_site):
    page = (Path(zoo_site["out"]) / "explain.html").read_text()
    for topic in ("receptive-field", "inception", "separable", "mobilenet"):
        assert f'id="{topic}"' in page
    # the 5x5 branch on 28x28x192: 120.4 M MACs naive, 12.4 M with the 1x1 reduction
    assert "120,422,400" in page and "12,443,648" in page


def test_the_site_says_what_made_it(zoo_site):
    record = json.loads((Path(zoo_site["out"]) / "report.json").read_text())
    assert record["schema"] == "cnnzoo-report" and record["pages"] == zoo_site["pages"]
    assert record["environment"]["torch"] in (Path(zoo_site["out"]) / "index.html").read_text()


def test_results_page_says_how_to_make_absent_inputs(zoo_site):
    page = (Path(zoo_site["out"]) / "results.html").read_text()
    assert page.count('class="absent"') == 4
    assert "cnnzoo report --runs" in page and "cnnzoo nas search" in page


def test_every_input_gets_its_section_with_figures_and_numbers(inputs_site, inputs):
    assert inputs_site["problems"] == []
    site = Path(inputs_site["out"])
    page = (site / "results.html").read_text()
    _, broken = walk(site)
    assert broken == []
    assert 'class="absent"' not in page
    with open(inputs["runs"] / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert f"{float(last['test_top1']):.2%}" in page  # the run's last test top-1
    assert "figures/run-0-curves.svg" in page and "figures/run-0-confusion.png" in page
    assert (site / "figures" / "run-0-confusion.png").stat().st_size > 5_000
    bench = json.loads(inputs["bench"].read_text())
    assert page.count("<td>lenet5</td>") >= len(bench["results"])  # one table row per result
    summary = json.loads((inputs["embed"] / "summary.json").read_text())
    assert f"{summary['knn_map']:.2%}" in page and "figures/embed-0-scatter.png" in page
    assert "figures/nas-0-search_curve.png" in page and "figures/nas-0-best_cell.svg" in page
    assert "figures/nas-0-pareto_front.png" in page
    with open(inputs["nas"] / "history.csv") as f:
        front = sum(r["pareto"] == "True" for r in csv.DictReader(f))
    assert f"Pareto front of top-1 and MACs</th><td>{front}</td>" in page and front >= 1
    assert "candidates finished</th><td>2 of 2" in page


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_bad_inputs_get_one_line_each_and_the_rest_is_written(tmp_path, inputs):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    broken_run = tmp_path / "broken-run"
    broken_run.mkdir()
    (broken_run / "config.json").write_text("{}")
    (broken_run / "metrics.csv").write_text("epoch,oops\n1,2\n")
    site = tmp_path / "site"
    code, out, err = cli(
        "report",
        "--out",
        str(site),
        "--models",
        "lenet5",
        "--runs",
        str(tmp_path / "missing"),
        str(broken_run),
        "--bench",
        str(bad_json),
        "--embed",
        str(empty),
        "--nas",
        str(inputs["bench"]),
    )
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 5, err
    for line, name in zip(
        lines, ["missing", "broken-run", "bad.json", "empty", "bench.json"], strict=True
    ):
        assert line.startswith("cnnzoo report: error: --") and name in line, line
        assert "Traceback" not in line
    assert "lacks the columns" in lines[1] and "not a folder" in lines[4]
    assert "wrote 4 pages" in out  # index, lenet, explain, results
    page = (site / "results.html").read_text()
    assert "Inputs left out of this report" in page and str(bad_json) in page


def test_docstrings_become_paragraphs_lists_and_deviations():
    title, intro, deviations = split_doc("""Net: A Title.

    First paragraph
    goes on.

    - item one
      continued
    - item two

    Deviations from the paper:
    - only this
    """)
    assert title == "Net: A Title"
    assert [(b.kind, b.items) for b in intro] == [
        ("p", ("First paragraph goes on.",)),
        ("ul", ("item one continued", "item two")),
    ]
    assert [(b.kind, b.items) for b in deviations] == [("ul", ("only this",))]
    assert doc_blocks("") == ()


def test_cross_references_and_double_backquotes_become_code():
    html = str(
        inline_html(
            "a :class:`Cell` of :func:`~cnnzoo.models.genotype.check_genotype`, ``N`` & <b>"
        )
    )
    assert html == (
        "a <code>Cell</code> of <code>check_genotype</code>, <code>N</code> &amp; &lt;b&gt;"
    )


def test_receptive_field_grows_through_vgg16():
    report = profile("vgg16")
    points = field_growth(report)
    # 3x3, 3x3, then a 3x3 after the 2x2/2 pool: 5 + 1 (pool) + 2 x 2 (stride 2) = 10
    assert [p[1] for p in points[:3]] == [3, 5, 10]
    # the 13 convolutions; conv5_3 sees 196 pixels (pool5 then 212); the FC layers see all
    assert points[-1] == (13, 196) and len(points) == 13
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(points))


def test_stages_hold_every_row_once():
    report = profile("resnet18")
    groups = stages(report)
    assert [s.row.name for s in groups][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    assert sum(len(s.layers) for s in groups) == len(report.rows)


@pytest.mark.parametrize("flag", ["--runs", "--embed", "--nas"])
def test_a_file_where_a_folder_is_expected_is_named(tmp_path, flag):
    path = tmp_path / "file.txt"
    path.write_text("x")
    result = build_report(
        ReportConfig(out=str(tmp_path / "s"), models=("lenet5",), **{flag[2:]: (str(path),)})
    )
    assert result["problems"] == [f"{flag} {path}: not a folder"]


def test_an_out_that_is_a_file_or_an_unknown_model_gets_one_line(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    code, _, err = cli("report", "--out", str(path))
    assert code == 2 and err.strip() == f"cnnzoo report: error: --out {path}: not a folder"
    code, _, err = cli("report", "--out", str(tmp_path / "s"), "--models", "resnet5")
    assert code == 2 and "unknown model 'resnet5'" in err and len(err.strip().splitlines()) == 1
