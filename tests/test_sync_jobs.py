"""``--jobs N``: tables on several workers and large tables as key ranges, all in one snapshot."""

from __future__ import annotations

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
