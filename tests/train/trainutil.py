"""Helpers of the training tests: a small, learnable fake MNIST in IDX files, and subprocesses.

Each class is a bright 8 x 8 square at its own place on a noisy 28 x 28 field, so a LeNet-5 learns
it in a few steps. The files use LeCun's names, so ``--dataset mnist --data-dir D`` reads them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from cnnzoo.data import write_idx

SIDE = 28


def fake_digits(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 images N x 28 x 28 and their labels 0-9."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.randint(0, 60, (n, SIDE, SIDE), generator=g)
    for c in range(10):
        row, col = 2 + 8 * (c // 4), 2 + 6 * (c % 4)
        images[labels == c, row : row + 8, col : col + 8] += 150
    return images.clamp(0, 255).to(torch.uint8), labels.to(torch.uint8)


def write_fake_mnist(folder: Path, n_train: int, n_test: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = fake_digits(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder


def cli_env() -> dict[str, str]:
    """Environment of the command-line subprocesses: one thread each (2 cores), no colour."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TERM="dumb")
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def train_command(*args: str) -> list[str]:
    """``python -m cnnzoo train ARGS``."""
    return [sys.executable, "-m", "cnnzoo", "train", *args]


def run_cli(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(train_command(*args), cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
