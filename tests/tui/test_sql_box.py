"""Issue 10 items 2, 7, 8: the SQL box fetches only what it shows, JSON reads as JSON, errors clear
the grid, and the preview's caption never says "first 50 of 10 rows"."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from dbconsole.config import load_config
from dbconsole.tui.app import DbconsoleApp
from dbconsole.reading import QUERY_FETCH_LIMIT, is_query

from ..netproxy import StallableProxy
from .conftest import write_config
from .test_inspector import open_inspector, run_sql
from .helpers import wait_for

MB = 1024 * 1024
BIG_QUERY = "SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 3000000) g"  # ~650 MB if fetched


def memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


def reset_peak_memory() -> None:
    """From now on VmHWM is the peak since this call (Linux: writing 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


async def test_sql_box_fetches_at_most_limit_plus_one_rows(tmp_path, dbs):
    proxy = StallableProxy(dbs.server.host, dbs.server.port)  # counts the bytes the server sends
    try:
        server_url = dbs.server_url.replace(f":{dbs.server.port}/", f":{proxy.port}/")
        assert server_url != dbs.server_url
        config = load_config(write_config(tmp_path, dbs.local_url, server_url), environ={}, cwd=tmp_path)
        seen: list = []
        app = DbconsoleApp(config=config)
        async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
            inspector = await open_inspector(pilot, app, "public.users")
            await pilot.press("ctrl+o")  # the server side, through the proxy
            assert inspector.profiles[inspector.query_side].name == "server"
            await run_sql(pilot, inspector, "SELECT 1", seen)  # the session is open: count from here
            sent_before = proxy.bytes_to_client
            reset_peak_memory()
            rss_before = memory_kb("VmRSS")
            result = await run_sql(pilot, inspector, BIG_QUERY, seen)
            peak_growth_mb = (memory_kb("VmHWM") - rss_before) / 1024
            sent_mb = (proxy.bytes_to_client - sent_before) / MB
            assert result.error is None and result.truncated and len(result.rows) == QUERY_FETCH_LIMIT
            status = str(inspector.query_one("#query-status").render())
            assert f"first {QUERY_FETCH_LIMIT} rows (more not fetched)" in status
            assert inspector.query_one("#query-result", DataTable).row_count == QUERY_FETCH_LIMIT
            # 501 rows of ~215 bytes travelled, not 3 million
            assert sent_mb < 1.0, f"{sent_mb:.1f} MB came from the server"
            assert peak_growth_mb < 60, f"the process grew by {peak_growth_mb:.0f} MB"

            # statements that are not queries still run (no cursor for them)
            shown = await run_sql(pilot, inspector, "SHOW statement_timeout", seen)
            assert shown.error is None and shown.rows
    finally:
        proxy.close()


def test_only_queries_go_through_a_cursor():
    assert is_query("SELECT 1") and is_query("  with x as (select 1) select * from x")
    assert is_query("-- a comment\n/* and another */ (SELECT 1)") and is_query("VALUES (1)") and is_query("TABLE t")
    assert not is_query("SHOW work_mem") and not is_query("EXPLAIN SELECT 1") and not is_query("DELETE FROM t")


async def test_json_cells_read_as_json_and_errors_clear_the_grid(tui_config, dbs):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        inspector = await open_inspector(pilot, app, "public.users")
        result = await run_sql(pilot, inspector, """SELECT '{"a": true, "b": null, "c": [1, "x''y"]}'::jsonb AS j,
                                                           'true'::json AS t, ARRAY['{"k": false}'::jsonb] AS arr,
                                                           '{"a": 1}'::text AS plain""", seen)
        assert result.error is None
        j, t, arr, plain = result.rows[0]
        assert j == '{"a": true, "b": null, "c": [1, "x\'y"]}'  # not Python's {'a': True, 'b': None}
        assert t == "true" and arr == '[{"k": false}]' and plain == '{"a": 1}'
        grid = inspector.query_one("#query-result", DataTable)
        assert grid.row_count == 1
        failed = await run_sql(pilot, inspector, "SELECT * FROM no_such_table", seen)
        assert failed.error and "no_such_table" in failed.error
        assert grid.row_count == 0 and not grid.columns  # no stale rows under the error


async def test_preview_caption_never_says_first_50_of_10(tmp_path, dbs):
    config = load_config(write_config(tmp_path, dbs.local_url, dbs.server_url), environ={}, cwd=tmp_path)
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(140, 40)) as pilot:
        inspector = await open_inspector(pilot, app, "public.stocks")
        await wait_for(pilot, lambda: len(inspector.previews) == 2, "both previews")
        for side in ("left", "right"):
            caption = str(inspector.query_one(f"#side-{side}").border_subtitle)
            rows = len(inspector.previews[side].rows)
            if rows < 50:
                assert caption == f"all {rows:,} rows", caption
            else:
                assert caption.startswith("first 50 of "), caption


def test_a_query_cannot_break_out_of_its_cursor(dbs, tui_config):
    """The user's text is spliced into ``DECLARE ... FOR``: it is still one prepared statement in a
    read-only transaction, so nothing after the query can run."""
    from dbconsole.errors import DbconsoleError
    from dbconsole.reading import ReadOnlyQuery

    from .conftest import count_rows

    before = count_rows(dbs.local_url, "public.users")
    runner = ReadOnlyQuery(tui_config.profiles["local"])
    try:
        for attack in ("SELECT 1; DELETE FROM public.users", "SELECT 1; COMMIT; DELETE FROM public.users",
                       "WITH d AS (DELETE FROM public.users RETURNING 1) SELECT count(*) FROM d",
                       "SELECT 1 FOR UPDATE"):
            try:
                runner.run(attack)
            except DbconsoleError:
                pass
            assert runner.run("SHOW transaction_read_only").rows == [("on",)]
        assert runner.run("SELECT count(*) FROM public.users").rows == [(str(before),)]
    finally:
        runner.close()
    assert count_rows(dbs.local_url, "public.users") == before
