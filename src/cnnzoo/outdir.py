"""Output folders: owned by one command while it runs, published whole, never written through a
link, and never someone else's.

Every command that writes a folder (``train``'s run folder, ``report``'s site, ``embed``'s map,
``nas search``'s search folder) goes through :func:`owned`:

- **Locked.** An exclusive ``flock`` on ``.<name>.lock`` beside the folder (beside, not inside, so
  that the lock outlives the swap below). A second writer gets one line naming the holder (command,
  process id, host, start time); the kernel releases the lock when the holder ends, however it
  ends, so a killed run leaves no stale lock.
- **Ours.** The folder gets a marker, ``.cnnzoo.json``, naming the command that made it. A folder
  that holds files but no marker (nor the command's own record from before markers existed) is
  someone else's: it is not written into without ``--force``. A folder made by another command
  is refused too (a report is never written over a training run).
- **Published whole** (:meth:`Owned.staged`). A command that rewrites a folder builds the new one
  in ``.<name>.staging-<pid>`` beside it and swaps the two with one ``renameat2(RENAME_EXCHANGE)``:
  a reader sees the old folder or the new one, never a mixture. An error, a full disk, Ctrl-C or
  SIGTERM before the swap removes the staging folder and leaves the old one as it was. The new
  folder is built from nothing (or from the old folder's regular files, links left out), so a link
  planted in the old folder is never written through and never survives a rebuild.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MARKER = ".cnnzoo.json"
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class FolderError(ValueError):
    """An output folder this command may not use now (the message says why, in one line)."""


def lock_path(folder: Path) -> Path:
    """``.<name>.lock`` beside ``folder``."""
    return folder.parent / f".{folder.name}.lock"


def staging_prefix(folder: Path) -> str:
    """The name start of ``folder``'s staging folders (``.<name>.staging-``)."""
    return f".{folder.name}.staging-"


def holder_text(record: dict) -> str:
    """``cnnzoo report (pid 123 on host, since 2026-12-06 08:31:02)`` from a lock record."""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.get("started", 0)))
    return (
        f"cnnzoo {record.get('command', '?')} (pid {record.get('pid', '?')} on "
        f"{record.get('host', '?')}, since {since})"
    )


def read_holder(fd: int) -> dict:
    """The lock record in the open lock file ``fd`` ({} when unreadable or empty)."""
    try:
        data = os.pread(fd, 4096, 0)
        record = json.loads(data.decode("utf-8")) if data else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def acquire_lock(folder: Path, command: str, option: str, label: str) -> int:
    """Lock ``folder`` for ``command``; the open lock file's descriptor.

    Args:
        folder: the output folder (absolute).
        command: the command that locks it.
        option: the flag that named it (``--out``).
        label: the flag and the folder as given, for messages (``--out site``).

    Raises:
        FolderError: another process holds the lock, or the lock file cannot be made.
    """
    path = lock_path(folder)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as err:
            raise FolderError(f"{label}: cannot lock it ({path}: {err.strerror or err})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = read_holder(fd)
            os.close(fd)
            raise FolderError(
                f"{label} is in use by {holder_text(holder)}; wait for it "
                f"to end or choose another {option}"
            ) from None
        # the holder before us may have removed the file after we opened it: lock the one there
        try:
            same = os.stat(path, follow_symlinks=False).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    record = {
        "command": command,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.time(),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
    return fd


def release_lock(folder: Path, fd: int) -> None:
    """Remove the lock file (while still holding it), then let go."""
    with contextlib.suppress(OSError):
        os.unlink(lock_path(folder))
    os.close(fd)


def read_marker(folder: Path) -> dict | None:
    """The marker of ``folder`` (None when it has none or it is not a regular JSON file)."""
    path = folder / MARKER
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        record = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return record if isinstance(record, dict) else None


def check_ours(
    folder: Path, command: str, option: str, label: str, *, legacy: tuple[str, ...], force: bool
) -> None:
    """Refuse a folder that is not ``command``'s to write (see the module docstring).

    Args:
        folder: the output folder (it may not exist yet).
        command: the command that will write it (``report``, ``embed``, ...).
        option: the flag that named it, for the message (``--out``).
        label: the flag and the folder as given (``--out site``).
        legacy: files that mark the folder as ``command``'s from before markers existed.
        force: write into a folder of someone else's files anyway.
    """
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise FolderError(f"{label}: {err.strerror or err}") from None
    if stat.S_ISLNK(mode):
        raise FolderError(f"{label} is a link; give the folder itself")
    if not stat.S_ISDIR(mode):
        raise FolderError(f"{label}: not a folder")
    marker = read_marker(folder)
    if marker is not None:
        made_by = marker.get("command")
        if made_by != command and not force:
            raise FolderError(
                f"{label} holds the output of cnnzoo {made_by}, not of "
                f"cnnzoo {command}; choose another {option}"
            )
        return
    try:
        entries = sorted(os.listdir(folder))
    except OSError as err:
        raise FolderError(f"{label}: {err.strerror or err}") from None
    if not entries or force or any(name in entries for name in legacy):
        return
    raise FolderError(
        f"{label} holds files cnnzoo did not write ({entries[0]}"
        f"{', ...' if len(entries) > 1 else ''}); choose an empty or new folder, "
        "or add --force to replace it"
    )


def write_marker(folder: Path, command: str) -> None:
    """Write ``folder``'s marker (atomically, never through a link)."""
    path = folder / MARKER
    tmp = folder / f".{MARKER}.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"command": command, "schema": "cnnzoo-output", "version": 1}, f)
        f.write("\n")
    os.replace(tmp, path)


def remove_tree(path: Path) -> None:
    """Remove a folder or file this module made (links removed, never followed)."""
    with contextlib.suppress(FileNotFoundError):
        if os.path.islink(path) or not os.path.isdir(path):
            os.unlink(path)
        else:
            shutil.rmtree(path)


RENAME_EXCHANGE = 2  # linux/fs.h
AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def publish(stage: Path, folder: Path) -> None:
    """Put ``stage`` in ``folder``'s place in one step; the old folder is removed after."""
    if not os.path.lexists(folder):
        os.rename(stage, folder)
        return
    if exchange(stage, folder):
        remove_tree(stage)  # now the old folder
        return
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    os.rename(folder, old)  # a moment with no folder: a reader sees nothing, never a mixture
    os.rename(stage, folder)
    remove_tree(old)


def copy_regular_files(source: Path, target: Path) -> None:
    """Copy the regular files and folders of ``source`` into the new folder ``target``; links,
    FIFOs and devices are left out, and nothing is followed."""
    target.mkdir()
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            continue
        if entry.is_dir(follow_symlinks=False):
            copy_regular_files(Path(entry.path), target / entry.name)
        elif entry.is_file(follow_symlinks=False):
            shutil.copy2(entry.path, target / entry.name, follow_symlinks=False)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back for the block: they are blocked in this thread (a process
    started in the block inherits the mask) and noted by a handler of ours (a process-directed
    signal may go to a thread that does not block it, and torch runs threads of its own); when
    the block ends they are delivered to the handlers they had."""
    pending: list[int] = []
    try:
        previous = {
            signum: signal.signal(signum, lambda n, frame: pending.append(n))
            for signum in STOP_SIGNALS
        }
    except ValueError:  # not the main thread: it cannot be held here
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # a blocked one arrives here
        for signum in dict.fromkeys(pending):
            signal.raise_signal(signum)


@dataclass
class Owned:
    """An output folder held by this process: see :func:`owned`.

    Args:
        folder: the folder (absolute; it may not exist until the first write or the swap).
        command: the command that owns it.
    """

    folder: Path
    command: str

    def mark(self) -> Path:
        """Create the folder if it is missing and write its marker; the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_marker(self.folder, self.command)
        return self.folder

    def clean_leftovers(self) -> None:
        """Remove staging folders of earlier runs that ended before their swap."""
        prefix = staging_prefix(self.folder)
        old = f".{self.folder.name}.old-"
        for entry in os.scandir(self.folder.parent):
            if entry.name.startswith(prefix) or entry.name.startswith(old):
                remove_tree(Path(entry.path))

    @contextlib.contextmanager
    def staged(self, *, keep: bool = False) -> Iterator[Path]:
        """A new folder to build the output in; swapped in place of :attr:`folder` when the block
        ends without an error, removed otherwise.

        Args:
            keep: start from a copy of the folder's regular files (a command that adds to its
                output, as ``embed --add-to`` does), not from an empty folder.
        """
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self.clean_leftovers()
        stage = self.folder.parent / f"{staging_prefix(self.folder)}{os.getpid()}"
        try:
            if keep and self.folder.is_dir():
                copy_regular_files(self.folder, stage)
            else:
                stage.mkdir()
            yield stage
            with signals_held():
                write_marker(stage, self.command)
                publish(stage, self.folder)
        finally:
            remove_tree(stage)


@contextlib.contextmanager
def owned(
    folder: str | Path,
    command: str,
    *,
    option: str = "--out",
    legacy: tuple[str, ...] = (),
    force: bool = False,
) -> Iterator[Owned]:
    """Hold ``folder`` for ``command`` for the block: locked, checked to be ours (see the module
    docstring).

    Args:
        folder: the output folder; a link given here is followed once (the user named it), links
            inside it never are.
        command: the command that writes it (``train``, ``report``, ``embed``, ``nas search``).
        option: the flag that named the folder, for messages.
        legacy: file names that mark a folder as ``command``'s output from before markers.
        force: take a folder of someone else's files anyway.

    Raises:
        FolderError: the folder is locked by another process, is a file, or is not ours.
    """
    given = Path(folder)
    path = Path(os.path.abspath(given))
    if os.path.islink(path):
        path = path.resolve()
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise FolderError(
            f"{option} {given}: cannot create {parent} ({err.strerror or err})"
        ) from None
    label = f"{option} {given}"
    fd = acquire_lock(path, command, option, label)
    try:
        check_ours(path, command, option, label, legacy=legacy, force=force)
        yield Owned(path, command)
    finally:
        release_lock(path, fd)
