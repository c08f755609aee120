"""``sync --strategy diff|auto|copy`` and ``--mode mirror`` against the real clusters.

The diff strategy must end row for row where a copy ends, while reading only the rows that
differ (``rows_read``), and skip equal key ranges (``ranges_skipped``); mirror must also delete
the target's extra rows, children first, and end identical.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dbconsole.config import ConfigError
from dbconsole.sync.by_diff import choose_strategy
from tests.cli_checks import run_cli
from tests.diff_checks import on_both, on_local, on_server
from tests.profiles import load, write_config
from tests.sync_checks import rows_by_key, shared_columns, table_checksum

SEEDED = ["public.users", "public.stocks", "public.price_history", "public.scan_rank", 'public."WatchList"',
          "analytics.daily_summary"]
BIG = 30_000


def sync_json(capsys, config: Path, *args: str) -> list[dict]:
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--json", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def done_by_table(events: list[dict]) -> dict[str, dict]:
    return {e["table"]: e for e in events if e["event"] == "table_done"}


def assert_target_holds_source(dbs, tables: list[str]) -> None:
    with dbs.server_admin() as server, dbs.local_admin() as local:
        for table in tables:
            columns = shared_columns(server, local, table)
            source, target = rows_by_key(server, table, columns), rows_by_key(local, table, columns)
            assert {k: v for k, v in target.items() if k in source} == source, table


def create_big(dbs, rows: int = BIG) -> None:
    on_both(dbs, "CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL, n numeric, t timestamptz)")
    on_server(dbs, f"INSERT INTO public.big SELECT g, md5(g::text), g / 7.0, '2026-01-01'::timestamptz + g * interval '1 min'"
                   f" FROM generate_series(1, {rows}) g")


# --------------------------------------------------------------------------- choosing, no server


def test_auto_diffs_a_mostly_full_target_and_copies_an_empty_one() -> None:
    from dataclasses import replace as dc_replace

    from dbconsole.catalog import Column, Table
    from dbconsole.sync.plan import TablePlan
    from dbconsole.names import TableName

    def table(rows: int | None) -> Table:
        return Table("public", "t", "r", rows, 0, (Column("id", "bigint", 20, True, False, False, "", True),), ("id",), (), ())

    plan = TablePlan(TableName("public", "t"), table(1000), table(900), "upsert", ["id"], ("id",), "binary", 1000)
    assert choose_strategy(plan, "auto", target_empty=False, resuming=False) == ("diff", None)
    assert choose_strategy(dc_replace(plan, target=table(100)), "auto", target_empty=False, resuming=False)[0] == "copy"
    assert choose_strategy(plan, "auto", target_empty=True, resuming=False)[0] == "copy"
    assert choose_strategy(plan, "auto", target_empty=False, resuming=True)[0] == "copy"  # finish the copy
    assert choose_strategy(plan, "copy", target_empty=False, resuming=False)[0] == "copy"
    assert choose_strategy(dc_replace(plan, mode="mirror"), "copy", target_empty=True, resuming=False)[0] == "diff"
    chosen, why = choose_strategy(dc_replace(plan, where="id > 3"), "diff", target_empty=False, resuming=False)
    assert chosen == "copy" and "--where" in why
    chosen, why = choose_strategy(dc_replace(plan, mode="incremental"), "diff", target_empty=False, resuming=False)
    assert chosen == "copy" and "upsert and mirror" in why


def test_strategy_config_key_is_validated(tmp_path, empty_dbs) -> None:
    config = load(write_config(tmp_path, empty_dbs, extra={"sync": {"strategy": "diff"}}))
    assert config.sync.strategy == "diff"
    with pytest.raises(ConfigError, match="strategy"):
        load(write_config(tmp_path / "bad", empty_dbs, extra={"sync": {"strategy": "fastest"}}))


# --------------------------------------------------------------------------- the seeded data


def test_diff_strategy_on_the_seeded_data_ends_like_a_copy_and_rereads_nothing(dbs, tmp_path, capsys) -> None:
    config = write_config(tmp_path, dbs)
    first = done_by_table(sync_json(capsys, config, "--strategy", "diff"))
    assert_target_holds_source(dbs, SEEDED)
    assert all(e["strategy"] == "diff" for e in first.values())
    assert sum(e["rows_read"] for e in first.values()) < sum(e["inserted"] + e["updated"] + e["unchanged"]
                                                            for e in first.values())
    for event in first.values():  # rows read are exactly the rows written or found equal among them
        assert event["rows_read"] >= event["inserted"] + event["updated"]
    again = done_by_table(sync_json(capsys, config, "--strategy", "diff"))
    for name, event in again.items():
        assert (event["rows_read"], event["inserted"], event["updated"]) == (0, 0, 0), name
        assert event["unchanged"] == first[name]["inserted"] + first[name]["updated"] + first[name]["unchanged"]
    # Ranges holding target-only rows still differ (upsert keeps those rows), the others are skipped.
    assert again["public.price_history"]["ranges_skipped"] >= 1
    assert_target_holds_source(dbs, SEEDED)


def test_one_percent_changed_reads_about_one_percent(empty_dbs, tmp_path, capsys) -> None:
    create_big(empty_dbs)
    config = write_config(tmp_path, empty_dbs)
    full = done_by_table(sync_json(capsys, config, "--tables", "big"))["public.big"]  # auto: empty target, copy
    assert (full["strategy"], full["rows_read"], full["inserted"]) == ("copy", BIG, BIG)
    on_server(empty_dbs, "UPDATE public.big SET payload = 'changed' WHERE id % 100 = 7",
              f"INSERT INTO public.big VALUES ({BIG + 1}, 'new', 1, now())", "DELETE FROM public.big WHERE id = 5",
              "ANALYZE public.big")
    on_local(empty_dbs, "ANALYZE public.big")
    event = done_by_table(sync_json(capsys, config, "--tables", "big"))["public.big"]  # auto: diff
    assert event["strategy"] == "diff"
    assert (event["updated"], event["inserted"], event["deleted"]) == (BIG // 100, 1, 0)
    assert event["rows_read"] == BIG // 100 + 1
    assert event["unchanged"] == BIG - 1 - BIG // 100
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        local.execute("DELETE FROM public.big WHERE id = 5")  # upsert keeps it; the rest must be equal
        assert table_checksum(local, "public.big") == table_checksum(server, "public.big")


def test_dry_run_by_diff_says_how_many_rows_would_cross(empty_dbs, tmp_path, capsys) -> None:
    create_big(empty_dbs, 5_000)
    config = write_config(tmp_path, empty_dbs)
    sync_json(capsys, config, "--tables", "big")
    on_server(empty_dbs, "UPDATE public.big SET n = -1 WHERE id <= 40")
    event = done_by_table(sync_json(capsys, config, "--tables", "big", "--strategy", "diff", "--dry-run"))["public.big"]
    assert (event["rows_read"], event["updated"], event["unchanged"], event["dry_run"]) == (40, 40, 4_960, True)
    with empty_dbs.local_admin() as local:
        assert local.execute("SELECT count(*) FROM public.big WHERE n = -1").fetchone()[0] == 0


# --------------------------------------------------------------------------- mirror


MIRROR_DDL = (
    "CREATE TABLE public.parent (id int PRIMARY KEY, name text)",
    "CREATE TABLE public.child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES public.parent, v text)",
)


def test_mirror_deletes_target_only_rows_children_first_and_ends_identical(empty_dbs, tmp_path, capsys) -> None:
    on_both(empty_dbs, *MIRROR_DDL)
    on_server(empty_dbs, "INSERT INTO public.parent SELECT g, 'p' || g FROM generate_series(1, 3000) g",
              "INSERT INTO public.child SELECT g, 1 + g % 3000, 'c' || g FROM generate_series(1, 6000) g")
    config = write_config(tmp_path, empty_dbs)
    sync_json(capsys, config, "--tables", "parent,child")
    # The target drifts: extra parents with their own children, changed and missing rows.
    on_local(empty_dbs, "INSERT INTO public.parent SELECT g, 'extra' FROM generate_series(5001, 5200) g",
             "INSERT INTO public.child SELECT g, 5001 + g % 200, 'extra' FROM generate_series(9001, 9400) g",
             "UPDATE public.child SET v = 'drift' WHERE id % 50 = 0", "DELETE FROM public.child WHERE id <= 10")
    events = sync_json(capsys, config, "--tables", "parent,child", "--mode", "mirror")
    done = done_by_table(events)
    assert (done["public.parent"]["deleted"], done["public.child"]["deleted"]) == (200, 400)
    assert done["public.child"]["inserted"] == 10 and done["public.child"]["updated"] == 6000 // 50 - 0
    assert done["public.child"]["rows_read"] == 10 + 6000 // 50
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        for table in ("public.parent", "public.child"):
            assert table_checksum(local, table) == table_checksum(server, table), table
    again = done_by_table(sync_json(capsys, config, "--tables", "parent,child", "--mode", "mirror"))
    assert all(e["rows_read"] == 0 and e["deleted"] == 0 for e in again.values())


def test_mirror_refuses_where_and_needs_confirmation(empty_dbs, tmp_path, capsys) -> None:
    on_both(empty_dbs, *MIRROR_DDL)
    config = write_config(tmp_path, empty_dbs)
    code, _, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "parent", "--mode", "mirror", "--where", "id > 3", "--yes")
    assert code == 2 and "mirror cannot take a --where" in err and "Traceback" not in err
    from dbconsole.sync.confirm import confirmation_reason
    from dbconsole.sync.plan import SyncRequest
    loaded = load(config)
    reason = confirmation_reason(SyncRequest(source=loaded.profile("server_direct"), target=loaded.profile("local"),
                                             mode="mirror"))
    assert reason == "mode mirror deletes target rows"


# --------------------------------------------------------------------------- killed, then run again


def diff_sync_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
            "--to", "local", "--tables", "big", "--strategy", "diff", "--mode", "mirror", "--yes",
            "--batch-size", "500", "--json"]


def test_sigkill_during_a_diff_strategy_sync_then_rerun_is_exact(empty_dbs, tmp_path) -> None:
    create_big(empty_dbs, 40_000)
    on_local(empty_dbs, "INSERT INTO public.big SELECT g, md5(g::text), g / 7.0, "
                        "'2026-01-01'::timestamptz + g * interval '1 min' FROM generate_series(1, 40000) g")
    # A fifth of the rows differ, spread evenly, plus target-only rows: many batches to die in.
    on_server(empty_dbs, "UPDATE public.big SET payload = 'new' WHERE id % 5 = 0")
    on_local(empty_dbs, "INSERT INTO public.big SELECT g, 'gone', 0, now() FROM generate_series(50001, 52000) g")
    config = write_config(tmp_path, empty_dbs)
    rng = random.Random(20261201)
    killed = 0
    for _trial in range(4):
        proc = subprocess.Popen(diff_sync_command(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        progress = 0
        wanted = rng.randint(1, 6)
        for line in proc.stdout:  # type: ignore[union-attr]
            if '"event": "progress"' in line:
                progress += 1
                if progress >= wanted:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed += 1
                    break
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]
    assert killed >= 3
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        assert table_checksum(local, "public.big") != table_checksum(server, "public.big")  # killed midway
    final = subprocess.run(diff_sync_command(config), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        assert table_checksum(local, "public.big") == table_checksum(server, "public.big")


# --------------------------------------------------------------------------- through the tunnel


def test_diff_strategy_through_the_ssh_tunnel(dbs, sshd, tmp_path, capsys) -> None:
    config = write_config(tmp_path, dbs, sshd)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server", "--to", "local",
                             "--tables", "price_history", "--with-parents", "--strategy", "diff", "--yes", "--json")
    assert code == 0, err
    done = done_by_table([json.loads(line) for line in out.splitlines()])
    assert done["public.price_history"]["strategy"] == "diff"
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history"])
