"""A SQLite profile in the console (issue 18): a read-only file source in the profiles pane, and
one side of the compare browser against PostgreSQL, by exact counts (and content on ``c``).

A real SQLite file shaped like a Django project (tests/django_sqlite.py) and a real PostgreSQL
database holding the same tables with some rows missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dbconsole.config import load_config
from dbconsole.names import TableName
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import JobFailed
from dbconsole.tui.screens.health import HealthScreen
from dbconsole.tui.screens.history import HistoryScreen
from tests.django_sqlite import make_rows, write_reference, write_sqlite

from .helpers import cell_text, count_exactly, screen_text, unique, wait_counts, wait_for

ORDERS = TableName("public", "shop_order")


@pytest.fixture
def sqlite_config(empty_dbs, tmp_path: Path) -> Path:
    rows = make_rows()
    write_sqlite(tmp_path / "db.sqlite3", rows)
    with empty_dbs.local_admin() as local:
        write_reference(local, rows)
        local.execute("DELETE FROM shop_order WHERE id > 1900")  # 50 orders the file has and the database not
        local.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {empty_dbs.local.user}")
        local.execute("ANALYZE")
    path = tmp_path / "dbconsole.toml"
    path.write_text(f'default_profile = "local"\n\n[profiles.local]\nurl = "{empty_dbs.local_url}"\n\n'
                    f'[profiles.lite]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n\n'
                    f'[profiles.gone]\nurl = "sqlite:///{tmp_path / "missing.sqlite3"}"\n\n'
                    "[tui]\nrefresh_interval = 0\nauto_diff_rows = 0\n", encoding="utf-8")
    return path


def app_for(path: Path) -> DbconsoleApp:
    return DbconsoleApp(config=load_config(path, environ={}, cwd=path.parent))


def failures(seen: list[Any]) -> list[str]:
    return [m.error for m in unique(seen) if isinstance(m, JobFailed)]


async def test_the_browser_compares_a_sqlite_file_with_postgres_by_exact_counts(sqlite_config):
    seen: list[Any] = []
    app = app_for(sqlite_config)
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        assert (app.left, app.right) == ("local", "lite")
        await count_exactly(pilot, app)  # ctrl+r: exact on the PostgreSQL side; the file's are exact already
        grid = app.browser.query_one("BrowserGrid")
        assert cell_text(grid, str(ORDERS), "right") == "1,000"  # no "~": read from the file
        assert cell_text(grid, str(ORDERS), "left") == "950"
        assert cell_text(grid, str(ORDERS), "diff") == "+50"
        assert cell_text(grid, "public.shop_customer", "diff") == "="  # exact on both sides
        assert not failures(seen)
        # The profiles pane says what the file is: read-only, a SQLite file, the library that reads it.
        text = screen_text(app)
        assert "lite R   sqlite 3." in text and "read-only · ▤ SQLite file" in text
        status = app.statuses["lite"]
        assert status.state == "connected" and status.read_only and status.file.table_count == 3
        assert status.file.size_bytes == (sqlite_config.parent / "db.sqlite3").stat().st_size


async def test_content_of_a_sqlite_table_is_checked_against_postgres(sqlite_config):
    seen: list[Any] = []
    app = app_for(sqlite_config)
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        browser = app.browser
        assert browser.check_content([ORDERS, TableName("public", "shop_customer")]) == 2
        await wait_for(pilot, lambda: all(n in browser.content and browser.content[n].done
                                          for n in (ORDERS, TableName("public", "shop_customer"))), "the content diffs")
        orders = browser.content[ORDERS].result
        assert orders.status == "differ" and orders.only_right == 50 and orders.changed == 0, orders  # the file has 50 more
        assert browser.content[TableName("public", "shop_customer")].result.status == "same"
        assert not failures(seen)


async def test_testing_a_sqlite_profile_reads_its_file_and_server_only_views_say_why(sqlite_config):
    seen: list[Any] = []
    app = app_for(sqlite_config)
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        app.action_focus_profiles()
        plist = app.profiles_pane.query_one("ProfileList")
        plist.highlighted = list(app.config.profiles).index("gone")
        await pilot.press("t")  # a missing file: one line, the console carries on
        await wait_for(pilot, lambda: app.statuses["gone"].state == "error", "the missing file's error")
        assert "no SQLite database at" in app.statuses["gone"].error
        plist.highlighted = list(app.config.profiles).index("lite")
        await pilot.press("t")
        await wait_for(pilot, lambda: app.statuses["lite"].file is not None, "the file read")
        notes = [n.message for n in app._notifications]
        assert any(n.startswith("lite: SQLite 3.") and "3 tables" in n for n in notes), notes
        detail = str(app.profiles_pane.query_one("#profile-detail").render())
        assert "db.sqlite3" in detail and "read-only file · 3 tables" in detail
        for key in ("h", "y"):  # health and history are a server's: refused in one line, no screen
            await pilot.press(key)
            await pilot.pause()
            assert not isinstance(app.screen, (HealthScreen, HistoryScreen))
        notes = [n.message for n in app._notifications]
        assert any("lite is a SQLite file: health and history are for PostgreSQL profiles" in n for n in notes)


async def test_the_inspector_shows_a_sqlite_tables_rows_beside_postgres(sqlite_config):
    """Enter on a table: the file's first rows (read-only, in key order) beside the database's."""
    from textual.widgets import DataTable

    from dbconsole.tui.screens.inspector import Inspector
    from dbconsole.tui.screens.row_compare import compare_previews

    seen: list[Any] = []
    app = app_for(sqlite_config)
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("slash", *"shop_customer", "enter", "enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "inspector")
        await wait_for(pilot, lambda: "left" in inspector.previews and "right" in inspector.previews, "previews")
        lite, pg = inspector.previews["right"], inspector.previews["left"]
        assert lite.columns == pg.columns and len(lite.rows) == len(pg.rows) > 0
        ids = [row[lite.columns.index("id")] for row in lite.rows]
        assert ids == sorted(ids, key=int)  # in key order, like the PostgreSQL side
        assert inspector.query_one("#rows-right", DataTable).row_count == len(lite.rows)
        # Shown as the sync would write them (booleans, datetimes, JSON, UUIDs, intervals): the same
        # rows read the same, so the inspector lines them up as "same" rather than all "differs".
        assert compare_previews(lite, pg, ("id",), True) == ["same"] * len(lite.rows)
        assert lite.rows == pg.rows
        assert not failures(seen)


async def test_the_wizard_syncs_from_a_sqlite_file_like_from_a_server(sqlite_config, empty_dbs):
    """s on a table of a SQLite pair: the file is the source (it is read-only), the plan and the
    dry run come from the file, and the run converts its rows into PostgreSQL."""
    from dbconsole.tui.screens.wizard import SyncWizard
    from tests.tui.test_wizard import to_preview

    def orders() -> int:
        with empty_dbs.local_admin() as local:
            return local.execute("SELECT count(*) FROM shop_order").fetchone()[0]

    with empty_dbs.local_admin() as local:  # the fixture's tables are the admin's: the app may write them
        for (table,) in local.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall():
            local.execute(f'ALTER TABLE public."{table}" OWNER TO {empty_dbs.local.user}')
    seen: list[Any] = []
    app = app_for(sqlite_config)
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("slash", *"shop_order", "enter", "space", "s")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "wizard")
        assert (wizard.source.name, wizard.target.name) == ("lite", "local")
        await to_preview(pilot, wizard)
        assert [str(t.name) for t in wizard.plan.tables] == [str(ORDERS)]
        assert orders() == 950  # the dry run wrote nothing
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run to finish")
        assert wizard.run_error is None and wizard.summary is not None
        assert wizard.summary.inserted == 50 and orders() == 1000
        assert not failures(seen)
