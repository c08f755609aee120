"""Every session the console opens logs in as ``dbconsole/<purpose>`` (issue 17, item 1): the
browser and its counts, the inspector's previews and SQL box, a profile test, the wizard's plan
and dry run, and the health view; read from the server's own connection log."""

from __future__ import annotations

from dbconsole.connect import PURPOSES, application_name
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.screens.health import HealthScreen
from dbconsole.tui.screens.inspector import Inspector
from tests.session_names import logged_sessions

from .helpers import count_exactly, wait_for
from .test_inspector import open_inspector, run_sql
from .test_wizard import open_wizard, to_preview


async def test_every_console_session_carries_dbconsole_and_its_purpose(tui_config, dbs):
    seen: list = []
    with logged_sessions(dbs.server_db, dbs.local, dbs.server) as log:
        app = DbconsoleApp(config=tui_config)
        async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
            await count_exactly(pilot, app)  # browser, then ctrl+r: counts
            inspector = await open_inspector(pilot, app, "public.users")  # previews of both sides
            result = await run_sql(pilot, inspector, "SELECT 1 AS one", seen)  # the SQL box
            assert result.error is None
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, Inspector), "back to the browser")

            app.action_focus_profiles()
            await pilot.press("t")  # test the highlighted profile
            await wait_for(pilot, lambda: app.statuses["local"].state == "connected", "the profile test")
            await pilot.press("h")
            health = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, HealthScreen) else None,
                                    "health view")
            await wait_for(pilot, lambda: health.report is not None, "a health read")
            await pilot.press("escape")

            app.action_focus_browser()
            await pilot.press("escape")  # clear the filter left by the inspector
            wizard = await open_wizard(pilot, app, "public.stocks")
            await to_preview(pilot, wizard)  # the plan and the dry run
            await pilot.press("escape", "escape", "escape", "escape")
        names = log.read()
    unnamed = [n for n in names if not (n or "").startswith("dbconsole/")]
    assert not unnamed, unnamed
    assert set(names) <= {application_name(p) for p in PURPOSES}
    assert set(names) >= {"dbconsole/browser", "dbconsole/counts", "dbconsole/preview", "dbconsole/sql box",
                          "dbconsole/test", "dbconsole/health", "dbconsole/plan", "dbconsole/sync source"}
