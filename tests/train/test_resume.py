"""A run killed with SIGKILL and resumed ends with bitwise the same weights as an uninterrupted one.

Real processes: the command line trains LeNet-5 on the fake digits (CPU, --deterministic, one
thread); one run goes through, a second is killed as soon as its first mid-epoch checkpoint exists,
then resumed with --resume.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import torch
from trainutil import cli_env, run_cli, train_command

from cnnzoo.train.checkpoint import load_checkpoint
from cnnzoo.train.metrics import read_metrics_csv

ARGS = (
    "--dataset", "mnist", "--epochs", "2", "--batch-size", "16", "--deterministic", "--seed", "7",
    "--checkpoint-every", "5",
)  # fmt: skip


def kill_at_first_checkpoint(args: list[str], last: os.PathLike, cwd) -> None:
    """Start a training process and SIGKILL it once ``last`` exists."""
    proc = subprocess.Popen(train_command(*args), cwd=cwd, env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(last) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, err.decode()


def test_sigkill_and_resume_is_bitwise_identical(fake_mnist, tmp_path):
    data = ("--data-dir", str(fake_mnist), "--subset", "1024")
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    done = run_cli("lenet5", *ARGS, *data, "--out", str(whole), cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    kill_at_first_checkpoint(["lenet5", *ARGS, *data, "--out", str(broken)],
                             broken / "last.pt", tmp_path)  # fmt: skip
    killed_at = load_checkpoint(broken / "last.pt")
    if killed_at["epoch"] == 2:  # pragma: no cover - the machine stalled the poll loop
        pytest.skip("the run finished before it could be killed")
    assert killed_at["step"] > 0  # the first last.pt is written in mid-epoch

    resumed = run_cli("lenet5", *ARGS, *data, "--out", str(broken), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    # It went on from the checkpoint, not from scratch.
    epoch, step = killed_at["epoch"] + 1, killed_at["step"]
    assert f"epoch {epoch}/2: resuming at step {step}/64" in resumed.stdout, resumed.stdout
    assert ("epoch 1/2 " in resumed.stdout) == (epoch == 1)

    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(broken / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for state_a, state_b in zip(a["optimizer"]["state"].values(),
                                b["optimizer"]["state"].values(), strict=True):  # fmt: skip
        assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)  # AdamW moments, step
    rows_a = read_metrics_csv(whole / "metrics.csv")
    rows_b = read_metrics_csv(broken / "metrics.csv")
    for ra, rb in zip(rows_a, rows_b, strict=True):
        for key in ("epoch", "train_loss", "train_top1", "test_loss", "test_top1", "lr"):
            assert ra[key] == rb[key], key
