"""Checkpoints: tensors and plain data only, atomic writes, pickled objects refused, and a failed
write that says why and keeps the previous file."""

from __future__ import annotations

import errno
import os
import random
import tempfile

import numpy as np
import pytest
import torch

from cnnzoo.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from cnnzoo.cli import main

MINIMAL = {"model_name": "lenet5", "model_kwargs": {}, "dataset": {}, "model": {}}


class Payload:
    """An arbitrary Python object: unpickling it could run any code."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_round_trip_and_no_temporary_left(tmp_path):
    state = {**MINIMAL, "model": {"w": torch.arange(4.0)}, "history": [{"epoch": 1, "x": 0.5}]}
    save_checkpoint(tmp_path / "last.pt", state)
    save_checkpoint(tmp_path / "last.pt", {**state, "step": 3})  # replaces the file whole
    loaded = load_checkpoint(tmp_path / "last.pt")
    assert torch.equal(loaded["model"]["w"], torch.arange(4.0)) and loaded["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "cnnzoo-checkpoint", "version": 1, **MINIMAL, "x": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused: it carries pickled Python objects"):
        load_checkpoint(path)


def test_other_files_give_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"fc.weight": torch.zeros(2)}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a cnnzoo checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(tmp_path / "junk.pt")
    save_checkpoint(tmp_path / "partial.pt", {"model": {}})
    with pytest.raises(CheckpointError, match="lacks model_name"):
        load_checkpoint(tmp_path / "partial.pt")


def test_rng_states_survive_a_checkpoint(tmp_path):
    torch.manual_seed(1)
    np.random.seed(2)
    random.seed(3)
    save_checkpoint(tmp_path / "rng.pt", {**MINIMAL, "rng": rng_state()})
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0])
    assert np.array_equal(expected[1], again[1]) and expected[2] == again[2]


def os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FullDisk:
    """A binary file whose writes fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, file, room: int) -> None:
        self.file, self.room = file, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise os_error(errno.ENOSPC)
        self.room -= len(data)
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.file.close()


def raiser(code: int):
    def fail(*args, **kwargs):
        raise os_error(code)

    return fail


def fail_in(monkeypatch, where: str, code: int) -> None:
    """Make one step of writing a file fail with the OS error ``code``: the data (a disk that
    fills up), the fsync, creating the temporary file (a folder one may not write in), or the
    rename."""
    if where == "write":
        fdopen = os.fdopen
        monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDisk(fdopen(fd, mode), 100_000))
    else:
        owner = tempfile if where == "mkstemp" else os
        monkeypatch.setattr(owner, where, raiser(code))


FAILURES = [
    ("write", errno.ENOSPC),
    ("fsync", errno.ENOSPC),
    ("mkstemp", errno.EACCES),
    ("replace", errno.EACCES),
]


@pytest.mark.parametrize(("where", "code"), FAILURES)
def test_a_failed_write_names_the_file_and_keeps_the_previous_one(
    tmp_path, monkeypatch, where, code
):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {**MINIMAL, "model": {"w": torch.zeros(3)}, "step": 1})
    fail_in(monkeypatch, where, code)
    with pytest.raises(CheckpointError) as failure:
        save_checkpoint(path, {**MINIMAL, "model": {"w": torch.randn(100_000)}, "step": 2})
    monkeypatch.undo()
    assert str(failure.value) == (
        f"cannot write checkpoint {path}: [Errno {code}] {os.strerror(code)}; the previous "
        "last.pt is intact"
    )
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left


def test_a_first_write_that_fails_says_no_file_exists(tmp_path, monkeypatch):
    fail_in(monkeypatch, "fsync", errno.ENOSPC)
    with pytest.raises(CheckpointError, match=r"No space left on device; no best\.pt exists yet"):
        save_checkpoint(tmp_path / "best.pt", MINIMAL)
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_in_training_is_one_line_and_keeps_last_pt(
    fake_mnist, tmp_path, monkeypatch, capsys
):
    fsync, calls = os.fsync, []

    def fsync_then_full(fd: int) -> None:
        calls.append(fd)
        if len(calls) > 2:  # the first checkpoint (file and folder) goes through
            raise os_error(errno.ENOSPC)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_then_full)
    out = tmp_path / "run"
    capsys.readouterr()
    code = main(
        [
            "train",
            "lenet5",
            "--dataset",
            "mnist",
            "--data-dir",
            str(fake_mnist),
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--subset",
            "128",
            "--checkpoint-every",
            "1",
            "--out",
            str(out),
        ]
    )
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert (
        f"cannot write checkpoint {out / 'last.pt'}: [Errno 28] No space left on device; the "
        "previous last.pt is intact"
    ) in err
    assert load_checkpoint(out / "last.pt")["step"] == 1
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_a_fifo_or_a_folder_given_as_a_checkpoint_is_one_line(tmp_path, capsys):
    os.mkfifo(tmp_path / "pipe.pt")
    (tmp_path / "folder.pt").mkdir()
    for name, kind in (("pipe.pt", "a FIFO"), ("folder.pt", "a directory")):
        for command in (["eval"], ["predict"], ["export"]):
            argv = [*command, str(tmp_path / name)] + (["x.png"] if command == ["predict"] else [])
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and f"{name}: not a regular file ({kind})" in err, err
