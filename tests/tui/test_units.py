"""Pure pieces of the console: no screen, no server."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Progress, TableDone, TableStart
from dbconsole.tui.actions import ACTIONS, bindings, key_label, specs
from dbconsole.tui.screens.wizard import EventThrottle
from dbconsole.tui.widgets.browser.rows import ago


def test_every_action_has_a_unique_id_and_a_description():
    ids = [spec.id for spec in ACTIONS]
    assert len(ids) == len(set(ids))
    assert all(spec.description for spec in ACTIONS)
    for scope in {spec.scope for spec in ACTIONS}:
        keys = [spec.key for spec in specs(scope)]
        assert len(keys) == len(set(keys)), f"two actions share a key in {scope}"
        assert [b.id for b in bindings(scope)] == [s.id for s in specs(scope)]
    assert key_label(next(s for s in ACTIONS if s.key == "slash")) == "/"


def test_throttle_keeps_every_milestone_and_the_latest_progress():
    batches: list[list] = []
    throttle = EventThrottle(batches.append, interval=3600)
    throttle(TableStart("public.a", "upsert", 100))
    for rows in range(1, 50):
        throttle(Progress("public.a", rows, 10.0))
    throttle(TableDone("public.a", RowCounts(49), 1.0))
    throttle.flush()
    events = [e for batch in batches for e in batch]
    assert [e.event for e in events] == ["table_start", "progress", "table_done"]
    assert events[1].rows == 49


@pytest.mark.parametrize("delta, text", [(5, "just now"), (300, "5m ago"), (7200, "2h ago"), (3 * 86400, "3d ago")])
def test_ago_is_short(delta, text):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert ago(now - timedelta(seconds=delta), now) == text


def test_the_headless_core_never_imports_textual():
    code = ("import sys; sys.modules['textual'] = None\n"
            "import dbconsole.config, dbconsole.connect, dbconsole.catalog, dbconsole.compare, dbconsole.sync\n"
            "import dbconsole.sync.engine, dbconsole.sync.state, dbconsole.cli, dbconsole.reading\n")
    subprocess.run([sys.executable, "-c", code], check=True)
