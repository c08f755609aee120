"""The browser marks a table whose schema differs between the two sides (from a worker)."""

from __future__ import annotations

from dbconsole.schema.compare import compare_schemas, differing_tables
from dbconsole.schema.read import read_schema
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import SchemaCompared
from dbconsole.tui.widgets.browser import BrowserGrid
from dbconsole.tui.widgets.browser.rows import SCHEMA_MARK

from .helpers import cell_text, unique, wait_for


async def test_a_table_whose_schema_differs_is_marked(tui_config, dbs):
    with dbs.server_admin() as server:
        server.execute("ALTER TABLE users ADD COLUMN nickname text")
    with dbs.local_admin() as local, dbs.server_admin() as server:
        left, right = read_schema(local), read_schema(server)
    expected = {str(n) for n in differing_tables(left, right, compare_schemas(left, right))}
    assert "public.users" in expected

    seen = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        browser = app.browser
        await wait_for(pilot, lambda: browser.schema_diffs and browser.loaded["left"] and browser.loaded["right"],
                       "the schema comparison")
        await pilot.pause()
        grid = app.query_one(BrowserGrid)
        marked = {str(n) for n in browser.rows if cell_text(grid, str(n), "table").endswith(SCHEMA_MARK)}
        assert marked == expected & {str(n) for n in browser.rows}
        kinds = {d.kind for d in browser.schema_diffs[next(n for n in browser.rows if str(n) == "public.users")]}
        assert "column" in kinds
    compared = [m for m in unique(seen) if isinstance(m, SchemaCompared)]
    assert len(compared) == 1  # once per pair, not on every refresh
