"""``cnnzoo report --runs RUN``: the run's section gets the "inside the trained network" views of
its checkpoint, copied into the site."""

from __future__ import annotations

import torch
from PIL import Image

from cnnzoo.report.inputs import read_run


def test_a_run_shows_inside_its_network(tmp_path, lenet5_checkpoint):
    site = tmp_path / "site"
    section = read_run(lenet5_checkpoint.parent, site, "0")
    names = [path for path, _ in section.inside]
    assert section.inside_note == ""
    assert names == [
        "figures/run-0-inside-filters.png",
        "figures/run-0-inside-maps-0.png",
        "figures/run-0-inside-top9-features.act1.png",
        "figures/run-0-inside-top9-features.s4.png",
        "figures/run-0-inside-evidence.png",
    ]
    for name in names:
        with Image.open(site / name) as png:
            png.verify()
    captions = dict(section.inside)
    assert "Grad-CAM at features.s4" in captions["figures/run-0-inside-evidence.png"]
    # nothing but the figures shown reaches the site
    assert sorted(p.name for p in (site / "figures").iterdir() if "inside" in p.name) == sorted(
        n.split("/")[1] for n in names
    )


def test_without_evaluation_nothing_is_inspected(tmp_path, lenet5_checkpoint):
    section = read_run(lenet5_checkpoint.parent, tmp_path / "site", "0", evaluate=False)
    assert section.inside == () and section.inside_note == ""


def test_the_results_page_shows_the_views_escaped():
    from cnnzoo.report.inputs import HOW_TO, READERS, Section
    from cnnzoo.report.site import _templates

    env = _templates()
    env.globals["made_by"] = {"commit": "", "torch": torch.__version__}
    run = Section(
        "runs",
        "runs/x",
        "Training run: lenet5 on mnist",
        inside=(("figures/run-0-inside-evidence.png", "Grad-CAM at <script>alert(1)</script>"),),
    )
    other = Section("runs", "runs/y", "Training run: other", inside_note="not shown: <b>why</b>")
    sections = {kind: [] for kind in READERS}
    sections["runs"] = [run, other]
    page = env.get_template("results.html").render(
        nav=[], current="results.html", sections=sections, how_to=HOW_TO, problems=[]
    )
    assert page.count("Inside the trained network") == 2
    assert '<img src="figures/run-0-inside-evidence.png"' in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "not shown: &lt;b&gt;why&lt;/b&gt;" in page
