"""The next batch streams from the source while the target still applies the current one.

Proved without timing: a second session on the target holds a row lock that the first batch's
apply needs, so that batch cannot commit; meanwhile the source session must already have read
the second batch (its last statement reads past the second batch's upper key). Released, the
run ends exact, and a kill at any point still resumes exactly (the SIGKILL trials of
tests/test_sync_resume.py run through the same path).
"""

from __future__ import annotations

import threading
import time

import pytest

from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from tests.profiles import load, write_config
from tests.sync_checks import all_rows


@pytest.fixture
def config(empty_dbs, tmp_path):
    return empty_dbs, load(write_config(tmp_path, empty_dbs))


def source_statement(dbs) -> str | None:
    with dbs.server_admin() as conn:
        row = conn.execute("SELECT query FROM pg_stat_activity WHERE datname = %s "
                           "AND application_name = 'dbconsole/sync source'", (dbs.server_db,)).fetchone()
    return row[0] if row else None


def test_the_source_reads_the_next_batch_while_the_target_applies_this_one(config) -> None:
    dbs, cfg = config
    for cluster, db in ((dbs.server, dbs.server_db), (dbs.local, dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute("CREATE TABLE item (id int PRIMARY KEY, v text)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO item SELECT g, 'new ' || g FROM generate_series(1, 1000) g")
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("INSERT INTO item SELECT g, 'old' FROM generate_series(1, 1000) g")

    blocker = dbs.local.connect(dbs.local_db, autocommit=False)
    blocker.execute("SELECT * FROM item WHERE id = 1 FOR UPDATE")  # the first batch's update waits for it
    request = SyncRequest(source=cfg.profile("server_direct"), target=cfg.profile("local"), tables=("item",),
                          batch_size=100, strategy="copy")
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("summary", run_sync(request)), daemon=True)
    runner.start()
    try:
        seen: list[str | None] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the second batch is (200 > id > 100]; reading ahead goes past 200
            statement = source_statement(dbs)
            seen.append(statement)
            if statement and "'200'::integer" in statement:
                break
            time.sleep(0.05)
        with dbs.local.connect(dbs.local_db) as conn:  # and nothing was committed yet
            assert conn.execute("SELECT count(*) FROM item WHERE v = 'old'").fetchone()[0] == 1000
        assert seen and seen[-1] and "'200'::integer" in seen[-1], seen[-3:]
    finally:
        blocker.rollback()
        blocker.close()
        runner.join(60)
    assert outcome["summary"].tables[0].updated == 1000
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        assert all_rows(local, "public.item") == all_rows(server, "public.item")
