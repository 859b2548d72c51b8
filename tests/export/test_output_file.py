"""``cnnzoo export``'s output file: a folder given as ``--out`` is one line before any work, and a
full disk is one line that leaves no temporary file."""

from __future__ import annotations

import errno

import pytest

from cnnzoo.cli import main

pytest.importorskip("onnx")


def test_an_out_that_is_a_folder_or_under_a_file_is_one_line(tmp_path, capsys):
    assert main(["export", "lenet5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"cnnzoo export: error: --out {tmp_path} is a folder; give a file name, such "
        f"as {tmp_path / 'model.onnx'}\n"
    )
    (tmp_path / "file").write_text("x")
    assert main(["export", "lenet5", "--out", str(tmp_path / "file" / "m.onnx")]) == 2
    assert f"{tmp_path / 'file'} is a file, not a folder" in capsys.readouterr().err


def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(tmp_path, monkeypatch, capsys):
    import onnx

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))

    monkeypatch.setattr(onnx.checker, "check_model", full)
    assert main(["export", "lenet5", "--out", str(tmp_path / "lenet5.onnx")]) == 74
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith(": no space left on the device\n"), err
    assert list(tmp_path.iterdir()) == []
