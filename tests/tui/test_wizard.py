"""The sync wizard end to end against real servers: preview, confirm, run, cancel, refuse."""

from __future__ import annotations

import psycopg
from textual.widgets import DataTable, Input, RadioSet, Select

from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import SyncEvents, SyncFinished, SyncStateChanged
from dbconsole.tui.screens.confirm import ConfirmScreen
from dbconsole.tui.screens.wizard import SyncWizard
from dbconsole.tui.widgets.sync import RunProgress

from .conftest import count_rows
from .helpers import cell_text, unique, wait_counts, wait_for


async def open_wizard(pilot, app, table: str) -> SyncWizard:
    await wait_counts(pilot, app)
    await pilot.press("slash", *table)
    await pilot.press("enter")
    browser = app.browser
    assert [str(n) for n in browser.shown][:1] == [table]
    await pilot.press("space", "s")
    return await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "the wizard")


async def to_preview(pilot, wizard: SyncWizard) -> None:
    await pilot.press("ctrl+n")  # direction: server -> local
    assert wizard.step == "tables"
    await pilot.press("ctrl+n")
    assert wizard.step == "options"
    await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
    assert wizard.plan is not None, wizard.plan_error
    await pilot.press("ctrl+n")
    assert wizard.step == "preview"
    await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")
    assert wizard.preview_done, wizard.preview_error


async def test_wizard_previews_confirms_runs_and_refreshes(tui_config, dbs):
    local_before = count_rows(dbs.local_url, "public.users")
    server_users = count_rows(dbs.server_url, "public.users")
    seen = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        wizard = await open_wizard(pilot, app, "public.users")
        assert wizard.source.name == "server" and wizard.target.name == "local"
        await to_preview(pilot, wizard)
        preview = wizard.query_one("#preview-table", DataTable)
        assert preview.row_count == 1
        row = [getattr(c, "plain", str(c)) for c in preview.get_row_at(0)]
        assert row[0] == "public.users"
        would_insert = int(row[1].replace(",", ""))
        assert would_insert > 0
        assert count_rows(dbs.local_url, "public.users") == local_before  # the dry run wrote nothing

        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        assert not wizard.query_one("#confirm-input", Input).display  # local target, upsert: no typing
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to finish")
        summary = wizard.summary
        assert summary is not None and not summary.cancelled and wizard.run_error is None
        assert summary.inserted == would_insert
        assert "Done" in str(wizard.query_one("#summary-text").render())
        # upsert keeps local-only rows and adds every server row
        assert count_rows(dbs.local_url, "public.users") == local_before + would_insert
        with psycopg.connect(dbs.local_url) as conn:
            missing = conn.execute("SELECT count(*) FROM public.users").fetchone()[0]
        assert missing >= server_users

        await pilot.press("ctrl+n")  # close: the browser refreshes
        assert not isinstance(app.screen, SyncWizard)
        await wait_counts(pilot, app)
        grid = app.browser.query_one(DataTable)
        expected = count_rows(dbs.local_url, "public.users")
        assert cell_text(grid, "public.users", "left").replace(",", "") == str(expected)
        assert cell_text(grid, "public.users", "synced") != "never"

    seen = unique(seen)
    states = [m.running for m in seen if isinstance(m, SyncStateChanged)]
    assert states == [True, False]
    dry = [m for m in seen if isinstance(m, SyncFinished) and m.dry_run]
    real = [m for m in seen if isinstance(m, SyncFinished) and not m.dry_run]
    assert len(dry) == 1 and len(real) == 1
    events = [e.event for m in seen if isinstance(m, SyncEvents) and not m.dry_run for e in m.events]
    assert events[0] == "plan" and "table_start" in events and "table_done" in events and events[-1] == "done"


async def test_replace_needs_the_target_name_typed(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_wizard(pilot, app, "public.audit_log")
        await pilot.press("ctrl+n", "ctrl+n")
        wizard.query_one("#opt-mode", Select).value = "replace"
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
        assert wizard.plan is not None and wizard.plan.tables[0].mode == "replace"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        box = wizard.query_one("#confirm-input", Input)
        assert box.display
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"  # nothing typed: no run
        await pilot.press(*"serve", "enter")
        assert wizard.step == "confirm"  # wrong name: no run
        box.value = ""
        await pilot.press(*"local", "enter")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to finish")
        assert wizard.run_error is None
    assert count_rows(dbs.local_url, "public.audit_log") == count_rows(dbs.server_url, "public.audit_log")


async def test_read_only_target_is_refused_before_anything_runs(tui_config, dbs):
    server_before = count_rows(dbs.server_url, "public.users")
    seen = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        wizard = await open_wizard(pilot, app, "public.users")
        radio = wizard.query_one("#direction-set", RadioSet)
        await pilot.press("down", "space")  # local -> server
        assert radio.pressed_index == 1
        await pilot.press("ctrl+n")
        assert wizard.step == "direction"
        assert "read-only" in str(wizard.query_one("#direction-error").render())
    assert not [m for m in seen if isinstance(m, (SyncFinished, SyncStateChanged))]
    assert count_rows(dbs.server_url, "public.users") == server_before


async def test_escape_cancels_a_run_and_leaves_a_consistent_target(tui_config, dbs):
    rows = 400_000
    with psycopg.connect(dbs.server_url) as conn:
        conn.execute("CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL)")
        conn.execute("INSERT INTO public.big SELECT g, md5(g::text) FROM generate_series(1, %s) g", (rows,))
        conn.execute("ANALYZE public.big")
    with psycopg.connect(dbs.local_url) as conn:
        conn.execute("CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL)")

    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_wizard(pilot, app, "public.big")
        await pilot.press("ctrl+n", "ctrl+n")
        wizard.query_one("#opt-batch", Input).value = "2000"
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None and wizard.plan.tables[0].batch_size == 2000, "plan")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        # pilot.press() waits for the screen to go idle, which it does not while the run streams its
        # events, so the run would be over before the next key arrived: start it, and answer the
        # cancel question, through the same actions the keys are bound to.
        wizard.action_next()
        assert wizard.step == "run", (wizard.run_error, wizard.summary)
        progress = wizard.query_one(RunProgress)
        await wait_for(pilot, lambda: sum(progress.rows.values()) >= 10_000 or wizard.step == "summary", "progress")
        if wizard.step == "run":
            assert app.browser.paused  # no live refresh of the pair while it is being synced
            wizard.action_escape()  # escape: asks first
            await wait_for(pilot, lambda: (isinstance(app.screen, ConfirmScreen) and app.screen.query("#no"))
                           or wizard.step == "summary", "the question")
            if isinstance(app.screen, ConfirmScreen):
                app.screen.action_answer(True)  # y
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to stop")
        summary = wizard.summary
        assert summary is not None and wizard.run_error is None
        await wait_for(pilot, lambda: not app.browser.paused, "the browser to resume")

    with psycopg.connect(dbs.local_url) as conn:
        copied = conn.execute("SELECT count(*) FROM public.big").fetchone()[0]
        ids = conn.execute("SELECT min(id), max(id) FROM public.big").fetchone()
        wrong = conn.execute("SELECT count(*) FROM public.big WHERE payload <> md5(id::text)").fetchone()[0]
    assert wrong == 0
    if summary.cancelled:
        assert copied < rows
        assert copied == 0 or ids == (1, copied)  # whole batches, in key order, nothing half-written
    # whatever was committed, a new run finishes the job with every row exactly once
    from dbconsole.sync import SyncRequest
    from dbconsole.sync.engine import run_sync

    config = tui_config
    run_sync(SyncRequest(source=config.profiles["server"], target=config.profiles["local"],
                         tables=("public.big",), settings=config.sync))
    assert count_rows(dbs.local_url, "public.big") == rows
