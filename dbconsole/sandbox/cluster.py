"""Throwaway PostgreSQL clusters on random loopback ports.

Why: the demo needs a "local" and a "server" database that exist only for the session, and the
tests need servers they may crash, restart and turn into read replicas without touching any
PostgreSQL the machine already runs. A :class:`PgCluster` is a private ``initdb`` in a temp
folder, tuned for speed (no fsync), listening on 127.0.0.1 with password (SCRAM) logins for the
``app`` role and trusted superuser access over its own unix socket.

Process hygiene matters as much as startup speed: ``pg_ctl`` detaches the postmaster, and in a
container whose init never reaps orphans every stopped server would linger as a zombie. The
first cluster therefore makes this process a *child subreaper* (Linux), so orphaned server
processes become our children and are reaped when stopped. A ``weakref.finalize`` safety net
kills and removes any cluster still alive when the interpreter exits.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from urllib.parse import quote

import psycopg
from psycopg import sql

from dbconsole.sandbox.errors import SandboxError
from dbconsole.sandbox.pgbin import as_pg_os_user, find_pg_bindir, give_to_pg_os_user, pg_version

APP_ROLE = "app"
SUPERUSER = "postgres"
LOOPBACK = "127.0.0.1"
_START_ATTEMPTS = 5
# sun_path holds 108 bytes; PostgreSQL appends "/.s.PGSQL.NNNNN".
_MAX_SOCKET_DIR = 90
_PR_SET_CHILD_SUBREAPER = 36

_HBA = """\
# Written by dbconsole's sandbox: superuser over the private socket, passwords over TCP.
local   all             all                                     trust
host    all             all             127.0.0.1/32            scram-sha-256
host    replication     all             127.0.0.1/32            scram-sha-256
"""


class PgCluster:
    """A private PostgreSQL cluster: ``start()`` it, use :meth:`url`, ``cleanup()`` it.

    ``name`` labels folders and logs ("local", "server"); ``bindir`` defaults to
    :func:`find_pg_bindir`; the cluster lives in a new temp folder, or in ``base_dir/name``
    (which must not exist yet). ``port`` pins the port, otherwise a free one is picked at the
    first start and kept for every restart.
    """

    def __init__(
        self,
        name: str = "local",
        bindir: str | os.PathLike[str] | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.bindir = Path(bindir) if bindir else find_pg_bindir()
        self.version = pg_version(self.bindir)
        self.host = LOOPBACK
        self.port = port
        self.user = APP_ROLE
        self.password = secrets.token_urlsafe(18)
        self.superuser_password = secrets.token_urlsafe(18)
        self.primary: PgCluster | None = None
        self.dir = _make_cluster_dir(name, base_dir)
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "postgres.log"
        self.socket_dir = self.dir if len(str(self.dir)) <= _MAX_SOCKET_DIR else _make_owned_tempdir("pgsock-")
        self._port_pinned = port is not None
        self._roles_pending = False
        self._finalizer = weakref.finalize(self, _emergency_cleanup, self.data_dir, [self.dir, self.socket_dir])

    # ----------------------------------------------------------------------------- lifecycle

    def start(self) -> PgCluster:
        """initdb on first use, start the server, create the ``app`` role on first use."""
        if self.is_running():
            return self
        _become_subreaper()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
            self._roles_pending = True
        self._start_on_some_port()
        if self._roles_pending:
            self._create_roles()
            self._roles_pending = False
        return self

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """Shut the server down and wait until no process of it is left (SIGKILL as last resort)."""
        pid = self.pid
        if pid is None:
            return
        if _alive(pid):
            self._pg_ctl("stop", "-m", mode, "-t", str(int(timeout)), check=False)
        _terminate(pid, grace=10)
        self._forget_pid_file()

    def kill(self) -> None:
        """Crash the server: SIGKILL the postmaster and every backend at once, like a power cut.

        The data directory is left as a crash left it; :meth:`start` runs crash recovery.
        """
        pid = self.pid
        if pid is not None:
            _terminate(pid, grace=0)
            self._forget_pid_file()

    def restart(self) -> PgCluster:
        """Stop (fast) and start again on the same port."""
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its folder. Safe to call more than once."""
        try:
            self.stop()
        finally:
            self._finalizer()

    def is_running(self) -> bool:
        pid = self.pid
        return pid is not None and _alive(pid)

    @property
    def pid(self) -> int | None:
        """The postmaster's pid from ``postmaster.pid``, or None when there is no such file."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            return int(first_line)
        except (OSError, ValueError):
            return None

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.cleanup()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<PgCluster {self.name} PG{self.version} {self.host}:{self.port} {state}>"

    # ----------------------------------------------------------------------------- access

    def url(self, dbname: str, user: str | None = None, password: str | None = None) -> str:
        """A TCP connection URL, as a dbconsole profile would hold it (password URL-quoted)."""
        user = user or self.user
        if password is None:
            password = {self.user: self.password, SUPERUSER: self.superuser_password}.get(user)
        credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{quote(dbname, safe='')}"

    def connect(self, dbname: str = "postgres", *, user: str | None = None, autocommit: bool = True) -> psycopg.Connection:
        """A connection over the private unix socket (trusted, no password), as ``app`` by default."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=user or self.user,
            dbname=dbname,
            autocommit=autocommit,
            connect_timeout=10,
        )

    def admin_connect(self, dbname: str = "postgres", autocommit: bool = True) -> psycopg.Connection:
        """A superuser connection over the private unix socket."""
        return self.connect(dbname, user=SUPERUSER, autocommit=autocommit)

    def create_database(self, name: str, template: str | None = None, owner: str = APP_ROLE) -> None:
        """CREATE DATABASE, optionally as a copy of ``template`` (which must have no sessions)."""
        query = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
        if template:
            query += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with self.admin_connect() as conn:
            conn.execute(query)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE, disconnecting whoever is still connected to it."""
        with self.admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def make_standby(self, name: str = "standby") -> PgCluster:
        """A hot standby of this (running) cluster, streaming from it, on its own port.

        Built with ``pg_basebackup -R`` over TCP as the superuser, so it exercises the
        ``host replication`` rule; it shares this cluster's role passwords and bindir.
        """
        standby = PgCluster(name, self.bindir)
        standby.password, standby.superuser_password, standby.primary = self.password, self.superuser_password, self
        try:
            # pg_basebackup creates the data folder itself; only its parent exists so far.
            _run(
                as_pg_os_user([
                    self.bindir / "pg_basebackup", "-D", standby.data_dir, "-R", "-X", "stream",
                    "-c", "fast", "--no-sync", "-h", self.host, "-p", str(self.port), "-U", SUPERUSER,
                ]),
                cwd=standby.dir,
                env={**os.environ, "PGPASSWORD": self.superuser_password},
                what=f"pg_basebackup of {self.name}",
            )
            standby.start()
        except BaseException:
            standby.cleanup()
            raise
        return standby

    # ----------------------------------------------------------------------------- internals

    def _initdb(self) -> None:
        _run(
            as_pg_os_user([
                self.bindir / "initdb", "-D", self.data_dir, "-U", SUPERUSER,
                "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "--no-instructions",
                "-E", "UTF8", *_locale_options(),
            ]),
            cwd=self.dir,
            what=f"initdb for the {self.name} cluster",
        )
        _write_owned(self.data_dir / "pg_hba.conf", _HBA)
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# dbconsole sandbox settings (port, socket, speed) live here:\ninclude 'dbconsole.conf'\n")

    def _write_settings(self, port: int) -> None:
        """(Re)write the settings file; the port and socket folder change per cluster."""
        socket_dir = str(self.socket_dir).replace("'", "''")
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{socket_dir}'",
            "max_connections": "100",
            "shared_buffers": "128MB",
            # Throwaway data: durability is traded for speed.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "jit": "off",
            # Bulk seeding and big syncs without checkpoints in the middle.
            "max_wal_size": "'2GB'",
            "checkpoint_timeout": "'30min'",
            "wal_buffers": "'16MB'",
            "maintenance_work_mem": "'256MB'",
            # So that make_standby() can stream from this cluster.
            "wal_level": "replica",
            "max_wal_senders": "5",
            "lc_messages": "'C'",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
        }
        lines = [f"{key} = {value}" for key, value in settings.items()]
        _write_owned(self.data_dir / "dbconsole.conf", "\n".join(lines) + "\n")

    def _start_on_some_port(self) -> None:
        """pg_ctl start; when not pinned, retry on a new port if another process took ours."""
        for attempt in range(_START_ATTEMPTS):
            port = self.port if self._port_pinned and self.port else _free_port()
            self._write_settings(port)
            log_mark = self.log_path.stat().st_size if self.log_path.exists() else 0
            result = self._pg_ctl("start", "-l", self.log_path, "-t", "60", check=False)
            if result.returncode == 0:
                self.port, self._port_pinned = port, True
                return
            log_tail = _read_from(self.log_path, log_mark)
            self._stop_half_started()
            if "Address already in use" in log_tail and not self._port_pinned and attempt + 1 < _START_ATTEMPTS:
                continue
            detail = _last_lines(log_tail or result.stderr or result.stdout)
            raise SandboxError(f"the {self.name} PostgreSQL cluster did not start on port {port}: {detail}")

    def _stop_half_started(self) -> None:
        pid = self.pid
        if pid is not None:
            _terminate(pid, grace=0)
            self._forget_pid_file()

    def _create_roles(self) -> None:
        with self.admin_connect() as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(self.password)
                )
            )
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(self.superuser_password)
                )
            )

    def _pg_ctl(self, action: str, *args: str | os.PathLike[str], check: bool) -> subprocess.CompletedProcess[str]:
        cmd = as_pg_os_user([self.bindir / "pg_ctl", action, "-D", self.data_dir, "-w", "-s", *args])
        return _run(cmd, cwd=self.dir, check=check, what=f"pg_ctl {action} ({self.name})")

    def _forget_pid_file(self) -> None:
        """Remove a stale postmaster.pid once its process is gone (a recycled pid would block start)."""
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / "postmaster.pid").unlink()


# --------------------------------------------------------------------------------- helpers


def _make_cluster_dir(name: str, base_dir: str | os.PathLike[str] | None) -> Path:
    if base_dir is None:
        return _make_owned_tempdir(f"dbconsole-{name}-")
    path = Path(base_dir) / name
    try:
        path.mkdir(parents=True)
    except FileExistsError:
        raise SandboxError(f"{path} already exists; a sandbox cluster needs a new folder") from None
    give_to_pg_os_user(path)
    return path


def _write_owned(path: Path, text: str) -> None:
    """Write a server config file, owned by the user the server runs as."""
    path.write_text(text, encoding="utf-8")
    give_to_pg_os_user(path)


def _make_owned_tempdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    give_to_pg_os_user(path)
    return path


def _free_port() -> int:
    """A port that was free a moment ago (the start retries if someone takes it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _locale_options() -> list[str]:
    """UTF-8 character classes where the system has C.UTF-8, and always byte-order collation.

    ``lc_collate=C`` is PostgreSQL's fast path for text comparisons (indexes on text keys are
    built several times faster) and sorts the same on every machine.
    """
    try:
        names = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        names = []
    if "c.utf8" in {n.lower().replace("-", "") for n in names}:
        return ["--locale=C.UTF-8", "--lc-collate=C"]
    return ["--locale=C"]


def _run(
    cmd: list[str],
    *,
    cwd: Path,
    what: str,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        result = subprocess.run(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxError(f"{what} failed: {exc}") from None
    if check and result.returncode != 0:
        raise SandboxError(f"{what} failed: {_last_lines(result.stderr or result.stdout)}")
    return result


def _read_from(path: Path, offset: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return ""


def _last_lines(text: str, count: int = 3) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"


_subreaper_set = False


def _become_subreaper() -> None:
    """Adopt orphaned descendants (Linux) so stopped postmasters can be reaped, not left as zombies."""
    global _subreaper_set
    if _subreaper_set or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _subreaper_set = True


def _alive(pid: int) -> bool:
    """Is ``pid`` a live process? Reaps it (and says no) when it is our exited child."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            # "pid (comm) S ...": the state follows the last ')'.
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate(pid: int, grace: float) -> None:
    """Wait up to ``grace`` seconds for a postmaster to exit, then SIGKILL it and its children.

    PostgreSQL puts every backend in its own session, so there is no process group to kill:
    the children are listed first, killed with the postmaster, and reaped once the dead
    postmaster has handed them over to us (we are their subreaper).
    """
    _wait_until_gone([pid], grace)
    children: list[int] = []
    if _alive(pid) and _is_postgres(pid):
        children = _children_of(pid)
        for victim in (pid, *children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(victim, signal.SIGKILL)
    # The postmaster first: its children are re-parented to us only once it has exited.
    _wait_until_gone([pid], 10)
    _wait_until_gone(children, 10)


def _wait_until_gone(pids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def _is_postgres(pid: int) -> bool:
    """Guard against signalling a recycled pid: the process must be a PostgreSQL server."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() in ("postgres", "postmaster")
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no procfs (macOS): trust postmaster.pid
    except OSError:
        return True


def _children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux procfs; empty elsewhere)."""
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(stat_file.parent.name))
    return children


def _emergency_cleanup(data_dir: Path, dirs: list[Path]) -> None:
    """Safety net run at garbage collection or interpreter exit: kill the server, remove its folders."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        pid = None
    if pid is not None and _alive(pid):
        _terminate(pid, grace=0)
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)
