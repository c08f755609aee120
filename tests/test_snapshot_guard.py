"""``[sync] max_snapshot_age``: a read-only source's snapshot is renewed between tables once it is
that old, so a long run cannot hold vacuum back on production (issue 17, item 2).

The proof that the snapshot really is fresh: as soon as the first table is done, a new row is
inserted on the source into a table not read yet. Read in the run's first snapshot (the guard
off) it is not synced; read in a renewed one it is.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import pytest
from psycopg import sql

from dbconsole.errors import ConfigError
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import SyncRun, run_sync
from dbconsole.sync.events import Notice, PlanEvent, TableDone
from tests.profiles import load, write_config
from tests.sync_checks import assert_target_holds_source

TABLES = ("public.stocks", "public.users", "public.scanner_settings")


def _insert_on_source(dbs, table: str) -> tuple[str, str]:
    """A new row in ``table`` on the source; returns (table, its key as text)."""
    tag = secrets.token_hex(4)
    with dbs.server_admin() as server:
        if table == "public.stocks":
            server.execute("INSERT INTO public.stocks (symbol, name, market) VALUES (%s, 'fresh', 'KOSPI')", (f"Z{tag}",))
            return table, f"Z{tag}"
        if table == "public.users":
            key = server.execute("INSERT INTO public.users (email, display_name) VALUES (%s, 'fresh') RETURNING id",
                                 (f"{tag}@fresh.test",)).fetchone()[0]
            return table, str(key)
        key = server.execute("INSERT INTO public.scanner_settings (user_id, name) "
                             "VALUES ((SELECT min(id) FROM public.users), 'fresh') RETURNING id").fetchone()[0]
        return table, str(key)


def _on_target(dbs, table: str, key: str) -> bool:
    column = "symbol" if table == "public.stocks" else "id"
    with dbs.local_admin() as local:
        query = sql.SQL("SELECT count(*) FROM {} WHERE {}::text = %s").format(sql.SQL(table), sql.Identifier(column))
        return bool(local.execute(query, (key,)).fetchone()[0])


def _run_inserting_midway(dbs, config) -> tuple[list, tuple[str, str]]:
    """Sync TABLES; when the first one is done, insert a row into the last one on the source."""
    events: list = []
    inserted: list[tuple[str, str]] = []

    def on_event(event) -> None:
        events.append(event)
        if isinstance(event, TableDone) and not inserted:
            order = [t.table for t in next(e for e in events if isinstance(e, PlanEvent)).tables]
            inserted.append(_insert_on_source(dbs, order[-1]))

    request = SyncRequest(source=config.profile("server_direct"), target=config.profile("local"), tables=TABLES,
                          settings=config.sync)
    run_sync(request, on_event=on_event)
    return events, inserted[0]


def test_a_low_max_snapshot_age_renews_the_snapshot_between_tables(tmp_path: Path, dbs) -> None:
    config = load(write_config(tmp_path, dbs, extra={"sync": {"max_snapshot_age": 0.001}}))
    events, (table, key) = _run_inserting_midway(dbs, config)

    plan = next(e for e in events if isinstance(e, PlanEvent))
    assert any("may take longer than max_snapshot_age" in w for w in plan.warnings), plan.warnings
    renewals = [e for e in events if isinstance(e, Notice) and e.kind == "snapshot"]
    assert len(renewals) == len(TABLES) - 1  # before every table but the first
    assert all("read at a later moment" in n.message for n in renewals)
    assert [n.table for n in renewals] == [t.table for t in plan.tables][1:]
    assert {e.table for e in events if isinstance(e, TableDone)} == set(TABLES)

    assert _on_target(dbs, table, key), "the row inserted after the first table was read in a fresh snapshot"
    assert_target_holds_source(dbs, list(TABLES))  # and every table ends equal to the source


def test_without_the_guard_the_run_reads_one_snapshot(tmp_path: Path, dbs) -> None:
    """The control: max_snapshot_age = 0 (off) reads every table at the run's first moment."""
    config = load(write_config(tmp_path, dbs, extra={"sync": {"max_snapshot_age": 0}}))
    events, (table, key) = _run_inserting_midway(dbs, config)
    assert not [e for e in events if isinstance(e, Notice) and e.kind == "snapshot"]
    assert not any("max_snapshot_age" in w for w in next(e for e in events if isinstance(e, PlanEvent)).warnings)
    assert not _on_target(dbs, table, key)


def test_a_writable_source_is_not_guarded(tmp_path: Path, dbs) -> None:
    """Our own local database may hold its snapshot: the guard is for read-only (production) sources."""
    config = load(write_config(tmp_path, dbs, extra={"sync": {"max_snapshot_age": 0.001}}))
    request = SyncRequest(source=config.profile("local"), target=config.profile("server_direct"), tables=TABLES,
                          settings=config.sync, dry_run=True)
    run = SyncRun(request, lambda event: None, threading.Event())
    assert run.snapshot_guard.max_age is None
    assert load(write_config(tmp_path, dbs)).sync.max_snapshot_age is None  # default: 30 min, applied by the guard


@pytest.mark.parametrize("value", [-1, "soon", True])
def test_a_bad_max_snapshot_age_is_a_config_error(tmp_path: Path, dbs, value) -> None:
    with pytest.raises(ConfigError, match="sync.max_snapshot_age must be a number of seconds >= 0"):
        load(write_config(tmp_path, dbs, extra={"sync": {"max_snapshot_age": value}}))


def test_a_child_read_later_than_its_parent_fails_clearly_on_the_targets_foreign_key(tmp_path: Path, dbs) -> None:
    """A fresh snapshot can see a child whose parent arrived after the parent table was read: the
    target's foreign key refuses it, and the error names the constraint and the missing parent."""
    from dbconsole.errors import SyncError

    config = load(write_config(tmp_path, dbs, extra={"sync": {"max_snapshot_age": 0.001}}))
    made: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, TableDone) and event.table == "public.users" and not made:
            with dbs.server_admin() as server:
                user = server.execute("INSERT INTO public.users (email, display_name) VALUES ('late@fresh.test', "
                                      "'late') RETURNING id").fetchone()[0]
                server.execute("INSERT INTO public.scanner_settings (user_id, name) VALUES (%s, 'late')", (user,))
            made.append(user)

    request = SyncRequest(source=config.profile("server_direct"), target=config.profile("local"),
                          tables=("public.users", "public.scanner_settings"), settings=config.sync)
    with pytest.raises(SyncError) as failure:
        run_sync(request, on_event=on_event)
    assert made, "the users table was synced first"
    message = str(failure.value)
    assert "scanner_settings_user_id_fkey" in message and "public.scanner_settings" in message, message
    assert "the source snapshot was renewed before public.scanner_settings (max_snapshot_age)" in message
