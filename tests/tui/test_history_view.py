"""The console's history view (`y`): the runs recorded on a profile, and `u` to undo one after
typing the profile's name (issue 18, items 1 and 2)."""

from __future__ import annotations

from dbconsole.cli import main
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import HistoryRead, UndoDone, UndoFailed
from dbconsole.tui.screens.history import HistoryScreen, TypeNameScreen
from tests.diff_checks import on_server
from tests.sync_checks import table_checksum

from .helpers import screen_text, unique, wait_counts, wait_for


def sectors_checksum(dbs):
    with dbs.local_admin() as conn:
        return table_checksum(conn, "public.sectors")


async def open_history(pilot, app) -> HistoryScreen:
    await wait_counts(pilot, app)
    app.action_focus_profiles()
    await pilot.press("y")
    screen = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, HistoryScreen) else None,
                            "history view")
    await wait_for(pilot, lambda: screen.reads > 0, "the runs")
    return screen


async def test_history_view_lists_runs_and_undoes_one_after_the_name_is_typed(tui_config, tui_config_path, dbs):
    before = sectors_checksum(dbs)
    on_server(dbs, "UPDATE public.sectors SET fee_rate = fee_rate + 0.0001")
    assert main(["--config", str(tui_config_path), "sync", "--from", "server", "--to", "local",
                 "--tables", "sectors", "--yes", "--json"]) == 0
    assert sectors_checksum(dbs) != before
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 40), message_hook=seen.append) as pilot:
        assert app.profiles_pane.selected_name == "local"
        history = await open_history(pilot, app)
        [run] = history.runs
        assert run.outcome == "ok" and run.undo == "kept"
        text = screen_text(app)
        assert "Sync history of local" in text and "server" in text and "available" in text

        await pilot.press("u")  # a wrong name does nothing
        await wait_for(pilot, lambda: isinstance(app.screen, TypeNameScreen), "the name prompt")
        await pilot.press(*"server", "enter")
        assert isinstance(app.screen, TypeNameScreen) and "That is not 'local'" in screen_text(app)
        await pilot.press("escape")
        assert app.screen is history and history.undoing is None

        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, TypeNameScreen), "the name prompt")
        await pilot.press(*"local", "enter")
        await wait_for(pilot, lambda: any(isinstance(m, UndoDone) for m in seen), "the undo")
        await wait_for(pilot, lambda: history.runs and history.runs[0].undo == "undone", "the history again")
        assert "undone" in screen_text(app)
        assert sectors_checksum(dbs) == before

        await pilot.press("u")  # undone already: refused in one line, nothing written
        await wait_for(pilot, lambda: isinstance(app.screen, TypeNameScreen), "the name prompt")
        await pilot.press(*"local", "enter")
        failed = await wait_for(pilot, lambda: [m for m in seen if isinstance(m, UndoFailed)], "the refusal")
        assert "already undone" in failed[0].error
        await pilot.press("escape")
        assert not isinstance(app.screen, HistoryScreen)
    assert len(unique([m for m in seen if isinstance(m, HistoryRead)])) >= 2


async def test_a_read_only_profile_shows_its_history_but_refuses_undo(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_counts(pilot, app)
        app.action_focus_profiles()
        await pilot.press("j")  # local -> server (read-only)
        history = await open_history(pilot, app)
        assert history.profile.name == "server" and history.runs == []
        assert "no sync runs recorded on server" in screen_text(app)
        await pilot.press("u")
        assert app.screen is history  # nothing to undo, no prompt
