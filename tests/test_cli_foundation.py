"""profiles / check / tables against the real servers, through the real SSH tunnel, and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from dbconsole.connect import connect, tunnels
from dbconsole.errors import ConnectError
from tests.cli_checks import assert_one_line, run_cli
from tests.profiles import isolate_from_machine, PASSWORD_VAR, load, write_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ~/.ssh/config, agent or PG* variables of the machine leak into a test."""
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def test_profiles_lists_every_profile_with_secrets_masked(tmp_path, dbs, sshd, capsys) -> None:
    config = write_config(tmp_path, dbs, sshd)
    code, out, err = run_cli(capsys, "--config", str(config), "profiles")
    assert code == 0, err
    assert "server" in out and "local" in out and "***" in out
    assert dbs.server.password not in out and dbs.local.password not in out
    code, out, _ = run_cli(capsys, "profiles", "--json", "--config", str(config))
    data = {p["name"]: p for p in json.loads(out)}
    assert data["server"]["read_only"] is True and data["local"]["read_only"] is False
    assert data["local"]["default"] is True and data["server"]["ssh"]["port"] == sshd.port
    assert dbs.server.password not in out


def test_check_through_the_ssh_tunnel_reports_version_and_read_only(tmp_path, dbs, sshd, capsys) -> None:
    config = write_config(tmp_path, dbs, sshd)
    code, out, err = run_cli(capsys, "--config", str(config), "check", "server", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["tunnel"] is True and info["read_only"] is True and info["ok"] is True
    assert info["version"].startswith("PostgreSQL ") and info["version_num"] >= 130000
    assert info["database"] == dbs.server_db
    assert sshd.connection_count() >= 0
    code, out, err = run_cli(capsys, "--config", str(config), "check", "local")
    assert code == 0 and "read-write" in out and "PostgreSQL" in out


def test_a_write_through_a_read_only_profile_is_refused_by_the_server(tmp_path, dbs, sshd) -> None:
    config = load(write_config(tmp_path, dbs, sshd))
    for name in ("server", "server_direct"):
        with connect(config.profile(name), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("DELETE FROM public.audit_log")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("CREATE TABLE nope (a int)")
    with dbs.server_admin() as admin:
        assert admin.execute("SELECT count(*) FROM public.audit_log").fetchone()[0] > 0


def test_read_only_can_be_asked_for_on_a_writable_profile(tmp_path, dbs) -> None:
    config = load(write_config(tmp_path, dbs))
    with connect(config.profile("local"), read_only=True, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("UPDATE public.users SET display_name = 'x'")


def test_tables_exact_counts_equal_count_star_on_both_sides(tmp_path, dbs, sshd, capsys) -> None:
    config = write_config(tmp_path, dbs, sshd)
    code, out, err = run_cli(capsys, "--config", str(config), "tables", "--left", "local", "--right", "server",
                             "--exact", "--json")
    assert code == 0, err
    rows = {r["table"]: r for r in json.loads(out)["tables"]}
    with dbs.local_admin() as local, dbs.server_admin() as server:
        for name, row in rows.items():
            if row["left_rows"] is not None:
                assert row["left_rows"] == local.execute(f"SELECT count(*) FROM {name}").fetchone()[0], name
            if row["right_rows"] is not None:
                assert row["right_rows"] == server.execute(f"SELECT count(*) FROM {name}").fetchone()[0], name
    assert rows["public.local_notes"]["status"] == "left_only"
    assert rows['public."WatchList"']["difference"] == rows['public."WatchList"']["right_rows"] - rows['public."WatchList"']["left_rows"]
    assert rows["public.audit_log"]["has_key"] is False and rows["public.users"]["has_key"] is True
    assert any(r["status"] == "more_right" for r in rows.values())
    code, out, _ = run_cli(capsys, "--config", str(config), "tables", "--left", "local", "--right", "server")
    assert code == 0 and "public.users" in out and "WatchList" in out and "only left" in out


def test_tables_estimates_know_fresh_tables(tmp_path, dbs, capsys) -> None:
    """Estimates right after a bulk load (never analyzed) are not zero."""
    with dbs.local_admin() as admin:
        admin.execute("CREATE TABLE fresh AS SELECT g AS id FROM generate_series(1, 5000) g")
    config = write_config(tmp_path, dbs)
    time.sleep(1.1)  # statistics are flushed about once a second
    code, out, _ = run_cli(capsys, "--config", str(config), "tables", "--left", "local", "--right", "server_direct",
                           "--json")
    fresh = next(r for r in json.loads(out)["tables"] if r["table"] == "public.fresh")
    assert fresh["left_rows"] and 4000 <= fresh["left_rows"] <= 6000


# --------------------------------------------------------------------------- bad input


def assert_one_line_error(code: int, out: str, err: str, expected_code: int, *fragments: str) -> None:
    """``run_cli``'s result as one tuple: (code, out, err)."""
    assert_one_line(code, err, expected_code, *fragments)


def test_unknown_profile(tmp_path, dbs, capsys) -> None:
    config = write_config(tmp_path, dbs)
    assert_one_line_error(*run_cli(capsys, "--config", str(config), "check", "prod"), 2, "unknown profile 'prod'")


def test_invalid_toml_names_file_and_line(tmp_path, capsys) -> None:
    path = tmp_path / "dbconsole.toml"
    path.write_text('[profiles.local]\nurl = "postgresql://localhost/x"\nread_only = maybe\n')
    assert_one_line_error(*run_cli(capsys, "--config", str(path), "profiles"), 2, str(path), "line 3")


def test_unset_variable(tmp_path, capsys) -> None:
    path = tmp_path / "dbconsole.toml"
    path.write_text('[profiles.server]\nurl = "postgresql://u:${NOT_SET_ANYWHERE_PW}@h/db"\n')
    # Listing still works (issue 10, item 4); using the profile is the one line, exit 2.
    code, out, err = run_cli(capsys, "--config", str(path), "profiles")
    assert code == 0 and "needs NOT_SET_ANYWHERE_PW" in out, err
    assert_one_line_error(*run_cli(capsys, "--config", str(path), "check", "server"), 2,
                          "profile 'server' needs NOT_SET_ANYWHERE_PW")


def test_malformed_url(tmp_path, capsys) -> None:
    path = tmp_path / "dbconsole.toml"
    path.write_text('[profiles.local]\nurl = "postgresql://u:pw@host:99999999/db"\n')
    code, out, err = run_cli(capsys, "--config", str(path), "check", "local")
    assert_one_line_error(code, out, err, 2, "malformed connection URL")
    assert ":pw@" not in err


def test_wrong_password_is_not_echoed(tmp_path, dbs, capsys) -> None:
    path = write_config(tmp_path, dbs)
    (tmp_path / ".env").write_text(f"{PASSWORD_VAR}='Wr0ng-Pa55word'\n")
    code, out, err = run_cli(capsys, "--config", str(path), "check", "server_direct")
    assert_one_line_error(code, out, err, 1, "server_direct", "password authentication failed")
    assert "Wr0ng-Pa55word" not in err + out


def test_closed_port_fails_within_the_connect_timeout(tmp_path, capsys) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path = tmp_path / "dbconsole.toml"
    path.write_text(f'[profiles.local]\nurl = "postgresql://u:pw@127.0.0.1:{port}/db"\nconnect_timeout = 3\n')
    started = time.monotonic()
    code, out, err = run_cli(capsys, "--config", str(path), "check", "local")
    assert time.monotonic() - started < 10
    assert_one_line_error(code, out, err, 1, "local", "refused")


def test_stalled_ssh_host_gives_up_within_the_timeout(tmp_path, dbs, capsys) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(5)  # accepts at the TCP level, never says a word
    try:
        port = listener.getsockname()[1]
        path = write_config(tmp_path, dbs, extra={"profiles": {"stalled": {
            "url": dbs.local_url, "connect_timeout": 2,
            "ssh": {"host": "127.0.0.1", "port": port, "user": "x", "key": str(_new_key(tmp_path))}}}})
        started = time.monotonic()
        code, out, err = run_cli(capsys, "--config", str(path), "check", "stalled")
        assert time.monotonic() - started < 15
        assert_one_line_error(code, out, err, 1)
    finally:
        listener.close()


def _new_key(folder: Path) -> Path:
    import asyncssh

    key_path = folder / "other_key"
    key_path.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    key_path.chmod(0o600)
    return key_path


def test_unknown_ssh_host_key_fails_closed(tmp_path, dbs, sshd, capsys) -> None:
    path = write_config(tmp_path, dbs, sshd)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    text = path.read_text().replace(str(sshd.known_hosts_path), str(empty))
    path.write_text(text)
    code, out, err = run_cli(capsys, "--config", str(path), "check", "server")
    assert_one_line_error(code, out, err, 1, "host key", "unknown", "ssh-ed25519")


def test_changed_ssh_host_key_fails_closed(tmp_path, dbs, sshd, capsys) -> None:
    import asyncssh

    path = write_config(tmp_path, dbs, sshd)
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().split()[:2]
    forged = tmp_path / "forged_known_hosts"
    forged.write_text(f"[{sshd.host}]:{sshd.port} {' '.join(other)}\n")
    path.write_text(path.read_text().replace(str(sshd.known_hosts_path), str(forged)))
    code, out, err = run_cli(capsys, "--config", str(path), "check", "server")
    assert_one_line_error(code, out, err, 1, "CHANGED", "ssh-keygen -R")


def test_ssh_auth_failure(tmp_path, dbs, sshd, capsys) -> None:
    path = write_config(tmp_path, dbs, sshd)
    path.write_text(path.read_text().replace(str(sshd.client_key_path), str(_new_key(tmp_path))))
    code, out, err = run_cli(capsys, "--config", str(path), "check", "server")
    assert_one_line_error(code, out, err, 1, "SSH authentication failed", sshd.user)


def test_missing_key_file(tmp_path, dbs, sshd, capsys) -> None:
    path = write_config(tmp_path, dbs, sshd)
    path.write_text(path.read_text().replace(str(sshd.client_key_path), str(tmp_path / "no_such_key")))
    code, out, err = run_cli(capsys, "--config", str(path), "check", "server")
    assert_one_line_error(code, out, err, 1, "SSH key file not found", "no_such_key")


def test_ssh_config_alias_is_honoured(tmp_path, dbs, sshd, capsys) -> None:
    """``ssh.host`` may be a Host alias from ~/.ssh/config (HostName, Port, User, IdentityFile)."""
    ssh_dir = Path.home() / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(
        f"Host prod-db\n  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n"
        f"  IdentityFile {sshd.client_key_path}\n  UserKnownHostsFile {sshd.known_hosts_path}\n")
    path = write_config(tmp_path, dbs, extra={"profiles": {"aliased": {
        "url": f"postgresql://{dbs.server.user}:${{{PASSWORD_VAR}}}@{dbs.server.host}:{dbs.server.port}/{dbs.server_db}",
        "ssh": {"host": "prod-db"}}}})
    code, out, err = run_cli(capsys, "--config", str(path), "check", "aliased", "--json")
    assert code == 0, err
    assert json.loads(out)["tunnel"] is True and json.loads(out)["read_only"] is True


def test_tunnel_is_reused_and_rebuilt_after_a_drop(tmp_path, dbs, sshd) -> None:
    config = load(write_config(tmp_path, dbs, sshd))
    profile = config.profile("server")
    with connect(profile) as first:
        first.execute("SELECT 1")
        with connect(profile) as second:
            second.execute("SELECT 1")
            assert len(tunnels._tunnels) == 1
    sshd.drop_connections()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with connect(profile) as again:
                assert again.execute("SELECT 1").fetchone() == (1,)
            break
        except ConnectError:
            time.sleep(0.2)
    else:
        pytest.fail("the tunnel was not rebuilt after the SSH connection dropped")


def test_subprocess_errors_have_no_traceback(tmp_path) -> None:
    path = tmp_path / "dbconsole.toml"
    path.write_text("[profiles.local]\nurl = 12\n")
    result = subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(path), "profiles"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "profiles.local.url must be a string" in result.stderr
    result = subprocess.run([sys.executable, "-m", "dbconsole", "tables", "--left", "a"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "required" in result.stderr and result.stderr.count("\n") == 1
