"""The console as a whole: first start, help, palette, errors, themes, quitting."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from textual.widgets import OptionList

from dbconsole.config import load_config, parse_config
from dbconsole.tui.actions import ACTIONS
from dbconsole.tui.app import DbconsoleApp, default_pair
from dbconsole.tui.commands import ActionCommands
from dbconsole.tui.screens.help import HelpScreen
from dbconsole.tui.screens.profile_form import ProfileForm
from dbconsole.tui.screens.welcome import WelcomeScreen

from .conftest import write_config
from .helpers import wait_for


def rendered_text(renderable) -> str:
    console = Console(width=120, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def empty_config(tmp_path: Path):
    return load_config(None, environ={"XDG_CONFIG_HOME": str(tmp_path / "xdg")}, cwd=tmp_path)


async def test_no_profiles_opens_the_welcome_screen(tmp_path):
    app = DbconsoleApp(config=empty_config(tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        text = str(app.screen.query_one("#welcome-text").render())
        assert "DATABASE_URL" in text and "SERVER_DATABASE_URL" in text and "dbconsole demo" in text
        await pilot.press("n")
        assert isinstance(app.screen, ProfileForm)
        await pilot.press("escape")
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_unreachable_profile_shows_one_line_and_a_notification(tmp_path):
    path = write_config(tmp_path, "postgresql://nobody:s3cret-pw@127.0.0.1:1/db",
                        "postgresql://nobody:s3cret-pw@127.0.0.1:1/db")
    app = DbconsoleApp(config=load_config(path, environ={}, cwd=tmp_path))
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: app.statuses["local"].state == "error", "the error")
        error = app.statuses["local"].error
        assert error and "\n" not in error and "s3cret-pw" not in error and "Traceback" not in error
        await wait_for(pilot, lambda: list(app._notifications), "a notification")
        shown = " ".join(n.message for n in app._notifications)
        assert "s3cret-pw" not in shown
        status = str(app.query_one("#browser-status").render())
        assert "error" in status


async def test_help_and_palette_read_the_action_registry(tui_config):
    app = DbconsoleApp(config=tui_config, refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = rendered_text(app.screen.query_one("#help-keys").content)
        for spec in ACTIONS:
            assert spec.description in help_text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

        provider = ActionCommands(app.screen)
        labels = [label for label, _help, _cb in provider._commands()]
        for wanted in ("Mark", "Filter", "Sync…", "Inspect", "As left", "As right", "New", "Compare server as left",
                       "Test", "Quit", "Help"):
            assert wanted in labels


async def test_keys_choose_the_compared_pair_and_theme(tui_config):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(120, 40)) as pilot:
        assert (app.left, app.right) == ("local", "server")
        await pilot.press("f2")
        assert isinstance(app.focused, OptionList)
        app.profiles_pane.query_one(OptionList).highlighted = 1
        await pilot.press("l")  # server on the left: local moves right
        assert (app.left, app.right) == ("server", "local")
        await pilot.press("r")  # server on the right again
        assert (app.left, app.right) == ("local", "server")
        dark = app.current_theme.dark
        await pilot.press("f9")
        assert app.current_theme.dark is not dark
        await pilot.press("ctrl+q")
    assert app.return_code == 0


def test_default_pair_prefers_detected_left_and_server_right():
    config = parse_config({"profiles": {
        "prod": {"url": "postgresql://a@db.example/x"},
        "dev": {"url": "postgresql://a@localhost/x"},
        "server": {"url": "postgresql://a@localhost:5433/x", "read_only": True},
    }, "default_profile": "dev"}, path=None, environ={})
    assert default_pair(config) == ("dev", "server")
    only = parse_config({"profiles": {"a": {"url": "postgresql://a@localhost/x"}}}, path=None, environ={})
    assert default_pair(only) == ("a", None)


async def test_demo_mode_says_so(tui_config):
    app = DbconsoleApp(config=tui_config, demo=True)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        assert "demo" in app.sub_title
        assert any("read-only" in n.message for n in app._notifications)
