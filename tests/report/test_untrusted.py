"""``cnnzoo report`` with input folders received from someone else and an ``--out`` someone
tampered with: nothing outside an input reaches the site, nothing outside ``--out`` is written,
and an interrupted build leaves the previous site whole."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo.interrupt import Interrupted
from cnnzoo.outdir import MARKER
from cnnzoo.report import site as site_module
from cnnzoo.report.site import ReportConfig, build_report
from outdirutil import files_of, signal_while_staged

SECRET = b"\x89PNG\r\n\x1a\n" + b"PRIVATE-KEY-MATERIAL" * 10  # a PNG's signature: passes that check


def assert_whole(site: Path) -> None:
    """Every page that report.json lists is there and reached, and every reference resolves."""
    import json

    from test_site import walk

    reached, broken = walk(site)
    assert broken == []
    assert reached == set(json.loads((site / "report.json").read_text())["pages"])


@pytest.fixture
def private(tmp_path) -> Path:
    path = tmp_path / "private" / "id_key.png"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def copied(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def test_a_link_out_of_an_input_folder_never_brings_its_file_into_the_site(
    tmp_path, inputs, private
):
    embed = copied(inputs["embed"], tmp_path / "embed")
    (embed / "scatter.png").unlink()
    (embed / "scatter.png").symlink_to(private)
    nas = copied(inputs["nas"], tmp_path / "nas")
    (nas / "search_curve.png").unlink()
    (nas / "search_curve.png").symlink_to(os.path.relpath(private, nas))  # climbs out, relative
    result = build_report(
        ReportConfig(
            out=str(tmp_path / "site"), models=("lenet5",), embed=(str(embed),), nas=(str(nas),)
        )
    )
    assert len(result["problems"]) == 2
    assert "scatter.png" in result["problems"][0] and "outside" in result["problems"][0]
    assert "search_curve.png" in result["problems"][1]
    assert all("\n" not in line for line in result["problems"])
    for name, data in files_of(tmp_path / "site").items():
        assert b"PRIVATE-KEY-MATERIAL" not in data, name


def test_a_figure_that_is_not_what_its_name_says_is_refused(tmp_path, inputs):
    nas = copied(inputs["nas"], tmp_path / "nas")
    (nas / "best_cell.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    )
    embed = copied(inputs["embed"], tmp_path / "embed")
    (embed / "grid.png").write_text("a text file named like a figure")
    result = build_report(
        ReportConfig(
            out=str(tmp_path / "site"), models=("lenet5",), embed=(str(embed),), nas=(str(nas),)
        )
    )
    assert [line.split(": ", 1)[1] for line in result["problems"]] == [
        "grid.png is not a PNG file",
        "best_cell.svg holds a script or an active element",
    ]
    assert not any(b"<script>alert" in data for data in files_of(tmp_path / "site").values())


def test_a_tampered_record_gets_one_line_from_its_owners_reader(tmp_path, inputs):
    import csv
    import json

    embed = copied(inputs["embed"], tmp_path / "embed")
    summary = json.loads((embed / "summary.json").read_text())
    del summary["knn_map"]
    (embed / "summary.json").write_text(json.dumps(summary))
    nas = copied(inputs["nas"], tmp_path / "nas")
    with open(nas / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["macs"] = "lots"
    with open(nas / "history.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    result = build_report(
        ReportConfig(
            out=str(tmp_path / "site"), models=("lenet5",), embed=(str(embed),), nas=(str(nas),)
        )
    )
    assert [line.split(": ", 1)[1] for line in result["problems"]] == [
        "summary.json lacks 'knn_map'",
        "malformed history.csv (line 2: macs 'lots' is not a number)",
    ]


def test_a_fifo_in_an_input_is_refused_at_once(tmp_path, inputs):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.json",):
        shutil.copy(inputs["runs"] / name, run / name)
    os.mkfifo(run / "metrics.csv")
    previous = signal.signal(signal.SIGALRM, lambda *a: pytest.fail("blocked on the FIFO"))
    signal.alarm(30)
    try:
        result = build_report(
            ReportConfig(out=str(tmp_path / "site"), models=("lenet5",), runs=(str(run),))
        )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result["problems"] == [
        f"--runs {run}: {run / 'metrics.csv'}: not a regular file (a FIFO)"
    ]


def test_links_planted_in_the_site_are_not_written_through(tmp_path, private):
    site = tmp_path / "site"
    build_report(ReportConfig(out=str(site), models=("lenet5",)))
    for name in ("index.html", "report.json", "assets/report.css"):
        (site / name).unlink()
        (site / name).symlink_to(private)
    figures = site / "figures"
    shutil.rmtree(figures)
    figures.symlink_to(private.parent, target_is_directory=True)
    build_report(ReportConfig(out=str(site), models=("lenet5",)))
    assert private.read_bytes() == SECRET
    assert sorted(p.name for p in private.parent.iterdir()) == ["id_key.png"]
    assert not any(p.is_symlink() for p in site.rglob("*"))
    assert_whole(site)


def test_someone_elses_folder_is_not_replaced_without_force(tmp_path, capsys):
    from cnnzoo.cli import main

    mine = tmp_path / "www"
    mine.mkdir()
    (mine / "blog.html").write_text("my blog")
    assert main(["report", "--models", "lenet5", "--out", str(mine)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"cnnzoo report: error: --out {mine} holds files cnnzoo did not write "
        "(blog.html); choose an empty or new folder, or add --force to replace it"
    )
    assert (mine / "blog.html").read_text() == "my blog"
    assert main(["report", "--models", "lenet5", "--out", str(mine), "--force"]) == 0
    assert not (mine / "blog.html").exists() and (mine / MARKER).exists()


def interrupt_on(monkeypatch, module, name: str, call: int) -> None:
    """Make ``module.name``'s ``call``-th call raise the stop a SIGINT raises."""
    real, calls = getattr(module, name), []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise Interrupted(signal.SIGINT, "stopped by SIGINT")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, stopping)


@pytest.mark.parametrize(
    "where", ["reading an input", "the first page", "the last file", "the swap"]
)
def test_an_interrupt_at_any_point_leaves_the_previous_site_whole(
    tmp_path, inputs, monkeypatch, where
):
    from cnnzoo import outdir
    from cnnzoo.report import inputs as input_module

    run = tmp_path / "run"  # its curves, not its checkpoint: nothing to evaluate, a fast build
    run.mkdir()
    for name in ("config.json", "metrics.csv"):
        shutil.copy(inputs["runs"] / name, run / name)
    site = tmp_path / "site"
    config = ReportConfig(out=str(site), models=("lenet5",), runs=(str(run),))
    last = len(site_module.ASSETS) + len(build_report(config)["pages"]) + 1  # and report.json
    before = files_of(site)
    with monkeypatch.context() as patch:
        if where == "reading an input":
            interrupt_on(patch, input_module, "training_curves", 1)
        elif where == "the first page":
            interrupt_on(patch, site_module, "write_text_atomic", 1)
        elif where == "the last file":
            interrupt_on(patch, site_module, "write_text_atomic", last)
        else:
            interrupt_on(patch, outdir, "publish", 1)
        with pytest.raises(Interrupted):
            build_report(config)
    assert files_of(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "site"]  # no staging, no lock
    assert_whole(site)
    build_report(config)  # and the next build goes through


REPORT = ["report", "--models", "lenet5", "alexnet", "vgg11"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_the_command_is_one_line_and_keeps_the_old_site(tmp_path, signum):
    site = tmp_path / "site"
    assert (
        subprocess.run(
            [sys.executable, "-m", "cnnzoo", *REPORT, "--out", str(site)], capture_output=True
        ).returncode
        == 0
    )
    before = files_of(site)
    code, err = signal_while_staged([*REPORT, "--out", str(site)], site, signum)
    name = signal.Signals(signum).name
    assert code == 128 + signum, err
    assert err.splitlines() == [
        f"cnnzoo report: stopped by {name}; the site in --out is as it "
        "was before this command; run it again to build it"
    ]
    assert files_of(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
