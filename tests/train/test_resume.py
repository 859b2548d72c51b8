"""A run killed (SIGKILL) or stopped (SIGINT, SIGTERM) and resumed ends with bitwise the same
weights as an uninterrupted one.

Real processes: the command line trains LeNet-5 on the fake digits (CPU, --deterministic, one
thread); one run goes through; another is killed as soon as its first scheduled mid-epoch
checkpoint exists, or sent SIGINT / SIGTERM as soon as it starts training, long before its first
scheduled checkpoint (``--checkpoint-every 0``: none until the epoch's end). Then each is resumed
with --resume, the SIGINT / SIGTERM ones with the very command they printed.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
import torch
from trainutil import cli_env, run_cli, train_command

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.runlog import read_metrics_csv

ARGS = (
    "lenet5",
    "--dataset",
    "mnist",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--deterministic",
    "--seed",
    "7",
    "--subset",
    "1024",
)
STEPS = 1024 // 16


@pytest.fixture(scope="module")
def whole(fake_mnist, tmp_path_factory):
    """The uninterrupted run's folder."""
    out = tmp_path_factory.mktemp("whole") / "run"
    done = run_cli(*ARGS, "--data-dir", str(fake_mnist), "--out", str(out), cwd=out.parent)
    assert done.returncode == 0, done.stderr
    return out


def assert_same_run(a_dir, b_dir) -> None:
    """Bitwise the same weights and optimizer state, and the same metrics."""
    a, b = load_checkpoint(a_dir / "last.pt"), load_checkpoint(b_dir / "last.pt")
    assert (a["epoch"], a["step"]) == (b["epoch"], b["step"]) == (2, 0)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for state_a, state_b in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)  # AdamW moments, step
    rows_a = read_metrics_csv(a_dir / "metrics.csv")
    rows_b = read_metrics_csv(b_dir / "metrics.csv")
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for key in ("epoch", "train_loss", "train_top1", "test_loss", "test_top1", "lr"):
            assert ra[key] == rb[key], key


def kill_at_first_checkpoint(args: list[str], last: os.PathLike, cwd) -> None:
    """Start a training process and SIGKILL it once ``last`` exists."""
    proc = subprocess.Popen(
        train_command(*args),
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(last) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()


def test_sigkill_and_resume_is_bitwise_identical(fake_mnist, whole, tmp_path):
    broken = tmp_path / "broken"
    args = [*ARGS, "--data-dir", str(fake_mnist), "--checkpoint-every", "5"]
    kill_at_first_checkpoint([*args, "--out", str(broken)], broken / "last.pt", tmp_path)
    killed_at = load_checkpoint(broken / "last.pt")
    if killed_at["epoch"] == 2:  # pragma: no cover - the machine stalled the poll loop
        pytest.fail("not tested: the run finished before it could be killed (a stalled machine)")
    assert killed_at["step"] > 0  # the first last.pt is written in mid-epoch

    resumed = run_cli(*args, "--out", str(broken), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    # It went on from the checkpoint, not from scratch.
    epoch, step = killed_at["epoch"] + 1, killed_at["step"]
    assert f"epoch {epoch}/2: resuming at step {step}/{STEPS}" in resumed.stdout, resumed.stdout
    assert ("epoch 1/2 " in resumed.stdout) == (epoch == 1)
    assert_same_run(whole, broken)


def signal_once_training(args: list[str], signum: int, cwd) -> subprocess.CompletedProcess:
    """Start a training process and send it ``signum`` as soon as it says it is training."""
    proc = subprocess.Popen(
        train_command(*args),
        cwd=cwd,
        env=cli_env(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for line in proc.stdout:
            if line.startswith("training "):
                proc.send_signal(signum)
                break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # pragma: no cover - a hung process
            proc.kill()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_saves_the_step_and_resume_is_bitwise_identical(fake_mnist, whole, tmp_path, signum):
    stopped = tmp_path / "stopped"
    args = [*ARGS, "--data-dir", str(fake_mnist), "--checkpoint-every", "0", "--out", str(stopped)]
    done = signal_once_training(args, signum, tmp_path)
    if done.returncode == 0:  # pragma: no cover - the machine stalled this process
        pytest.fail("not tested: the run finished before the signal came (a stalled machine)")
    assert done.returncode == 128 + signum, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    name = signal.Signals(signum).name
    assert lines[0].startswith(f"cnnzoo train: {name} at epoch 1/2, step "), lines[0]
    assert f"saved {stopped / 'last.pt'}; continue with: " in lines[0]

    saved = load_checkpoint(stopped / "last.pt")
    assert saved["epoch"] == 0 and 0 < saved["step"] < STEPS  # mid-epoch, not a scheduled one
    assert f"step {saved['step']}/{STEPS}" in lines[0]

    command = shlex.split(lines[0].split("continue with: ", 1)[1])
    assert command[:3] == [sys.executable, "-m", "cnnzoo"] and "--resume" in command
    assert command[command.index("--out") + 1] == str(stopped)
    resumed = subprocess.run(
        command, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"epoch 1/2: resuming at step {saved['step']}/{STEPS}" in resumed.stdout
    assert_same_run(whole, stopped)


# The speed recipe's state beyond the weights: the averaged copy and its count, Nesterov momentum,
# the cutout squares and the alternating flips (functions of seed and epoch).
SPEED = (
    *("--optimizer", "sgd", "--nesterov", "--ema-decay", "0.9", "--cutout", "8", "--tta", "flip"),
    *("--hflip", "--alternate-flip"),
)


def test_a_run_with_averaged_weights_killed_and_resumed_is_bitwise_identical(fake_mnist, tmp_path):
    args = [*ARGS, *SPEED, "--data-dir", str(fake_mnist), "--checkpoint-every", "5"]
    whole = tmp_path / "whole"
    done = run_cli(*args, "--out", str(whole), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken"
    kill_at_first_checkpoint([*args, "--out", str(broken)], broken / "last.pt", tmp_path)
    killed_at = load_checkpoint(broken / "last.pt")
    if killed_at["epoch"] == 2:  # pragma: no cover - the machine stalled the poll loop
        pytest.fail("not tested: the run finished before it could be killed (a stalled machine)")
    assert 0 < killed_at["average_updates"] < 2 * STEPS
    resumed = run_cli(*args, "--out", str(broken), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(whole, broken)  # the averaged weights ("model"), the optimizer, the metrics
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(broken / "last.pt")
    assert a["average_updates"] == b["average_updates"] == 2 * STEPS
    for key in a["training_model"]:
        assert torch.equal(a["training_model"][key], b["training_model"][key]), key
