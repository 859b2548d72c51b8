"""benchmarks/common.py's ``write_report``: a regenerated report keeps its hand-written part."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

COMMON = Path(__file__).resolve().parents[1] / "benchmarks" / "common.py"


def load_common():
    """benchmarks/common.py as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_common", COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


common = load_common()
MARKER = common.MARKER
HAND = f"{MARKER}\n\n## Analysis\n\nWritten by hand: 3.30x.\n"


def test_kept_part_survives_a_rewrite(tmp_path):
    report = tmp_path / "bench.md"
    report.write_text("# Old numbers\n\n| a | 1 |\n" + HAND)
    common.write_report(report, "# New numbers\n\n| a | 2 |\n")
    assert report.read_text() == "# New numbers\n\n| a | 2 |\n" + HAND
    common.write_report(report, "# Newer numbers\n")  # and the next regeneration too
    assert report.read_text() == "# Newer numbers\n" + HAND


def test_generated_text_without_final_newline_stays_apart_from_the_marker(tmp_path):
    report = tmp_path / "bench.md"
    report.write_text("old\n" + HAND)
    common.write_report(report, "new")
    assert report.read_text() == "new\n" + HAND


def test_marker_must_be_a_whole_line(tmp_path):
    report = tmp_path / "bench.md"
    report.write_text(f"old, quoting `{MARKER}` in a sentence\n")
    common.write_report(report, "new\n")
    assert report.read_text() == "new\n"


def test_report_without_marker_is_replaced_whole(tmp_path):
    report = tmp_path / "bench.md"
    report.write_text("# Old numbers\n\n## Notes without the marker\n")
    common.write_report(report, "# New numbers\n")
    assert report.read_text() == "# New numbers\n"


def test_new_report_is_the_generated_text(tmp_path):
    report = tmp_path / "results" / "bench.md"
    assert common.write_report(report, "# Numbers\n") == report
    assert report.read_text() == "# Numbers\n"


def test_generated_text_with_the_marker_is_refused(tmp_path):
    report = tmp_path / "bench.md"
    report.write_text("old\n" + HAND)
    with pytest.raises(ValueError, match="marker"):
        common.write_report(report, f"new\n{MARKER}\n")
    assert report.read_text() == "old\n" + HAND


def test_write_is_atomic(tmp_path):
    report = tmp_path / "bench.md"
    report.write_text("old\n" + HAND)
    common.write_report(report, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.md"]  # no temporary file left


def test_error_inside_the_write_keeps_the_old_file(tmp_path, monkeypatch):
    report = tmp_path / "bench.md"
    old = "old\n" + HAND
    report.write_text(old)
    write_text = Path.write_text

    def half_then_fail(self, text, *args, **kwargs):
        write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        common.write_report(report, "new\n")
    monkeypatch.undo()
    assert report.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.md"]


def test_error_at_the_rename_keeps_the_old_file(tmp_path, monkeypatch):
    report = tmp_path / "bench.md"
    old = "old\n" + HAND
    report.write_text(old)

    def fail(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="rename failed"):
        common.write_report(report, "new\n")
    monkeypatch.undo()
    assert report.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.md"]
