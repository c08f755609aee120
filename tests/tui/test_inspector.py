"""The inspector: rows of both sides, and a SQL box that never writes, whatever the profile."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, TextArea

from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import QueryFinished
from dbconsole.tui.screens.inspector import Inspector

from .conftest import count_rows
from .helpers import unique, wait_counts, wait_for


async def open_inspector(pilot, app, table: str) -> Inspector:
    await wait_counts(pilot, app)
    await pilot.press("slash", *table, "enter", "enter")
    return await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None, "inspector")


async def run_sql(pilot, inspector: Inspector, text: str, seen: list) -> QueryFinished:
    before = len(unique([m for m in seen if isinstance(m, QueryFinished)]))
    inspector.query_one("#sql", TextArea).text = text
    await pilot.press("ctrl+r")
    await wait_for(pilot, lambda: len(unique([m for m in seen if isinstance(m, QueryFinished)])) > before, "query")
    return unique([m for m in seen if isinstance(m, QueryFinished)])[-1]


async def test_inspector_shows_rows_of_both_sides(tui_config):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        inspector = await open_inspector(pilot, app, "public.stocks")
        left = inspector.query_one("#rows-left", DataTable)
        right = inspector.query_one("#rows-right", DataTable)
        await wait_for(pilot, lambda: left.row_count and right.row_count, "previews")
        assert right.row_count >= left.row_count > 0
        await pilot.press("escape")
        assert not isinstance(app.screen, Inspector)


@pytest.mark.parametrize("side_key, profile", [(False, "local"), (True, "server")])
async def test_sql_box_refuses_writes_on_any_profile(tui_config, dbs, side_key, profile):
    """local is writable, server read-only: the box refuses a write on both."""
    url = dbs.local_url if profile == "local" else dbs.server_url
    before = count_rows(url, "public.users")
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        inspector = await open_inspector(pilot, app, "public.users")
        if side_key:
            await pilot.press("ctrl+o")
        assert inspector.profiles[inspector.query_side].name == profile

        result = await run_sql(pilot, inspector, "DELETE FROM public.users", seen)
        assert result.error and "read-only" in result.error
        result = await run_sql(pilot, inspector, "COMMIT; DELETE FROM public.users", seen)
        assert result.error
        result = await run_sql(pilot, inspector, "SET transaction_read_only = off", seen)
        assert result.error
        result = await run_sql(pilot, inspector, "SELECT count(*) AS n FROM public.users", seen)
        assert result.error is None and result.columns == ["n"] and result.rows == [(str(before),)]
        status = str(inspector.query_one("#query-status").render())
        assert profile in status and "1 rows" in status
        assert inspector.query_one("#query-result", DataTable).row_count == 1
    assert count_rows(url, "public.users") == before


async def test_ctrl_c_cancels_a_running_query(tui_config):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        inspector = await open_inspector(pilot, app, "public.users")
        inspector.query_one("#sql", TextArea).text = "SELECT pg_sleep(20)"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any(r.running for r in inspector.runners.values()), "the query to start")
        await pilot.press("ctrl+c")
        finished = await wait_for(pilot, lambda: [m for m in seen if isinstance(m, QueryFinished)], "cancel")
        assert finished[-1].error == "query cancelled"
        assert isinstance(app.screen, Inspector)  # ctrl+c did not quit
