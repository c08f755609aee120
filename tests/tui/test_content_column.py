"""Issue 12 item 4: the browser's content column, filled by content diffs on demand only.

Against the real clusters: the seeded ``public.sectors`` holds 16 rows on both sides, four of
them changed on the server (``SECTOR_CHANGES``), so the counts say equal and only a content
diff tells them apart. An idle console never diffs anything (the read-only server's scan
counters prove it); ``[tui] auto_diff_rows`` checks small tables once, never on a refresh.
"""

from __future__ import annotations

import asyncio

import psycopg

from dbconsole.config import load_config
from dbconsole.sandbox.seed import SECTOR_CHANGES
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import ContentChecked, ContentChecksFinished, ContentProgress
from dbconsole.tui.widgets.browser import BrowserGrid

from .conftest import write_config
from .helpers import cell_text, count_exactly, unique, wait_counts, wait_for
from .test_live_counts import catalog_loads, scans

SECTORS = "public.sectors"


def content_messages(seen: list) -> list:
    return [m for m in unique(seen) if isinstance(m, (ContentProgress, ContentChecked, ContentChecksFinished))]


def checked(seen: list) -> list[ContentChecked]:
    return [m for m in unique(seen) if isinstance(m, ContentChecked)]


async def goto(pilot, app, table: str) -> None:
    """Put the grid's cursor on ``table`` (no filter, so every row stays shown)."""
    app.action_focus_browser()
    grid = app.query_one(BrowserGrid)
    names = [str(n) for n in app.browser.shown]
    grid.move_cursor(row=names.index(table), animate=False)
    await pilot.pause(0.05)


def config_with(tmp_path, dbs, *, refresh: float = 0, auto_rows: int | None = None):
    path = write_config(tmp_path, dbs.local_url, dbs.server_url)
    text = path.read_text().replace("refresh_interval = 0", f"refresh_interval = {refresh}")
    if auto_rows is not None:
        text += f"auto_diff_rows = {auto_rows}\n"
    path.write_text(text)
    return load_config(path, environ={}, cwd=tmp_path)


async def test_an_idle_console_runs_no_content_diff(tmp_path, dbs):
    config = config_with(tmp_path, dbs, refresh=0.3)
    assert int(config.tui.get("auto_diff_rows", 0)) == 0  # off by default
    seen: list = []
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        before = scans(dbs.server_url)
        start = catalog_loads(seen, "right")
        await wait_for(pilot, lambda: catalog_loads(seen, "right") >= start + 6, "six live refreshes", timeout=30)
        await asyncio.sleep(1.2)  # statistics reach the server within a second of idling
        assert scans(dbs.server_url) == before, "the idle console scanned the read-only server"
        assert content_messages(seen) == [] and app.browser.content == {}
        assert not [w for w in app.workers if w.group == "diff"]
        assert cell_text(app.query_one(BrowserGrid), SECTORS, "content") == ""


async def test_c_finds_the_content_difference_behind_equal_counts(tui_config, dbs):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await count_exactly(pilot, app)
        grid = app.query_one(BrowserGrid)
        assert cell_text(grid, SECTORS, "left") == cell_text(grid, SECTORS, "right") == "16"
        assert cell_text(grid, SECTORS, "diff") == "="  # the counts say: equal
        before = scans(dbs.server_url)
        await goto(pilot, app, SECTORS)
        await pilot.press("c")
        await wait_for(pilot, lambda: checked(seen), "the content diff")
        (message,) = checked(seen)
        result = message.result
        assert (str(message.table), result.status, result.changed, result.only_left, result.only_right) == \
            (SECTORS, "differ", len(SECTOR_CHANGES), 0, 0)
        assert {r.key["code"] for r in result.rows} == set(SECTOR_CHANGES)
        assert cell_text(grid, SECTORS, "content") == f"≠ {len(SECTOR_CHANGES)} rows"
        flow = content_messages(seen)
        progress = [m for m in flow if isinstance(m, ContentProgress)]
        assert progress and all(m.table == message.table for m in progress)
        assert flow.index(progress[0]) < flow.index(message)  # "checking… 0%" first, then the result
        assert progress[0].fraction == 0.0
        # the server did the checksums (its scan counters moved), read-only as ever
        await wait_for(pilot, lambda: scans(dbs.server_url)[0] > before[0], "the diff's scans on the server")
        # a table whose content is the same says so; other cells stay blank
        await goto(pilot, app, "public.local_notes")  # only on the left: nothing to compare
        await pilot.press("c")
        await pilot.pause(0.2)
        assert cell_text(grid, "public.local_notes", "content") == ""
        assert len(checked(seen)) == 1


async def test_shift_c_checks_every_table_shown(tui_config, dbs):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        app.action_focus_browser()
        await pilot.press("slash", *"public.s", "enter")  # scan_rank, scanner_settings, sectors, stocks
        shown = [str(n) for n in app.browser.shown]
        assert SECTORS in shown and "public.users" not in shown
        await pilot.press("C")
        await wait_for(pilot, lambda: len(checked(seen)) == len(shown) and not app.browser.diffing, "every table shown")
        grid = app.query_one(BrowserGrid)
        statuses = {str(m.table): m.result.status for m in checked(seen)}
        assert statuses == {name: "differ" for name in shown}  # the local copy drifted in each of them
        assert "public.users" not in {str(n) for n in app.browser.content}
        assert all(cell_text(grid, name, "content").startswith("≠ ") for name in shown)
        assert "content" not in str(app.query_one("#browser-status").render())  # nothing running


SLOW_ROWS_SQL = """
ALTER TABLE public.sectors ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.sectors FORCE ROW LEVEL SECURITY;
CREATE POLICY slow ON public.sectors USING (pg_sleep(0.5)::text = '');
"""


def diff_queries(url: str) -> list[str]:
    """Statements the console's diff sessions are running on a server right now."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT query FROM pg_stat_activity WHERE application_name LIKE %s AND state = 'active'",
                            ("%diff%",)).fetchall()
    return [r[0] for r in rows]


async def test_esc_cancels_a_running_content_diff_on_the_server(tui_config, dbs):
    """Every row of sectors costs the server 0.5 s to read: the diff runs for 8 s unless cancelled."""
    with dbs.server_admin() as server:
        server.execute(SLOW_ROWS_SQL)
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await goto(pilot, app, SECTORS)
        await pilot.press("c")
        await wait_for(pilot, lambda: diff_queries(dbs.server_url), "the diff's statement on the server")
        grid = app.query_one(BrowserGrid)
        assert cell_text(grid, SECTORS, "content").startswith("checking… ")
        assert "content 0/1 (esc stops)" in str(app.query_one("#browser-status").render())
        loop = asyncio.get_running_loop()
        began = loop.time()
        await pilot.press("escape")
        assert not app.browser.diffing and cell_text(grid, SECTORS, "content") == ""
        await wait_for(pilot, lambda: not [w for w in app.workers if w.group == "diff" and w.is_running],
                       "the diff worker to stop", timeout=6)
        assert loop.time() - began < 6  # cancelled, not waited out
        await wait_for(pilot, lambda: not diff_queries(dbs.server_url), "the server's statement to be cancelled",
                       timeout=3)
        await pilot.pause(0.3)
        assert checked(seen) == [] and cell_text(grid, SECTORS, "content") == ""


async def test_auto_diff_rows_checks_small_tables_once_never_on_refresh(tmp_path, dbs):
    config = config_with(tmp_path, dbs, refresh=0.3, auto_rows=100)
    seen: list = []
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        # under 100 rows on both sides and keyed: sectors (16), stocks (50/46), daily_summary (20/18)
        small = {SECTORS, "public.stocks", "analytics.daily_summary"}
        await wait_for(pilot, lambda: {str(m.table) for m in checked(seen)} == small and not app.browser.diffing,
                       "the automatic checks")
        start = catalog_loads(seen, "right")
        await wait_for(pilot, lambda: catalog_loads(seen, "right") >= start + 5, "five more live refreshes")
        await asyncio.sleep(0.5)
        assert sorted(str(m.table) for m in checked(seen)) == sorted(small)  # once each, never again
        grid = app.query_one(BrowserGrid)
        assert cell_text(grid, SECTORS, "content") == f"≠ {len(SECTOR_CHANGES)} rows"
        assert cell_text(grid, "public.users", "content") == ""  # 200 rows: not automatic


async def test_a_sync_into_a_side_forgets_what_the_diffs_found(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    seen: list = []
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await goto(pilot, app, SECTORS)
        await pilot.press("c")
        await wait_for(pilot, lambda: checked(seen) and not app.browser.diffing, "the content diff")
        with psycopg.connect(dbs.server_url) as server, psycopg.connect(dbs.local_url) as local:
            rows = server.execute("SELECT code, name_en, fee_rate, updated_at FROM public.sectors").fetchall()
            with local.cursor() as cur:
                cur.executemany("UPDATE public.sectors SET name_en = %s, fee_rate = %s, updated_at = %s WHERE code = %s",
                                [(name, fee, updated, code) for code, name, fee, updated in rows])
        app.browser.refresh_counts("live", written="local")  # what the app does after a sync into local
        await pilot.pause(0.1)
        assert cell_text(app.query_one(BrowserGrid), SECTORS, "content") == ""
        await pilot.press("c")
        await wait_for(pilot, lambda: len(checked(seen)) == 2 and not app.browser.diffing, "the second diff")
        assert checked(seen)[-1].result.status == "same"
        assert cell_text(app.query_one(BrowserGrid), SECTORS, "content") == "same"
