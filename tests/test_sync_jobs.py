"""``--jobs N``: tables on several workers and large tables as key ranges, all in one snapshot."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from dbconsole.config import SyncSettings
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from dbconsole.sync.events import Notice, Progress, TableDone, TableStart
from tests.profiles import load, write_config
from tests.sync_checks import assert_target_holds_source, table_checksum
from dbconsole.sandbox.seed import SEED_TABLES

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
