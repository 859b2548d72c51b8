"""In-process: the progress hook's fractions, and SIGINT / SIGTERM stopping a run at a known point.

The signals are raised from inside the run (``signal.raise_signal`` in a patched function), so the
step they arrive at is exact; the subprocess tests of the same are in test_resume.py.
"""

from __future__ import annotations

import shlex
import signal
import threading

import pytest
import torch

from cnnzoo import create_model
from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.cli import build_parser, config_from_args, main
from cnnzoo.interrupt import Interrupted, catch_stop_signals
from cnnzoo.train import TrainConfig, run
from cnnzoo.train import build as build_module
from cnnzoo.train import engine as engine_module

LENET = type(create_model("lenet5", num_classes=10, in_chans=1))
EPOCHS, STEPS = 2, 3  # 96 images in batches of 32


def train_args(data_dir, out) -> list[str]:
    return [
        "train",
        "lenet5",
        "--dataset",
        "mnist",
        "--data-dir",
        str(data_dir),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "32",
        "--subset",
        str(32 * STEPS),
        "--deterministic",
        "--seed",
        "3",
        "--checkpoint-every",
        "0",
        "--out",
        str(out),
    ]


def parsed(argv: list[str]) -> TrainConfig:
    return config_from_args(TrainConfig, build_parser()[0].parse_args(argv))


def config_of(data_dir, out, **changes) -> TrainConfig:
    return TrainConfig(
        "lenet5",
        dataset="mnist",
        data_dir=str(data_dir),
        epochs=EPOCHS,
        batch_size=32,
        subset=32 * STEPS,
        deterministic=True,
        seed=3,
        checkpoint_every=0,
        out=str(out),
        **changes,
    )


def record_progress(monkeypatch, signal_at: float | None = None) -> list[float]:
    """The fractions LeNet-5's ``set_progress`` gets from now on; SIGINT is raised in the call
    that gets ``signal_at``, i.e. just before that step runs."""
    seen: list[float] = []

    def set_progress(self, fraction: float) -> None:
        seen.append(fraction)
        if fraction == signal_at:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(LENET, "set_progress", set_progress)
    return seen


def assert_same_weights(a, b) -> None:
    a, b = load_checkpoint(a / "last.pt")["model"], load_checkpoint(b / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_progress_fractions_and_sigint_mid_epoch_through_the_cli(
    fake_mnist, tmp_path, monkeypatch, capsys
):
    whole = tmp_path / "whole"
    seen = record_progress(monkeypatch)
    run(config_of(fake_mnist, whole))
    assert seen == [k / (EPOCHS * STEPS) for k in range(EPOCHS * STEPS)]  # 0, 1/6, ..., 5/6

    # SIGINT just before step index 4 (epoch 2, step 2 of 3): that step finishes, then the run
    # saves last.pt there and the command exits 130 with one line.
    out = tmp_path / "stopped"
    seen = record_progress(monkeypatch, signal_at=4 / 6)
    before = signal.getsignal(signal.SIGINT)
    capsys.readouterr()
    assert main(train_args(fake_mnist, out)) == 130
    assert signal.getsignal(signal.SIGINT) is before  # the run's handlers are gone
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert f"SIGINT at epoch 2/2, step 2/3: stopped after that step and saved {out}/last.pt" in err
    saved = load_checkpoint(out / "last.pt")
    assert (saved["epoch"], saved["step"], len(saved["history"])) == (1, 2, 1)
    assert seen == [k / 6 for k in range(5)]

    # The printed command continues the run: the sequence goes on where it stopped.
    command = shlex.split(err.split("continue with: ", 1)[1])
    assert command[0] == "cnnzoo" and "--resume" in command  # a pytest process: no __main__.py
    seen = record_progress(monkeypatch)
    assert main(command[1:]) == 0
    assert seen == [5 / 6]
    assert_same_weights(whole, out)


def test_sigint_during_evaluation_stops_at_the_epoch_end(fake_mnist, tmp_path, monkeypatch):
    record_progress(monkeypatch)
    real_evaluate = engine_module.evaluate

    def evaluate(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(engine_module, "evaluate", evaluate)
    out = tmp_path / "run"
    with pytest.raises(Interrupted, match="SIGINT in epoch 1/2: stopped at its end") as stop:
        run(config_of(fake_mnist, out))
    assert (stop.value.exit_code, stop.value.resumable, stop.value.run_dir) == (130, True, out)
    saved = load_checkpoint(out / "last.pt")
    assert (saved["epoch"], saved["step"], len(saved["history"])) == (1, 0, 1)
    monkeypatch.setattr(engine_module, "evaluate", real_evaluate)
    seen = record_progress(monkeypatch)
    assert run(config_of(fake_mnist, out, resume=True))["epoch"] == 2
    assert seen == [3 / 6, 4 / 6, 5 / 6]


def test_sigint_before_the_first_step_says_nothing_was_trained(
    fake_mnist, tmp_path, monkeypatch, capsys
):
    real_load = build_module.load_dataset

    def load_dataset(*args, **kwargs):
        signal.raise_signal(signal.SIGINT)  # while the run is being prepared
        return real_load(*args, **kwargs)

    monkeypatch.setattr(build_module, "load_dataset", load_dataset)
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(train_args(fake_mnist, out)) == 130
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "SIGINT before the first training step: nothing was trained" in err
    again = shlex.split(err.split("start again with: ", 1)[1])
    assert again[0] == "cnnzoo" and parsed(again[1:]) == parsed(train_args(fake_mnist, out))
    assert not (out / "last.pt").exists()


def test_stop_handlers_are_restored_and_only_the_main_thread_installs_them():
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(RuntimeError), catch_stop_signals() as flag:
        assert signal.getsignal(signal.SIGTERM) == flag.handle
        flag.defer()
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)  # a second signal changes nothing
        assert flag.signum == signal.SIGTERM
        raise RuntimeError("the run failed")
    assert {s: signal.getsignal(s) for s in before} == before

    installed = []

    def in_thread():
        with catch_stop_signals() as flag:
            installed.append(signal.getsignal(signal.SIGINT) == flag.handle)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert installed == [False]
