"""The site in a real browser (Debian's headless Chromium through ChromeDriver): the index and
every family page render without console errors or broken images, the evolution table's
rendered text is what ``cnnzoo compare --format json`` says, and its headings sort it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo.report.browser import check_site, load_page, open_browser, table_text

UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


@pytest.fixture(scope="module")
def session():
    with open_browser() as browser:  # fails, with what to install, if Chromium is missing
        yield browser


@pytest.fixture(scope="module")
def compare_json() -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "compare", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def si_value(text: str) -> float:
    """``"138.36 M"`` -> 138.36e6 (the rendered count)."""
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?) ?([KMGT]?)", text)
    assert match, text
    return float(match.group(1)) * UNITS[match.group(2)]


def test_index_and_family_pages_render_without_console_errors(zoo_site, session):
    site = Path(zoo_site["out"])
    for name in zoo_site["pages"]:
        load = load_page(session, site / name)
        assert load.console == (), f"{name}: {load.console}"
        assert load.broken_images == (), f"{name}: {load.broken_images}"
        assert load.title.endswith("cnnzoo report")


def test_the_evolution_table_shows_what_compare_measures(zoo_site, session, compare_json):
    load_page(session, Path(zoo_site["out"]) / "index.html")
    rows = table_text(session, "evolution")
    assert [r[0] for r in rows] == [c["name"] for c in compare_json]
    for cells, ours in zip(rows, compare_json, strict=True):
        name, year, size, depth, params, macs, _mem, field = cells[:8]
        assert int(year) == ours["year"] and int(depth) == ours["depth"], name
        assert size == "x".join(map(str, ours["input_size"])), name
        assert field == ours["receptive_field"], name
        for text, value in ((params, ours["params"]), (macs, ours["macs"])):
            assert abs(si_value(text) - value) <= 0.005 * max(1, abs(value)) + 5, (name, text)
        paper = cells[8]
        if ours["paper_params"] is None:
            assert paper == "-", name
        else:
            assert abs(si_value(paper) - ours["paper_params"]) <= 0.005 * ours["paper_params"]
        diff = cells[9]
        assert diff == (
            "" if ours["params_rel_diff"] is None else f"{ours['params_rel_diff']:+.1%}"
        ), name


def test_a_click_on_a_heading_sorts_the_table(zoo_site, session):
    from selenium.webdriver.common.by import By

    load_page(session, Path(zoo_site["out"]) / "index.html")
    heading = session.find_element(By.XPATH, "//table[@id='evolution']//th[text()='Params']")
    values = lambda: session.execute_script(  # noqa: E731
        "return Array.from(document.querySelectorAll('#evolution tbody tr'))"
        ".map(r => Number(r.cells[4].dataset.value));"
    )
    heading.click()
    assert values() == sorted(values())
    heading.click()
    assert values() == sorted(values(), reverse=True)
    assert load_page(session, Path(zoo_site["out"]) / "index.html").console == ()


def test_check_site_screenshots_every_page(tmp_path, inputs_site):
    loads = check_site(inputs_site["out"], inputs_site["pages"], tmp_path)
    assert [Path(x.path).name for x in loads] == inputs_site["pages"]
    assert all(x.console == () and x.broken_images == () for x in loads)
    for name in inputs_site["pages"]:
        png = tmp_path / f"{Path(name).stem}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_report_check_loads_every_page_and_writes_screenshots(tmp_path, capsys):
    from cnnzoo.cli import main

    assert main(["report", "--out", str(tmp_path), "--models", "lenet5", "--check"]) == 0
    out = capsys.readouterr().out
    assert "wrote 4 pages" in out and "checked 4 pages in headless Chromium" in out
    assert sorted(p.name for p in (tmp_path / "screenshots").iterdir()) == [
        "explain.png",
        "index.png",
        "lenet.png",
        "results.png",
    ]


def test_a_missing_or_undecodable_image_is_reported_broken(tmp_path, session):
    (tmp_path / "bad.svg").write_text("not an svg")
    (tmp_path / "page.html").write_text(
        '<!doctype html><title>t</title><img src="missing.svg"><img src="bad.svg">'
    )
    load = load_page(session, tmp_path / "page.html")
    assert load.broken_images == ("missing.svg", "bad.svg")
