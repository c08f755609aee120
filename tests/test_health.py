"""`dbconsole health`: the panels a DBA checks by hand, read-only and time-boxed (issue 17, item 3).

The trouble is made on purpose in real sessions (tests/health_scene.py): a long ``pg_sleep``, a
row lock another UPDATE waits on, and a dbconsole session; the report must show each of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbconsole import health_sql
from dbconsole.connect import tunnels
from dbconsole.health import PANELS, open_health_session, read_health
from tests.cli_checks import assert_one_line, run_cli
from tests.health_scene import BLOCKER_APP, LONG_QUERY_APP, WAITER_APP, trouble
from tests.profiles import isolate_from_machine, load, write_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


# The documented fields of `health --json` (README, "dbconsole health").
TOP_FIELDS = {"profile", "server_version", "server_version_num", "in_recovery", "collected_at", "threshold_seconds",
              *PANELS, "errors"}
SESSION_FIELDS = {"pid", "user", "database", "application", "state", "backend_type", "query_seconds",
                  "transaction_seconds", "wait_event_type", "wait_event", "query", "xmin_age", "current", "query_id",
                  "dbconsole", "blocked_by", "blocking"}


def test_health_json_shows_a_long_query_a_blocking_lock_and_dbconsoles_own_sessions(tmp_path, dbs, sshd,
                                                                                     capsys) -> None:
    config = write_config(tmp_path, dbs, sshd)
    profile = load(config).profile("server")  # through the SSH tunnel, read-only
    secret = dbs.server.password  # a query text that spells out dbconsole's secret is shown masked
    with dbs.server_admin() as admin, trouble(dbs.server_url, admin, profile,
                                              long_query=f"SELECT pg_sleep(60) /* {secret} */") as scene:
        code, out, err = run_cli(capsys, "--config", str(config), "health", "server", "--threshold", "0.5", "--json")
    assert code == 0, err
    assert secret not in out
    report = json.loads(out)
    assert set(report) == TOP_FIELDS
    assert report["errors"] == {}, report["errors"]
    assert report["profile"] == "server" and report["in_recovery"] is False
    assert report["threshold_seconds"] == 0.5

    long_queries = {s["pid"]: s for s in report["long_queries"]}
    assert scene.long_query_pid in long_queries
    sleeper = long_queries[scene.long_query_pid]
    assert set(sleeper) == SESSION_FIELDS
    assert sleeper["application"] == LONG_QUERY_APP and "pg_sleep" in sleeper["query"]
    assert sleeper["query_seconds"] >= 0.5 and sleeper["dbconsole"] is False
    assert scene.blocker_pid not in long_queries  # idle in transaction is not a running query

    blocked = {s["pid"]: s for s in report["locks"]["blocked"]}
    blocking = {s["pid"]: s for s in report["locks"]["blocking"]}
    assert blocked[scene.waiter_pid]["blocked_by"] == [scene.blocker_pid]
    assert blocked[scene.waiter_pid]["application"] == WAITER_APP
    assert blocked[scene.waiter_pid]["wait_event_type"] == "Lock"
    assert blocking[scene.blocker_pid]["application"] == BLOCKER_APP
    assert blocking[scene.blocker_pid]["state"] == "idle in transaction"

    own = {s["pid"]: s for s in report["own_sessions"]}
    assert own[scene.own_pid]["application"] == "dbconsole/browser" and own[scene.own_pid]["dbconsole"] is True
    current = [s for s in report["own_sessions"] if s["current"]]
    assert len(current) == 1 and current[0]["application"] == "dbconsole/health"
    assert not {scene.long_query_pid, scene.blocker_pid, scene.waiter_pid} & set(own)

    by_application = report["connections"]["by_application"]
    assert by_application[LONG_QUERY_APP] == 1 and by_application["dbconsole/browser"] >= 1
    assert report["connections"]["by_state"]["idle in transaction"] >= 1
    assert report["connections"]["total"] <= report["connections"]["max_connections"]

    size = report["size"]
    assert size["database_bytes"] > 0
    assert {t["name"] for t in size["largest_tables"]} >= {"price_history"}
    assert all(i["table"] for i in size["largest_indexes"])
    wrap = report["wraparound"]
    assert wrap["freeze_max_age"] > 0 and dbs.server_db in {d["database"] for d in wrap["databases"]}
    assert scene.blocker_pid in {s["pid"] for s in wrap["oldest_transactions"]}
    assert report["replication"]["role"] == "primary"
    assert report["vacuum"]["max_workers"] >= 1


def test_health_for_people_names_every_panel(tmp_path, dbs, capsys) -> None:
    config = write_config(tmp_path, dbs)
    profile = load(config).profile("server_direct")
    with dbs.server_admin() as admin, trouble(dbs.server_url, admin, profile) as scene:
        code, out, err = run_cli(capsys, "--config", str(config), "health", "server_direct", "--threshold", "0.5")
    assert code == 0, err
    for title in ("Size: database", "Connections:", "Long queries (over 0.5s)", "Blocking locks", "Replication:",
                  "Transactions and wraparound", "Vacuum: autovacuum", "dbconsole's own sessions"):
        assert title in out, title
    assert f"{scene.blocker_pid}" in out and "blocking" in out and "pg_sleep" in out
    assert "browser" in out and "health (this view)" in out


def test_a_panel_that_times_out_leaves_the_others_standing(tmp_path, dbs) -> None:
    """A table locked by a migration makes the size panel fail on its lock timeout, not hang."""
    profile = load(write_config(tmp_path, dbs)).profile("server_direct")
    with dbs.server_admin() as admin:
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE")
        try:
            with open_health_session(profile) as conn:
                report = read_health(conn, profile.name, threshold_seconds=1)
        finally:
            admin.execute("ROLLBACK")
    assert set(report.errors) == {"size"} and "lock timeout" in report.errors["size"]
    assert report.size is None and report.connections is not None and report.own_sessions is not None


def test_health_on_a_standby_reports_its_replay_and_the_primary_its_standby(pg_local, tmp_path) -> None:
    from dbconsole.config import load_config
    from dbconsole.sandbox.cluster import SUPERUSER

    standby = pg_local.make_standby("h17standby")
    try:
        config = tmp_path / "dbconsole.toml"
        config.write_text(f'[profiles.primary]\nurl = "{pg_local.url("postgres", user=SUPERUSER)}"\n'
                          f'read_only = true\n[profiles.standby]\nurl = "{standby.url("postgres", user=SUPERUSER)}"\n')
        profiles = load_config(config, environ={}, cwd=tmp_path)
        with open_health_session(profiles.profile("standby")) as conn:
            on_standby = read_health(conn, "standby")
        with open_health_session(profiles.profile("primary")) as conn:
            on_primary = read_health(conn, "primary")
    finally:
        standby.cleanup()
    assert on_standby.in_recovery and on_standby.errors == {}
    assert on_standby.replication is not None and on_standby.replication.role == "standby"
    assert on_standby.replication.wal_receiver_status == "streaming"
    assert on_standby.replication.receive_replay_gap_bytes is not None
    assert on_primary.replication is not None and on_primary.replication.role == "primary"
    assert any(s.state == "streaming" for s in on_primary.replication.standbys)


def test_health_of_an_unknown_profile_is_one_line(tmp_path, dbs, capsys) -> None:
    config = write_config(tmp_path, dbs)
    code, _, err = run_cli(capsys, "--config", str(config), "health", "nope")
    assert_one_line(code, err, 2, "nope")
    code, _, err = run_cli(capsys, "--config", str(config), "health", "local", "--threshold", "-1")
    assert code == 2 and "must be > 0" in err
    code, out, err = run_cli(capsys, "health", "postgresql://nobody:s3cret-pw@127.0.0.1:1/db", "--json")
    line = assert_one_line(code, err, 1, "127.0.0.1")
    assert out == "" and "s3cret-pw" not in line


@pytest.mark.unit
def test_columns_a_version_lacks_are_left_out() -> None:
    from psycopg import sql

    def text(composable: sql.Composable) -> str:
        return composable.as_string(None)  # type: ignore[arg-type]

    assert "a.query_id" not in text(health_sql.session_columns(130000))
    assert "a.query_id" in text(health_sql.session_columns(140000))
    assert "indexes_total" not in text(health_sql.vacuum_sql(160000))
    assert "p.indexes_total" in text(health_sql.vacuum_sql(170000))


@pytest.mark.unit
def test_the_health_view_shows_every_panel() -> None:
    from dbconsole.tui.screens.health import VIEW_ORDER

    assert sorted(VIEW_ORDER) == sorted(PANELS)


@pytest.mark.unit
def test_names_in_the_size_panel_are_quoted_as_psql_shows_them() -> None:
    from rich.console import Console

    from dbconsole.health import HealthReport, Relation, SizePanel
    from dbconsole.health_text import render_panel

    report = HealthReport(profile="local", server_version="16.4", server_version_num=160004, in_recovery=False,
                          collected_at="2026-12-01T00:00:00Z", threshold_seconds=5.0,
                          size=SizePanel(database_bytes=8192,
                                         largest_tables=[Relation("public", "WatchList", 4096)],
                                         largest_indexes=[Relation("public", "WatchList_pkey", 2048, "WatchList")]))
    console = Console(width=120, record=True)
    console.print(render_panel(report, "size"))
    shown = console.export_text()
    assert 'public."WatchList"' in shown and 'public."WatchList_pkey"' in shown
    assert 'index on "WatchList"' in shown
