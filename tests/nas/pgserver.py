"""A throw-away PostgreSQL server for the tests, so the NAS search can be tested against a real one.

``start_server(folder)`` runs ``initdb`` into ``folder`` (trust authentication, no password), starts
``postgres`` listening on 127.0.0.1 on a free port with its unix socket inside ``folder``, creates a
database and returns a ``Server`` whose ``url`` Optuna's RDB storage takes. ``Server.stop()`` stops
it (``pg_ctl stop -m fast``) and removes ``folder``.

Debian's ``postgresql`` package keeps ``initdb``, ``pg_ctl`` and ``postgres`` in
``/usr/lib/postgresql/<version>/bin``, which is not on PATH; ``find_binaries`` looks on PATH first
and there second (``scripts/setup.sh`` installs the package when neither has them).

PostgreSQL refuses to run as root, so under euid 0 every server command runs as the ``postgres``
user that Debian's package creates (through ``runuser``, else ``setpriv``), and ``folder`` is made
theirs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

TOOLS = ("initdb", "pg_ctl", "postgres")
DEBIAN_BIN_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # the unprivileged account Debian's postgresql package creates
SUPERUSER = "postgres"  # the database role initdb creates; trust authentication, no password
DATABASE = "cnnzoo"
START_TIMEOUT_S = 30.0
PORT_ATTEMPTS = 3  # a free port can be taken between choosing it and binding it


@dataclass(frozen=True)
class Binaries:
    """Paths of the three server programs, all from one installation."""

    initdb: Path
    pg_ctl: Path
    postgres: Path


def _debian_version_key(bin_dir: Path) -> tuple[int, str]:
    version = bin_dir.parent.name
    return (int(version) if version.isdigit() else -1, version)


def find_binaries() -> Binaries | None:
    """Locate ``initdb``, ``pg_ctl`` and ``postgres``.

    Returns:
        Their paths from PATH when all three are there, else from the newest
        ``/usr/lib/postgresql/<version>/bin`` that has all three; None when neither has them.
    """
    on_path = [shutil.which(tool) for tool in TOOLS]
    if all(on_path):
        return Binaries(*(Path(p) for p in on_path))
    bin_dirs = sorted(DEBIAN_BIN_ROOT.glob("*/bin"), key=_debian_version_key, reverse=True)
    for bin_dir in bin_dirs:
        paths = [bin_dir / tool for tool in TOOLS]
        if all(os.access(p, os.X_OK) for p in paths):
            return Binaries(*paths)
    return None


def _as_server_user() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that drops root to ``postgres`` (empty when not root) and that account."""
    if os.geteuid() != 0:
        return [], None
    try:
        account = pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root and there is no {SERVER_USER!r} user to run it as; "
            "install Debian's postgresql package (apt-get install postgresql), which creates it"
        ) from None
    if shutil.which("runuser"):
        return ["runuser", "-u", SERVER_USER, "--"], account
    if shutil.which("setpriv"):
        return [
            "setpriv",
            f"--reuid={account.pw_uid}",
            f"--regid={account.pw_gid}",
            "--clear-groups",
            "--",
        ], account
    raise RuntimeError("running PostgreSQL as root needs runuser or setpriv (util-linux)")


def _check_reachable(folder: Path, account: pwd.struct_passwd) -> None:
    """Fail clearly when ``account`` cannot traverse every folder above ``folder``."""
    for parent in folder.resolve().parents:
        st = parent.stat()
        if st.st_uid == account.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == account.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            raise RuntimeError(
                f"the {account.pw_name!r} user cannot enter {parent}, so the server cannot use "
                f"{folder}; put it under a world-traversable folder such as tempfile.gettempdir()"
            )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _run(cmd: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        detail = (result.stdout + result.stderr).strip()
        if log is not None:
            detail += f"\nlast lines of {log}:\n{_log_tail(log)}"
        raise RuntimeError(f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{detail}")


def _quote(value: str) -> str:
    """A postgresql.conf string literal."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Server:
    """A running PostgreSQL server started by ``start_server``.

    Attributes:
        url: SQLAlchemy URL of its database, ``postgresql+psycopg://USER@127.0.0.1:PORT/DB``.
        port: TCP port on 127.0.0.1.
        data_dir: the cluster's data directory (inside ``folder``).
        folder: the folder holding the data directory, socket and log; removed by ``stop``.
    """

    url: str
    port: int
    data_dir: Path
    folder: Path
    pg_ctl: Path
    prefix: list[str] = field(repr=False)
    stopped: bool = False

    def stop(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``), remove its folder; later calls do nothing."""
        if not self.stopped:
            self.stopped = True
            _stop(self.prefix, self.pg_ctl, self.data_dir, self.folder)


def _stop(prefix: list[str], pg_ctl: Path, data_dir: Path, folder: Path) -> None:
    try:
        if (data_dir / "postmaster.pid").exists():
            cmd = [
                *prefix,
                str(pg_ctl),
                "stop",
                "-D",
                str(data_dir),
                "-m",
                "fast",
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
            ]
            _run(cmd, "pg_ctl stop", folder / "server.log")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def start_server(folder: Path) -> Server:
    """Start a throw-away PostgreSQL server that keeps everything in ``folder``.

    Args:
        folder: a new or empty folder for the data directory, unix socket and log; it is made the
            ``postgres`` user's when running as root (then the folders above must be traversable,
            as ``tempfile.mkdtemp()``'s are), and ``Server.stop`` removes it.

    Returns:
        The running server; its database ``cnnzoo`` exists and accepts connections on ``url``.

    Raises:
        RuntimeError: binaries missing, initdb failing, or the server not accepting connections
            within 30 s (the message carries the tail of the server log).
    """
    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError(
            "PostgreSQL's server binaries (initdb, pg_ctl, postgres) are neither on PATH nor in "
            f"{DEBIAN_BIN_ROOT}/*/bin; run 'apt-get install postgresql' as root"
        )
    prefix, account = _as_server_user()
    folder = Path(folder).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise RuntimeError(f"{folder} is not empty")
    data_dir, log = folder / "data", folder / "server.log"
    try:
        if account is not None:
            _check_reachable(folder, account)
            os.chown(folder, account.pw_uid, account.pw_gid)
        folder.chmod(0o700)
        _run(
            [
                *prefix,
                str(binaries.initdb),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        with (data_dir / "postgresql.conf").open("a") as conf:
            # Test settings: loopback only, socket in our folder, small and without durability.
            conf.write(
                "\n# cnnzoo tests (tests/nas/pgserver.py)\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = {_quote(str(folder))}\n"
                "shared_buffers = 16MB\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        for attempt in range(PORT_ATTEMPTS):
            port = _free_port()
            cmd = [
                *prefix,
                str(binaries.pg_ctl),
                "start",
                "-D",
                str(data_dir),
                "-l",
                str(log),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
            ]
            try:
                _run(cmd, "pg_ctl start", log)
                break
            except RuntimeError:
                if attempt + 1 == PORT_ATTEMPTS or "could not bind" not in _log_tail(log):
                    raise
        _wait_and_create_database(port, log)
    except BaseException:
        _stop(prefix, binaries.pg_ctl, data_dir, folder)
        raise
    url = f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"
    return Server(url, port, data_dir, folder, binaries.pg_ctl, prefix)


def _wait_and_create_database(port: int, log: Path) -> None:
    """Wait until the server accepts TCP connections, then create the tests' database."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            conn = psycopg.connect(
                host="127.0.0.1",
                port=port,
                user=SUPERUSER,
                dbname="postgres",
                connect_timeout=2,
                autocommit=True,
            )
            break
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL on 127.0.0.1:{port} did not accept connections within "
                    f"{START_TIMEOUT_S:.0f} s ({error}); last lines of {log}:\n{_log_tail(log)}"
                ) from error
            time.sleep(0.2)
    with conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')


def add_password_login(server: Server, user: str, password: str) -> str:
    """A role that must give ``password`` over TCP (SCRAM), owning a database of its own name.

    The rule goes first in ``pg_hba.conf`` (the first matching line decides), so the server's
    other roles keep their trust authentication; the configuration is reloaded and the rule is
    waited for.

    Returns:
        The database's SQLAlchemy URL, without the password.
    """
    from psycopg import sql

    hba = server.data_dir / "pg_hba.conf"
    hba.write_text(f"host all {user} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    with psycopg.connect(
        host="127.0.0.1", port=server.port, user=SUPERUSER, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(user), sql.Identifier(user)
            )
        )
        conn.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:  # the reload is asynchronous: wait until a login without password is refused
        try:
            psycopg.connect(
                host="127.0.0.1",
                port=server.port,
                user=user,
                dbname=user,
                password="",
                connect_timeout=2,
            ).close()
        except psycopg.OperationalError:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"pg_hba.conf's password rule for {user!r} did not take effect")
        time.sleep(0.1)
    return f"postgresql+psycopg://{user}@127.0.0.1:{server.port}/{user}"
