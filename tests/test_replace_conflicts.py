"""A replace's dry run finds the foreign-key conflicts its deletes would cause, before the run."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbconsole.errors import SyncError
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from dbconsole.sync.events import Notice, TableDone
from tests.profiles import load, write_config
from tests.sync_checks import table_checksum


@pytest.fixture
def config(tmp_path: Path, dbs):
    return load(write_config(tmp_path, dbs))


def run(config, **kwargs):
    events = []
    request = SyncRequest(source=config.profile("server_direct"), target=config.profile("local"),
                          settings=config.sync, **kwargs)
    return run_sync(request, on_event=events.append), events


def test_replace_dry_run_predicts_the_refused_delete_and_the_run_fails_naming_the_right_table(dbs, config) -> None:
    with dbs.local_admin() as local:
        referencing = local.execute(
            "SELECT count(*) FROM public.price_history WHERE symbol NOT IN (SELECT symbol FROM public.stocks "
            "WHERE symbol < '999990')").fetchone()[0]
        before = table_checksum(local, "public.stocks")
    assert referencing > 0  # the local copy has price rows of its local-only stock

    summary, events = run(config, tables=("stocks",), mode="replace", dry_run=True)
    conflicts = [e for e in events if isinstance(e, Notice) and e.fails]
    assert conflicts, [e for e in events if isinstance(e, Notice)]
    first = next(c for c in conflicts if "price_history_symbol_fkey" in c.message)
    assert first.table == "public.stocks" and first.kind == "warning" and first.remedy == "add_children"
    assert "public.price_history" in first.message and "would stop" in first.message
    assert summary.tables[0].deleted >= 1

    with pytest.raises(SyncError) as failure:
        run(config, tables=("stocks",), mode="replace")
    assert str(failure.value).startswith("public.stocks: "), str(failure.value)
    assert "public.price_history" in str(failure.value) or "price_history" in str(failure.value)
    with dbs.local_admin() as local:
        assert table_checksum(local, "public.stocks") == before  # one transaction, rolled back


def test_replace_dry_run_with_no_conflict_reports_none(dbs, config) -> None:
    _, events = run(config, tables=("analytics.daily_summary",), mode="replace", dry_run=True)
    assert not [e for e in events if isinstance(e, Notice) and e.fails]
    assert [e.table for e in events if isinstance(e, TableDone)] == ["analytics.daily_summary"]


def test_replace_dry_run_checks_the_new_rows_parents_too(dbs, config) -> None:
    _, events = run(config, tables=("price_history",), mode="replace", dry_run=True)
    orphans = [e for e in events if isinstance(e, Notice) and e.fails and e.remedy == "add_parents"]
    assert orphans and "public.stocks" in orphans[0].message
