"""``cnnzoo export`` stopped by SIGINT or SIGTERM: one line saying so (not "cannot export"), the
exit code of the signal, and no file or temporary file left."""

from __future__ import annotations

import signal

import pytest

from cnnzoo.cli import main

pytest.importorskip("onnx")


def stopped_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_file_is_written_leaves_nothing(tmp_path, monkeypatch, capsys, signum):
    import onnx

    real = onnx.checker.check_model

    def check_then_stop(model, *args, **kwargs):  # the file is half made: a temporary file
        assert list(tmp_path.glob(".lenet5.onnx.*.tmp"))
        signal.raise_signal(signum)
        return real(model, *args, **kwargs)

    monkeypatch.setattr(onnx.checker, "check_model", check_then_stop)
    code = main(["export", "lenet5", "--out", str(tmp_path / "lenet5.onnx")])
    assert code == 128 + signum
    name = signal.Signals(signum).name
    assert stopped_line(capsys) == (
        f"cnnzoo export: stopped by {name}; no file was written; run it again to export"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_ctrl_c_the_exporter_wraps_is_still_a_stop(tmp_path, monkeypatch, capsys):
    import torch

    def wrapping_export(*args, **kwargs):  # what torch.onnx does with whatever stops it
        try:
            signal.raise_signal(signal.SIGINT)
        except BaseException as err:
            raise RuntimeError("Failed to export the model with torch.export") from err

    monkeypatch.setattr(torch.onnx, "export", wrapping_export)
    code = main(["export", "lenet5", "--out", str(tmp_path / "lenet5.onnx")])
    assert code == 130
    assert stopped_line(capsys).startswith("cnnzoo export: stopped by SIGINT; no file was written")
    assert list(tmp_path.iterdir()) == []
