"""``--jobs N``: tables on several workers and large tables as key ranges, all in one snapshot."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dbconsole.config import SyncSettings, TableRules
from dbconsole.sandbox.seed import LOCAL_ONLY_ID_BASE, SEED_TABLES
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from dbconsole.sync.events import Notice, Progress, TableDone, TableStart
from tests.profiles import load, write_config
from tests.sync_checks import assert_target_holds_source, rows_by_key, shared_columns, table_checksum

KEYED = [t for t in SEED_TABLES if t != "public.audit_log"]


@pytest.fixture
def config(tmp_path: Path, dbs):
    return load(write_config(tmp_path, dbs))


def request(config, *, split_rows: int | None = None, **kwargs) -> SyncRequest:
    settings = SyncSettings(split_rows=split_rows) if split_rows else config.sync
    return SyncRequest(source=config.profile("server_direct"), target=config.profile("local"), settings=settings,
                       **kwargs)


def test_jobs_four_with_split_tables_equals_the_source(dbs, config) -> None:
    events: list = []
    summary = run_sync(request(config, jobs=4, split_rows=500, batch_size=200, strategy="copy"), on_event=events.append)
    assert not summary.cancelled
    assert_target_holds_source(dbs, KEYED)
    splits = [e for e in events if isinstance(e, Notice) and e.kind == "split"]
    assert splits, [e for e in events if isinstance(e, Notice)]
    starts = [e.table for e in events if isinstance(e, TableStart)]
    dones = [e.table for e in events if isinstance(e, TableDone)]
    assert sorted(starts) == sorted(set(starts)) and sorted(dones) == sorted(set(dones))
    print(splits)


# --------------------------------------------------------------------------- one snapshot, many workers

SPREAD_ROWS = 40_000


def create_spread_table(empty_dbs, rows: int = SPREAD_ROWS) -> None:
    """``public.spread``: even ids (seq 0) on the source; the writer adds odd ids across the whole key range."""
    ddl = "CREATE TABLE public.spread (id bigint PRIMARY KEY, seq integer NOT NULL, payload text NOT NULL)"
    for cluster, db in ((empty_dbs.server, empty_dbs.server_db), (empty_dbs.local, empty_dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute(ddl)
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.execute("INSERT INTO public.spread SELECT 2 * g, 0, md5(g::text) FROM generate_series(1, %s) g", (rows,))
        conn.execute("ANALYZE public.spread")


class SourceWriter(threading.Thread):
    """Inserts odd ids at random places of the key range, one commit each, numbered 1, 2, 3...

    Commits come one after another from one session, so any one snapshot of the source sees a
    prefix of them (seq 1..S), whichever ranges it is read in.
    """

    def __init__(self, empty_dbs, rows: int) -> None:
        super().__init__(daemon=True)
        self.dbs, self.rows = empty_dbs, rows
        self.committed = 0
        self.stop = threading.Event()
        self.rng = random.Random(16)

    def run(self) -> None:
        used: set[int] = set()
        with self.dbs.server.connect(self.dbs.server_db) as conn:
            while not self.stop.is_set():
                key = 2 * self.rng.randint(0, self.rows) + 1
                if key in used:
                    continue
                used.add(key)
                conn.execute("INSERT INTO public.spread VALUES (%s, %s, 'late')", (key, self.committed + 1))
                self.committed += 1
                time.sleep(0.001)


def test_jobs_four_reads_one_snapshot_while_the_source_is_written(empty_dbs, tmp_path) -> None:
    create_spread_table(empty_dbs)
    config = load(write_config(tmp_path, empty_dbs))
    writer = SourceWriter(empty_dbs, SPREAD_ROWS)
    writer.start()
    while writer.committed < 20:
        time.sleep(0.01)
    before_run = writer.committed
    at_start: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, TableStart) and not at_start:
            at_start.append(writer.committed)  # the snapshot was taken before the first table started

    try:
        summary = run_sync(request(config, jobs=4, split_rows=5_000, batch_size=1_000, tables=("spread",)),
                           on_event=on_event)
    finally:
        writer.stop.set()
        writer.join()
    assert not summary.cancelled and summary.tables[0].inserted > SPREAD_ROWS
    with empty_dbs.local.connect(empty_dbs.local_db) as local, empty_dbs.server.connect(empty_dbs.server_db) as server:
        late = sorted(r[0] for r in local.execute("SELECT seq FROM public.spread WHERE seq > 0"))
        seen = len(late)
        assert late == list(range(1, seen + 1)), "the target holds a prefix of the writer's commits: one snapshot"
        assert before_run <= seen <= at_start[0] < writer.committed, (before_run, seen, at_start, writer.committed)
        assert local.execute("SELECT count(*) FROM public.spread WHERE seq = 0").fetchone()[0] == SPREAD_ROWS
        # Equal to what one reader of that snapshot sees: the source's rows up to the prefix.
        expected = server.execute("SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY id)) FROM public.spread t"
                                  " WHERE seq <= %s", (seen,)).fetchone()
        assert table_checksum(local, "public.spread") == tuple(expected)


# --------------------------------------------------------------------------- killed with --jobs 4

KILL_ROWS = 60_000


def create_kill_tables(empty_dbs) -> None:
    """``big`` (even ids, split into ranges), ``big_child`` (FK to big) and ``small`` (one unit)."""
    ddl = """CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL);
             CREATE TABLE public.big_child (id bigint PRIMARY KEY, big_id bigint NOT NULL REFERENCES public.big);
             CREATE TABLE public.small (id integer PRIMARY KEY, label text)"""
    for cluster, db in ((empty_dbs.server, empty_dbs.server_db), (empty_dbs.local, empty_dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute(ddl)
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.execute("INSERT INTO public.big SELECT 2 * g, md5(g::text) FROM generate_series(1, %s) g", (KILL_ROWS,))
        conn.execute("INSERT INTO public.big_child SELECT g, 2 * g FROM generate_series(1, %s) g", (KILL_ROWS // 4,))
        conn.execute("INSERT INTO public.small SELECT g, 'row ' || g FROM generate_series(1, 500) g")
        conn.execute("ANALYZE")


def jobs_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
            "--to", "local", "--tables", "big,big_child,small", "--jobs", "4", "--batch-size", "2000", "--json"]


def run_jobs_kill_trials(empty_dbs, tmp_path: Path, trials: int, seed: int) -> dict[str, object]:
    """SIGKILL a ``--jobs 4`` run at random instants (half right after a random committed batch),
    then run it to the end: every range resumes from its own checkpoint, nothing lost or doubled.
    After a kill the application writes a local row in the middle of the split table's
    keys: a fast-path range that has not reached it must notice and switch to staged upserts."""
    create_kill_tables(empty_dbs)
    config = write_config(tmp_path, empty_dbs, extra={"sync": {"split_rows": 10_000}})
    rng = random.Random(seed)
    outcomes: dict[str, object] = {"killed": 0, "finished": 0, "resumed_ranges": 0}
    local_row_added = False
    for trial in range(trials):
        proc = subprocess.Popen(jobs_command(config), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        killed = False
        if trial % 2:
            at_batch, batches = rng.randint(1, 25), 0
            for line in proc.stdout:  # type: ignore[union-attr]
                if '"event": "progress"' in line:
                    batches += 1
                    if batches >= at_batch:
                        os.killpg(proc.pid, signal.SIGKILL)
                        killed = True
                        break
        else:
            try:
                proc.wait(timeout=rng.uniform(0.2, 1.2))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
        proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        outcomes["killed" if killed else "finished"] += 1  # type: ignore[operator]
        with empty_dbs.local.connect(empty_dbs.local_db) as conn:
            if conn.execute("SELECT to_regclass('_dbconsole.range_checkpoint')").fetchone()[0]:
                outcomes["resumed_ranges"] += conn.execute(  # type: ignore[operator]
                    "SELECT count(*) FROM _dbconsole.range_checkpoint WHERE rows_done > 0").fetchone()[0]
            if not killed:  # a finished run leaves nothing to resume: the next trial starts from empty
                conn.execute("TRUNCATE public.big_child, public.big, public.small")
                local_row_added = False
            elif not local_row_added:
                conn.execute("INSERT INTO public.big VALUES (%s, 'local only')", (KILL_ROWS + 1,))  # odd: mid-range
                local_row_added = True
    final = subprocess.run(jobs_command(config), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    print(f"\n--jobs 4 SIGKILL trials (seed {seed}): {outcomes}")
    digest = "SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY id)) FROM {} t WHERE id % 2 = 0 OR {}"
    with empty_dbs.local.connect(empty_dbs.local_db) as local, empty_dbs.server.connect(empty_dbs.server_db) as server:
        for table in ("public.big", "public.big_child", "public.small"):
            query = digest.format(table, "true" if table != "public.big" else "false")
            assert local.execute(query).fetchone() == server.execute(query).fetchone(), table
        extra = local.execute("SELECT count(*) FROM public.big WHERE id % 2 = 1").fetchone()[0]
        assert extra == (1 if local_row_added else 0)
        assert local.execute("SELECT count(*) FROM _dbconsole.range_checkpoint").fetchone()[0] == 0
        assert local.execute("SELECT count(*) FROM _dbconsole.checkpoint").fetchone()[0] == 0
    return outcomes


def test_sigkill_with_jobs_four_then_rerun(empty_dbs, tmp_path) -> None:
    outcomes = run_jobs_kill_trials(empty_dbs, tmp_path, trials=4, seed=4)
    assert outcomes["killed"] >= 2, outcomes


@pytest.mark.slow
def test_sigkill_with_jobs_four_twenty_trials(empty_dbs, tmp_path) -> None:
    outcomes = run_jobs_kill_trials(empty_dbs, tmp_path, trials=20, seed=41)
    assert outcomes["killed"] >= 8 and outcomes["resumed_ranges"] > 0, outcomes


# --------------------------------------------------------------------------- modes, masks, filters, tunnel


@pytest.mark.parametrize("mode", ["upsert", "mirror", "incremental", "xmin"])
def test_every_batched_mode_with_jobs_four_ends_like_the_source(dbs, config, mode) -> None:
    events: list = []
    summary = run_sync(request(config, jobs=4, split_rows=100, mode=mode, tables=tuple(KEYED)), on_event=events.append)
    assert not summary.cancelled
    assert_target_holds_source(dbs, KEYED)
    done = {e.table: e for e in events if isinstance(e, TableDone)}
    assert set(KEYED) <= set(done)
    if mode == "mirror":  # mirror deletes the target's own rows, children before parents
        with dbs.local_admin() as local, dbs.server_admin() as server:
            for table in KEYED:
                assert table_checksum(local, table) == table_checksum(server, table), table
    again = run_sync(request(config, jobs=4, split_rows=100, mode=mode, tables=tuple(KEYED)))
    assert again.inserted == again.updated == again.deleted == 0


def test_jobs_through_the_tunnel_with_masks_and_where(tmp_path, dbs, sshd) -> None:
    config = load(write_config(tmp_path, dbs, sshd))
    settings = SyncSettings(split_rows=20, tables={
        "public.users": TableRules(mask={"email": "mask_email", "display_name": "redact"}),
        "public.stocks": TableRules(mask={"name": "redact"})})
    with dbs.local_admin() as local:
        columns = shared_columns(local, local, "public.price_history")
        untouched = {k: v for k, v in rows_by_key(local, "public.price_history", columns).items() if k[0] >= "M"}
    tunnels_before = sshd.connection_count()  # another test's tunnel may still be up
    tunnels_seen: list[int] = []
    events: list = []

    def on_event(event) -> None:
        events.append(event)
        tunnels_seen.append(sshd.connection_count())

    summary = run_sync(SyncRequest(source=config.profile("server"), target=config.profile("local"), settings=settings,
                                   tables=("users", "stocks", "price_history"), jobs=4, batch_size=10,
                                   where_by_table={"price_history": "symbol < 'M'"}, strategy="copy"),
                       on_event=on_event)
    assert not summary.cancelled and max(tunnels_seen) - tunnels_before <= 1, "one tunnel carries every worker's sessions"
    # users refers to itself (one statement, never split); stocks is split, and masked in every range
    assert any(isinstance(e, Notice) and e.kind == "split" and e.table == "public.stocks" for e in events)
    with dbs.local_admin() as local, dbs.server_admin() as server:
        raw = {r[0] for r in server.execute("SELECT email FROM public.users")}
        synced = [r[0] for r in local.execute("SELECT email FROM public.users WHERE id < %s", (LOCAL_ONLY_ID_BASE,))]
        assert len(synced) == len(raw) and all(e.endswith("@masked.invalid") for e in synced) and not raw & set(synced)
        symbols = [r[0] for r in server.execute("SELECT symbol FROM public.stocks")]
        names = dict(local.execute("SELECT symbol, name FROM public.stocks WHERE symbol = ANY(%s)", (symbols,)))
        assert len(names) == len(symbols) and all(set(n) == {"*"} for n in names.values())
        columns = shared_columns(server, local, "public.price_history")
        source = rows_by_key(server, "public.price_history", columns)
        target = rows_by_key(local, "public.price_history", columns)
        wanted = {k: v for k, v in source.items() if k[0] < "M"}
        assert wanted and all(target.get(k) == v for k, v in wanted.items())
        assert {k: v for k, v in target.items() if k[0] >= "M"} == untouched, "--where: other rows left alone"


# --------------------------------------------------------------------------- cancel, retry, resume


def test_cancel_stops_every_worker_and_a_rerun_finishes_exactly(empty_dbs, tmp_path) -> None:
    create_kill_tables(empty_dbs)
    config = load(write_config(tmp_path, empty_dbs))
    cancel = threading.Event()
    events: list = []

    def on_event(event) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.table == "public.big" and event.rows >= 10_000:
            cancel.set()

    workers_before = {t.ident for t in threading.enumerate()}
    summary = run_sync(request(config, jobs=4, split_rows=10_000, batch_size=1_000, tables=("big", "big_child", "small")),
                       on_event=on_event, cancel=cancel)
    assert summary.cancelled
    leftover = [t.name for t in threading.enumerate() if t.ident not in workers_before and "sync-worker" in t.name]
    assert not leftover, leftover
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        assert local.execute("SELECT count(*) FROM _dbconsole.range_checkpoint WHERE rows_done > 0").fetchone()[0] > 0
        assert local.execute("SELECT count(*) FROM public.big").fetchone()[0] < KILL_ROWS
    # The ranges resume even without --jobs (one worker walks them all).
    again: list = []
    summary = run_sync(request(config, split_rows=10_000, batch_size=1_000, tables=("big", "big_child", "small")),
                       on_event=again.append)
    starts = {e.table: e for e in again if isinstance(e, TableStart)}
    assert starts["public.big"].resume_rows > 0
    done = {e.table: e for e in again if isinstance(e, TableDone)}
    assert done["public.big"].inserted == KILL_ROWS, "counts add up the run and the resumed ranges"
    assert done["public.big"].rows_read == KILL_ROWS - starts["public.big"].resume_rows, "only the rest is read"
    assert_same_tables(empty_dbs, ("public.big", "public.big_child", "public.small"))


def test_a_worker_session_killed_on_the_server_is_retried_and_resumes(empty_dbs, tmp_path) -> None:
    create_kill_tables(empty_dbs)
    config = load(write_config(tmp_path, empty_dbs))
    killed: list[int] = []

    def on_event(event) -> None:
        if isinstance(event, Progress) and event.table == "public.big" and event.rows >= 8_000 and not killed:
            with empty_dbs.server_admin() as server:
                killed.extend(r[0] for r in server.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'dbconsole/sync source' AND pid <> pg_backend_pid()"))

    events: list = []
    summary = run_sync(request(config, jobs=3, split_rows=10_000, batch_size=1_000, tables=("big", "big_child", "small")),
                       on_event=lambda e: (events.append(e), on_event(e)))
    assert killed and not summary.cancelled
    assert any(isinstance(e, Notice) and e.kind == "retry" for e in events)
    assert_same_tables(empty_dbs, ("public.big", "public.big_child", "public.small"))
    done = {e.table: e for e in events if isinstance(e, TableDone)}
    assert sum(done[t].inserted for t in done) == KILL_ROWS + KILL_ROWS // 4 + 500, "nothing copied twice"


def assert_same_tables(empty_dbs, tables) -> None:
    digest = "SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY id)) FROM {} t"
    with empty_dbs.local.connect(empty_dbs.local_db) as local, empty_dbs.server.connect(empty_dbs.server_db) as server:
        for table in tables:
            assert local.execute(digest.format(table)).fetchone() == server.execute(digest.format(table)).fetchone()
        assert local.execute("SELECT count(*) FROM _dbconsole.range_checkpoint").fetchone()[0] == 0


def test_with_jobs_a_due_snapshot_is_renewed_between_tables_once_the_workers_are_idle(tmp_path, dbs) -> None:
    """``max_snapshot_age`` still holds with ``--jobs``: no new table starts on an old snapshot;
    the workers drain, the engine renews it, and it is exported again for them."""
    from tests.test_snapshot_guard import TABLES as GUARDED, _on_target, _run_inserting_midway

    config = load(write_config(tmp_path, dbs, extra={"sync": {"max_snapshot_age": 0.001, "jobs": 2}}))
    events, (table, key) = _run_inserting_midway(dbs, config)
    assert [e for e in events if isinstance(e, Notice) and e.kind == "snapshot"]
    assert {e.table for e in events if isinstance(e, TableDone)} == set(GUARDED)
    assert _on_target(dbs, table, key), "the row inserted after the first table was read in a fresh snapshot"
    assert_target_holds_source(dbs, list(GUARDED))


def test_a_one_stream_checkpoint_resumes_as_one_stream_under_jobs(empty_dbs, tmp_path) -> None:
    """A table interrupted without ``--jobs`` keeps its single-stream checkpoint: a ``--jobs 4``
    re-run resumes it where it stopped (one worker), rather than splitting it afresh."""
    create_kill_tables(empty_dbs)
    config = load(write_config(tmp_path, empty_dbs))
    cancel = threading.Event()

    def on_event(event) -> None:
        if isinstance(event, Progress) and event.table == "public.big" and event.rows >= 10_000:
            cancel.set()

    first = run_sync(request(config, split_rows=10_000, batch_size=1_000, tables=("big",)), on_event=on_event,
                     cancel=cancel)
    assert first.cancelled
    events: list = []
    run_sync(request(config, jobs=4, split_rows=10_000, batch_size=1_000, tables=("big", "big_child", "small")),
             on_event=events.append)
    start = next(e for e in events if isinstance(e, TableStart) and e.table == "public.big")
    assert start.resume_rows >= 10_000
    assert not [e for e in events if isinstance(e, Notice) and e.kind == "split" and e.table == "public.big"]
    assert_same_tables(empty_dbs, ("public.big", "public.big_child", "public.small"))
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        assert local.execute("SELECT count(*) FROM _dbconsole.checkpoint").fetchone()[0] == 0
