"""Issue 10 items 4, 7, 8, 9, 10, 11: the main screen's keys, an unusable profile, 80x24, the
profile form's Test on a writable profile, and a deleted profile's secret leaving .env."""

from __future__ import annotations

import dataclasses
import secrets

from textual.widgets import DataTable, Input
from textual.widgets._footer import FooterKey

from dbconsole.config import load_config
from dbconsole.tui.actions import ACTIONS
from dbconsole.tui.app import DbconsoleApp, default_pair
from dbconsole.tui.screens.confirm import ConfirmScreen
from dbconsole.tui.screens.profile_form import ProfileForm
from dbconsole.tui.widgets.browser import BrowserGrid
from dbconsole.tui.widgets.browser.columns import layout
from dbconsole.tui.widgets.browser.rows import elide_middle

from .conftest import write_config
from .helpers import cell_text, wait_counts, wait_for


def with_unusable(config, name: str, reason: str):
    profiles = dict(config.profiles)
    profiles[name] = dataclasses.replace(profiles[name], unusable=reason)
    return dataclasses.replace(config, profiles=profiles)


async def test_unusable_profile_is_shown_and_never_connected(tui_config):
    config = with_unusable(tui_config, "server", "needs NOPE_PASS")
    seen: list = []
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(140, 40), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.browser.sides["left"].loaded, "local to load")
        await pilot.pause(0.5)
        prompt = app.profiles_pane.query_one("#profile-list").get_option("server").prompt.plain
        assert "unusable" in prompt and "needs NOPE_PASS" in prompt
        assert app.statuses["local"].state == "connected"  # the others work
        assert app.statuses["server"].state == "unknown"  # never tried
        from dbconsole.tui.messages import ProfileStatusChanged
        assert not [m for m in seen if isinstance(m, ProfileStatusChanged) and m.name == "server"]
        status = str(app.query_one("#browser-status").render())
        assert "server: unusable (needs NOPE_PASS)" in status
        grid = app.query_one(BrowserGrid)
        assert cell_text(grid, "public.users", "right") == "-"
        await pilot.press("f2", "j", "t")  # testing it says why instead of connecting
        assert app.statuses["server"].state == "unknown"


def test_default_pair_prefers_a_usable_right_side(tui_config):
    config = with_unusable(tui_config, "server", "needs NOPE_PASS")
    assert default_pair(config) == ("local", "server")  # only one other: still shown, as unusable
    profiles = dict(config.profiles)
    profiles["staging"] = dataclasses.replace(profiles["local"], name="staging")
    assert default_pair(dataclasses.replace(config, profiles=profiles)) == ("local", "staging")


async def test_main_screen_keys(tui_config):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_counts(pilot, app)
        grid = app.query_one(BrowserGrid)
        assert isinstance(app.focused, BrowserGrid) and grid.cursor_row == 0
        await pilot.press("j", "j")
        assert grid.cursor_row == 2
        await pilot.press("k")
        assert grid.cursor_row == 1
        await pilot.press("slash", *"price", "enter")
        assert app.browser.filter_text == "price"
        await pilot.press("escape")  # on the grid: clears the filter
        assert app.browser.filter_text == "" and len(app.browser.shown) == len(app.browser.rows)
        await pilot.press("n")  # from the tables, not only from the profiles pane
        assert isinstance(app.screen, ProfileForm) and app.screen.old_name is None
        await pilot.press("escape")
        await pilot.press("e")  # edits the profile highlighted in the pane
        assert isinstance(app.screen, ProfileForm) and app.screen.old_name == "local"
        await pilot.press("escape")
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, ConfirmScreen) and "local" in app.config.profiles
        ring_focused = app.browser.styles.border_top[1]
        await pilot.press("f2", "j")
        assert app.profiles_pane.selected_name == "server"
        await pilot.pause()
        # the focus ring: the pane with the focus has the accent border, the other does not
        assert app.browser.styles.border_top[1] != ring_focused
        assert app.profiles_pane.styles.border_top[1] == ring_focused
        await pilot.press("q")
    assert app.return_code == 0
    main_scopes = {"app", "profiles", "browser", "filter"}
    assert not [s for s in ACTIONS if s.scope in main_scopes and s.key == "ctrl+b"]  # tmux's prefix


async def test_80x24_keeps_status_help_quit_and_readable_names(tui_config):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_counts(pilot, app)
        await pilot.pause(0.2)
        assert not app.profiles_pane.display  # folded away while the tables have the focus
        line = app.browser.query_one("#pair-line")
        assert line.display
        text = str(line.render())
        assert "local" in text and "server" in text and "pg " in text and "F2" in text
        keys = [k for k in app.screen.query(FooterKey)]
        assert {k.description for k in keys[:2]} == {"Help", "Quit"}  # first, never cut off
        grid = app.query_one(BrowserGrid)
        columns = [str(c.value) for c in grid.columns]
        assert "size" not in columns and "table" in columns and "diff" in columns  # narrow ones went first
        names = [cell_text(grid, str(n), "table") for n in app.browser.shown]
        assert "public.scan_rank" in names and "public.scanner_settings" in names
        await pilot.press("enter")  # the inspector keeps a result area
        from dbconsole.tui.screens.inspector import Inspector
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None, "inspector")
        await pilot.pause(0.2)
        assert inspector.query_one("#query-result", DataTable).size.height >= 4
        assert inspector.query_one("#rows-left", DataTable).size.height >= 4


def test_columns_go_narrow_first_and_names_are_cut_in_the_middle():
    wide = layout(150, 30)
    assert {"size", "synced", "key"} <= set(wide.widths) and wide.name_width == 30
    assert wide.widths["content"] == 13  # "checking… 40%"
    medium = layout(104, 23)  # a 140-column terminal beside the profiles pane
    assert {"synced", "key"} <= set(medium.widths) and medium.widths["content"] == 9
    narrow = layout(80, 40)
    assert "size" not in narrow.widths and narrow.name_width >= 12
    assert elide_middle("public.scanner_settings_history", 16) == "public.s…history"
    assert elide_middle("public.scan_rank_history_daily", 16) != elide_middle("public.scan_rank_history_weekly", 16)


async def test_one_profile_says_how_to_compare(tmp_path, dbs):
    path = tmp_path / "dbconsole.toml"
    write_config(tmp_path, dbs.local_url, dbs.server_url)
    text = path.read_text()
    path.write_text(text[:text.index("[profiles.server]")] + text[text.index("[tui]"):])
    app = DbconsoleApp(config=load_config(path, environ={}, cwd=tmp_path))
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: app.browser.sides["left"].loaded, "local")
        await pilot.pause(0.2)
        status = str(app.query_one("#browser-status").render())
        assert "add a second profile (n) to compare" in status
        grid = app.query_one(BrowserGrid)
        assert cell_text(grid, "public.users", "right") == "" and cell_text(grid, "public.users", "diff") == ""


async def test_form_test_on_a_writable_profile_checks_write_access(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("e")  # local: writable
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
        await pilot.press("ctrl+t")
        status = await wait_for(pilot, lambda: (t := str(form.query_one("#form-status").render())).startswith(
            "connected") and t, "the test")
        assert "read-only session" not in status
        assert "writable (may write the tables in public" in status


async def test_form_test_names_what_a_weak_login_cannot_write(tmp_path, dbs):
    role = f"weak_{secrets.token_hex(3)}"
    password = secrets.token_hex(8)
    with dbs.local_admin() as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        admin.execute(f"GRANT CONNECT ON DATABASE {dbs.local_db} TO {role}")
        admin.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    try:
        url = f"postgresql://{role}:{password}@{dbs.local.host}:{dbs.local.port}/{dbs.local_db}"
        config = load_config(write_config(tmp_path, url, dbs.server_url), environ={}, cwd=tmp_path)
        app = DbconsoleApp(config=config)
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("f2", "e")
            form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
            await pilot.press("ctrl+t")
            status = await wait_for(pilot, lambda: (t := str(form.query_one("#form-status").render())).startswith(
                "connected") and t, "the test")
            assert "NOT fully writable" in status and "may write 0 of" in status
            await pilot.press("escape")
    finally:
        with dbs.local_admin() as admin:
            admin.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
            admin.execute(f"REVOKE ALL ON DATABASE {dbs.local_db} FROM {role}")
            admin.execute(f"DROP ROLE {role}")


async def test_deleting_a_profile_removes_its_secret_from_env(tui_config, dbs):
    path = tui_config.path
    env_path = path.parent / ".env"
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(140, 40), notifications=True) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("n")
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
        form.query_one("#f-name", Input).value = "staging"
        form.query_one("#f-url", Input).value = dbs.server_url
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "staging" in app.config.profiles, "save")
        assert "DBCONSOLE_STAGING_PASSWORD=" in env_path.read_text()
        app.profiles_pane.query_one("#profile-list").highlighted = list(app.config.profiles).index("staging")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await wait_for(pilot, lambda: "staging" not in app.config.profiles, "delete")
        assert "DBCONSOLE_STAGING_PASSWORD" not in env_path.read_text()
        assert "TUI_SERVER_PASSWORD=" in env_path.read_text()  # the others' secrets stay
        messages = " ".join(n.message for n in app._notifications)
        assert "removed DBCONSOLE_STAGING_PASSWORD" in messages

        # a profile whose variable is not ours (a team's own name) keeps it, and says so
        app.profiles_pane.query_one("#profile-list").highlighted = list(app.config.profiles).index("server")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await wait_for(pilot, lambda: "server" not in app.config.profiles, "delete")
        assert "TUI_SERVER_PASSWORD=" in env_path.read_text()
        messages = " ".join(n.message for n in app._notifications)
        assert "kept TUI_SERVER_PASSWORD (not written by dbconsole" in messages


async def test_help_and_quit_stay_in_the_inspector_footer(tui_config):
    from dbconsole.tui.screens.help import HelpScreen
    from dbconsole.tui.screens.inspector import Inspector

    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None, "inspector")
        await pilot.pause(0.2)
        keys = [(k.key_display, k.description) for k in inspector.query(FooterKey)]
        assert {d for _k, d in keys[:2]} == {"Help", "Quit"}, keys  # "?" is typed text here: F1 says Help
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
