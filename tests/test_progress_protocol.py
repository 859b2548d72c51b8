"""The one progress protocol, ``(description, completed, total)``, and its displays: a rich bar only
on an interactive terminal, one plain line per call, or nothing."""

from __future__ import annotations

import io

import pytest

from cnnzoo.progress import interactive, line_progress, rich_progress, silent


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def plain_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")


def test_interactive_is_a_tty_outside_ci_and_dumb_terminals(plain_terminal, monkeypatch):
    assert interactive(Terminal())
    assert not interactive(io.StringIO())
    assert not interactive(object())  # no isatty at all
    monkeypatch.setenv("TERM", "dumb")
    assert not interactive(Terminal())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("CI", "true")
    assert not interactive(Terminal())


def test_line_progress_writes_one_line_per_call():
    lines: list[str] = []
    progress = line_progress("nas search", lines.append)
    progress("candidates, 2 running, best 91.20%, 1.50 per minute", 3, 20)
    progress("", 4, 20)
    assert lines == [
        "nas search: 3/20 candidates, 2 running, best 91.20%, 1.50 per minute",
        "nas search: 4/20",
    ]


def test_rich_progress_draws_on_a_terminal_only(plain_terminal):
    log = io.StringIO()
    with rich_progress("cnnzoo bench", log) as progress:
        progress("measure lenet5", 1, 2)
    assert log.getvalue() == ""  # a log gets no bar and no blank line

    terminal = Terminal()
    with rich_progress("cnnzoo bench", terminal) as progress:
        progress("measure lenet5", 1, 2)
        progress("measure lenet5", 2, 2)
    assert "measure lenet5" in terminal.getvalue()


def test_silent_accepts_the_protocol():
    assert silent("anything", 1, 2) is None
