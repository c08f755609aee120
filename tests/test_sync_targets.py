"""``sync --to A,B``: one source snapshot into two real target clusters, each on its own.

The second target is a third PostgreSQL cluster started by this module (seeded like the local
one), so that it can be stopped mid-run while the local target goes on.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbconsole.sandbox.cluster import PgCluster
from dbconsole.sandbox.pgbin import find_pg_bindir
from dbconsole.sandbox.seed import SeedScale, seed_local
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from dbconsole.sync.events import Progress, SyncEvent, TableStart
from dbconsole.sync.targets import run_to_targets
from tests.cli_checks import run_cli, sync_events
from tests.profiles import load, write_config
from tests.sync_checks import rows_by_key, shared_columns

TABLES = ["public.stocks", "public.price_history"]
THIRD_DB = "third_target"


@pytest.fixture(scope="module")
def third() -> Iterator[PgCluster]:
    cluster = PgCluster("third", find_pg_bindir())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture
def third_db(third: PgCluster) -> Iterator[str]:
    """A database on the third cluster shaped (and drifted) like the local copy."""
    third.start()  # a no-op unless a test left it stopped
    third.create_database(THIRD_DB)
    with third.connect(THIRD_DB) as conn:
        seed_local(conn, SeedScale.TEST)
    try:
        yield third.url(THIRD_DB)
    finally:
        third.start()
        third.drop_database(THIRD_DB)


def config_with_third(tmp_path: Path, dbs: Any, third_url: str) -> Path:
    return write_config(tmp_path, dbs, extra={"profiles": {"third": {"url": third_url}}})


def assert_holds_source(source_url_admin: Any, target: psycopg.Connection, tables: list[str]) -> None:
    for table in tables:
        columns = shared_columns(source_url_admin, target, table)
        source_rows, target_rows = rows_by_key(source_url_admin, table, columns), rows_by_key(target, table, columns)
        missing = [k for k in source_rows if k not in target_rows]
        differing = [k for k in source_rows if k in target_rows and target_rows[k] != source_rows[k]]
        assert not missing and not differing, (table, missing[:3], differing[:3])


def test_two_targets_get_the_source_and_the_read_is_shared(dbs, third_db, third, tmp_path, capsys):
    config = config_with_third(tmp_path, dbs, third_db)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local,third",
                             "--tables", ",".join(TABLES), "--batch-size", "50", "--strategy", "copy", "--json")
    assert code == 0, err
    events = sync_events(out)
    assert {e["target"] for e in events if e["event"] != "targets"} == {"local", "third"}
    final = events[-1]
    assert final["event"] == "targets" and final["failed"] == []
    by_target = {t["target"]: t for t in final["targets"]}
    assert by_target["local"]["outcome"] == by_target["third"]["outcome"] == "done"
    # Both start from the same drifted copy, so the same rows are new on both.
    assert by_target["local"]["inserted"] == by_target["third"]["inserted"] > 0
    assert final["source_reads"]["shared"] > 0, final["source_reads"]
    with dbs.server_admin() as server, dbs.local_admin() as local, third.connect(THIRD_DB) as other:
        assert_holds_source(server, local, TABLES)
        assert_holds_source(server, other, TABLES)


def test_human_output_names_each_target(dbs, third_db, tmp_path, capsys):
    config = config_with_third(tmp_path, dbs, third_db)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local,third",
                             "--tables", "public.stocks")
    assert code == 0, err
    assert "[local] public.stocks:" in out and "[third] public.stocks:" in out
    assert any(line.startswith("local: done, 1 table(s)") for line in out.splitlines()), out
    assert any(line.startswith("third: done, 1 table(s)") for line in out.splitlines()), out


def test_replace_into_two_targets_needs_both_confirmed(dbs, third_db, tmp_path, capsys):
    config = config_with_third(tmp_path, dbs, third_db)
    code, _, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local,third",
                           "--tables", "public.sectors", "--mode", "replace")
    assert code == 2, err
    assert "needs --yes" in err and "local: mode replace" in err and "third: mode replace" in err


def test_a_target_down_from_the_start_fails_alone(dbs, third_db, third, tmp_path, capsys):
    config = config_with_third(tmp_path, dbs, third_db)
    third.stop()
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local,third",
                             "--tables", "public.stocks", "--json")
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("dbconsole: error: third: "), err
    assert "Traceback" not in err
    final = sync_events(out)[-1]
    assert final["failed"] == ["third"]
    assert {t["target"]: t["outcome"] for t in final["targets"]} == {"local": "done", "third": "failed"}


def test_usage_errors_are_one_line(dbs, third_db, tmp_path, capsys):
    config = config_with_third(tmp_path, dbs, third_db)
    for targets, fragment in (("local,local", "named twice"), ("local,server_direct", "read-only"),
                              ("local,", "empty profile name")):
        code, _, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", targets,
                               "--tables", "public.stocks", "--yes")
        assert code in (1, 2) and fragment in err and len(err.strip().splitlines()) == 1, err


def test_a_target_stopped_mid_run_leaves_the_other_complete_and_resumes(dbs, third_db, third, tmp_path):
    """The third cluster is shut down (fast) after a few committed batches of price_history:
    the local target completes; the third's run fails; restarted, it resumes and completes."""
    config = load(config_with_third(tmp_path, dbs, third_db))
    settings = dataclasses.replace(config.sync, retries=0)
    source = config.profile("server_direct").require_usable()

    def request(target: str) -> SyncRequest:
        return SyncRequest(source=source, target=config.profile(target), tables=tuple(TABLES), batch_size=40,
                           strategy="copy", settings=settings)

    batches = {"n": 0}
    stopped = threading.Event()
    seen: list[tuple[str, SyncEvent]] = []

    def on_event(target: str, event: SyncEvent) -> None:
        seen.append((target, event))
        if target == "third" and isinstance(event, Progress) and event.table == "public.price_history":
            batches["n"] += 1
            if batches["n"] == 3 and not stopped.is_set():
                stopped.set()
                # "fast": sessions cut mid-batch, but commits kept. An immediate stop may also lose the
                # last few asynchronous commits (the target runs synchronous_commit=off, batch and
                # checkpoint together), which would leave nothing to resume and prove nothing here.
                third.stop(mode="fast")

    results = {r.target: r for r in run_to_targets([request("local"), request("third")], on_event).results}
    assert stopped.is_set()
    assert results["local"].outcome == "done", results["local"].error
    assert results["third"].outcome == "failed" and results["third"].error
    with dbs.server_admin() as server, dbs.local_admin() as local:
        assert_holds_source(server, local, TABLES)

    json.dumps([r.to_json() for r in results.values()])  # the per-target result is JSON-ready

    # The same two targets again: the local one starts over (its run finished), the third resumes
    # from its checkpoint; their batches no longer line up, so those reads are made alone.
    third.start()
    starts: dict[str, dict[str, int]] = {"local": {}, "third": {}}

    def record(target: str, event: SyncEvent) -> None:
        if isinstance(event, TableStart):
            starts[target][event.table] = event.resume_rows

    again = run_to_targets([request("local"), request("third")], record)
    assert [r.outcome for r in again.results] == ["done", "done"], [r.error for r in again.results]
    assert starts["third"].get("public.price_history", 0) >= 40, starts  # resumed past committed batches
    assert starts["local"].get("public.price_history") == 0
    assert again.reads_alone > 0
    with dbs.server_admin() as server, dbs.local_admin() as local, third.connect(THIRD_DB) as other:
        assert_holds_source(server, other, TABLES)
        assert_holds_source(server, local, TABLES)
    resumed = run_sync(request("third"))  # and alone, afterwards: nothing left to do
    assert resumed.counts.inserted == resumed.counts.updated == 0


@pytest.mark.parametrize("options", [("--strategy", "diff"), ("--mode", "mirror", "--strategy", "diff"),
                                     ("--mode", "replace")])
def test_modes_that_diff_or_replace_run_per_target_in_the_shared_snapshot(dbs, third_db, third, tmp_path, capsys,
                                                                           options):
    """A diff is per target by nature: each target diffs itself against the one snapshot."""
    config = config_with_third(tmp_path, dbs, third_db)
    # Tables no other table references, so deleting target-only rows is the sync's to do.
    tables = ["public.sectors", "analytics.daily_summary"] if "--mode" in options else TABLES
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local,third",
                             "--tables", ",".join(tables), "--json", "--yes", *options)
    assert code == 0, err
    final = sync_events(out)[-1]
    assert final["failed"] == [] and {t["outcome"] for t in final["targets"]} == {"done"}
    with dbs.server_admin() as server, dbs.local_admin() as local, third.connect(THIRD_DB) as other:
        for target in (local, other):
            assert_holds_source(server, target, tables)
            if "--mode" in options:  # mirror and replace also drop what the source lacks
                for table in tables:
                    count = f"SELECT count(*) FROM {table}"
                    assert target.execute(count).fetchone() == server.execute(count).fetchone(), table


def test_cancel_stops_every_target_cleanly(dbs, third_db, tmp_path):
    config = load(config_with_third(tmp_path, dbs, third_db))
    source = config.profile("server_direct").require_usable()
    requests = [SyncRequest(source=source, target=config.profile(name), tables=tuple(TABLES), batch_size=40,
                            strategy="copy", settings=config.sync) for name in ("local", "third")]
    cancel = threading.Event()

    def on_event(target: str, event: SyncEvent) -> None:
        if isinstance(event, Progress) and event.table == "public.price_history":
            cancel.set()

    outcome = run_to_targets(requests, on_event, cancel)
    assert {r.outcome for r in outcome.results} == {"cancelled"}, [(r.outcome, r.error) for r in outcome.results]
    assert outcome.failed == []
