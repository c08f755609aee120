"""The sync wizard's steps against real servers: what it offers, what it blocks, what it tells.

Each test drives the wizard through the keys a user presses (enter goes on, space toggles,
escape goes back) on the seeded local and server databases.
"""

from __future__ import annotations

import psycopg
from textual.widgets import Button, DataTable, Input, Select

from dbconsole.names import TableName
from dbconsole.tui.actions import ACTIONS
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.screens.wizard import SyncWizard
from dbconsole.tui.widgets.sync import RunProgress
from dbconsole.tui.widgets.sync.toggles import TickBox

from .conftest import count_rows
from .helpers import screen_text, wait_counts, wait_for


async def open_with(pilot, app, *tables: str) -> SyncWizard:
    await wait_counts(pilot, app)
    app.browser.set_marked({TableName(*t.split(".", 1)) for t in tables})
    await pilot.press("s")
    return await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "the wizard")


async def plan_ready(pilot, wizard: SyncWizard) -> None:
    await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")


async def dry_run(pilot, wizard: SyncWizard) -> None:
    await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")


async def test_parents_are_ticked_when_needed_and_a_predicted_failure_blocks_confirm(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.scanner_settings")
        assert wizard.title == "Sync 1 table"
        await pilot.press("enter", "enter")  # enter goes on from Direction and Tables
        assert wizard.step == "options"
        await plan_ready(pilot, wizard)
        box = wizard.query_one("#opt-parents", TickBox)
        assert box.value  # the plan needs public.users: ticked by default
        assert [str(t.name) for t in wizard.plan.tables] == ["public.users", "public.scanner_settings"]
        assert wizard.title == "Sync 2 tables"  # the title follows the selection
        assert "[x] also sync parent tables" in screen_text(app)

        box.focus()
        await pilot.press("space")  # untick: the user's choice is kept
        await wait_for(pilot, lambda: wizard.plan is not None and len(wizard.plan.tables) == 1, "the new plan")
        assert not box.value and "[ ] also sync parent tables" in screen_text(app)
        await pilot.press("enter")  # enter on the box goes on
        assert wizard.step == "preview"
        await dry_run(pilot, wizard)
        failures = wizard.previewer.failures
        assert failures and failures[0].remedy == "add_parents"
        text = screen_text(app)
        assert "cannot be confirmed" in text and "press p" in text.lower()
        assert "--" not in "".join(text.split("─"))  # no command-line flag in the console's words
        assert wizard.query_one("#nav-next", Button).disabled
        await pilot.press("ctrl+n")
        assert wizard.step == "preview"  # blocked

        await pilot.press("p")  # one key: tick the parents, re-plan, dry-run again
        await wait_for(pilot, lambda: wizard.step == "preview" and wizard.preview_done
                       and not wizard.previewer.failures, "the second dry run")
        assert box.value and len(wizard.plan.tables) == 2
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"


async def test_replace_conflicts_block_and_a_failed_replace_says_it_rolled_back(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.stocks")
        await pilot.press("enter", "enter")
        wizard.query_one("#opt-mode", Select).value = "replace"
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None and wizard.plan.tables[0].mode == "replace", "plan")
        await pilot.press("ctrl+n")
        await dry_run(pilot, wizard)
        messages = [f.message for f in wizard.previewer.failures]
        assert any("public.price_history" in m and "deletes" in m for m in messages), messages
        await pilot.press("ctrl+n")
        assert wizard.step == "preview"

        # A table with nothing to delete passes its dry run; a row that appears before the run
        # then makes the run fail, and the summary must say the one transaction rolled back.
        await pilot.press("escape", "escape")
        assert wizard.step == "tables"
    with psycopg.connect(dbs.local_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.day_notes (day date NOT NULL REFERENCES analytics.daily_summary (day))")
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "analytics.daily_summary")
        await pilot.press("enter", "enter")
        wizard.query_one("#opt-mode", Select).value = "replace"
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None and wizard.plan.tables[0].mode == "replace", "plan")
        await pilot.press("ctrl+n")
        await dry_run(pilot, wizard)
        assert not wizard.previewer.failures
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        assert '"local"' in str(wizard.query_one("#confirm-text").render())  # the name to type, quoted
        with psycopg.connect(dbs.local_url, autocommit=True) as conn:
            conn.execute("INSERT INTO analytics.daily_summary (day, stats) VALUES ('1999-01-01', '{}')")
            conn.execute("INSERT INTO public.day_notes VALUES ('1999-01-01')")
        before = count_rows(dbs.local_url, "analytics.daily_summary")
        wizard.query_one("#confirm-input", Input).value = "local"
        await pilot.press("enter")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to fail")
        assert wizard.run_error is not None
        text = str(wizard.query_one("#summary-text").render())
        assert "rolled back" in text and "resume" not in text
        grid = wizard.query_one("#summary-table", DataTable)
        status = grid.get_cell_at((0, 1))
        assert "failed: rolled back" in getattr(status, "plain", str(status))
        assert "day_notes" in wizard.run_error  # the table that still points at the deleted row
    assert count_rows(dbs.local_url, "analytics.daily_summary") == before


async def test_the_table_list_offers_only_what_can_be_synced(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.local_notes", "public.audit_log", "analytics.daily_summary")
        await pilot.press("enter")
        assert wizard.step == "tables"
        offered = [str(n) for n in wizard.available]
        assert "public.local_notes" not in offered and "public.audit_log" in offered
        text = screen_text(app)
        assert "public.local_notes is only on local: not offered" in text
        assert "public.audit_log  (no key: replace only)" in text
        assert "[x] public.audit_log" in text and "[ ] public.users" in text
        assert wizard.title == "Sync 2 tables"

        await pilot.press("enter")
        await plan_ready(pilot, wizard)
        assert wizard.plan is not None, wizard.plan_error  # the keyless table is skipped, not a blocked step
        assert [str(t.name) for t in wizard.plan.tables] == ["analytics.daily_summary"]
        assert "skipped public.audit_log: no key" in str(wizard.query_one("#plan-status").render())
        wizard.query_one("#opt-mode", Select).value = "replace"  # ... or given replace
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None and len(wizard.plan.tables) == 2, "the replace plan")
        await pilot.press("escape")
        assert wizard.step == "tables"  # escape goes back


async def test_filtered_and_incremental_runs_say_so(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.users")
        await pilot.press("enter", "enter")
        wizard.query_one("#opt-mode", Select).value = "incremental"
        wizard.query_one("#opt-where", Input).value = "id <= 100"
        await pilot.pause()
        await wait_for(pilot, lambda: wizard.plan is not None and wizard.plan.tables[0].where == "id <= 100", "plan")
        plan_grid = wizard.query_one("#plan-table", DataTable)
        assert "id <= 100" in [getattr(c, "plain", str(c)) for c in plan_grid.get_row_at(0)]  # the plan shows where
        assert "incremental: rows whose updated_at moved" in screen_text(app)  # the mode explained
        await pilot.press("ctrl+n")
        await dry_run(pilot, wizard)
        assert "first run of incremental for this table: full scan" in screen_text(app)
        await pilot.press("ctrl+n", "ctrl+n")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run")
        grid = wizard.query_one("#summary-table", DataTable)
        assert getattr(grid.get_cell_at((0, 1)), "plain", "") == "synced (filtered)"
        assert not wizard.query_one("#nav-back", Button).display  # no dead Back on the summary
        assert wizard.query_one("#nav-next", Button).label.plain == "Close ^n"
        footer = {b.binding.description for b in app.active_bindings.values() if b.binding.show and b.enabled}
        assert "Close" in footer and "Next" not in footer and "Back" not in footer


def test_nothing_is_bound_to_ctrl_b():
    from dbconsole.tui.widgets.sync import toggles

    keys = [s.key for s in ACTIONS]
    for widget in (toggles.TickBox, toggles.ChoiceSet, toggles.ModeSelect, toggles.TickList):
        keys += [b.key for b in widget.BINDINGS]
    assert not [k for k in keys if "ctrl+b" in k.split(",")]


async def test_at_80x24_the_grids_never_scroll_sideways(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(80, 24)) as pilot:
        wizard = await open_with(pilot, app, "public.scan_rank", "public.scanner_settings")
        await pilot.press("enter", "enter")
        await plan_ready(pilot, wizard)
        await pilot.pause()
        assert wizard.query_one("#plan-table", DataTable).max_scroll_x == 0
        await pilot.press("ctrl+n")
        await dry_run(pilot, wizard)
        await pilot.pause()
        assert wizard.query_one("#preview-table", DataTable).max_scroll_x == 0
        await pilot.press("ctrl+n")
        wizard.action_next()
        await wait_for(pilot, lambda: wizard.step == "summary", "the run")
        await pilot.pause()
        assert wizard.query_one("#run-tables", DataTable).max_scroll_x == 0
        assert wizard.query_one("#summary-table", DataTable).max_scroll_x == 0
        assert "Close" in screen_text(app)


def big_table(dbs, rows: int) -> None:
    with psycopg.connect(dbs.server_url) as conn:
        conn.execute("CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL)")
        conn.execute("INSERT INTO public.big SELECT g, md5(g::text) FROM generate_series(1, %s) g", (rows,))
        conn.execute("ANALYZE public.big")
    with psycopg.connect(dbs.local_url) as conn:
        conn.execute("CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL)")


async def start_big_run(pilot, app, wizard: SyncWizard) -> None:
    """To the run, in batches of 1,000; started through the action (pilot.press waits for idle)."""
    await pilot.press("enter", "enter")
    wizard.query_one("#opt-batch", Input).value = "1000"
    await pilot.pause()
    await wait_for(pilot, lambda: wizard.plan is not None and wizard.plan.tables[0].batch_size == 1000, "plan")
    await pilot.press("ctrl+n")
    await dry_run(pilot, wizard)
    await pilot.press("ctrl+n")
    assert wizard.step == "confirm"
    wizard.action_next()
    progress = wizard.query_one(RunProgress)
    await wait_for(pilot, lambda: sum(progress.rows.values()) >= 5_000 or wizard.step == "summary", "progress")


async def test_a_cancelled_run_shows_where_it_stopped_and_r_resumes(tui_config, dbs):
    from dbconsole.tui.screens.confirm import ConfirmScreen

    rows = 200_000
    big_table(dbs, rows)
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.big")
        await start_big_run(pilot, app, wizard)
        if wizard.step == "run":
            wizard.action_escape()
            await wait_for(pilot, lambda: (isinstance(app.screen, ConfirmScreen) and app.screen.query("#no"))
                           or wizard.step == "summary", "the question")
            if isinstance(app.screen, ConfirmScreen):
                app.screen.action_answer(True)
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to stop")
        if not wizard.summary.cancelled:
            return  # the machine was fast enough to finish first: nothing unfinished to show
        committed = count_rows(dbs.local_url, "public.big")
        grid = wizard.query_one("#summary-table", DataTable)
        status = getattr(grid.get_cell_at((0, 1)), "plain", "")
        assert status == f"cancelled · {committed:,} rows committed", status
        text = str(wizard.query_one("#summary-text").render())
        assert "Cancelled during public.big" in text and "r runs it again" in text
        assert wizard.check_action("retry", ())

        await pilot.press("r")  # run again: resumes from the checkpoint
        await wait_for(pilot, lambda: wizard.step == "summary" and wizard.summary is not None
                       and not wizard.summary.cancelled, "the resumed run", timeout=120)
        assert wizard.run_error is None
        assert wizard.run_record.committed.get("public.big", 0) >= rows
        log = "\n".join(str(line.text) for line in wizard.query_one("#run-log").lines)
        assert f"resuming after {committed:,} rows" in log
    assert count_rows(dbs.local_url, "public.big") == rows


async def test_ctrl_q_during_a_run_asks_then_says_stopping_and_quits(tui_config, dbs):
    from dbconsole.tui.screens.confirm import ConfirmScreen

    big_table(dbs, 200_000)
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.big")
        await start_big_run(pilot, app, wizard)
        if wizard.step != "run":
            return  # finished before the key: nothing to stop
        await app.action_quit()  # what ctrl+q runs (pilot.press waits for an idle screen)
        question = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ConfirmScreen)
                                  and app.screen.query("#no") else None, "the question")
        assert app.return_code is None and wizard.running  # asked, not quit
        assert "Stop it and quit" in question.question
        question.action_answer(True)
        await pilot.pause()
        assert wizard.sub_title == "stopping…" or app.return_code is not None
        await wait_for(pilot, lambda: app.return_code is not None, "the app to quit once stopped")
        assert not wizard.running and wizard.cancel_event.is_set()
    with psycopg.connect(dbs.local_url) as conn:
        copied, top = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM public.big").fetchone()
    assert copied == top  # whole batches in key order: it stopped at a block boundary


async def test_mirror_by_diff_dry_run_says_how_many_rows_would_cross(tui_config, dbs):
    """The options step offers the strategy and mirror; the dry run says what would be read."""
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        wizard = await open_with(pilot, app, "public.scan_rank")
        await pilot.press("enter", "enter")
        wizard.query_one("#opt-mode", Select).value = "mirror"
        wizard.query_one("#opt-strategy", Select).value = "diff"
        await pilot.pause()
        await wait_for(pilot, lambda: (wizard.plan is not None and "mirror" in {t.mode for t in wizard.plan.tables})
                       or wizard.plan_error, "plan")
        assert not wizard.plan_error, wizard.plan_error
        assert wizard.plan.request.effective_strategy == "diff"
        await pilot.press("ctrl+n")
        await dry_run(pilot, wizard)
        done = next(r for r in wizard.previewer.results if r.table == "public.scan_rank")
        assert done.strategy == "diff" and done.rows_read == done.inserted + done.updated > 0
        crossing = sum(r.rows_read for r in wizard.previewer.results)
        assert f"{crossing:,} rows would cross the network" in screen_text(app)
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"  # mirror deletes: the target's name must be typed
