"""Where something ran: the device, the CPU and its speed-relevant instructions, the threads, the
versions, and the git commit of the cnnzoo checkout.

:func:`environment` is the one record of it: a training run saves it in its ``config.json`` and
every script in ``benchmarks/`` writes it beside its numbers.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

# /proc/cpuinfo flags that change how fast the CPU kernels run: AVX-512 bf16 and VNNI (int8) dot
# products, and AMX tiles (Sapphire Rapids and later), which oneDNN uses for bf16 autocast.
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
# CPU flags with native bf16 dot products (AVX-512 BF16: Cooper Lake, Zen 4 and later; AMX:
# Sapphire Rapids and later); without them oneDNN converts bf16 to fp32 for every product.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# Kinds of CPU host for tables that keep one column set per kind, the strongest matrix
# instructions first: a CPU is of the first kind whose flag it has (else "other").
HOST_KINDS = (
    ("amx", "amx_bf16"),
    ("avx512-bf16", "avx512_bf16"),
    ("avx512", "avx512f"),
    ("avx2", "avx2"),
)
CPUINFO = Path("/proc/cpuinfo")
GIT_TIMEOUT_S = 10


def parse_cpuinfo(text: str) -> tuple[str | None, list[str]]:
    """The CPU model name and the :data:`SPEED_FLAGS` it has, from the text of /proc/cpuinfo.

    Args:
        text: the file's content (the first processor's entries are read).

    Returns:
        The ``model name`` (``None`` if absent) and the flags present, in :data:`SPEED_FLAGS` order.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return fields.get("model name"), [f for f in SPEED_FLAGS if f in flags]


def host_kind(flags: Iterable[str]) -> str:
    """The :data:`HOST_KINDS` name of a CPU with these speed flags (``"other"`` for none)."""
    present = set(flags)
    return next((kind for kind, flag in HOST_KINDS if flag in present), "other")


def cpu_info(cpuinfo: Path = CPUINFO) -> tuple[str, list[str]]:
    """The CPU model and its speed flags; off Linux, ``platform``'s processor name and no flags.

    Args:
        cpuinfo: the file to read (``/proc/cpuinfo``).

    Returns:
        The model name and the flags (see :func:`parse_cpuinfo`).
    """
    try:
        name, flags = parse_cpuinfo(cpuinfo.read_text(errors="replace"))
    except OSError:
        name, flags = None, []
    return name or platform.processor() or platform.machine(), flags


def checkout_root() -> Path | None:
    """The repository folder of this cnnzoo when it runs from a source checkout (``src`` layout),
    else ``None`` (an installed package, whose folders may sit in an unrelated repository)."""
    package = Path(__file__).resolve().parent
    root = package.parent.parent
    if package.parent.name != "src" or not (root / "pyproject.toml").is_file():
        return None
    return root


def git_state(root: Path | None) -> tuple[str | None, bool | None]:
    """The commit checked out in ``root`` and whether the tree differs from it.

    Args:
        root: a git working tree, or ``None``.

    Returns:
        ``git rev-parse HEAD`` and whether ``git status`` shows changes to tracked files; both
        ``None`` when there is no root, no git, or no repository.
    """
    if root is None:
        return None, None

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=GIT_TIMEOUT_S
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def package_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """Where this process runs, as plain data (for ``config.json`` and benchmark records).

    Args:
        device: the device the work runs on.

    Returns:
        ``device``, ``device_name`` (the GPU's name, or the CPU model), ``cpu``, ``cpu_flags``
        (:data:`SPEED_FLAGS` present), ``cores``, ``threads`` (torch's intra-op threads),
        ``torch``, ``torchvision``, ``python``, ``commit`` (``None`` outside a git checkout) and
        ``dirty`` (uncommitted changes to tracked files; ``None`` when unknown).
    """
    device = torch.device(device)
    cpu, flags = cpu_info()
    commit, dirty = git_state(checkout_root())
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu,
        "cpu": cpu,
        "cpu_flags": flags,
        "cores": os.cpu_count() or 0,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "torchvision": package_version("torchvision"),
        "python": platform.python_version(),
        "commit": commit,
        "dirty": dirty,
    }
