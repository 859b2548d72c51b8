"""How a training command was started, and the one line a stopped run prints to go on.

``cnnzoo train`` and ``cnnzoo nas train`` run the engine through :func:`run_training`: when a
signal stops the run, rank 0 alone prints ``cnnzoo train: <what happened>; continue with: <the
command>``, the command started as this process was (``cnnzoo``, ``python -m cnnzoo`` or
``torchrun ... -m cnnzoo``) with the same flags, ``--out`` the run folder and ``--resume``.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from cnnzoo.interrupt import Interrupted
from cnnzoo.train.config import TrainConfig


def launcher(argv0: str, executable: str, env: Mapping[str, str]) -> list[str]:
    """How this process was started, as the start of a command line that starts it again.

    Args:
        argv0: ``sys.argv[0]`` (``.../cnnzoo/__main__.py`` under ``python -m cnnzoo`` and
            ``torchrun -m cnnzoo``).
        executable: ``sys.executable``.
        env: the environment (``torchrun`` sets ``WORLD_SIZE`` and ``LOCAL_WORLD_SIZE``).

    Returns:
        ``["cnnzoo"]``, ``[executable, "-m", "cnnzoo"]`` or ``["torchrun", ..., "-m", "cnnzoo"]``.
    """
    world = int(env.get("WORLD_SIZE", "1"))
    if world > 1:
        local = int(env.get("LOCAL_WORLD_SIZE", str(world)))
        nodes = ["--nnodes", str(world // local)] if world > local else []
        return ["torchrun", *nodes, "--nproc-per-node", str(local), "-m", "cnnzoo"]
    if Path(argv0).parts[-2:] == ("cnnzoo", "__main__.py"):
        return [executable, "-m", "cnnzoo"]
    return ["cnnzoo"]


def interrupted_line(
    name: str,
    stop: Interrupted,
    config: TrainConfig,
    argv: Callable[[TrainConfig], list[str]],
    start: Sequence[str],
) -> str:
    """The one line a stopped training command prints: what happened and the command to go on.

    Args:
        name: the command, e.g. ``"nas train"``.
        stop: the :class:`~cnnzoo.interrupt.Interrupted` that ended the run.
        config: the configuration as the flags gave it.
        argv: the command's arguments that make a configuration (``["train", "lenet5", ...]``).
        start: the :func:`launcher` of this process.

    Returns:
        ``cnnzoo NAME: <stop>; continue with: <command> --out RUN --resume``, or ``start again
        with: <the same command>`` when nothing of the run was saved.
    """
    if stop.resumable:
        again = dataclasses.replace(config, out=str(stop.run_dir), resume=True)
        return f"cnnzoo {name}: {stop}; continue with: {shlex.join([*start, *argv(again)])}"
    return f"cnnzoo {name}: {stop}; start again with: {shlex.join([*start, *argv(config)])}"


def run_training(name: str, config: TrainConfig, argv: Callable[[TrainConfig], list[str]]) -> int:
    """Train ``config`` with the engine; a stop prints :func:`interrupted_line` (rank 0 only).

    Args:
        name, config, argv: as for :func:`interrupted_line`.

    Returns:
        0, or the stop's exit code (130 for SIGINT, 143 for SIGTERM).
    """
    from cnnzoo.interrupt import before_training
    from cnnzoo.train.engine import run

    try:
        try:
            run(config)
        except KeyboardInterrupt:  # a Ctrl-C before the run caught the signals
            raise before_training(signal.SIGINT) from None
    except Interrupted as stop:
        if os.environ.get("RANK", "0") == "0":  # one line, from rank 0 alone
            start = launcher(sys.argv[0], sys.executable, os.environ)
            print(interrupted_line(name, stop, config, argv, start), file=sys.stderr, flush=True)
        return stop.exit_code
    return 0
