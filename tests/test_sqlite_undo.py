"""Undo of runs synced from a real SQLite file into real PostgreSQL, like any PostgreSQL-source run:
the inserted keys and overwritten rows are kept in each batch's transaction, ``undo`` puts the
target back exactly (per-row checksums), later runs block it, pruning counts these runs too, and
a SIGKILL leaves history and pre-images as committed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import tomli_w

from tests.cli_checks import assert_one_line, run_cli
from tests.django_sqlite import TABLES, row_checksums
from tests.test_sqlite_source import project, sync  # noqa: F401  (project is a fixture)


def runs(capsys, project) -> list[dict[str, Any]]:
    """The target's history, newest first."""
    code, out, err = run_cli(capsys, "--config", project["config"], "history", "--profile", "local", "--json")
    assert code == 0, err
    return json.loads(out)["runs"]


def undo(capsys, project, run_id: int) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", project["config"], "undo", str(run_id), "--profile", "local", "--yes", "--json")


def target_checksums(project) -> dict[str, dict[int, str]]:
    with project["dbs"].local_admin() as local:
        return {table: row_checksums(local, table) for table in TABLES}


def kept_ops(project, run_id: int, position: int) -> dict[str, int]:
    with project["dbs"].local_admin() as local:
        return dict(local.execute(f"SELECT dbconsole_undo_op::text, count(*) FROM _dbconsole.undo_{run_id}_{position} "
                                  "GROUP BY 1").fetchall())


def change_sqlite(project, step: int = 1) -> None:
    """Rows the next sync overwrites (customers, orders) and rows it inserts (orders)."""
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_customer SET is_active = 1 - is_active, email = 'changed' || ? || email "
                     "WHERE id % 7 = 0", (step,))
        conn.execute("UPDATE shop_order SET total = total + ?, note = 'changed' WHERE id % 10 = 0", (step,))
        conn.execute("INSERT INTO shop_order (id, placed_at, paid, total, note, customer_id) "
                     "SELECT id + 1000000 * ?, placed_at, paid, total, 'new', customer_id FROM shop_order "
                     "WHERE id <= 100", (step,))


def write_keep_runs(project, keep: int) -> None:
    config = Path(project["config"])
    text = config.read_text(encoding="utf-8")
    config.write_text(text + "\n" + tomli_w.dumps({"sync": {"undo_keep_runs": keep}}), encoding="utf-8")


def test_undo_of_a_sqlite_upsert_into_a_target_holding_rows_restores_every_checksum(project, capsys):
    empty = target_checksums(project)
    code, _, err = sync(capsys, project)  # an empty target: straight in, the inserted keys kept
    assert code == 0, err
    loaded = target_checksums(project)
    change_sqlite(project)
    code, _, err = sync(capsys, project)  # through the stage: pre-images of the overwritten rows kept
    assert code == 0, err
    second, first = runs(capsys, project)
    assert second["undo"] == first["undo"] == "kept"
    orders = {t["table"]: t for t in second["tables"]}["public.shop_order"]
    assert orders["inserted"] == 50 and orders["updated"] == 200  # ids 2..100: 50 new; ids 2..2000, every 5th
    position = [t["table"] for t in second["tables"]].index("public.shop_order")
    assert kept_ops(project, second["run"], position) == {"i": 50, "u": 200}
    assert target_checksums(project) != loaded

    code, out, err = undo(capsys, project, second["run"])
    assert code == 0, err
    undone = {t["table"]: t for t in json.loads(out)["tables"]}
    assert undone["public.shop_order"] == {"table": "public.shop_order", "restored": 200, "removed": 50}
    assert target_checksums(project) == loaded  # overwritten rows back, inserted rows gone
    code, _, err = undo(capsys, project, first["run"])
    assert code == 0, err
    assert target_checksums(project) == empty
    assert [r["undo"] for r in runs(capsys, project)] == ["undone", "undone"]


def test_undo_of_a_sqlite_run_whose_rows_a_later_run_changed_is_refused(project, capsys):
    assert sync(capsys, project)[0] == 0
    change_sqlite(project, 1)
    assert sync(capsys, project)[0] == 0
    loaded_then_changed = target_checksums(project)
    change_sqlite(project, 2)  # the same customers and orders again
    assert sync(capsys, project)[0] == 0
    third, second, first = runs(capsys, project)
    code, _, err = undo(capsys, project, second["run"])
    assert_one_line(code, err, 1, f"later run {third['run']} changed rows that run {second['run']} wrote", "first")
    code, _, err = undo(capsys, project, first["run"])
    assert_one_line(code, err, 1, "later runs", "changed rows")
    assert undo(capsys, project, third["run"])[0] == 0
    assert target_checksums(project) == loaded_then_changed


def test_pruning_counts_sqlite_runs_with_postgres_source_runs(project, capsys):
    write_keep_runs(project, 2)
    for step in range(1, 5):
        if step == 2:  # a PostgreSQL-source run into the same target, between SQLite ones
            code, _, err = run_cli(capsys, "--config", project["config"], "sync", "--from", "reference", "--to",
                                   "local", "--tables", "shop_customer", "--yes", "--json")
        else:
            change_sqlite(project, step)
            code, _, err = sync(capsys, project, "--tables", "shop_customer")
        assert code == 0, err
    history = runs(capsys, project)
    assert [r["source"] for r in history] == ["lite", "lite", "reference", "lite"]
    assert [r["undo"] for r in history] == ["kept", "kept", "pruned", "pruned"]
    with project["dbs"].local_admin() as local:
        stores = [r[0] for r in local.execute("SELECT relname FROM pg_class c JOIN pg_namespace n ON "
                                              "n.oid = c.relnamespace WHERE n.nspname = '_dbconsole' AND "
                                              "relname LIKE 'undo\\_%' AND relkind = 'r' ORDER BY 1").fetchall()]
    assert stores == sorted(f"undo_{r['run']}_0" for r in history[:2])
    assert_one_line(*undo(capsys, project, history[-1]["run"])[::2], 1, "pruned")


def test_undo_keep_runs_zero_keeps_nothing_of_a_sqlite_run_and_undo_says_so(project, capsys):
    write_keep_runs(project, 0)
    assert sync(capsys, project)[0] == 0
    [run] = runs(capsys, project)
    assert run["undo"] == "off" and run["outcome"] == "ok"
    code, _, err = undo(capsys, project, run["run"])
    assert_one_line(code, err, 1, "kept no pre-images", "undo_keep_runs was 0")


def test_a_sigkill_mid_sqlite_run_leaves_history_and_pre_images_as_committed(project, capsys):
    assert sync(capsys, project)[0] == 0
    loaded = target_checksums(project)
    with sqlite3.connect(project["path"]) as conn:  # every order overwritten: each batch keeps pre-images
        conn.execute("UPDATE shop_order SET total = total + 1")
    command = [sys.executable, "-m", "dbconsole", "--config", project["config"], "sync", "--from", "lite", "--to",
               "local", "--json", "--batch-size", "16", "--tables", "shop_order"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=Path(project["config"]).parent)
    batches = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if '"event": "progress"' in line:
            batches += 1
            if batches == 3:  # three batches committed, the next in flight
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    killed, _ = runs(capsys, project)
    assert killed["outcome"] == "interrupted"
    [table] = killed["tables"]
    assert not table["finished"] and table["updated"] >= 48 and table["inserted"] == 0
    assert kept_ops(project, killed["run"], 0) == {"u": table["updated"]}  # exactly what was committed
    with project["dbs"].local_admin() as local:
        [done] = local.execute("SELECT rows_done FROM _dbconsole.checkpoint WHERE table_name = 'shop_order'").fetchone()
    assert done == table["updated"] + table["unchanged"]

    code, _, err = sync(capsys, project, "--tables", "shop_order")  # resumes, a run of its own
    assert code == 0, err
    resumed, killed_again, _ = runs(capsys, project)
    assert resumed["resumes"] == killed["run"] and killed_again["outcome"] == "interrupted"
    assert resumed["tables"][0]["updated"] == 1000 - table["updated"]
    assert undo(capsys, project, resumed["run"])[0] == 0
    assert undo(capsys, project, killed["run"])[0] == 0
    assert target_checksums(project) == loaded


def test_a_text_keyed_table_loaded_straight_in_keeps_its_keys_and_undoes(project, capsys):
    """Text keys: SQLite's BINARY order is not the target's collation, so the inserted keys
    themselves are kept (not a key range); the undo removes exactly them."""
    codes = ["a", "B", "b", "Z", "é", "É", "a b", "a-b", "_x", "10", "9"]
    with sqlite3.connect(project["path"]) as conn:
        conn.execute('CREATE TABLE "shop_tag" ("code" varchar(20) NOT NULL PRIMARY KEY, "label" text NULL)')
        conn.executemany("INSERT INTO shop_tag VALUES (?, ?)", [(c, f"tag {c}") for c in codes])
    with project["dbs"].local_admin() as local:
        # A linguistic collation where the cluster has one (ICU's root): 'a' < 'B' < 'b', unlike BINARY.
        icu = local.execute("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'").fetchone()
        collate = ' COLLATE "und-x-icu"' if icu else ""
        local.execute(f"CREATE TABLE shop_tag (code varchar(20){collate} PRIMARY KEY, label text)")
        local.execute(f"ALTER TABLE shop_tag OWNER TO {project['dbs'].local.user}")
    code, _, err = sync(capsys, project, "--tables", "shop_tag", "--batch-size", "3")
    assert code == 0, err
    [run] = runs(capsys, project)
    assert run["tables"][0]["inserted"] == len(codes)
    with project["dbs"].local_admin() as local:
        kept = [r[0] for r in local.execute(f"SELECT code FROM _dbconsole.undo_{run['run']}_0").fetchall()]
    assert sorted(kept) == sorted(codes)  # each key once
    with project["dbs"].local_admin() as local:  # the app adds a row after the run: undo leaves it
        local.execute("INSERT INTO shop_tag VALUES ('later', 'written after the run')")
    assert undo(capsys, project, run["run"])[0] == 0
    with project["dbs"].local_admin() as local:
        assert local.execute("SELECT code FROM shop_tag").fetchall() == [("later",)]
