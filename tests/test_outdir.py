"""Owned output folders: one writer at a time, published whole, never through a link, never
someone else's (cnnzoo.outdir)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo.outdir import MARKER, FolderError, lock_path, owned
from outdirutil import files_of


def build(folder: Path, files: dict[str, str], command: str = "report") -> None:
    with owned(folder, command) as out, out.staged() as stage:
        for name, text in files.items():
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            (stage / name).write_text(text)


HOLD = """
import sys, time
from cnnzoo.outdir import owned
with owned(sys.argv[1], "report"):
    print("held", flush=True)
    time.sleep(60)
"""


def hold_in_child(folder: Path) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_writer_gets_one_line_naming_the_holder_and_a_killed_holder_leaves_no_lock(
    tmp_path,
):
    site = tmp_path / "site"
    child = hold_in_child(site)
    try:
        with pytest.raises(FolderError) as err, owned(site, "embed"):
            pass
        line = str(err.value)
        assert "\n" not in line
        assert f"--out {site} is in use by cnnzoo report (pid {child.pid}" in line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    with owned(site, "report"):  # the kernel dropped the dead holder's lock
        pass
    assert not lock_path(site).exists()


def test_the_lock_is_released_when_the_block_fails(tmp_path):
    with pytest.raises(RuntimeError), owned(tmp_path / "x", "report"):
        raise RuntimeError("failed")
    with owned(tmp_path / "x", "report"):
        pass


def test_publish_swaps_the_whole_folder_and_drops_what_the_new_one_lacks(tmp_path):
    site = tmp_path / "site"
    build(site, {"a.html": "old a", "figures/old.svg": "old"})
    build(site, {"a.html": "new a", "figures/new.svg": "new"})
    files = files_of(site)
    assert files.pop(MARKER).startswith(b'{"command": "report"')
    assert files == {"a.html": b"new a", "figures/new.svg": b"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no staging, no lock left


@pytest.mark.parametrize(
    "stop", [RuntimeError("bug"), OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_a_failed_or_interrupted_build_leaves_the_old_folder_as_it_was(tmp_path, stop):
    site = tmp_path / "site"
    build(site, {"a.html": "old a", "b.html": "old b"})
    before = files_of(site)
    with pytest.raises(type(stop)), owned(site, "report") as out, out.staged() as stage:
        (stage / "a.html").write_text("new a")
        raise stop
    assert files_of(site) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_a_staging_folder_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    site = tmp_path / "site"
    leftover = tmp_path / ".site.staging-99999"
    leftover.mkdir()
    (leftover / "half.html").write_text("half")
    build(site, {"a.html": "a"})
    assert not leftover.exists()


def test_a_link_planted_in_the_folder_is_never_written_through(tmp_path):
    site = tmp_path / "site"
    build(site, {"index.html": "old", "figures/x.svg": "old"})
    private = tmp_path / "private.txt"
    private.write_text("secret")
    (site / "figures" / "x.svg").unlink()
    (site / "figures" / "x.svg").symlink_to(private)
    (site / "index.html").unlink()
    (site / "index.html").symlink_to(private)
    build(site, {"index.html": "new", "figures/x.svg": "new"})
    assert private.read_text() == "secret"
    assert not (site / "index.html").is_symlink() and (site / "index.html").read_text() == "new"


def test_keep_copies_regular_files_and_leaves_links_out(tmp_path):
    folder = tmp_path / "map"
    build(folder, {"summary.json": "{}"}, command="embed")
    (tmp_path / "private").write_text("secret")
    (folder / "leak.png").symlink_to(tmp_path / "private")
    with owned(folder, "embed") as out, out.staged(keep=True) as stage:
        assert (stage / "summary.json").read_text() == "{}"
        assert not os.path.lexists(stage / "leak.png")
        (stage / "added.json").write_text("{}")
    assert sorted(p.name for p in folder.iterdir()) == [MARKER, "added.json", "summary.json"]


def test_someone_elses_folder_is_refused_without_force(tmp_path):
    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"\xff\xd8")
    with (
        pytest.raises(
            FolderError,
            match=r"holds files cnnzoo did not write \(holiday.jpg\).*"
            r"--force",
        ),
        owned(mine, "report"),
    ):
        pass
    assert (mine / "holiday.jpg").exists()
    with owned(mine, "report", force=True):
        pass
    with owned(mine, "report", legacy=("holiday.jpg",)):  # a command's own file from before
        pass


def test_another_commands_output_and_a_file_are_refused(tmp_path):
    run = tmp_path / "run"
    build(run, {"config.json": "{}"}, command="train")
    with (
        pytest.raises(FolderError, match="holds the output of cnnzoo train, not of cnnzoo report"),
        owned(run, "report"),
    ):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(FolderError, match=": not a folder"), owned(tmp_path / "file", "report"):
        pass


def test_a_signal_during_the_swap_waits_for_it(tmp_path, monkeypatch):
    from cnnzoo import outdir

    site = tmp_path / "site"
    build(site, {"a.html": "old"})
    real = outdir.publish

    def publish(stage, folder):
        os.kill(os.getpid(), signal.SIGTERM)  # held back until the swap is done
        real(stage, folder)

    monkeypatch.setattr(outdir, "publish", publish)
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *a: seen.append((site / "a.html").read_text()))
    try:
        with owned(site, "report") as out, out.staged() as stage:
            (stage / "a.html").write_text("new")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == ["new"]  # the signal came once the new folder was in place
