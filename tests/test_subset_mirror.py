"""``--subset`` with ``--mode mirror`` against the real clusters (issue 15, "mirror limited to the
subset's keys"): the subset's rows on the target end identical to the source's subset. Rows the
target holds inside the subset (a child of the root, a grandchild chain, a partitioned child's
row, a row reached through a virtual FK, a row the source deleted) are deleted; rows outside it
(another root's, a lookup row reached only going up) stay. The expectation is computed by the
test in SQL on the target, independently of the walk under test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbconsole.connect import tunnels
from tests import subset_schema
from tests.cli_checks import assert_one_line, database_state, run_cli, sync_events
from tests.profiles import isolate_from_machine, write_config
from tests.test_subset_sync import RELATIONS


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


# Rows planted on the target only. Inside org 2's subset there (teams 3 and 4 are org 2's):
INSIDE = [
    "INSERT INTO team VALUES (100, 2, 'kr', NULL)",  # a child of the root
    "INSERT INTO member VALUES (100, 3, NULL, 'kr', 'local@example.com')",  # a grandchild...
    "INSERT INTO project VALUES (100, 100, 'local project')",  # ... and its chain of target-only rows
    "INSERT INTO task VALUES (1000, 100, NULL, '2025-07-01')",
    "INSERT INTO audit VALUES (900, 11, 'local note')",  # reached through the virtual FK audit.member_ref
]
# Outside it: a lookup row, another root's rows, a tag (reached only going up) under a subset task.
OUTSIDE = [
    "INSERT INTO country VALUES ('zz', 'Local only')",
    "INSERT INTO org VALUES (99, 'local org', 'zz')",
    "INSERT INTO team VALUES (199, 99, 'zz', NULL)",
    "INSERT INTO member VALUES (199, 199, NULL, 'kr', 'other@example.com')",
    "INSERT INTO tag VALUES (99, 'local tag')",
]


@pytest.fixture
def planted(empty_dbs, tmp_path, capsys):  # type: ignore[no-untyped-def]
    """Org 2's subset synced into an empty local, then target-only rows planted inside and outside
    it, and one review of the subset deleted on the server; with the rows the run must delete."""
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        subset_schema.create(server, data=True)
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        subset_schema.create(local, data=False)
    extra = {"sync": {"subsets": {"org": {"root": "public.org", "where": "id = {1}", "relations": RELATIONS}}}}
    config = str(write_config(tmp_path, empty_dbs, extra=extra))
    code, _, err = sync(capsys, config, "--subset", "org:2")
    assert code == 0, err
    with empty_dbs.local_admin() as local:
        task = local.execute("SELECT min(id) FROM task").fetchone()[0]
        review = local.execute("SELECT min(id) FROM review").fetchone()[0]
        for statement in INSIDE + OUTSIDE:
            local.execute(statement)
        local.execute("INSERT INTO event VALUES (9000, '2026-03-01', %s, NULL)", (task,))  # a partition's row
        local.execute("INSERT INTO task_tag VALUES (%s, 99)", (task,))  # inside; its tag 99 is not
    with empty_dbs.server_admin() as server:
        server.execute("DELETE FROM review WHERE id = %s", (review,))  # "prod deleted scan 7 of user 42"
        source_subset = subset_schema.expected_subset(server, "org", "id = 2")
    with empty_dbs.local_admin() as local:
        before = subset_schema.table_rows(local)
        on_target = subset_schema.expected_subset(local, "org", "id = 2", down_only=True)
    doomed = {t: on_target[t] - source_subset[t] for t in subset_schema.TABLES}
    final = {t: (before[t] - doomed[t]) | source_subset[t] for t in subset_schema.TABLES}
    # The independent computation agrees with what was planted (the test's own sanity).
    assert {t: len(r) for t, r in doomed.items() if r} == {"team": 1, "member": 1, "project": 1, "task": 1,
                                                           "audit": 1, "event": 1, "task_tag": 1, "review": 1}
    assert {r.split(",")[0].strip("(") for r in final["country"]} >= {"zz"} and "(99,\"local tag\")" in final["tag"]
    return empty_dbs, config, doomed, final, before


def sync(capsys, config: str, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local", "--yes",
                   "--json", *args)


def deleted_per_table(out: str, *, dry_run: bool) -> dict[str, int]:
    done = [e for e in sync_events(out) if e["event"] == "table_done"]
    assert all(e["dry_run"] is dry_run for e in done)
    return {e["table"].removeprefix("public."): e["deleted"] for e in done if e["deleted"]}


def without_state(state: dict) -> dict:
    return {t: v for t, v in state.items() if not t.startswith("_dbconsole")}


def test_a_subset_mirror_deletes_the_targets_rows_of_the_subset_and_nothing_else(planted, capsys) -> None:
    dbs, config, doomed, final, before = planted
    with dbs.local_admin() as local:
        state_before = without_state(database_state(local))
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror", "--dry-run")
    assert code == 0, err
    preview = deleted_per_table(out, dry_run=True)
    with dbs.local_admin() as local:
        assert without_state(database_state(local)) == state_before  # the dry run wrote nothing
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror")
    assert code == 0, err
    deleted = deleted_per_table(out, dry_run=False)
    assert preview == deleted == {t: len(r) for t, r in doomed.items() if r}
    with dbs.local_admin() as local:
        assert subset_schema.table_rows(local) == final
        assert subset_schema.orphans(local) == []
        on_target = subset_schema.expected_subset(local, "org", "id = 2", down_only=True)
    with dbs.server_admin() as server:
        assert on_target == subset_schema.expected_subset(server, "org", "id = 2", down_only=True)
    with dbs.local_admin() as local:
        # the planted outside rows, by an independent query
        assert local.execute("SELECT count(*) FROM country WHERE code = 'zz'").fetchone()[0] == 1
        assert local.execute("SELECT count(*) FROM org WHERE id = 99").fetchone()[0] == 1
        assert local.execute("SELECT count(*) FROM member WHERE id = 199").fetchone()[0] == 1
        assert local.execute("SELECT count(*) FROM tag WHERE id = 99").fetchone()[0] == 1
        assert local.execute("SELECT count(*) FROM member WHERE id = 100").fetchone()[0] == 0
        assert local.execute("SELECT count(*) FROM event WHERE id = 9000").fetchone()[0] == 0
        runs = local.execute("SELECT t.table_name, t.deleted FROM _dbconsole.run_table t JOIN _dbconsole.run r "
                             "ON r.id = t.run_id WHERE r.mode = 'mirror' AND t.deleted > 0").fetchall()
    assert {name.removeprefix("public."): n for name, n in runs} == deleted  # history counts the deletes
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror")  # again: nothing left to delete
    assert code == 0, err
    assert deleted_per_table(out, dry_run=False) == {}

    code, out, err = run_cli(capsys, "--config", config, "history", "--json")
    runs = json.loads(out)["runs"]
    mirror_run = next(r for r in runs if sum(t["deleted"] for t in r["tables"]))
    later = [r for r in runs if r["run"] > mirror_run["run"]]
    for run in sorted(later, key=lambda r: -r["run"]) + [mirror_run]:
        code, _, err = run_cli(capsys, "--config", config, "undo", str(run["run"]), "--profile", "local", "--yes")
        assert code == 0, err
    with dbs.local_admin() as local:
        assert without_state(database_state(local)) == state_before  # undo put every deleted row back
        assert subset_schema.table_rows(local) == before


def mirror_command(config: str) -> list[str]:
    return [sys.executable, "-m", "dbconsole", "--config", config, "sync", "--from", "server_direct", "--to",
            "local", "--yes", "--json", "--subset", "org:2", "--mode", "mirror"]


def kill_while_deleting(dbs, config: str, table: str, where: str,  # type: ignore[no-untyped-def]
                        delay: float = 0.0) -> None:
    """Hold a row lock on ``table``'s row ``where``, start the mirror, SIGKILL it (``delay`` s)
    once it waits on that table's DELETE: every earlier delete group is committed by then."""
    with dbs.local_admin() as locker:
        locker.autocommit = False
        locker.execute(f"SELECT 1 FROM {table} WHERE {where} FOR UPDATE")
        proc = subprocess.Popen(mirror_command(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            with dbs.local_admin() as watcher:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline and proc.poll() is None:
                    waiting = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'dbconsole%%' "
                        "AND wait_event_type = 'Lock' AND query ILIKE %s", (f"DELETE FROM%{table}%",)).fetchone()[0]
                    if waiting:
                        break
                    time.sleep(0.05)
                else:
                    pytest.fail(f"the sync never waited on the {table} delete: {proc.communicate()}")
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            locker.rollback()


def test_a_subset_mirror_killed_among_its_deletes_ends_exact_when_run_again(planted, capsys) -> None:
    """A row lock holds the deletes of member (after its children's are committed); SIGKILL there."""
    dbs, config, doomed, final, _ = planted
    kill_while_deleting(dbs, config, "member", "id = 100")
    with dbs.local_admin() as local:  # killed mid-deletes: the children's batches are in, member's are not
        assert local.execute("SELECT count(*) FROM task WHERE id = 1000").fetchone()[0] == 0
        assert local.execute("SELECT count(*) FROM member WHERE id = 100").fetchone()[0] == 1
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror")
    assert code == 0, err
    assert set(deleted_per_table(out, dry_run=False)) == {"member", "team"}
    with dbs.local_admin() as local:
        assert subset_schema.table_rows(local) == final
        assert subset_schema.orphans(local) == []


@pytest.mark.slow
def test_a_subset_mirror_killed_at_each_of_its_delete_groups_ends_exact(planted, capsys) -> None:
    """Killed while each table's delete waits (in a random order, a random moment later), the
    planted rows put back before each run; then a run to the end leaves exactly the expected rows."""
    import random

    dbs, config, _, final, _ = planted
    rng = random.Random(1515)
    locks = [("review", "true"), ("event", "id = 9000"), ("task_tag", "tag_id = 99"), ("audit", "id = 900"),
             ("task", "id = 1000"), ("project", "id = 100"), ("member", "id = 100"), ("team", "id = 100")]
    rng.shuffle(locks)
    for table, where in locks:
        with dbs.local_admin() as local:
            task = local.execute("SELECT min(id) FROM task").fetchone()[0]
            for statement in INSIDE:
                local.execute(statement + " ON CONFLICT DO NOTHING")
            local.execute("INSERT INTO event VALUES (9000, '2026-03-01', %s, NULL) ON CONFLICT DO NOTHING", (task,))
            local.execute("INSERT INTO task_tag VALUES (%s, 99) ON CONFLICT DO NOTHING", (task,))
        if table == "review":  # the server's deleted review is gone locally after the first run
            with dbs.local_admin() as local:
                local.execute("INSERT INTO review SELECT 9999, task_id, tag_id, 'local' FROM task_tag "
                              "WHERE tag_id <> 99 ORDER BY 1, 2 LIMIT 1")
            where = "id = 9999"
        kill_while_deleting(dbs, config, table, where, delay=rng.uniform(0, 0.2))
        with dbs.local_admin() as local:
            assert subset_schema.orphans(local) == []  # every committed delete group left the FKs whole
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror")
    assert code == 0, err
    with dbs.local_admin() as local:
        assert subset_schema.table_rows(local) == final
        assert subset_schema.orphans(local) == []


def test_a_delete_an_fk_outside_the_subset_blocks_is_one_line_and_that_batch_is_not_written(planted,
                                                                                            capsys) -> None:
    """project is not synced: its local project 100 still points at member 100, which the run deletes."""
    dbs, config, _, _, _ = planted
    code, out, err = sync(capsys, config, "--tables", "org,team,member", "--subset", "public.org: id = 2", "--mode",
                          "mirror", "--dry-run")
    assert code == 0, err
    [predicted] = [e for e in sync_events(out) if e["event"] == "notice" and e.get("fails")]
    assert predicted["table"] == "public.project" and "project_owner_id_fkey" in predicted["message"]
    assert "1 rows of public.project" in predicted["message"] and "public.member" in predicted["message"]
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--tables", "org,team,member", "--subset", "public.org: id = 2", "--mode",
                             "mirror")
    assert_one_line(code, err, 1, "public.project", "project_owner_id_fkey", "deletes", "still referenced")
    with dbs.local_admin() as local:
        assert local.execute("SELECT count(*) FROM member WHERE id = 100").fetchone()[0] == 1
        assert local.execute("SELECT count(*) FROM team WHERE id = 100").fetchone()[0] == 1
        assert subset_schema.orphans(local) == []


def test_a_row_the_source_moved_into_the_subset_brings_its_target_only_children_in(planted, capsys) -> None:
    """Task 1999 is under org 99's project locally but under one of org 2's on the server: once
    synced it belongs to the subset there, so its target-only event goes; org 99's rows stay."""
    dbs, config, doomed, final, _ = planted
    with dbs.local_admin() as local:
        local.execute("INSERT INTO project VALUES (199, 199, 'other project')")
        local.execute("INSERT INTO task VALUES (1999, 199, NULL, '2025-08-01')")
        local.execute("INSERT INTO event VALUES (9999, '2025-09-01', 1999, NULL)")
        project = local.execute("SELECT min(id) FROM project WHERE id < 100").fetchone()[0]
    with dbs.server_admin() as server:
        server.execute("INSERT INTO task VALUES (1999, %s, NULL, '2025-08-01')", (project,))
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror", "--dry-run")
    assert code == 0, err
    preview = deleted_per_table(out, dry_run=True)
    code, out, err = sync(capsys, config, "--subset", "org:2", "--mode", "mirror")
    assert code == 0, err
    assert preview == deleted_per_table(out, dry_run=False)
    assert preview["event"] == len(doomed["event"]) + 1
    with dbs.local_admin() as local:
        assert local.execute("SELECT count(*) FROM event WHERE id = 9999").fetchone()[0] == 0
        assert local.execute("SELECT project_id FROM task WHERE id = 1999").fetchone()[0] == project
        assert local.execute("SELECT count(*) FROM project WHERE id = 199").fetchone()[0] == 1
        assert subset_schema.orphans(local) == []
        on_target = subset_schema.expected_subset(local, "org", "id = 2", down_only=True)
    with dbs.server_admin() as server:
        assert on_target == subset_schema.expected_subset(server, "org", "id = 2", down_only=True)


@pytest.mark.parametrize("mode", ["replace", "incremental", "xmin"])
def test_a_subset_refuses_the_modes_that_make_no_sense_in_one_line(empty_dbs, tmp_path, capsys, mode) -> None:
    config = str(write_config(tmp_path, empty_dbs))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--subset", "users: id = 1", "--mode", mode)
    assert_one_line(code, err, 2, "--subset", "upsert or mirror", mode)


def test_a_subset_mirror_needs_confirmation_like_mirror(planted, capsys) -> None:
    dbs, config, _, _, _ = planted
    with dbs.local_admin() as local:
        before = without_state(database_state(local))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--subset", "org:2", "--mode", "mirror")
    assert code != 0 and "mode mirror deletes target rows" in err, (code, err)
    with dbs.local_admin() as local:
        assert without_state(database_state(local)) == before


def test_a_root_the_source_no_longer_has_is_deleted_on_the_target_with_what_belongs_to_it(planted, capsys) -> None:
    """Prod deleted the root row itself: a mirror of that subset removes it and its rows locally
    (an upsert still says there is nothing to sync); on neither side is one line."""
    dbs, config, _, _, before = planted
    with dbs.local_admin() as local:
        belongs = subset_schema.expected_subset(local, "member", "id = 100", down_only=True)
    assert {t: len(r) for t, r in belongs.items() if r} == {"member": 1, "project": 1, "task": 1}
    code, _, err = sync(capsys, config, "--subset", "member: id = 100")
    assert_one_line(code, err, 1, "no row of public.member", "id = 100", "nothing to sync")
    code, out, err = sync(capsys, config, "--subset", "member: id = 100", "--mode", "mirror", "--dry-run")
    assert code == 0, err
    assert deleted_per_table(out, dry_run=True) == {t: 1 for t in ("member", "project", "task")}
    assert "the source deleted it, so its rows on local go too" in out
    code, out, err = sync(capsys, config, "--subset", "member: id = 100", "--mode", "mirror")
    assert code == 0, err
    with dbs.local_admin() as local:
        after = subset_schema.table_rows(local)
    assert after == {t: before[t] - belongs[t] for t in subset_schema.TABLES}
    code, _, err = sync(capsys, config, "--subset", "member: id = 4242", "--mode", "mirror")
    assert_one_line(code, err, 1, "no row of public.member", "id = 4242", "or local", "nothing to sync")
