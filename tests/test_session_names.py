"""Every session dbconsole opens carries ``application_name`` ``dbconsole/<purpose>`` (issue 17, item 1).

The server's own connection log lists every login (tests/session_names.py), through the SSH
tunnel too, so a session that forgot its name cannot hide by being short.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbconsole.connect import PURPOSES, application_name, connect, is_own_session, tunnels
from dbconsole.reading.query import ReadOnlyQuery
from tests.cli_checks import run_cli
from tests.profiles import isolate_from_machine, load, write_config
from tests.session_names import logged_sessions


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


def test_every_cli_session_carries_dbconsole_and_its_purpose(tmp_path, dbs, sshd, capsys) -> None:
    config = str(write_config(tmp_path, dbs, sshd))
    commands = [
        ("check", "server"),  # through the tunnel
        ("check", "local"),
        ("tables", "--left", "local", "--right", "server"),
        ("tables", "--left", "local", "--right", "server_direct", "--exact"),
        ("sync", "--from", "server", "--to", "local", "--tables", "users,stocks", "--with-parents", "--json"),
        ("sync", "--from", "server_direct", "--to", "local", "--tables", "stocks", "--dry-run", "--json"),
        ("diff", "--left", "local", "--right", "server", "--tables", "stocks"),
        ("health", "server"),
    ]
    with logged_sessions(dbs.server_db, dbs.local, dbs.server) as log:
        for command in commands:
            code, _, err = run_cli(capsys, "--config", config, *command)
            assert code == 0, (command, err)
        tunnels.close_all()
        names = log.read()
    assert names, "no login was logged"
    unnamed = [n for n in names if not (n or "").startswith("dbconsole/")]
    assert not unnamed, unnamed
    assert set(names) >= {"dbconsole/check", "dbconsole/tables", "dbconsole/sync source",
                          "dbconsole/sync target", "dbconsole/diff", "dbconsole/health"}
    assert set(names) <= {application_name(p) for p in PURPOSES}


def test_a_url_cannot_take_the_name_away(tmp_path, dbs) -> None:
    """A DBA's filter on ``dbconsole/%`` must find every session, whatever the URL says."""
    config = write_config(tmp_path, dbs, extra={"profiles": {"named": {"url": dbs.local_url + "?application_name=other"}}})
    with connect(load(config).profile("named"), purpose="check") as conn:
        assert conn.execute("SHOW application_name").fetchone()[0] == "dbconsole/check"


def test_the_sql_box_session_is_named_and_cannot_queue_production(tmp_path, dbs) -> None:
    profile = load(write_config(tmp_path, dbs)).profile("server_direct")
    box = ReadOnlyQuery(profile)
    try:
        result = box.run("SELECT current_setting('application_name'), current_setting('lock_timeout'),"
                         " current_setting('idle_in_transaction_session_timeout')")
    finally:
        box.close()
    name, lock_timeout, idle_timeout = result.rows[0]
    assert name == "dbconsole/sql box"
    assert lock_timeout == "3s" and idle_timeout == "1min"


def test_a_lock_table_in_the_sql_box_gives_up_instead_of_queueing(tmp_path, dbs) -> None:
    """A table held by a migration: the box's query fails on its lock timeout, it does not wait."""
    from dbconsole.errors import DbconsoleError

    profile = load(write_config(tmp_path, dbs)).profile("server_direct")
    box = ReadOnlyQuery(profile)
    with dbs.server_admin() as admin:
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE")
        try:
            with pytest.raises(DbconsoleError, match="lock timeout"):
                box.run("LOCK TABLE public.users IN ACCESS SHARE MODE")
        finally:
            admin.execute("ROLLBACK")
            box.close()


@pytest.mark.unit
def test_own_sessions_are_told_apart_by_name() -> None:
    assert application_name("sync source") == "dbconsole/sync source"
    assert is_own_session("dbconsole/browser") and is_own_session("dbconsole")
    assert not is_own_session("dbconsolex") and not is_own_session(None) and not is_own_session("psql")
    assert all(len(application_name(p).encode()) < 64 for p in PURPOSES)  # NAMEDATALEN: never cut
