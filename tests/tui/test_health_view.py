"""The console's health view (`h`): the same panels as `dbconsole health`, refreshed from a thread
worker without blocking the screen (issue 17, item 3)."""

from __future__ import annotations

from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import HealthRead
from dbconsole.tui.screens.health import HealthScreen
from tests.health_scene import LONG_QUERY_APP, WAITER_APP, trouble

from .helpers import screen_text, unique, wait_counts, wait_for


async def open_health(pilot, app) -> HealthScreen:
    await wait_counts(pilot, app)
    app.action_focus_profiles()
    await pilot.press("h")
    return await wait_for(pilot, lambda: app.screen if isinstance(app.screen, HealthScreen) else None, "health view")


async def test_health_view_shows_a_long_query_a_blocking_lock_and_our_own_sessions(tui_config, dbs):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    server = tui_config.profiles["server"]
    with dbs.server_admin() as admin, trouble(dbs.server_url, admin, server) as scene:
        async with app.run_test(size=(160, 60), message_hook=seen.append) as pilot:
            app.action_focus_profiles()
            await pilot.press("j")  # local -> server
            assert app.profiles_pane.selected_name == "server"
            health = await open_health(pilot, app)
            assert health.profile.name == "server"
            await wait_for(pilot, lambda: health.report is not None, "the first read")
            while health.threshold_seconds != 1.0:  # t steps the long-query threshold down to 1s
                await pilot.press("t")
            await wait_for(pilot, lambda: health.report.threshold_seconds == 1.0
                           and scene.long_query_pid in {s.pid for s in health.report.long_queries or []},
                           "the long query at a 1s threshold")
            report = health.report
            assert report.errors == {}
            assert {s.pid for s in report.locks.blocked} == {scene.waiter_pid}
            assert {s.pid for s in report.locks.blocking} == {scene.blocker_pid}
            own = {s.pid: s.application for s in report.own_sessions}
            assert own[scene.own_pid] == "dbconsole/browser"
            assert [s.application for s in report.own_sessions if s.current] == ["dbconsole/health"]

            text = screen_text(app)
            assert "Long queries (over 1.0s)" in text and LONG_QUERY_APP in text and "pg_sleep" in text
            assert "Blocking locks" in text and "blocking" in text and WAITER_APP in text
            assert "dbconsole's own sessions" in text and "health (this view)" in text

            reads = health.reads  # it refreshes on its own
            await wait_for(pilot, lambda: health.reads > reads, "a refresh", timeout=15)
            await pilot.press("escape")
            assert not isinstance(app.screen, HealthScreen)
    assert unique([m for m in seen if isinstance(m, HealthRead)])


async def test_a_slow_health_read_does_not_block_the_screen(tui_config, dbs):
    """A migration's lock holds the size panel for its lock timeout; meanwhile keys still work."""
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(120, 40)) as pilot:
        health = await open_health(pilot, app)
        await wait_for(pilot, lambda: health.report is not None, "the first read")
        with dbs.local_admin() as admin:
            admin.execute("BEGIN")
            admin.execute("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE")
            try:
                reads = health.reads
                health.refresh_now()
                await wait_for(pilot, lambda: health._read_under_way.is_set() and any(
                    w.group == "health" and w.is_running for w in app.workers), "a read in its worker")
                before = health.threshold_seconds
                await pilot.press("t")  # handled while the worker waits on the lock
                assert health.threshold_seconds != before and health.reads == reads
                await wait_for(pilot, lambda: health.reads > reads, "the slow read")
            finally:
                admin.execute("ROLLBACK")
        assert "size" in health.report.errors and "lock timeout" in health.report.errors["size"]
        assert "Size: not available" in screen_text(app)
        await wait_for(pilot, lambda: health.report is not None and not health.report.errors, "a clean read")
