"""The sync engine against real servers: every mode, every awkward type and name, safety and resume."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dbconsole.config import SyncSettings, TableRules
from dbconsole.errors import ReadOnlyError, SyncError
from dbconsole.sandbox.seed import LOCAL_ONLY_ID_BASE, SEED_TABLES
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import plan_sync, run_sync
from dbconsole.sync.events import Notice, Progress, TableDone
from tests.profiles import load, write_config
from tests.sync_checks import (
    all_rows, assert_target_holds_source, current_xid, rows_by_key, rows_written_since, shared_columns,
    table_checksum)

KEYED = [t for t in SEED_TABLES if t != "public.audit_log"]


@pytest.fixture
def config(tmp_path: Path, dbs):
    return load(write_config(tmp_path, dbs))


def request(config, **kwargs) -> SyncRequest:
    kwargs.setdefault("settings", config.sync)
    return SyncRequest(source=config.profile("server_direct"), target=config.profile("local"), **kwargs)


def collect(config, **kwargs):
    events = []
    summary = run_sync(request(config, **kwargs), on_event=events.append)
    return summary, events


def done_by_table(events) -> dict[str, TableDone]:
    return {e.table: e for e in events if isinstance(e, TableDone)}


def test_upsert_inserts_updates_and_keeps_local_only_rows(dbs, config) -> None:
    with dbs.server_admin() as server, dbs.local_admin() as local:
        before = {t: rows_by_key(local, t, shared_columns(server, local, t)) for t in KEYED}
        source = {t: rows_by_key(server, t, shared_columns(server, local, t)) for t in KEYED}
    summary, events = collect(config)
    done = done_by_table(events)
    for table in KEYED:
        expected_new = sum(1 for k in source[table] if k not in before[table])
        expected_changed = sum(1 for k, v in source[table].items() if k in before[table] and before[table][k] != v)
        assert (done[table].inserted, done[table].updated) == (expected_new, expected_changed), table
        assert done[table].inserted + done[table].updated + done[table].unchanged == len(source[table])
    assert summary.inserted > 0 and summary.updated > 0 and summary.deleted == 0
    assert any(isinstance(e, Notice) or "audit_log" in str(e) for e in events)
    assert_target_holds_source(dbs, KEYED)
    with dbs.local_admin() as local:  # local-only rows survive an upsert
        assert local.execute("SELECT count(*) FROM public.users WHERE id > %s", (LOCAL_ONLY_ID_BASE,)).fetchone()[0] == 2
        assert local.execute('SELECT count(*) FROM public."WatchList" WHERE id > %s', (LOCAL_ONLY_ID_BASE,)).fetchone()[0] == 3


def test_the_same_run_twice_is_all_unchanged_and_rewrites_nothing(dbs, config) -> None:
    collect(config)
    with dbs.local_admin() as local:
        xid = current_xid(local)
    summary, events = collect(config)
    assert summary.inserted == summary.updated == summary.deleted == 0 and summary.unchanged > 0
    with dbs.local_admin() as local:
        for table in KEYED:
            assert rows_written_since(local, table, xid) == 0, table


def test_sync_through_the_ssh_tunnel(tmp_path, dbs, sshd) -> None:
    config = load(write_config(tmp_path, dbs, sshd))
    summary = run_sync(SyncRequest(source=config.profile("server"), target=config.profile("local"),
                                   tables=("users", "stocks"), batch_size=50))
    assert summary.inserted > 0
    assert_target_holds_source(dbs, ["public.users", "public.stocks"])


def test_composite_keys_small_batches_and_every_type(dbs, config) -> None:
    summary, events = collect(config, tables=("stocks", "price_history", "scan_rank", "scanner_settings", "users"),
                              batch_size=7)
    progress = [e for e in events if isinstance(e, Progress) and e.table == "public.price_history"]
    assert len(progress) > 10, "small batches commit one by one"
    settings_rows = [e.rows for e in events if isinstance(e, Progress) and e.table == "public.scanner_settings"]
    assert settings_rows[:5] == [7, 14, 21, 28, 35], "batches follow the key's own order (not its text)"
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history", "public.scan_rank",
                                     "public.scanner_settings", "public.users"])
    with dbs.local_admin() as local:  # jsonb, arrays with awkward elements, bytea, numeric, NULLs, Korean text
        row = local.execute("SELECT tags, settings, avatar FROM public.users WHERE avatar IS NOT NULL LIMIT 1").fetchone()
        assert row is not None and isinstance(row[2], bytes)
        assert local.execute("SELECT count(*) FROM public.users WHERE 'buy & hold, \"safe\"' = ANY(tags)").fetchone()[0] > 0


def test_replace_makes_the_target_equal_to_the_source(dbs, config) -> None:
    summary, events = collect(config, mode="replace")
    done = done_by_table(events)
    assert done["public.users"].deleted == 2 and done["public.audit_log"].inserted > 0
    with dbs.server_admin() as server, dbs.local_admin() as local:
        for table in SEED_TABLES:
            if table == "public.audit_log":
                assert all_rows(server, table) == all_rows(local, table)
            else:
                columns = shared_columns(server, local, table)
                assert rows_by_key(server, table, columns) == rows_by_key(local, table, columns), table
        assert local.execute("SELECT count(*) FROM public.local_notes").fetchone()[0] == 10  # not selected


def test_replace_that_fails_leaves_the_target_as_it_was(dbs, config) -> None:
    with dbs.local_admin() as local:
        local.execute("ALTER TABLE analytics.daily_summary ADD CONSTRAINT no_future CHECK (day < '2000-01-01') NOT VALID")
        before = {t: table_checksum(local, t) for t in SEED_TABLES}
    with pytest.raises(SyncError, match="daily_summary"):
        collect(config, mode="replace")
    with dbs.local_admin() as local:
        assert {t: table_checksum(local, t) for t in SEED_TABLES} == before


def test_dry_run_reports_and_writes_nothing(dbs, config) -> None:
    with dbs.local_admin() as local:
        before = {t: table_checksum(local, t) for t in SEED_TABLES}
        xid = current_xid(local)
    preview, events = collect(config, dry_run=True)
    assert preview.dry_run and preview.inserted > 0 and preview.updated > 0
    with dbs.local_admin() as local:
        assert {t: table_checksum(local, t) for t in SEED_TABLES} == before
        assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None
        assert all(rows_written_since(local, t, xid) == 0 for t in SEED_TABLES)
    real, _ = collect(config)
    assert (real.inserted, real.updated, real.unchanged) == (preview.inserted, preview.updated, preview.unchanged)
    replace_preview, _ = collect(config, mode="replace", dry_run=True)
    assert replace_preview.deleted >= 5  # local-only rows a replace would delete


def test_incremental_reads_only_newer_rows_with_an_overlap(dbs, config) -> None:
    first, _ = collect(config, mode="incremental", tables=("users",))
    assert first.inserted > 0
    with dbs.server_admin() as server:
        server.execute("UPDATE public.users SET display_name = display_name || ' (수정)', updated_at = now() "
                       "WHERE id IN (1, 2, 3)")
        # committed "late": its cursor is just behind the stored watermark, inside the overlap window
        server.execute("UPDATE public.users SET is_active = NOT is_active, "
                       "updated_at = (SELECT max(updated_at) FROM public.users WHERE id NOT IN (1, 2, 3)) - interval '1 minute' "
                       "WHERE id = 4")
    second, events = collect(config, mode="incremental", tables=("users",))
    assert second.updated == 4
    read = second.inserted + second.updated + second.unchanged
    assert read < first.inserted + first.updated + first.unchanged
    assert_target_holds_source(dbs, ["public.users"])
    third, _ = collect(config, mode="incremental", tables=("users",))
    assert third.updated == third.inserted == 0


def test_xmin_reads_only_rows_changed_since_the_last_run(dbs, config) -> None:
    first, _ = collect(config, mode="xmin", tables=("stocks",))
    with dbs.server_admin() as server:
        server.execute("UPDATE public.stocks SET sector = '반도체' WHERE symbol IN (SELECT symbol FROM public.stocks ORDER BY symbol LIMIT 2)")
    second, _ = collect(config, mode="xmin", tables=("stocks",))
    assert second.updated == 2 and second.inserted + second.updated + second.unchanged == 2
    assert_target_holds_source(dbs, ["public.stocks"])


def test_where_filters_the_named_table_only(dbs, config) -> None:
    summary, events = collect(config, tables=("users",), where="id <= 50")
    done = done_by_table(events)["public.users"]
    assert done.inserted + done.updated + done.unchanged == 50


@pytest.mark.parametrize("where, fragment", [
    ("id <= ", "syntax error"),
    ("1=1; DELETE FROM public.users", "bad --where"),
    ("1=1) TO STDOUT; DELETE FROM public.users; COPY (SELECT 1", "bad --where"),
    ("no_such_column = 1", "no_such_column"),
])
def test_bad_where_is_refused_and_nothing_is_written(dbs, config, where, fragment) -> None:
    with dbs.local_admin() as local:
        before = table_checksum(local, "public.users")
    with pytest.raises(SyncError, match=fragment):
        collect(config, tables=("users",), where=where)
    with dbs.local_admin() as local, dbs.server_admin() as server:
        assert table_checksum(local, "public.users") == before
        assert server.execute("SELECT count(*) FROM public.users").fetchone()[0] == 200


def test_masks_rewrite_at_the_source_and_keep_emails_unique(dbs, config) -> None:
    settings = SyncSettings(tables={"public.users": TableRules(mask={"email": "mask_email", "display_name": "redact",
                                                                      "avatar": "null"})})
    collect(config, tables=("users",), mode="replace", settings=settings)
    with dbs.local_admin() as local, dbs.server_admin() as server:
        emails = [r[0] for r in local.execute("SELECT email FROM public.users")]
        raw = {r[0] for r in server.execute("SELECT email FROM public.users")}
        assert len(emails) == len(set(emails)) == len(raw)
        assert not raw & set(emails) and all(e.endswith("@masked.invalid") for e in emails)
        assert local.execute("SELECT count(*) FROM public.users WHERE avatar IS NOT NULL").fetchone()[0] == 0
        assert local.execute("SELECT count(*) FROM public.users WHERE display_name !~ '^\\*+$'").fetchone()[0] == 0
    again, _ = collect(config, tables=("users",), settings=settings)
    assert again.updated == 0, "masks are deterministic: a re-run finds nothing changed"


def test_preserve_columns_keep_their_target_value(dbs, config) -> None:
    settings = SyncSettings(tables={"users": TableRules(preserve_columns=("is_active",))})
    with dbs.local_admin() as local:
        local.execute("UPDATE public.users SET is_active = false WHERE id = 1")
    with dbs.server_admin() as server:
        server.execute("UPDATE public.users SET is_active = true, display_name = '새 이름' WHERE id = 1")
    collect(config, tables=("users",), settings=settings)
    with dbs.local_admin() as local:
        assert local.execute("SELECT is_active, display_name FROM public.users WHERE id = 1").fetchone() == (False, "새 이름")


def test_missing_parent_rows_name_the_constraint_and_with_parents_fixes_it(dbs, config) -> None:
    with dbs.local_admin() as local:
        before = table_checksum(local, "public.price_history")
    _, preview = collect(config, tables=("price_history",), dry_run=True)
    warning = next(e for e in preview if isinstance(e, Notice) and e.kind == "warning" and "lacks" in e.message)
    assert "price_history_symbol_fkey" in warning.message and "would stop" in warning.message
    with pytest.raises(SyncError, match=r"public.price_history: rows reference public.stocks .*price_history_symbol_fkey.*--with-parents"):
        collect(config, tables=("price_history",))
    with dbs.local_admin() as local:
        assert table_checksum(local, "public.price_history") == before
    summary, events = collect(config, tables=("price_history",), with_parents=True)
    assert list(done_by_table(events)) == ["public.stocks", "public.price_history"]
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history"])


def test_plan_offers_the_parents_a_selection_needs(config) -> None:
    plan = plan_sync(request(config, tables=("scan_rank",)))
    assert {str(n.parent) for n in plan.missing_parents} == {"public.stocks", "public.scanner_settings"}


def test_table_without_key_upsert_error_but_replace_works(dbs, config) -> None:
    with pytest.raises(SyncError, match="public.audit_log has no primary key"):
        collect(config, tables=("audit_log",))
    summary, _ = collect(config, tables=("audit_log",), mode="replace")
    with dbs.server_admin() as server, dbs.local_admin() as local:
        assert all_rows(server, "public.audit_log") == all_rows(local, "public.audit_log")


def test_read_only_target_is_refused_and_untouched(dbs, tmp_path) -> None:
    config = load(write_config(tmp_path, dbs, local_read_only=True))
    with dbs.local_admin() as local:
        before = table_checksum(local, "public.users")
    with pytest.raises(ReadOnlyError, match="local is read-only"):
        run_sync(SyncRequest(source=config.profile("server_direct"), target=config.profile("local")))
    with pytest.raises(ReadOnlyError):
        run_sync(SyncRequest(source=config.profile("local"), target=config.profile("server_direct")))
    with dbs.local_admin() as local:
        assert table_checksum(local, "public.users") == before
        assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None


def test_generated_identity_and_sequences_work_after_a_sync(dbs, config) -> None:
    collect(config, mode="replace")
    with dbs.local_admin() as local:
        new_user = local.execute("INSERT INTO public.users (email, display_name) VALUES ('new@x.kr', '새 사용자') "
                                 "RETURNING id").fetchone()[0]
        assert new_user > local.execute("SELECT max(id) FROM public.users WHERE id <> %s", (new_user,)).fetchone()[0]
        local.execute("INSERT INTO public.scanner_settings (user_id, name) VALUES (%s, 'x')", (new_user,))
        local.execute('INSERT INTO public."WatchList" (user_id, symbol) VALUES (%s, (SELECT min(symbol) FROM public.stocks))',
                      (new_user,))
        assert local.execute("SELECT count(*) FROM public.stocks WHERE display_name <> symbol || ' ' || name").fetchone()[0] == 0
    with dbs.server_admin() as server, dbs.local_admin() as local:
        assert rows_by_key(server, 'public."WatchList"', ["id", "symbol"]).items() <= rows_by_key(
            local, 'public."WatchList"', ["id", "symbol"]).items()


def test_quoted_mixed_case_and_unicode_identifiers(dbs, config) -> None:
    ddl = 'CREATE TABLE public."종목 메모" ("ID" int PRIMARY KEY, "메모" text, "Weird.Col" numeric)'
    for admin in (dbs.server_admin, dbs.local_admin):
        with admin() as conn:
            conn.execute(ddl)
            conn.execute("GRANT ALL ON ALL TABLES IN SCHEMA public TO app")
    with dbs.server_admin() as server:
        server.execute('INSERT INTO public."종목 메모" SELECT g, \'메모 \' || g, g / 3.0 FROM generate_series(1, 30) g')
    summary, _ = collect(config, tables=('"종목 메모"', "WatchList"), with_parents=True, batch_size=4)
    assert_target_holds_source(dbs, ['public."종목 메모"', 'public."WatchList"'])


def test_two_syncs_into_the_same_table_do_not_interleave(dbs, config) -> None:
    events_a, events_b = [], []
    errors = []

    def sync(events):
        try:
            run_sync(request(config, tables=("price_history",), with_parents=True, batch_size=50),
                     on_event=events.append)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=sync, args=(e,)) for e in (events_a, events_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    waited = [e for e in events_a + events_b if isinstance(e, Notice) and e.kind == "waiting"]
    assert waited, "the second run waits for the first one's lock"
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history"])


def test_cancel_keeps_the_checkpoint_and_a_rerun_finishes(dbs, config) -> None:
    cancel = threading.Event()
    seen = []

    def on_event(event):
        seen.append(event)
        if isinstance(event, Progress) and event.table == "public.price_history" and event.rows >= 300:
            cancel.set()

    # The copy path's checkpoint is what this proves (auto would diff a target this full).
    summary = run_sync(request(config, tables=("price_history",), with_parents=True, batch_size=100,
                               strategy="copy"), on_event=on_event, cancel=cancel)
    assert summary.cancelled
    with dbs.local_admin() as local:
        rows_done = local.execute("SELECT rows_done FROM _dbconsole.checkpoint WHERE table_name = 'price_history'").fetchone()
        assert rows_done and rows_done[0] >= 300
    resumed = []
    run_sync(request(config, tables=("price_history",), with_parents=True, batch_size=100), on_event=resumed.append)
    # auto resumes an interrupted copy rather than diffing (the next assertion needs it).
    starts = [e for e in resumed if getattr(e, "table", None) == "public.price_history" and e.event == "table_start"]
    assert starts[0].resume_rows >= 300
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history"])


def test_source_restarted_mid_sync_is_survived_by_retry(dbs, config, pg_server) -> None:
    restarted = threading.Event()

    def on_event(event):
        if isinstance(event, Progress) and event.table == "public.price_history" and not restarted.is_set():
            restarted.set()
            pg_server.restart()

    events = []

    def record(event):
        events.append(event)
        on_event(event)

    summary = run_sync(request(config, tables=("price_history",), with_parents=True, batch_size=200), on_event=record)
    assert restarted.is_set() and not summary.cancelled
    assert any(isinstance(e, Notice) and e.kind == "retry" for e in events)
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history"])


def test_target_type_mismatch_is_refused_before_writing(dbs, config) -> None:
    with dbs.local_admin() as local:
        local.execute("ALTER TABLE public.stocks ALTER COLUMN listed_on TYPE text")
        local.execute("ALTER TABLE public.stocks DROP COLUMN sector")
    summary, events = collect(config, tables=("stocks",))  # date -> text is a safe widening
    plan = next(e for e in events if e.event == "plan")
    assert any("sector" in w for w in plan.tables[0].warnings)
    with dbs.local_admin() as local:
        local.execute("ALTER TABLE public.stocks ALTER COLUMN listed_on TYPE integer USING 0")
        before = table_checksum(local, "public.stocks")
    with pytest.raises(SyncError, match="column listed_on is date on server_direct but integer on local"):
        collect(config, tables=("stocks",))
    with dbs.local_admin() as local:
        assert table_checksum(local, "public.stocks") == before
