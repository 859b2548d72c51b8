"""The command line's error boundary: one line and a documented exit code for whatever reaches
the top of a command (cnnzoo.failures)."""

from __future__ import annotations

import errno
import gzip
import signal

import pytest

from cnnzoo.failures import BAD_INPUT, KEPT, SYSTEM, message_line, run_command


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def raises(err: BaseException):
    def call() -> int:
        raise err

    return call


def test_a_full_disk_is_one_line_naming_the_file(capsys):
    code = run_command("embed", raises(OSError(errno.ENOSPC, "No space", "runs/x/a.npy")))
    assert code == SYSTEM == 74
    assert one_line(capsys) == "cnnzoo embed: error: runs/x/a.npy: no space left on the device"


def test_a_read_only_folder_names_the_file_and_the_cause(capsys):
    code = run_command(
        "export", raises(PermissionError(errno.EACCES, "Permission denied", "out/m.onnx"))
    )
    assert code == SYSTEM
    assert one_line(capsys) == "cnnzoo export: error: out/m.onnx: Permission denied"


def test_a_file_that_cannot_be_decoded_is_bad_input(capsys, tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"not gzip at all")

    def call() -> int:
        with gzip.open(path) as f:
            f.read()
        return 0

    assert run_command("train", call) == BAD_INPUT
    assert one_line(capsys).startswith("cnnzoo train: error: Not a gzipped file")


def test_a_decode_error_and_a_multi_line_message_become_one_line(capsys):
    assert run_command("predict", raises(ValueError("first\nsecond"))) == BAD_INPUT
    assert one_line(capsys) == "cnnzoo predict: error: first second"
    wrapped = ValueError(
        "Caught ValueError in DataLoader worker process 0.\nOriginal Traceback "
        '(most recent call last):\n  File "x.py", line 1\nValueError: a.png: '
        "cannot decode the image"
    )
    assert message_line(wrapped) == "ValueError: a.png: cannot decode the image"
    assert run_command("eval", raises(EOFError("Ran out of input"))) == BAD_INPUT
    assert one_line(capsys) == "cnnzoo eval: error: Ran out of input"


def test_memory_is_one_line(capsys):
    assert run_command("bench", raises(MemoryError())) == BAD_INPUT
    assert "not enough memory" in one_line(capsys)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_is_one_line_saying_what_was_kept(capsys, signum):
    def call() -> int:
        signal.raise_signal(signum)
        raise AssertionError("the signal did not stop the command")

    assert run_command("report", call) == 128 + signum
    assert one_line(capsys) == (
        f"cnnzoo report: stopped by {signal.Signals(signum).name}; {KEPT['report']}"
    )


def test_a_keyboard_interrupt_from_a_library_is_sigint(capsys):
    assert run_command("nas search", raises(KeyboardInterrupt())) == 130
    assert one_line(capsys).startswith("cnnzoo nas search: stopped by SIGINT; every finished")


def test_a_stop_wrapped_by_a_library_is_still_the_stop(capsys):
    def call() -> int:  # a signal during an extension's import: ImportError from the stop
        try:
            signal.raise_signal(signal.SIGINT)
        except BaseException as stop:
            raise ImportError("initialization failed") from stop
        raise AssertionError("the signal did not stop the command")

    assert run_command("report", call) == 130
    assert one_line(capsys) == f"cnnzoo report: stopped by SIGINT; {KEPT['report']}"


def test_the_previous_handlers_are_back_after_a_command():
    before = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
    assert run_command("list", lambda: 0) == 0
    assert [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)] == before


def test_a_bug_still_shows_its_traceback():
    with pytest.raises(KeyError):
        run_command("report", raises(KeyError("a bug")))


def test_an_input_too_large_for_memory_is_one_line(capsys):
    from cnnzoo.cli import main

    assert main(["bench", "lenet5", "--input", "1,400000,400000", "--rounds", "5"]) == BAD_INPUT
    line = one_line(capsys)
    assert line.startswith(
        "cnnzoo bench: error: not enough memory for this input on this machine (640.0 GB asked for)"
    )
    with pytest.raises(RuntimeError, match="not a memory problem"):
        run_command("bench", raises(RuntimeError("not a memory problem")))
