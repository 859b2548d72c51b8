"""Progress display: a rich bar on a terminal, plain lines otherwise, nothing off rank 0."""

from __future__ import annotations

import io

from cnnzoo.train.progress import PlainReporter, RichReporter, make_reporter, reporter_kind

ROW = {
    "epoch": 1,
    "train_loss": 0.5,
    "train_top1": 0.8,
    "test_loss": 0.4,
    "test_top1": 0.85,
    "test_top5": 0.99,
    "lr": 0.01,
    "seconds": 2.0,
    "images_per_s": 1000.0,
}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_kind_follows_the_stream_and_the_rank(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert reporter_kind(True, Terminal()) == "rich"
    assert reporter_kind(True, io.StringIO()) == "plain"
    assert reporter_kind(False, Terminal()) == "silent"
    monkeypatch.setenv("CI", "true")
    assert reporter_kind(True, Terminal()) == "plain"


def test_plain_lines():
    out = io.StringIO()
    reporter = make_reporter(True, out)
    assert isinstance(reporter, PlainReporter)
    reporter.epoch_start(0, 3, 100, 40)
    reporter.epoch_end(ROW)
    lines = out.getvalue().splitlines()
    assert lines[0] == "epoch 1/3: resuming at step 40/100"
    assert lines[1].startswith("epoch 1/3  train loss 0.5000 top-1 80.00%  test loss 0.4000")


def test_rich_bar_runs_and_prints_the_epoch_line():
    out = Terminal()
    reporter = RichReporter(out)
    reporter.epoch_start(0, 2, 10, 0)
    for step in range(1, 11):
        reporter.step(step, 0.5, 0.8, 1000.0)
    reporter.epoch_end(ROW)
    reporter.close()
    assert "epoch 1/2  train loss 0.5000" in out.getvalue()
