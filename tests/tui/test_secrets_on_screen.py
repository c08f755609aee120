"""No secret on screen: every screen of the console is driven with Pilot against the real servers
and, after each step, the rendered screen (``export_screenshot()``, as SVG and as its text) and
every notification are searched for each password, its URL-encoded form and its fragments.

The right-hand profile logs in with a password full of URL-special characters; a password is
pasted into the profile form's URL box and another typed into its password box; one profile has
a wrong password, so the error paths (status line, notification) are on screen too.
"""

from __future__ import annotations

import html
import re
import stat
from pathlib import Path
from urllib.parse import quote

import tomli_w
from textual.widgets import DataTable, Input, TextArea

from dbconsole.config import load_config
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import QueryFinished
from dbconsole.tui.screens.help import HelpScreen
from dbconsole.tui.screens.inspector import Inspector
from dbconsole.tui.screens.profile_form import ProfileForm
from dbconsole.tui.screens.welcome import WelcomeScreen
from dbconsole.tui.screens.wizard import SyncWizard
from tests.secret_checks import SECRET, WRONG, fresh_process_state, leaks, leaky_role  # noqa: F401 - fixtures

from .helpers import unique, wait_counts, wait_for

TYPED = "TypedPw9Xk2/Lm@q:Z"


def screen_text(svg: str) -> str:
    """The characters of a Textual SVG screenshot, in order, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


class ScreenChecker:
    def __init__(self, app: DbconsoleApp, secrets: list[str]) -> None:
        self.app = app
        self.secrets = secrets
        self.steps: list[str] = []

    def __call__(self, step: str) -> None:
        svg = self.app.export_screenshot()
        notes = " ".join(str(n.message) + " " + str(n.title) for n in self.app._notifications)
        hits = leaks(svg, self.secrets) + leaks(screen_text(svg), self.secrets) + leaks(notes, self.secrets)
        assert not hits, (step, hits)
        self.steps.append(step)


def secret_config(folder: Path, dbs, role: str) -> Path:
    server, local = dbs.server, dbs.local
    document = {
        "default_profile": "local",
        "profiles": {
            "local": {"url": "postgresql://app:${LOCAL_PW}@" + f"{local.host}:{local.port}/{dbs.local_db}",
                      "read_only": False},
            "server": {"url": f"postgresql://{role}:${{LEAKY_PASSWORD}}@{server.host}:{server.port}/{dbs.server_db}",
                       "read_only": True, "color": "red"},
            "broken": {"url": f"postgresql://{role}:${{WRONG_PASSWORD}}@{server.host}:{server.port}/{dbs.server_db}",
                       "read_only": True},
        },
        "tui": {"refresh_interval": 0},
    }
    path = folder / "dbconsole.toml"
    path.write_text(tomli_w.dumps(document), encoding="utf-8")
    (folder / ".env").write_text(f"LOCAL_PW='{local.password}'\nLEAKY_PASSWORD='{SECRET}'\nWRONG_PASSWORD='{WRONG}'\n",
                                 encoding="utf-8")
    return path


async def test_no_screen_ever_shows_a_password(dbs, tmp_path, leaky_role):
    path = secret_config(tmp_path, dbs, leaky_role)
    secrets = [SECRET, WRONG, TYPED, dbs.local.password, dbs.server.password]
    seen: list = []
    app = DbconsoleApp(config=load_config(path, environ={}, cwd=tmp_path))
    async with app.run_test(size=(200, 50), message_hook=seen.append, notifications=True) as pilot:
        check = ScreenChecker(app, secrets)
        await wait_counts(pilot, app)
        check("browser, both sides counted")

        # Profiles pane; a profile with a wrong password: its error line and notification.
        await pilot.press("f2")
        check("profiles pane")
        app.profiles_pane.query_one("#profile-list").highlighted = list(app.config.profiles).index("broken")
        await pilot.press("t")
        await wait_for(pilot, lambda: app.statuses["broken"].state == "error", "the failed test")
        await wait_for(pilot, lambda: list(app._notifications), "the error notification")
        assert "password authentication failed" in app.statuses["broken"].error
        check("error status and notification")
        app.profiles_pane.query_one("#profile-list").highlighted = list(app.config.profiles).index("server")
        await pilot.press("t")
        await wait_for(pilot, lambda: app.statuses["server"].state == "connected", "the server test")
        check("server tested: connected notification")

        # Profile form: a URL with the password pasted in, then a password typed into its box.
        await pilot.press("n")
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
        check("empty form")
        form.query_one("#f-name", Input).value = "staging"
        url_box = form.query_one("#f-url", Input)
        url_box.focus()
        url_box.value = (f"postgresql://{leaky_role}:{quote(SECRET, safe='')}@"
                         f"{dbs.server.host}:{dbs.server.port}/{dbs.server_db}")
        await pilot.press("tab")  # leaving the URL box moves the password out of sight
        await pilot.pause()
        assert "${DBCONSOLE_STAGING_PASSWORD}" in url_box.value
        check("form: pasted password moved out of the URL")
        await pilot.press("ctrl+t")
        status = form.query_one("#form-status")
        await wait_for(pilot, lambda: "connected" in str(status.render()), "the form's test")
        check("form: test connected")
        password_box = form.query_one("#f-password", Input)
        password_box.focus()
        password_box.value = ""
        await pilot.press(*TYPED)
        assert password_box.value == TYPED
        check("form: password typed")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProfileForm), "save")
        check("form saved")
        toml = path.read_text(encoding="utf-8")
        env = (tmp_path / ".env").read_text(encoding="utf-8")
        assert not leaks(toml, secrets) and TYPED in env and "${DBCONSOLE_STAGING_PASSWORD}" in toml
        for saved in (path, tmp_path / ".env"):
            assert stat.S_IMODE(saved.stat().st_mode) == 0o600, saved

        # Edit the saved profile: the form shows the reference, the password box stays empty.
        app.profiles_pane.query_one("#profile-list").highlighted = list(app.config.profiles).index("staging")
        await pilot.press("e")
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "edit")
        assert form.query_one("#f-password", Input).value == ""
        check("form: edit")
        await pilot.press("escape")

        # Inspector: rows of both sides, a query, a failing query.
        await pilot.press("f3", "slash", *"public.users", "enter", "enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "inspector")
        await wait_for(pilot, lambda: inspector.query_one("#rows-left", DataTable).row_count
                       and inspector.query_one("#rows-right", DataTable).row_count, "previews")
        check("inspector previews")
        for text in ("SELECT current_user, current_setting('application_name')", "SELECT * FROM nope"):
            before = len(unique([m for m in seen if isinstance(m, QueryFinished)]))
            inspector.query_one("#sql", TextArea).text = text
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: len(unique([m for m in seen if isinstance(m, QueryFinished)])) > before,
                           "the query")
            check(f"inspector: {text}")
        await pilot.press("escape")

        # Sync wizard, every step, through a real run.
        await pilot.press("space", "s")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None, "wizard")
        check("wizard: direction")
        await pilot.press("ctrl+n")
        check("wizard: tables")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
        check("wizard: options and plan")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run")
        check("wizard: dry-run preview")
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"
        check("wizard: confirm")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run")
        assert wizard.run_error is None
        check("wizard: summary")
        await pilot.press("ctrl+n")

        # Help and the command palette.
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        check("help")
        await pilot.press("escape", "ctrl+p")
        await pilot.pause()
        check("command palette")
        await pilot.press("escape")
    assert len(check.steps) >= 20
    # Nothing the console wrote (config, HOME, anything under this test's folder) holds a secret;
    # only .env does, by design, and it is private.
    for written in tmp_path.rglob("*"):
        if written.is_file() and written.name != ".env":
            assert not leaks(written.read_bytes().decode("utf-8", errors="replace"), secrets), written


async def test_welcome_screen_and_a_first_profile_with_a_pasted_password(tmp_path):
    """No config file: the welcome screen, then a new profile whose URL arrives with a password."""
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    app = DbconsoleApp(config=load_config(None, environ=environ, cwd=tmp_path))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, WelcomeScreen)
        ScreenChecker(app, [SECRET])("welcome")
        await pilot.press("n")
        assert isinstance(app.screen, ProfileForm)
        form = app.screen
        form.query_one("#f-name", Input).value = "local"
        url_box = form.query_one("#f-url", Input)
        url_box.focus()
        url_box.value = f"postgresql://me:{quote(SECRET, safe='')}@localhost:1/db"
        await pilot.pause()
        # The control: while the box still has the focus, what was pasted is on screen, and the
        # checker sees it (so it would see any leak).
        assert leaks(screen_text(app.export_screenshot()), [SECRET])
        form.query_one("#f-password", Input).focus()
        await pilot.pause()
        ScreenChecker(app, [SECRET])("welcome: form after a pasted URL")
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: "refused" in str(form.query_one("#form-status").render())
                       or "failed" in str(form.query_one("#form-status").render()), "the failed test")
        ScreenChecker(app, [SECRET])("welcome: form test failed")
