"""Issue 10 item 1: a console left open never full-scans a read-only server.

The proof is the server's own bookkeeping: ``pg_stat_user_tables`` counts every sequential and
index scan of every table. With a refresh every 0.3 s the console refreshes many times while
the test watches; the read-only server's scan counters must not move. Two controls show that
the counters do move when a count runs: ``ctrl+r`` on the same server, and a local profile
that opted in to exact live counts.
"""

from __future__ import annotations

import asyncio

import psycopg

from dbconsole.config import load_config
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import CatalogLoaded, CountsArrived
from dbconsole.tui.widgets.browser import BrowserGrid
from dbconsole.tui.widgets.browser.side import live_counts_exact

from .conftest import write_config
from .helpers import cell_text, unique, wait_counts, wait_for

SCANS_SQL = """
SELECT coalesce(sum(seq_scan), 0) + coalesce(sum(idx_scan), 0), coalesce(sum(seq_tup_read), 0)
  FROM pg_stat_user_tables WHERE schemaname <> '_dbconsole'
"""


def scans(url: str) -> tuple[int, int]:
    """(scans, rows read by sequential scans) of the user tables, as the server counted them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        scans_, rows = conn.execute(SCANS_SQL).fetchone()
        return int(scans_), int(rows)


def catalog_loads(seen: list, side: str) -> int:
    return sum(1 for m in unique(seen) if isinstance(m, CatalogLoaded) and m.side == side)


async def test_idle_console_never_scans_the_read_only_server(tmp_path, dbs):
    path = write_config(tmp_path, dbs.local_url, dbs.server_url,
                        extra="").with_suffix(".toml")
    text = path.read_text().replace("refresh_interval = 0", "refresh_interval = 0.3")
    path.write_text(text)
    config = load_config(path, environ={}, cwd=tmp_path)
    assert config.profiles["server"].read_only and not live_counts_exact(config.profiles["server"])
    seen: list = []
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        before = scans(dbs.server_url)
        start = catalog_loads(seen, "right")
        # several refresh intervals of doing nothing
        await wait_for(pilot, lambda: catalog_loads(seen, "right") >= start + 6, "six live refreshes", timeout=30)
        await asyncio.sleep(1.2)  # a backend's statistics reach the server within a second of idling
        after = scans(dbs.server_url)
        assert after == before, f"the idle console scanned the server: {before} -> {after}"
        assert not [m for m in unique(seen) if isinstance(m, CountsArrived)]  # no count(*) at all
        grid = app.query_one(BrowserGrid)
        assert cell_text(grid, "public.users", "right").startswith("~")  # estimates say so
        assert cell_text(grid, "public.users", "diff").startswith("~")
        assert "~ estimates" in str(app.query_one("#browser-status").render())

        # control: asked for (ctrl+r), the counts do run, one scan per table, and are exact
        app.browser.set_refresh_interval(0)
        await wait_counts(pilot, app)
        app.action_focus_browser()
        await pilot.press("ctrl+r")
        await wait_counts(pilot, app)
        await wait_for(pilot, lambda: scans(dbs.server_url)[0] > after[0], "ctrl+r's counts to show on the server")
        assert not cell_text(grid, "public.users", "right").startswith("~")


async def test_opt_in_counts_a_local_writable_profile_live(tmp_path, dbs):
    path = write_config(tmp_path, dbs.local_url, dbs.server_url)
    text = path.read_text().replace('color = "green"', 'color = "green"\nlive_exact_counts = true')
    text = text.replace("refresh_interval = 0", "refresh_interval = 0.3")
    path.write_text(text)
    config = load_config(path, environ={}, cwd=tmp_path)
    assert live_counts_exact(config.profiles["local"])
    seen: list = []
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        server_before = scans(dbs.server_url)
        await wait_for(pilot, lambda: catalog_loads(seen, "left") >= 3, "three live refreshes", timeout=30)
        await wait_counts(pilot, app)
        counted = {m.side for m in unique(seen) if isinstance(m, CountsArrived)}
        assert counted == {"left"}  # the local side only; the read-only server still gets estimates
        grid = app.query_one(BrowserGrid)
        assert not cell_text(grid, "public.users", "left").startswith("~")
        assert cell_text(grid, "public.users", "right").startswith("~")
        await asyncio.sleep(1.2)
        assert scans(dbs.server_url) == server_before


async def test_escape_stops_exact_counts(tmp_path, dbs):
    """A count that takes long (a row-security policy sleeps per row) is stopped by escape, on the
    server too, and escape then goes back to clearing the filter."""
    with dbs.server_admin() as admin:
        admin.execute("CREATE TABLE public.slow_count AS SELECT g FROM generate_series(1, 2000) g")
        admin.execute("ALTER TABLE public.slow_count ENABLE ROW LEVEL SECURITY")
        admin.execute("CREATE POLICY slow ON public.slow_count USING (pg_sleep(0.02) IS NOT NULL)")
        admin.execute("GRANT SELECT ON public.slow_count TO PUBLIC")
    path = write_config(tmp_path, dbs.local_url, dbs.server_url)
    config = load_config(path, environ={}, cwd=tmp_path)
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_counts(pilot, app)
        app.action_focus_browser()
        await pilot.press("slash", *"slow_count", "enter", "space", "ctrl+r")
        await wait_for(pilot, lambda: counts_running(dbs.server_url) == 1, "the count to run on the server")
        assert app.browser.counting
        await pilot.press("escape")
        await wait_for(pilot, lambda: counts_running(dbs.server_url) == 0, "the server to stop counting", timeout=10)
        assert not app.browser.counting
        assert cell_text(app.query_one(BrowserGrid), "public.slow_count", "right").startswith("~")
        assert app.browser.filter_text == "slow_count"  # escape stopped the count, kept the filter
        await pilot.press("escape")
        assert app.browser.filter_text == ""  # the next one clears the filter


def counts_running(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND pid <> pg_backend_pid() AND state = 'active' "
                            "AND query LIKE 'SELECT count(*) FROM%%slow_count%%'").fetchone()[0]


def test_live_exact_counts_is_honoured_only_on_a_local_writable_profile():
    import pytest

    from dbconsole.config import ConfigError, parse_config

    ok = parse_config({"profiles": {"dev": {"url": "postgresql://a@localhost/x", "live_exact_counts": True}}},
                      path=None, environ={})
    assert ok.profiles["dev"].live_exact_counts and live_counts_exact(ok.profiles["dev"])
    # A shared team config may set it on every profile: only the local writable one is counted live.
    for table in ({"url": "postgresql://a@localhost/x", "read_only": True, "live_exact_counts": True},
                  {"url": "postgresql://a@db.example/x", "read_only": False, "live_exact_counts": True}):
        profile = parse_config({"profiles": {"prod": table}}, path=None, environ={}).profiles["prod"]
        assert profile.live_exact_counts and not live_counts_exact(profile)
    with pytest.raises(ConfigError, match="live_exact_counts"):
        parse_config({"profiles": {"prod": {"url": "postgresql://a@localhost/x", "live_exact_counts": "yes"}}},
                     path=None, environ={})


async def test_a_locked_table_fails_the_refresh_instead_of_hanging_it(tmp_path, dbs):
    """A migration holding ACCESS EXCLUSIVE on a server table: the side reports the lock within
    seconds (lock_timeout) instead of leaving the browser "connecting" for as long as it lasts."""
    config = load_config(write_config(tmp_path, dbs.local_url, dbs.server_url), environ={}, cwd=tmp_path)
    with dbs.server_admin() as admin:
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE")
        app = DbconsoleApp(config=config)
        async with app.run_test(size=(140, 40)) as pilot:
            await wait_for(pilot, lambda: app.browser.sides["right"].stage == "error", "the lock to be reported",
                           timeout=20)
            assert "lock" in (app.browser.sides["right"].error or "")
            assert app.browser.sides["left"].loaded  # the other side is not held up
        admin.execute("ROLLBACK")
