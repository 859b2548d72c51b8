"""The `cnnzoo nas search` command line the search tests run, in process or as a subprocess."""

from __future__ import annotations

import io
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from cnnzoo.cli import main


def search_argv(mnist_dir: Path, out: Path, *extra: str) -> list[str]:
    """``nas search`` on the fake MNIST folder into ``out``; ``extra`` adds flags."""
    return [
        "nas",
        "search",
        "--dataset",
        "mnist",
        "--data-dir",
        str(mnist_dir),
        "--out",
        str(out),
        *extra,
    ]


def search_command(mnist_dir: Path, out: Path, *extra: str) -> list[str]:
    """:func:`search_argv` as a fresh process's command line (``python -m cnnzoo``)."""
    return [sys.executable, "-m", "cnnzoo", *search_argv(mnist_dir, out, *extra)]


def cli(*argv: str) -> tuple[int, str, str]:
    """``cnnzoo ARGV`` in this process: the exit code, standard output and standard error."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()
