"""Sync history and undo against the real clusters: every run recorded on the target, and
``undo`` puts the target back exactly (checksums of every table the run wrote)."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from tests.cli_checks import assert_one_line, run_cli
from tests.diff_checks import on_local, on_server
from tests.profiles import write_config
from tests.sync_checks import assert_target_holds_source, table_checksum
from tests.test_sync_resume import kill_at_random

UPSERT_TABLES = ["public.stocks", "public.price_history"]


def checksums(dbs, tables: list[str]) -> dict[str, tuple[int, str]]:
    with dbs.local_admin() as conn:
        return {t: table_checksum(conn, t) for t in tables}


def sync(capsys, config: Path, *args: str) -> None:
    code, _, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                           "--yes", "--json", *args)
    assert code == 0, err


def history(capsys, config: Path, *args: str) -> list[dict]:
    code, out, err = run_cli(capsys, "--config", str(config), "history", "--json", *args)
    assert code == 0, err
    return json.loads(out)["runs"]


def undo(capsys, config: Path, run_id: int) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), "undo", str(run_id), "--profile", "local", "--yes", "--json")


def undo_stores(dbs) -> list[str]:
    with dbs.local_admin() as conn:
        return [r[0] for r in conn.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = '_dbconsole' AND relkind = 'r' AND relname LIKE 'undo\\_%' ORDER BY 1").fetchall()]


def drift_server(dbs) -> None:
    """Changes on the source so that a sync updates, inserts and (mirror, replace) deletes rows."""
    on_server(dbs, "UPDATE public.price_history SET volume = volume + 1 WHERE trade_date IN "
                   "(SELECT DISTINCT trade_date FROM public.price_history ORDER BY 1 LIMIT 3)")
    on_server(dbs, "UPDATE public.sectors SET fee_rate = fee_rate + 0.0001 WHERE code IN "
                   "(SELECT code FROM public.sectors ORDER BY code LIMIT 3)")
    on_server(dbs, "UPDATE analytics.daily_summary SET avg_score = coalesce(avg_score, 0) + 1 WHERE day IN "
                   "(SELECT day FROM analytics.daily_summary ORDER BY day LIMIT 2)")
    on_local(dbs, "INSERT INTO public.sectors (code, name, fee_rate) VALUES ('ZZ-LOCAL', 'only here', 0.1)")
    on_local(dbs, "INSERT INTO analytics.daily_summary (day, stats) VALUES ('1999-01-01', '{\"local\": true}')")
    on_local(dbs, "INSERT INTO public.audit_log VALUES (999999, now(), 'only here')")


# --------------------------------------------------------------------------- history


def test_every_run_is_recorded_with_counts_source_and_version_and_a_dry_run_is_not(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    sync(capsys, config, "--tables", "price_history", "--with-parents", "--dry-run")
    assert history(capsys, config) == []
    sync(capsys, config, "--tables", "price_history", "--with-parents", "--strategy", "copy")
    [run] = history(capsys, config)
    assert run["outcome"] == "ok" and run["source"] == "server_direct" and run["undo"] == "kept"
    assert run["ended_at"] and run["version"]
    assert dbs.server.password not in json.dumps(run) and str(dbs.server.port) in run["source_host"]
    tables = {t["table"]: t for t in run["tables"]}
    assert set(tables) == set(UPSERT_TABLES) and all(t["finished"] for t in tables.values())
    with dbs.local_admin() as conn:
        last = conn.execute("SELECT inserted, updated FROM _dbconsole.history WHERE table_name = 'price_history' "
                            "ORDER BY id DESC LIMIT 1").fetchone()
    assert (tables["public.price_history"]["inserted"], tables["public.price_history"]["updated"]) == last
    assert tables["public.price_history"]["inserted"] > 0
    code, out, err = run_cli(capsys, "--config", str(config), "history", "--profile", "local")
    assert code == 0, err
    assert str(run["run"]) in out and "ok" in out and "available" in out


def test_history_of_a_database_never_synced_into_is_empty(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    code, out, err = run_cli(capsys, "--config", str(config), "history", "--profile", "server_direct")
    assert code == 0, err
    assert "No sync runs recorded on server_direct" in out


# --------------------------------------------------------------------------- undo restores exactly


@pytest.mark.parametrize("strategy", ["copy", "diff"])
def test_undo_after_upsert_restores_every_checksum(dbs, tmp_path, capsys, strategy):
    config = write_config(tmp_path, dbs)
    drift_server(dbs)
    before = checksums(dbs, UPSERT_TABLES)
    sync(capsys, config, "--tables", "price_history", "--with-parents", "--strategy", strategy)
    assert checksums(dbs, UPSERT_TABLES) != before
    [run] = history(capsys, config)
    assert sum(t["inserted"] + t["updated"] for t in run["tables"]) > 0
    code, out, err = undo(capsys, config, run["run"])
    assert code == 0, err
    assert checksums(dbs, UPSERT_TABLES) == before
    assert sum(t["restored"] + t["removed"] for t in json.loads(out)["tables"]) > 0
    [run] = history(capsys, config)
    assert run["undo"] == "undone" and run["undone_at"]
    assert undo_stores(dbs) == []
    code, _, err = undo(capsys, config, run["run"])
    assert_one_line(code, err, 1, "already undone")


def test_undo_after_replace_restores_keyed_and_keyless_tables(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    drift_server(dbs)
    tables = ["public.sectors", "public.audit_log"]
    before = checksums(dbs, tables)
    sync(capsys, config, "--tables", "sectors,audit_log", "--mode", "replace")
    assert checksums(dbs, tables) != before
    [run] = history(capsys, config)
    code, _, err = undo(capsys, config, run["run"])
    assert code == 0, err
    assert checksums(dbs, tables) == before


def test_undo_after_mirror_puts_deleted_rows_back(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    drift_server(dbs)
    tables = ["public.sectors", "analytics.daily_summary"]
    before = checksums(dbs, tables)
    sync(capsys, config, "--tables", "sectors,analytics.daily_summary", "--mode", "mirror")
    [run] = history(capsys, config)
    assert sum(t["deleted"] for t in run["tables"]) >= 2
    with dbs.local_admin() as conn:
        assert conn.execute("SELECT count(*) FROM public.sectors WHERE code = 'ZZ-LOCAL'").fetchone()[0] == 0
    code, _, err = undo(capsys, config, run["run"])
    assert code == 0, err
    assert checksums(dbs, tables) == before


# --------------------------------------------------------------------------- refusals


def test_undo_of_an_older_run_whose_rows_a_later_run_changed_is_refused(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    before = checksums(dbs, ["public.sectors"])
    on_server(dbs, "UPDATE public.sectors SET fee_rate = fee_rate + 0.0001")
    sync(capsys, config, "--tables", "sectors")
    on_server(dbs, "UPDATE public.sectors SET name_en = coalesce(name_en, '') || '!'")
    sync(capsys, config, "--tables", "sectors")
    first, second = sorted(r["run"] for r in history(capsys, config))
    code, _, err = undo(capsys, config, first)
    assert_one_line(code, err, 1, f"later run {second} changed rows that run {first} wrote", "undo it first")
    assert undo(capsys, config, second)[0] == 0
    assert undo(capsys, config, first)[0] == 0
    assert checksums(dbs, ["public.sectors"]) == before


def test_a_replace_into_an_empty_table_still_stands_for_every_row_of_it(dbs, tmp_path, capsys):
    """Its store is empty, yet undoing it empties the table: a later run's rows there block it."""
    config = write_config(tmp_path, dbs)
    on_local(dbs, "DELETE FROM public.sectors")
    sync(capsys, config, "--tables", "sectors", "--mode", "replace")
    on_server(dbs, "UPDATE public.sectors SET fee_rate = fee_rate + 0.0001")
    sync(capsys, config, "--tables", "sectors")
    first, second = sorted(r["run"] for r in history(capsys, config))
    code, _, err = undo(capsys, config, first)
    assert_one_line(code, err, 1, f"later run {second} changed rows that run {first} wrote")
    assert undo(capsys, config, second)[0] == 0
    assert undo(capsys, config, first)[0] == 0
    with dbs.local_admin() as conn:
        assert conn.execute("SELECT count(*) FROM public.sectors").fetchone()[0] == 0


def test_an_unrelated_later_run_does_not_block_undo(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    drift_server(dbs)
    before = checksums(dbs, ["public.sectors"])
    sync(capsys, config, "--tables", "sectors")
    sync(capsys, config, "--tables", "analytics.daily_summary")
    first = min(r["run"] for r in history(capsys, config))
    assert undo(capsys, config, first)[0] == 0
    assert checksums(dbs, ["public.sectors"]) == before


def test_pruning_keeps_exactly_undo_keep_runs_and_a_pruned_run_says_so(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs, extra={"sync": {"undo_keep_runs": 2}})
    for step in range(4):
        on_server(dbs, f"UPDATE public.sectors SET fee_rate = fee_rate + 0.0001 WHERE code = "
                       f"(SELECT code FROM public.sectors ORDER BY code OFFSET {step} LIMIT 1)")
        sync(capsys, config, "--tables", "sectors")
    runs = history(capsys, config)
    assert [r["undo"] for r in runs] == ["kept", "kept", "pruned", "pruned"]
    assert len(undo_stores(dbs)) == 2
    code, _, err = undo(capsys, config, runs[-1]["run"])
    assert_one_line(code, err, 1, "pruned")


def test_undo_keep_runs_zero_keeps_nothing_and_undo_says_why(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs, extra={"sync": {"undo_keep_runs": 0}})
    drift_server(dbs)
    sync(capsys, config, "--tables", "sectors")
    [run] = history(capsys, config)
    assert run["undo"] == "off" and run["outcome"] == "ok"
    assert undo_stores(dbs) == []
    code, _, err = undo(capsys, config, run["run"])
    assert_one_line(code, err, 1, "kept no pre-images", "undo_keep_runs")


def test_undo_refuses_a_read_only_target_an_unknown_run_and_an_unconfirmed_prompt(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    code, _, err = run_cli(capsys, "--config", str(config), "undo", "1", "--profile", "server_direct", "--yes")
    assert_one_line(code, err, 2, "read-only")
    code, _, err = undo(capsys, config, 12345)
    assert_one_line(code, err, 1, "no run 12345")
    code, _, err = run_cli(capsys, "--config", str(config), "undo", "1", "--profile", "local")
    assert_one_line(code, err, 2, "--yes")
    code, _, err = run_cli(capsys, "--config", str(config), "sync", "--to", "local", "--from", "server_direct",
                           "--tables", "sectors", "--yes", "--json")
    assert code == 0, err
    write_config(tmp_path, dbs, extra={"sync": {"undo_keep_runs": -1}})
    code, _, err = run_cli(capsys, "--config", str(config), "history")
    assert_one_line(code, err, 2, "undo_keep_runs")


# --------------------------------------------------------------------------- SIGKILL


def test_a_killed_run_leaves_history_and_pre_images_as_committed_and_undo_restores_it(dbs, tmp_path, capsys):
    config = write_config(tmp_path, dbs)
    drift_server(dbs)
    before = checksums(dbs, UPSERT_TABLES)
    what, _ = kill_at_random(config, random.Random(7), 0, at_batch=3)
    assert what == "killed"
    [killed] = history(capsys, config)
    assert killed["outcome"] == "interrupted" and killed["ended_at"] is None
    tables = {t["table"]: t for t in killed["tables"]}
    assert not tables["public.price_history"]["finished"]
    with dbs.local_admin() as conn:
        for position, name in enumerate(UPSERT_TABLES):
            kept = dict(conn.execute(f"SELECT dbconsole_undo_op::text, count(*) FROM _dbconsole.undo_{killed['run']}_"
                                     f"{position} GROUP BY 1").fetchall())
            assert (kept.get("i", 0), kept.get("u", 0)) == (tables[name]["inserted"], tables[name]["updated"]), name
        done = conn.execute("SELECT rows_done FROM _dbconsole.checkpoint WHERE table_name = 'price_history'").fetchone()
    counted = tables["public.price_history"]
    assert done is not None and done[0] == counted["inserted"] + counted["updated"] + counted["unchanged"] > 0

    # The re-run resumes it and is recorded as a run of its own that says so.
    rerun = subprocess.run(kill_command_rest(config), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    newest, older = history(capsys, config)
    assert newest["resumes"] == killed["run"] and newest["outcome"] == "ok" and older["outcome"] == "interrupted"
    # The re-run's price rows point at stocks the killed run inserted: that one waits for the newer.
    code, _, err = undo(capsys, config, killed["run"])
    assert_one_line(code, err, 1, "public.price_history", "point at rows it inserted into public.stocks")
    code, _, err = undo(capsys, config, newest["run"])
    assert code == 0, err
    code, _, err = undo(capsys, config, killed["run"])
    assert code == 0, err
    assert checksums(dbs, UPSERT_TABLES) == before


def kill_command_rest(config: Path) -> list[str]:
    from tests.test_sync_resume import sync_command

    return sync_command(config)


def test_a_jobs_run_with_split_tables_is_recorded_and_undone_exactly(dbs, tmp_path, capsys):
    """Key ranges written side by side keep their pre-images and add up their counts in history."""
    config = write_config(tmp_path, dbs, extra={"sync": {"split_rows": 200}})
    drift_server(dbs)
    on_local(dbs, "DELETE FROM public.price_history WHERE trade_date IN "
                  "(SELECT DISTINCT trade_date FROM public.price_history ORDER BY 1 DESC LIMIT 2)")
    before = checksums(dbs, UPSERT_TABLES)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--json", "--tables", "price_history", "--with-parents", "--strategy", "copy",
                             "--jobs", "4", "--batch-size", "100")
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert any(e["event"] == "notice" and e.get("kind") == "split" and e["table"] == "public.price_history"
               for e in events)
    done = {e["table"]: e for e in events if e["event"] == "table_done"}
    assert done["public.price_history"]["inserted"] > 0 and done["public.price_history"]["updated"] > 0
    [run] = history(capsys, config)
    recorded = {t["table"]: t for t in run["tables"]}
    for kind in ("inserted", "updated", "unchanged"):
        assert recorded["public.price_history"][kind] == done["public.price_history"][kind], kind
    code, _, err = undo(capsys, config, run["run"])
    assert code == 0, err
    assert checksums(dbs, UPSERT_TABLES) == before


def test_after_an_undo_last_synced_and_the_incremental_cursor_forget_the_undone_run(dbs, tmp_path, capsys):
    from dbconsole.sync.state import last_synced
    from dbconsole.names import TableName

    config = write_config(tmp_path, dbs)
    users = TableName("public", "users")
    sync(capsys, config, "--tables", "users", "--mode", "incremental")
    with dbs.local_admin() as conn:
        first = last_synced(conn)[users].finished_at
    before = checksums(dbs, ["public.users"])
    # Rows 1-3 change; row 5's cursor jumps far ahead, so the next watermark leaves 1-3 well
    # behind the overlap window.
    on_server(dbs, "UPDATE public.users SET display_name = display_name || ' (new)', updated_at = now() "
                   "WHERE id IN (1, 2, 3)",
              "UPDATE public.users SET updated_at = now() + interval '1 day' WHERE id = 5")
    sync(capsys, config, "--tables", "users", "--mode", "incremental")
    latest = history(capsys, config)[0]
    assert latest["tables"][0]["updated"] >= 4
    code, _, err = undo(capsys, config, latest["run"])
    assert code == 0, err
    assert checksums(dbs, ["public.users"]) == before
    with dbs.local_admin() as conn:
        assert last_synced(conn)[users].finished_at == first  # the sync the data reflects again
        assert conn.execute("SELECT count(*) FROM _dbconsole.watermark WHERE table_name = 'users'").fetchone()[0] == 0
    sync(capsys, config, "--tables", "users", "--mode", "incremental")  # no watermark: reads it all once
    assert_target_holds_source(dbs, ["public.users"])  # rows 1-3 too, though their cursor is behind
