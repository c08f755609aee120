"""Proof that the test harness is what the other tests assume it is.

Why: every sync, tunnel and TUI test stands on these fixtures. If a cluster answered on the
wrong version, a seed drifted from its documented counts, the SSH server forwarded anywhere or
accepted any key, or a stopped cluster left processes behind, later failures would point at
the wrong code. These tests pin the harness down with real servers and real SSH clients.
"""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import asyncssh
import paramiko
import psycopg
import pytest
import sshtunnel

from dbconsole.sandbox.cluster import PgCluster
from dbconsole.sandbox.errors import SandboxError
from dbconsole.sandbox.pgbin import as_pg_os_user, find_pg_bindir, pg_version
from dbconsole.sandbox.seed import (
    LOCAL_ONLY_ID_BASE,
    LOCAL_ONLY_TABLES,
    SAME_COUNT_TABLES,
    SECTOR_CHANGES,
    SEED_TABLES,
    SeedScale,
    create_schema,
    expected_counts,
)
from dbconsole.sandbox.sshd import LoopbackSSHServer, spawn_sshd_process


def _host_key(known_hosts: Path, port: int) -> paramiko.PKey:
    """The server's key as the client's known_hosts records it (what a careful client checks)."""
    entry = paramiko.HostKeys(str(known_hosts)).lookup(f"[127.0.0.1]:{port}")
    assert entry is not None, f"known_hosts has no entry for port {port}"
    return entry["ssh-ed25519"]


@contextmanager
def _tunnel(ssh_port: int, key_path: Path, known_hosts: Path, target_port: int, host_key: paramiko.PKey | None = None):
    """An ``ssh -L``-style tunnel with sshtunnel, host key checked; yields the local port."""
    forwarder = sshtunnel.SSHTunnelForwarder(
        ("127.0.0.1", ssh_port),
        ssh_username="tunnel",
        ssh_pkey=str(key_path),
        ssh_host_key=host_key or _host_key(known_hosts, ssh_port),
        remote_bind_address=("127.0.0.1", target_port),
        allow_agent=False,
        host_pkey_directories=[],
        set_keepalive=0,
    )
    forwarder.start()
    try:
        yield forwarder.local_bind_port
    finally:
        forwarder.stop(force=True)


def _through(url: str, target_port: int, local_port: int) -> str:
    return url.replace(f"127.0.0.1:{target_port}/", f"127.0.0.1:{local_port}/")


def _transport(port: int, key: paramiko.PKey, known_hosts: Path, user: str = "tunnel") -> paramiko.Transport:
    transport = paramiko.Transport(("127.0.0.1", port))
    try:
        transport.connect(hostkey=_host_key(known_hosts, port), username=user, pkey=key)
    except BaseException:
        transport.close()
        raise
    return transport


def _children_of(pid: int) -> list[int]:
    children = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            children.append(int(stat_file.parent.name))
    return children


def _pg_ctl_status(cluster: PgCluster) -> int:
    cmd = as_pg_os_user([cluster.bindir / "pg_ctl", "status", "-D", cluster.data_dir])
    return subprocess.run(cmd, capture_output=True, cwd=cluster.dir).returncode


# --------------------------------------------------------------------------- clusters


def test_both_clusters_answer_with_their_version(pg_local: PgCluster, pg_server: PgCluster) -> None:
    assert pg_local.version == pg_version(find_pg_bindir())
    for cluster in (pg_local, pg_server):
        with cluster.admin_connect() as conn:
            version_num = conn.execute("SHOW server_version_num").fetchone()[0]
        assert int(version_num) // 10000 == cluster.version
        # The app role logs in over TCP with its password (SCRAM), as a profile URL would.
        with psycopg.connect(cluster.url("postgres")) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == "app"
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(cluster.url("postgres", password="wrong")).close()


def test_an_explicit_bindir_without_postgresql_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError) as error:
        find_pg_bindir(tmp_path)
    assert "\n" not in str(error.value)
    assert "pip install 'dbconsole[demo]'" in str(error.value)


def test_seeded_databases_have_the_documented_rows(dbs) -> None:
    server_counts, local_counts = {}, {}
    for counts, url in ((server_counts, dbs.server_url), (local_counts, dbs.local_url)):
        with psycopg.connect(url) as conn:
            for table in (*SEED_TABLES, *LOCAL_ONLY_TABLES, *SAME_COUNT_TABLES):
                exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [table]).fetchone()[0]
                if exists:
                    counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    assert server_counts == expected_counts(SeedScale.TEST, "server")
    assert local_counts == expected_counts(SeedScale.TEST, "local")
    assert all(local_counts[t] != server_counts[t] for t in SEED_TABLES)
    assert all(local_counts[t] == server_counts[t] for t in SAME_COUNT_TABLES)


def test_sectors_have_equal_counts_but_different_content(dbs) -> None:
    query = "SELECT code, name, name_en, fee_rate FROM public.sectors ORDER BY code"
    with psycopg.connect(dbs.server_url) as server, psycopg.connect(dbs.local_url) as local:
        server_rows, local_rows = server.execute(query).fetchall(), local.execute(query).fetchall()
    assert len(server_rows) == len(local_rows) == 16
    differing = {s[0] for s, l in zip(server_rows, local_rows) if s != l}
    assert differing == set(SECTOR_CHANGES)


def test_test_databases_belong_to_app_and_admin_connections_are_superuser(dbs, empty_dbs) -> None:
    owners = "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname IN ('public', 'analytics')"
    for admin in (dbs.local_admin, dbs.server_admin):
        with admin() as conn:
            assert conn.execute("SELECT current_setting('is_superuser')").fetchone() == ("on",)
            assert conn.execute(owners).fetchall() == [("app",)]
    for admin in (empty_dbs.local_admin, empty_dbs.server_admin):
        with admin() as conn:
            assert conn.execute(owners).fetchall() == []
    assert empty_dbs.local_db != dbs.local_db


def test_create_schema_builds_the_same_tables_empty(empty_dbs) -> None:
    with psycopg.connect(empty_dbs.server_url) as conn:
        create_schema(conn)
        for table in SEED_TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
        foreign_keys = conn.execute("SELECT count(*) FROM pg_constraint WHERE contype = 'f'").fetchone()[0]
    assert foreign_keys == 7


def test_local_copy_is_drifted_from_the_server(dbs) -> None:
    query = "SELECT display_name, updated_at FROM public.users WHERE id = 3"
    with psycopg.connect(dbs.server_url) as server, psycopg.connect(dbs.local_url) as local:
        server_name, server_updated = server.execute(query).fetchone()
        local_name, local_updated = local.execute(query).fetchone()
        assert local_name == f"{server_name} (구)"
        assert local_updated < server_updated  # the server's change is newer: incremental sees it
        local_only = "SELECT count(*) FROM public.users WHERE id > %s"
        assert local.execute(local_only, [LOCAL_ONLY_ID_BASE]).fetchone()[0] == 2
        assert server.execute(local_only, [LOCAL_ONLY_ID_BASE]).fetchone()[0] == 0


def test_seed_covers_the_awkward_column_kinds(dbs) -> None:
    with psycopg.connect(dbs.server_url) as conn:
        name, display = conn.execute("SELECT name, display_name FROM public.stocks WHERE symbol = '005930'").fetchone()
        assert (name, display) == ("삼성전자", "005930 삼성전자")
        tags = conn.execute("SELECT tags FROM public.users WHERE 'buy & hold, \"safe\"' = ANY (tags) LIMIT 1").fetchone()
        assert tags is not None
        notes = dict(conn.execute("SELECT note IS NULL, count(*) FROM public.\"WatchList\" GROUP BY 1").fetchall())
        assert notes[True] > 0 and notes[False] > 0
        assert conn.execute("SELECT count(*) FROM public.\"WatchList\" WHERE note = ''").fetchone()[0] > 0
        keys = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'public.audit_log'::regclass AND contype IN ('p', 'u')"
        ).fetchone()[0]
        assert keys == 0
        # Identity ALWAYS continues after the seeded ids.
        new_id = conn.execute(
            "INSERT INTO public.\"WatchList\" (user_id, symbol) VALUES (1, '005930') RETURNING id"
        ).fetchone()[0]
        assert new_id == SeedScale.TEST.watchlist + 1


# --------------------------------------------------------------------------- SSH


def test_tunnel_through_the_ssh_server_reaches_the_server_database(sshd, pg_server, dbs) -> None:
    with _tunnel(sshd.port, sshd.client_key_path, sshd.known_hosts_path, pg_server.port) as local_port:
        with psycopg.connect(_through(dbs.server_url, pg_server.port, local_port)) as conn:
            count = conn.execute("SELECT count(*) FROM public.users").fetchone()[0]
            port = conn.execute("SELECT inet_server_port()").fetchone()[0]
    assert count == SeedScale.TEST.users
    assert port == pg_server.port


def test_forwarding_to_a_target_not_allowed_is_refused(sshd, pg_local, pg_server) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key_path))
    transport = _transport(sshd.port, key, sshd.known_hosts_path)
    try:
        with pytest.raises(paramiko.ChannelException) as refused:
            transport.open_channel("direct-tcpip", ("127.0.0.1", pg_local.port), ("127.0.0.1", 0))
        assert refused.value.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        allowed = transport.open_channel("direct-tcpip", ("localhost", pg_server.port), ("127.0.0.1", 0))
        allowed.close()
        with pytest.raises(paramiko.ChannelException):
            transport.open_session()  # no shell, no exec
    finally:
        transport.close()


def test_wrong_client_key_or_user_is_refused(sshd, tmp_path: Path) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    stranger_path = tmp_path / "stranger"
    stranger.write_private_key(str(stranger_path))
    with pytest.raises(paramiko.AuthenticationException):
        _transport(sshd.port, paramiko.Ed25519Key.from_private_key_file(str(stranger_path)), sshd.known_hosts_path)
    right_key = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key_path))
    with pytest.raises(paramiko.AuthenticationException):
        _transport(sshd.port, right_key, sshd.known_hosts_path, user="root")


def test_a_server_presenting_another_host_key_is_rejected(sshd, tmp_path: Path) -> None:
    other = LoopbackSSHServer(tmp_path / "other")  # never started: only its new host key is used
    stale_known_hosts = tmp_path / "known_hosts"
    stale_known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other.host_public_key_line}\n")
    right_key = paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key_path))
    transport = paramiko.Transport(("127.0.0.1", sshd.port))
    try:
        with pytest.raises(paramiko.SSHException, match="[Bb]ad host key"):
            transport.connect(hostkey=_host_key(stale_known_hosts, sshd.port), username="tunnel", pkey=right_key)
    finally:
        transport.close()


def test_drop_connections_breaks_open_tunnels_but_keeps_listening(sshd, pg_server, dbs) -> None:
    with _tunnel(sshd.port, sshd.client_key_path, sshd.known_hosts_path, pg_server.port) as local_port:
        conn = psycopg.connect(_through(dbs.server_url, pg_server.port, local_port))
        try:
            conn.execute("SELECT 1")
            sshd.drop_connections()
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
        finally:
            conn.close()
    with _tunnel(sshd.port, sshd.client_key_path, sshd.known_hosts_path, pg_server.port) as local_port:
        with psycopg.connect(_through(dbs.server_url, pg_server.port, local_port)) as again:
            assert again.execute("SELECT 1").fetchone() == (1,)


def test_in_process_ssh_server_restarts_on_the_same_port(pg_server, tmp_path: Path) -> None:
    server = LoopbackSSHServer(tmp_path, [("127.0.0.1", pg_server.port)]).start()
    try:
        port = server.port
        server.stop()
        server.start()
        assert server.port == port
        with _tunnel(port, server.client_key_path, server.known_hosts_path, pg_server.port) as local_port:
            with psycopg.connect(_through(pg_server.url("postgres"), pg_server.port, local_port)) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()


def test_ssh_server_process_survives_sigkill_and_restarts_on_the_same_port(pg_server, tmp_path: Path) -> None:
    proc, port = spawn_sshd_process(tmp_path, [("127.0.0.1", pg_server.port)])
    known_hosts, key_path = tmp_path / "known_hosts", tmp_path / "client_ed25519_key"
    host_key = _host_key(known_hosts, port)
    url = pg_server.url("postgres")
    try:
        with _tunnel(port, key_path, known_hosts, pg_server.port, host_key) as local_port:
            conn = psycopg.connect(_through(url, pg_server.port, local_port))
            try:
                assert conn.execute("SELECT 1").fetchone() == (1,)
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                with pytest.raises(psycopg.OperationalError):
                    conn.execute("SELECT 1")
            finally:
                conn.close()

        proc, again = spawn_sshd_process(tmp_path, [("127.0.0.1", pg_server.port)], port=port)
        assert again == port
        # The old known_hosts entry (read before the crash) still matches the restarted server.
        with _tunnel(port, key_path, known_hosts, pg_server.port, host_key) as local_port:
            with psycopg.connect(_through(url, pg_server.port, local_port)) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# --------------------------------------------------------------------------- lifecycle


def test_stop_crash_restart_and_cleanup_leave_no_process() -> None:
    cluster = PgCluster("lifecycle")
    try:
        cluster.start()
        first_port = cluster.port
        client = psycopg.connect(cluster.url("postgres"))  # a backend that must go away too
        postmaster = cluster.pid
        processes = [postmaster, *_children_of(postmaster)]
        assert len(processes) > 2

        cluster.stop()
        client.close()
        assert not cluster.is_running()
        assert _pg_ctl_status(cluster) == 3  # "no server running"
        assert [pid for pid in processes if os.path.exists(f"/proc/{pid}")] == []  # not even zombies

        cluster.start()
        assert cluster.port == first_port
        postmaster = cluster.pid
        processes = [postmaster, *_children_of(postmaster)]
        cluster.kill()
        assert [pid for pid in processes if os.path.exists(f"/proc/{pid}")] == []

        cluster.start()  # crash recovery
        with cluster.admin_connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        postmaster = cluster.pid
        processes = [postmaster, *_children_of(postmaster)]
    finally:
        cluster.cleanup()
    assert [pid for pid in processes if os.path.exists(f"/proc/{pid}")] == []
    assert not cluster.dir.exists()


def test_standby_is_a_streaming_hot_standby() -> None:
    with PgCluster("primary") as primary:
        standby = primary.make_standby()
        try:
            with standby.admin_connect() as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
                assert conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone() == ("streaming",)
            with psycopg.connect(standby.url("postgres")) as conn:
                assert conn.execute("SELECT current_user").fetchone() == ("app",)
                with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                    conn.execute("CREATE TABLE nope (id int)")
        finally:
            standby.cleanup()
        assert not standby.dir.exists()
