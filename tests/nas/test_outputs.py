"""The output folder of ``cnnzoo nas search``: each file read back by its own reader as it was
written (and malformed text refused in one line); the folder held by one search at a time, never
a file, and a failed write leaves every output whole."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from searchcli import cli, search_argv

from cnnzoo.models.genotype import NASNET_A
from cnnzoo.nas.outputs import (
    HISTORY_FIELDS,
    RECORD,
    csv_text,
    front_entries,
    genotype_from_file,
    read_front,
    read_history,
    read_record,
    write_record,
)
from cnnzoo.nas.search import SearchConfig
from cnnzoo.outdir import owned

GENOTYPE = json.dumps(NASNET_A.to_dict(), separators=(",", ":"))


def row(number: int, **values) -> dict:
    """A history row as :func:`~cnnzoo.nas.outputs.history_rows` makes it: a FAIL trial's,
    unless ``values`` say more."""
    base = dict.fromkeys(HISTORY_FIELDS)
    base.update(number=number, strategy="nsga2", seed=1, index="", state="FAIL", genotype="")
    return base | values


ROWS = [
    row(
        0,
        index=1,
        state="COMPLETE",
        score=0.75,
        val_loss=0.6931471805599453,
        macs=1_234_567,
        params=89_012,
        pareto=True,
        train_s=12.5,
        images_per_s=800.25,
        seconds=14.0,
        worker="host:123:0",
        genotype=GENOTYPE,
    ),
    row(1, worker="host:124:1", genotype=GENOTYPE),  # died in training: FAIL, re-queued as 2
    row(
        2,
        index=2,
        state="COMPLETE",
        score=0.5,
        macs=2_000_000,
        params=90_000,
        pareto=False,
        seconds=1.5,
        worker="host:125:0",
        retry_of=1,
        genotype=GENOTYPE,
    ),  # diverged: no val_loss, train_s, images_per_s
    row(3),  # killed while its genotype was drawn
]


def test_history_is_read_back_as_it_was_written():
    rows = read_history(csv_text(ROWS))
    assert rows == [{k: None if r[k] == "" else r[k] for k in HISTORY_FIELDS} for r in ROWS]
    assert [type(r["pareto"]) for r in rows] == [bool, type(None), bool, type(None)]
    assert json.loads(rows[0]["genotype"]) == NASNET_A.to_dict()


def test_an_older_history_without_some_columns_is_read():
    text = "number,state,score,macs\n0,COMPLETE,0.5,100\n1,FAIL,,\n"
    assert read_history(text) == [
        {"number": 0, "state": "COMPLETE", "score": 0.5, "macs": 100},
        {"number": 1, "state": "FAIL", "score": None, "macs": None},
    ]
    assert read_history("") == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("number,macs\n0,12.5M\n", "malformed history.csv (line 2: macs '12.5M' is not a number)"),
        ("number,pareto\n0,yes\n", "malformed history.csv (line 2: pareto 'yes' is not True or"),
        ("number,state\n0\n", "malformed history.csv (line 2: 1 fields, the header has 2)"),
        ('number\n"' + "9" * 200_000 + '"\n', "history.csv is not readable CSV (field larger"),
    ],
    ids=["number", "flag", "short row", "huge field"],
)
def test_a_malformed_history_gets_one_line(text, message):
    with pytest.raises(ValueError) as refused:
        read_history(text)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


def test_the_front_is_read_back_and_its_members_taken_by_trial(tmp_path):
    front = front_entries(r for r in ROWS if r["state"] == "COMPLETE")
    assert [m["number"] for m in front] == [0]  # trial 2 costs more for less
    path = tmp_path / "pareto.json"
    path.write_text(json.dumps(front, indent=1) + "\n")
    assert read_front(path.read_text()) == front
    assert genotype_from_file(path, 0) == NASNET_A
    with pytest.raises(ValueError, match="is a Pareto front: it has no trial 2"):
        genotype_from_file(path, 2)
    for text in ("{not json", json.dumps(NASNET_A.to_dict())):
        with pytest.raises(ValueError, match=r"^pareto\.json is not"):
            read_front(text)


def test_the_record_is_read_back_with_its_storage_masked(tmp_path):
    config = SearchConfig(out=str(tmp_path), storage="postgresql://me:s3cret@db/nas", seed=4)
    write_record(tmp_path, config)
    record = read_record((tmp_path / RECORD).read_text())
    assert record["command"] == "cnnzoo nas search" and record["summary"] is None
    assert record["config"]["storage"] == "postgresql://me:***@db/nas"
    assert record["config"]["seed"] == 4 and record["config"]["study"] == config.study_name
    assert "s3cret" not in (tmp_path / RECORD).read_text()
    for text, message in [
        ("[]", "search.json is not a JSON object"),
        ('{"command": "x"}', "search.json lacks 'config', 'environment', 'summary'"),
        ("{", "search.json is not readable JSON"),
    ]:
        with pytest.raises(ValueError) as refused:
            read_record(text)
        assert str(refused.value).startswith(message)


# The folder, through the command.


# a small random search (one-line flags: the proxy of the other search tests, one cell fewer)
SEARCH_FLAGS = (
    *("--proxy-filters", "4", "--proxy-train-images", "192", "--proxy-val-images", "96"),
    *("--strategy", "random"),
)


def search_args(mnist_dir: Path, out: Path, *extra: str) -> list[str]:
    return search_argv(mnist_dir, out, *SEARCH_FLAGS, *extra)


def test_a_second_search_into_the_same_out_gets_one_line_naming_the_first(mnist_dir, tmp_path):
    out = tmp_path / "search"
    with owned(out, "nas search"):  # the first search, as far as the folder is concerned
        code, _, err = cli(*search_args(mnist_dir, out, "--budget-candidates", "1"))
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(
        f"cnnzoo nas search: error: --out {out} is in use by cnnzoo nas "
        f"search (pid {os.getpid()} on "
    )
    assert not (out / "search.db").exists()  # refused before the study was opened


def test_an_out_that_is_a_file_or_someone_elses_gets_one_line(mnist_dir, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine\n")
    code, _, err = cli(*search_args(mnist_dir, path))
    assert code == 2 and err.count("\n") == 1, err
    assert f"--out {path}" in err and "not a folder" in err
    assert path.read_text() == "mine\n"
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "thesis.tex").write_text("x")
    code, _, err = cli(*search_args(mnist_dir, theirs))
    assert code == 2 and err.count("\n") == 1 and "holds files cnnzoo did not write" in err
    assert sorted(p.name for p in theirs.iterdir()) == ["thesis.tex"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_a_full_disk_gets_one_line_and_leaves_the_outputs_whole(mnist_dir, tmp_path, monkeypatch):
    out = tmp_path / "search"
    code, _, err = cli(*search_args(mnist_dir, out, "--budget-candidates", "1"))
    assert code == 0, err
    before = snapshot(out)
    assert {"history.csv", "search.json", "best_genotype.json"} <= set(before)

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)  # every atomic write fails just before its rename
    code, _, err = cli(*search_args(mnist_dir, out, "--budget-candidates", "1"))
    assert code == 74 and err.count("\n") == 1, err
    assert err == f"cnnzoo nas search: error: {out}: no space left on the device\n"
    after = snapshot(out)
    del before["search.db"]  # the study's own file: SQLite writes it as it pleases
    assert {name: after[name] for name in before} == before
    assert not [name for name in after if name.endswith(".tmp")]  # no half-written file


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_a_read_only_out_gets_one_line(mnist_dir, tmp_path):
    out = tmp_path / "search"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, _, err = cli(*search_args(mnist_dir, out, "--budget-candidates", "1"))
    finally:
        out.chmod(0o755)
    assert code in (2, 74) and err.count("\n") == 1, err
    assert str(out) in err and ("Permission denied" in err or "unable to open" in err), err
