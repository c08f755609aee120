"""The compare browser against real servers: counts, marks, filter, message flow."""

from __future__ import annotations

import psycopg

from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import CatalogLoaded, CountsArrived, CountsFinished
from dbconsole.tui.widgets.browser import BrowserGrid

from .helpers import cell_text, count_exactly, unique, wait_counts


def exact_counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', '_dbconsole')").fetchall()
        return {name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] for (name,) in tables}


async def test_browser_shows_exact_counts_of_both_sides(tui_config, dbs):
    seen = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        await count_exactly(pilot, app)  # exact counts run when asked (ctrl+r), never on their own
        grid = app.query_one(BrowserGrid)
        local, server = exact_counts(dbs.local_url), exact_counts(dbs.server_url)
        assert set(app.browser.rows) and {str(n) for n in app.browser.rows} == set(local) | set(server)
        for name in set(local) | set(server):
            left = cell_text(grid, name, "left").replace(",", "")
            right = cell_text(grid, name, "right").replace(",", "")
            assert left == (str(local[name]) if name in local else "-"), name
            assert right == (str(server[name]) if name in server else "-"), name
        users = app.browser.rows[next(n for n in app.browser.rows if str(n) == "public.users")]
        assert cell_text(grid, "public.users", "diff") == f"{server['public.users'] - local['public.users']:+,}"
        assert users.left_exact and users.right_exact
        assert cell_text(grid, "public.local_notes", "diff") == "only left"
        assert cell_text(grid, "public.local_notes", "right") == "-"

    seen = unique(seen)
    kinds = [type(m) for m in seen if isinstance(m, (CatalogLoaded, CountsArrived, CountsFinished))]
    # per side: the catalog (estimates) comes before the first exact count, and counts end it
    for side in ("left", "right"):
        flow = [type(m) for m in seen if isinstance(m, (CatalogLoaded, CountsArrived, CountsFinished))
                and m.side == side]
        assert flow[0] is CatalogLoaded and flow[-1] is CountsFinished and CountsArrived in flow
    assert kinds


async def test_marking_and_filtering(tui_config):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_counts(pilot, app)
        browser = app.browser
        total = len(browser.rows)
        await pilot.press("slash", *"price")
        await pilot.pause()
        assert [str(n) for n in browser.shown] == ["public.price_history"]
        await pilot.press("enter")  # back to the grid, filter kept
        assert isinstance(app.focused, BrowserGrid)
        await pilot.press("space")
        assert {str(n) for n in browser.marked} == {"public.price_history"}
        assert cell_text(app.query_one(BrowserGrid), "public.price_history", "mark") == "[x]"  # readable without colour

        await pilot.press("slash")
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert len(browser.shown) == total
        await pilot.press("slash", *"public.s")
        await pilot.press("enter", "a")
        shown = {str(n) for n in browser.shown}
        assert shown and all(n.startswith("public.s") for n in shown)
        assert {str(n) for n in browser.marked} == shown | {"public.price_history"}
        await pilot.press("a")  # all shown already marked: unmarks them
        assert {str(n) for n in browser.marked} == {"public.price_history"}
        assert "1 marked" in str(app.query_one("#browser-status").render())
