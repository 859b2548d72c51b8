"""The line a stopped training command prints: the command that continues it, started the way
this process was, and printed by rank 0 alone."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path

import pytest

from cnnzoo.cli import build_parser, train_argv
from cnnzoo.interrupt import Interrupted
from cnnzoo.nas.transfer import TransferConfig, train_cell
from cnnzoo.options import argv_of, config_from_args
from cnnzoo.train import engine
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.launch import interrupted_line, launcher, run_training

MAIN_PY = "/src/cnnzoo/__main__.py"
PYTHON = sys.executable
STARTS = {  # (sys.argv[0], sys.executable, environment) -> the start of the command line
    "cnnzoo": (("/venv/bin/cnnzoo", PYTHON, {}), ["cnnzoo"]),
    "python -m": ((MAIN_PY, PYTHON, {}), [PYTHON, "-m", "cnnzoo"]),
    "torchrun": (
        (MAIN_PY, PYTHON, {"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "4"}),
        ["torchrun", "--nproc-per-node", "4", "-m", "cnnzoo"],
    ),
    "torchrun, 2 nodes": (
        (MAIN_PY, PYTHON, {"WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4"}),
        ["torchrun", "--nnodes", "2", "--nproc-per-node", "4", "-m", "cnnzoo"],
    ),
}


@pytest.mark.parametrize("style", STARTS)
def test_launcher_names_how_the_process_was_started(style):
    given, expected = STARTS[style]
    assert launcher(*given) == expected


def stopped(run_dir: Path | None, resumable: bool) -> Interrupted:
    return Interrupted(signal.SIGINT, "SIGINT at step 3", run_dir=run_dir, resumable=resumable)


def test_nothing_saved_starts_the_same_command_again():
    config = TrainConfig("lenet5", epochs=2)
    line = interrupted_line("train", stopped(None, False), config, train_argv, ["cnnzoo"])
    assert line.endswith("; start again with: cnnzoo train lenet5 --epochs 2")


def stop_the_run(monkeypatch, run_dir: Path) -> list[TrainConfig]:
    seen = []

    def run(config):
        seen.append(config)
        raise stopped(run_dir, True)

    monkeypatch.setattr(engine, "run", run)
    monkeypatch.setattr("sys.argv", [MAIN_PY, "train"])
    for name in ("WORLD_SIZE", "LOCAL_WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    return seen


@pytest.mark.parametrize("style", ["cnnzoo", "python -m", "torchrun"])
def test_the_line_continues_the_run_as_it_was_started(style, monkeypatch, capsys, tmp_path):
    (argv0, _, env), start = STARTS[style]
    stop_the_run(monkeypatch, tmp_path / "run")
    monkeypatch.setattr("sys.argv", [argv0, "train"])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = TrainConfig("resnet20", lr=0.2, channels_last=True, seed=3)
    assert run_training("train", config, train_argv) == 130
    head, command = capsys.readouterr().err.strip().split("; continue with: ")
    assert head == "cnnzoo train: SIGINT at step 3"
    words = shlex.split(command)
    assert words[: len(start)] == start
    again = config_from_args(TrainConfig, build_parser("train")[0].parse_args(words[len(start) :]))
    assert again == TrainConfig(
        "resnet20", lr=0.2, channels_last=True, seed=3, out=str(tmp_path / "run"), resume=True
    )


@pytest.mark.parametrize("rank", ["0", "1"])
def test_only_rank_0_prints_the_line(rank, monkeypatch, capsys, tmp_path):
    stop_the_run(monkeypatch, tmp_path / "run")
    monkeypatch.setenv("RANK", rank)
    assert run_training("train", TrainConfig("lenet5"), train_argv) == 130
    err = capsys.readouterr().err
    if rank == "0":
        assert err.count("\n") == 1 and " -m cnnzoo train lenet5 --out " in err
    else:
        assert err == ""


def test_nas_train_continues_with_its_own_flags(monkeypatch, capsys, tmp_path):
    genotype = tmp_path / "pareto.json"
    transfer = TransferConfig(str(genotype), trial=8, num_cells=3)
    monkeypatch.setattr(TransferConfig, "model_kwargs", lambda self: {"num_cells": 3})
    seen = stop_the_run(monkeypatch, tmp_path / "run")
    assert train_cell(transfer, TrainConfig("x", epochs=5)) == 130
    assert seen[0].model == "nasnet_cifar" and seen[0].model_kwargs == {"num_cells": 3}
    line = capsys.readouterr().err.strip()
    assert line.startswith("cnnzoo nas train: SIGINT at step 3; continue with: ")
    words = shlex.split(line.split("continue with: ")[1])
    assert words[:3] == [PYTHON, "-m", "cnnzoo"]
    args = build_parser("nas")[0].parse_args(words[3:])
    assert config_from_args(TransferConfig, args) == transfer
    again = config_from_args(TrainConfig, args, model="x")
    assert again == TrainConfig("x", epochs=5, out=str(tmp_path / "run"), resume=True)
    assert argv_of(transfer) == [str(genotype), "--trial", "8", "--num-cells", "3"]
