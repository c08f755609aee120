"""The wizard's jobs option: tables run on several workers, and the run screen names them."""

from __future__ import annotations

import psycopg
from textual.widgets import Input

from dbconsole.sync.events import TableDone, TableStart
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import SyncEvents
from dbconsole.tui.screens.wizard import SyncWizard
from dbconsole.tui.widgets.sync import RunProgress

from .conftest import count_rows
from .helpers import wait_counts, wait_for

ROWS = 120_000
TABLES = ("public.big_a", "public.big_b")


async def test_jobs_from_the_options_step_run_tables_at_once(tui_config, dbs):
    for url in (dbs.server_url, dbs.local_url):
        with psycopg.connect(url) as conn:
            for table in TABLES:
                conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, payload text NOT NULL)")
    with psycopg.connect(dbs.server_url) as conn:
        for table in TABLES:
            conn.execute(f"INSERT INTO {table} SELECT g, md5(g::text) FROM generate_series(1, %s) g", (ROWS,))
        conn.execute("ANALYZE")

    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("slash", *"public.big_", "enter", "a", "s")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "wizard")
        await pilot.press("ctrl+n", "ctrl+n")
        assert wizard.step == "options"
        wizard.query_one("#opt-jobs", Input).value = "99"
        await pilot.pause()
        assert "jobs must be" in (wizard.options.blocker() or "")
        wizard.query_one("#opt-jobs", Input).value = "4"
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None and len(wizard.plan.tables) == 2, "the plan")
        assert wizard.options.contribute()["jobs"] == 4
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        wizard.action_next()
        progress = wizard.query_one(RunProgress)
        running: list[str] = []
        await wait_for(pilot, lambda: running.append(progress.running_text()) or wizard.step == "summary", "the run")
        assert wizard.run_error is None and not wizard.summary.cancelled
    events = [e for m in seen if isinstance(m, SyncEvents) and not m.dry_run for e in m.events]
    kinds = [(type(e), e.table) for e in events if isinstance(e, (TableStart, TableDone))]
    first_done = next(i for i, (kind, _) in enumerate(kinds) if kind is TableDone)
    assert {t for kind, t in kinds[:first_done] if kind is TableStart} == set(TABLES), "both ran at once"
    assert any(text.startswith(" · running: ") and all(t in text for t in TABLES) for text in running)
    for table in TABLES:
        assert count_rows(dbs.local_url, table) == ROWS
