"""Find the PostgreSQL server binaries, and run them as a user PostgreSQL accepts.

Why: the demo and the tests start private clusters with ``initdb`` and ``pg_ctl``. Those live in
different places on every system (``PATH``, ``pg_config --bindir``, Debian's
``/usr/lib/postgresql/<major>/bin``), and on machines without any PostgreSQL the ``pgserver``
wheel (``pip install 'dbconsole[demo]'``) ships a complete build. PostgreSQL also refuses to run
as root, which is what CI containers usually are, so when we are root every server binary runs
through ``runuser -u postgres`` and must be readable by that user.
"""

from __future__ import annotations

import functools
import glob
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dbconsole.sandbox.errors import SandboxError

if TYPE_CHECKING:
    import pwd

ENV_BIN = "DBCONSOLE_PG_BIN"
PG_OS_USER = "postgres"
_REQUIRED = ("initdb", "pg_ctl", "postgres")
_INSTALL_HINT = "install PostgreSQL (initdb, pg_ctl) or run: pip install 'dbconsole[demo]'"


def find_pg_bindir(prefer: str | os.PathLike[str] | None = None) -> Path:
    """Return a directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``prefer`` is tried first: a directory, or the word ``"pgserver"`` for the wheel's build.
    Then ``$DBCONSOLE_PG_BIN``, ``PATH``, ``pg_config --bindir``,
    ``/usr/lib/postgresql/*/bin`` (highest major first) and finally the ``pgserver`` wheel.
    An explicit choice (``prefer`` or the variable) that does not hold the binaries is an
    error rather than silently replaced by another PostgreSQL.
    """
    for explicit, origin in ((prefer, "the requested directory"), (os.environ.get(ENV_BIN), f"${ENV_BIN}")):
        if explicit:
            if str(explicit) == "pgserver":
                return pgserver_bindir()
            if not _has_server_binaries(Path(explicit)):
                raise SandboxError(f"{origin} {explicit} has no initdb/pg_ctl/postgres: {_INSTALL_HINT}")
            return Path(explicit).resolve()
    for candidate in _system_candidates():
        if _has_server_binaries(candidate):
            return candidate
    try:
        return pgserver_bindir()
    except SandboxError:
        raise SandboxError(f"no PostgreSQL server binaries found: {_INSTALL_HINT}") from None


def pgserver_bindir() -> Path:
    """The ``bin`` directory of the ``pgserver`` wheel's PostgreSQL, runnable by us.

    When we are root the server must run as ``postgres``, which cannot read a virtualenv under
    ``/root``; the wheel's install tree is then copied once per machine to a postgres-readable
    folder in the temp directory and reused by later runs.
    """
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.origin:
        raise SandboxError(f"the pgserver package is not installed: {_INSTALL_HINT}")
    install = Path(spec.origin).parent / "pginstall"
    bindir = install / "bin"
    if not _has_server_binaries(bindir):
        raise SandboxError(f"the pgserver package at {install} has no PostgreSQL binaries")
    if needs_pg_os_user() and not _runnable_by_pg_user(bindir):
        bindir = _postgres_readable_copy(install) / "bin"
    return bindir


@functools.lru_cache(maxsize=None)
def pg_version(bindir: str | os.PathLike[str]) -> int:
    """The major version (15, 16, ...) of the PostgreSQL build in ``bindir``."""
    out = _run_version(Path(bindir) / "pg_ctl")
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    if not match:
        raise SandboxError(f"cannot tell the PostgreSQL version of {bindir}: {out.strip()!r}")
    return int(match.group(1))


def needs_pg_os_user() -> bool:
    """True when PostgreSQL's binaries must be run as the ``postgres`` OS user (we are root)."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def as_pg_os_user(cmd: Sequence[str | os.PathLike[str]]) -> list[str]:
    """``cmd`` prefixed so that it runs as a user PostgreSQL accepts (``runuser`` when root)."""
    args = [str(part) for part in cmd]
    if not needs_pg_os_user():
        return args
    runuser = shutil.which("runuser")
    if runuser is None or _pg_os_account() is None:
        raise SandboxError(
            "PostgreSQL refuses to run as root and this system has no 'runuser' or no 'postgres' "
            "user: create one (useradd --system postgres) or run as a normal user"
        )
    return [runuser, "-u", PG_OS_USER, "--", *args]


def give_to_pg_os_user(path: Path) -> None:
    """Make ``path`` (a file or folder we created) owned by the user the server will run as."""
    if needs_pg_os_user():
        account = _pg_os_account()
        if account is not None:
            os.chown(path, account.pw_uid, account.pw_gid)


def _system_candidates() -> list[Path]:
    """Installed PostgreSQL bin directories, in the order they should be preferred."""
    found: list[Path] = []
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        # /usr/local/bin/initdb is often a symlink; the server binary sits beside the target.
        found.append(Path(initdb).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
            found.append(Path(out.stdout.strip()).resolve())
        except (OSError, subprocess.SubprocessError):
            pass
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    found.extend(Path(p) for p in sorted(debian, key=_major_in_path, reverse=True))
    return found


def _major_in_path(path: str) -> float:
    match = re.search(r"/postgresql/(\d+(?:\.\d+)?)/", path)
    return float(match.group(1)) if match else 0.0


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) and (bindir / name).is_file() for name in _REQUIRED)


def _run_version(binary: Path) -> str:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise SandboxError(f"cannot run {binary}: {exc}") from None
    return out.stdout or out.stderr


def _pg_os_account() -> pwd.struct_passwd | None:
    """The ``postgres`` account, or None (also on systems without a password database)."""
    try:
        import pwd
    except ImportError:
        return None
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        return None


def _runnable_by_pg_user(bindir: Path) -> bool:
    """Can the ``postgres`` user execute the server binary (and read its libraries)?"""
    try:
        result = subprocess.run(
            as_pg_os_user([bindir / "postgres", "--version"]),
            capture_output=True,
            timeout=30,
            cwd="/",
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def _postgres_readable_copy(install: Path) -> Path:
    """Copy the wheel's PostgreSQL to ``<tmp>/dbconsole-pgbin-<version>``, once per machine.

    The binaries find their vendored libraries through ``$ORIGIN/../../../pgserver.libs``, so
    the copy keeps that layout: ``pgserver/pginstall`` beside ``pgserver.libs``. It is staged
    in a private temporary folder and renamed into place, so a reader never sees half a tree.
    An existing folder is trusted only if it is a real directory owned by us and writable by
    nobody else: the temp directory is shared, and we run these binaries.
    """
    version = re.sub(r"[^0-9A-Za-z.]", "", _run_version(install / "bin" / "postgres").split()[-1])
    target = Path(tempfile.gettempdir()) / f"dbconsole-pgbin-{version}"
    if not os.path.lexists(target):
        staging = Path(tempfile.mkdtemp(prefix=".dbconsole-pgbin-", dir=target.parent))
        try:
            tree = staging / "tree"
            shutil.copytree(install, tree / install.parent.name / install.name, symlinks=True)
            vendored_libs = install.parent.parent / f"{install.parent.name}.libs"
            if vendored_libs.is_dir():
                shutil.copytree(vendored_libs, tree / vendored_libs.name, symlinks=True)
            _make_world_readable(tree)
            try:
                os.rename(tree, target)
            except OSError:
                pass  # another process won the race; its copy is checked below
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _check_trusted_dir(target)
    return target / install.parent.name / install.name


def _make_world_readable(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = Path(dirpath, name)
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            extra = stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                extra |= stat.S_IXGRP | stat.S_IXOTH
            path.chmod((mode | extra) & ~(stat.S_IWGRP | stat.S_IWOTH))
    root.chmod(0o755)


def _check_trusted_dir(path: Path) -> None:
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SandboxError(
            f"{path} exists but is not a directory owned by this user and closed to others; remove it and retry"
        )
