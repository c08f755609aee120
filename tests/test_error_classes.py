"""Transient or permanent: decided where each error is raised, one test per classification.

A transient failure is retried by the engine (from the last checkpoint); a permanent one stops
the run at once. The errors are the real ones: raised by connect() and the tunnel code against
closed ports, bad settings and the real test servers, or psycopg's own error classes.
"""

from __future__ import annotations

import socket
from pathlib import Path

import paramiko
import psycopg
import pytest

from dbconsole.config import Profile, SshSettings
from dbconsole.connect import connect
from dbconsole.errors import ConfigError, ConnectError, SyncError, TunnelError, UsageError
from dbconsole.sync.context import RunLedger
from dbconsole.sync.failures import is_transient, stalled
from dbconsole.tunnel import ResolvedSsh, _load_private_key, open_forwarder, verify_host_key


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect_error(url: str, *, ssh: SshSettings | None = None) -> ConnectError:
    with pytest.raises(ConnectError) as caught:
        connect(Profile(name="p", url=url, read_only=False, ssh=ssh, connect_timeout=3))
    return caught.value


# --------------------------------------------------------------------------- connect


def test_a_closed_database_port_is_transient() -> None:
    error = _connect_error(f"postgresql://app@127.0.0.1:{_closed_port()}/db")
    assert error.transient and is_transient(error)


def test_a_malformed_url_is_permanent() -> None:
    error = _connect_error("dbname='unterminated")
    assert "malformed connection URL" in str(error)
    assert not error.transient and not is_transient(error)


def test_two_hosts_or_a_bad_port_behind_ssh_are_permanent() -> None:
    ssh = SshSettings(host="127.0.0.1", port=_closed_port())
    for url in ("host=a,b dbname=x", "host=db port=abc dbname=x"):
        assert not is_transient(_connect_error(url, ssh=ssh)), url


def test_a_wrong_password_from_the_real_server_is_permanent(pg_server) -> None:
    error = _connect_error(pg_server.url("postgres", password="not-the-password"))
    assert "password authentication failed" in str(error)
    assert not error.transient


def test_a_missing_database_on_the_real_server_is_permanent(pg_server) -> None:
    error = _connect_error(pg_server.url("no_such_database_here"))
    assert "does not exist" in str(error)
    assert not error.transient


# --------------------------------------------------------------------------- tunnel


@pytest.fixture
def client_key(tmp_path: Path) -> Path:
    path = tmp_path / "id_rsa"
    paramiko.RSAKey.generate(1024).write_private_key_file(str(path))
    return path


def test_an_unreachable_ssh_host_is_transient(client_key: Path, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    ssh = SshSettings(host="127.0.0.1", port=_closed_port(), user="u", key=str(client_key), known_hosts=str(known))
    with pytest.raises(TunnelError, match="cannot reach SSH host") as caught:
        open_forwarder(ssh, "127.0.0.1", 5432, timeout=3)
    assert caught.value.transient and is_transient(caught.value)


def test_a_missing_key_file_is_permanent(tmp_path: Path) -> None:
    with pytest.raises(TunnelError, match="not found") as caught:
        _load_private_key(str(tmp_path / "nope"))
    assert not is_transient(caught.value)


def test_an_unknown_host_key_is_permanent(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    resolved = ResolvedSsh(alias="h", hostname="h", port=22, user="u", key_files=(), password=None,
                           known_hosts_files=(str(known),), proxy_command=None)
    with pytest.raises(TunnelError, match="is unknown") as caught:
        verify_host_key(resolved, paramiko.RSAKey.generate(1024))
    assert not is_transient(caught.value)


def test_a_key_the_real_ssh_server_refuses_is_permanent(sshd, pg_server, client_key: Path) -> None:
    ssh = SshSettings(host=sshd.host, port=sshd.port, user=sshd.user, key=str(client_key),
                      known_hosts=str(sshd.known_hosts_path))
    with pytest.raises(TunnelError, match="authentication failed") as caught:
        open_forwarder(ssh, pg_server.host, pg_server.port, timeout=5)
    assert not is_transient(caught.value)


# --------------------------------------------------------------------------- the engine's own


def test_a_stall_is_transient_and_other_dbconsole_errors_are_not() -> None:
    ledger = RunLedger(current="public.users")
    stall = stalled(ledger, 30)
    assert stall.table == "public.users" and "nothing moved for 30 s" in str(stall)
    assert is_transient(stall)
    for error in (SyncError("x"), UsageError("x"), ConfigError("x")):
        assert not is_transient(error), error


@pytest.mark.parametrize(("error", "transient"), [
    (psycopg.OperationalError("server closed the connection unexpectedly"), True),  # class 08
    (psycopg.errors.AdminShutdown(), True),  # 57P01: the server is restarting
    (psycopg.errors.SerializationFailure(), True),  # 40001
    (psycopg.errors.DeadlockDetected(), True),  # 40P01
    (psycopg.InterfaceError("the connection is lost"), True),
    (ConnectionResetError(), True),
    (TimeoutError(), True),
    (psycopg.errors.QueryCanceled(), False),  # 57014: a timeout or a cancel, on purpose
    (psycopg.errors.UniqueViolation(), False),
    (psycopg.errors.ForeignKeyViolation(), False),
    (psycopg.errors.UndefinedColumn(), False),
    (ValueError("bug"), False),
])
def test_psycopg_errors_are_classified_by_their_class(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient
