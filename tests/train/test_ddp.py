"""Two processes with torchrun (DDP over gloo, CPU) agree with one process on the same data.

The batch stream gives rank ``r`` the positions ``r, r + 2, ...`` of each epoch's order, with the
augmentation of the position, so the two ranks' batches of 16 at a step are together the single
process's batch of 32: the runs differ only by float rounding in the gradient all-reduce.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch.distributed as dist
from trainutil import cli_env, run_cli

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.runlog import read_metrics_csv

ARGS = ("lenet5", "--dataset", "mnist", "--epochs", "2", "--batch-size", "32", "--subset", "512")


@pytest.mark.skipif(not dist.is_gloo_available(), reason="needs the gloo backend")
def test_two_gloo_processes_match_one(fake_mnist, tmp_path):
    data = ("--data-dir", str(fake_mnist))
    single = run_cli(*ARGS, *data, "--out", str(tmp_path / "one"), cwd=tmp_path)
    assert single.returncode == 0, single.stderr
    torchrun = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "cnnzoo",
        "train",
        *ARGS,
        *data,
        "--out",
        str(tmp_path / "two"),
    ]
    double = subprocess.run(
        torchrun, cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=180
    )
    assert double.returncode == 0, double.stderr[-3000:]
    assert "2 process(es)" in double.stdout
    assert double.stdout.count("final test top-1") == 1  # only rank 0 prints

    one = read_metrics_csv(tmp_path / "one" / "metrics.csv")
    two = read_metrics_csv(tmp_path / "two" / "metrics.csv")
    assert len(one) == len(two) == 2
    for a, b in zip(one, two, strict=True):
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-9)
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["test_loss"] == pytest.approx(b["test_loss"], abs=1e-4)
        assert a["train_top1"] == pytest.approx(b["train_top1"], abs=2 / 512)
        assert a["test_top1"] == pytest.approx(b["test_top1"], abs=2 / 256)
        assert a["test_top5"] == pytest.approx(b["test_top5"], abs=2 / 256)
    # Rank 0 alone wrote the run folder: one TensorBoard file, checkpoints of the whole model.
    assert len(list((tmp_path / "two").glob("events.out.tfevents.*"))) == 1
    ckpt = load_checkpoint(tmp_path / "two" / "last.pt")
    assert not any(k.startswith("module.") for k in ckpt["model"])
    assert len(ckpt["rng"]["torch_ranks"]) == 2
