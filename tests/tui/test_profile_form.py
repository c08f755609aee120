"""Profiles: add / edit / delete through the form, saved atomically, secrets only in .env."""

from __future__ import annotations

import stat

from textual.widgets import Checkbox, Input

from dbconsole.config import load_config
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.screens.confirm import ConfirmScreen
from dbconsole.tui.screens.profile_form import ProfileForm

from .helpers import wait_counts, wait_for


async def fill(pilot, form: ProfileForm, **values: str) -> None:
    for field, value in values.items():
        form.query_one(f"#f-{field}", Input).value = value
    await pilot.pause()


async def test_profile_form_round_trip_keeps_secrets_out_of_the_toml(tui_config, dbs, tmp_path):
    from urllib.parse import urlsplit

    password = urlsplit(dbs.server_url).password
    app = DbconsoleApp(config=tui_config)
    path = tui_config.path
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_counts(pilot, app)
        await pilot.press("f2", "n")
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
        await fill(pilot, form, name="staging", url=dbs.server_url, **{"ssh-host": ""})
        form.query_one("#f-read-only", Checkbox).value = True
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProfileForm), "save")
        assert "staging" in app.config.profiles

        text = path.read_text()
        assert password not in text and "${DBCONSOLE_STAGING_PASSWORD}" in text
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        env = (path.parent / ".env").read_text()
        assert "DBCONSOLE_STAGING_PASSWORD=" in env and password in env
        assert stat.S_IMODE((path.parent / ".env").stat().st_mode) == 0o600
        reloaded = load_config(path, environ={}, cwd=path.parent)
        assert reloaded.profiles["staging"].url == dbs.server_url
        assert reloaded.profiles["staging"].read_only

        # test the saved profile from the pane: it connects
        plist = app.profiles_pane.query_one("#profile-list")
        plist.highlighted = list(app.config.profiles).index("staging")
        await pilot.press("t")
        await wait_for(pilot, lambda: app.statuses["staging"].state in ("connected", "error"), "test")
        assert app.statuses["staging"].state == "connected", app.statuses["staging"].error

        # edit: rename and add an SSH hop + colour; the password reference follows the new name
        await pilot.press("e")
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
        assert form.query_one("#f-name", Input).value == "staging"
        await fill(pilot, form, name="stage2", **{"ssh-host": "bastion.example", "ssh-port": "2222",
                                                  "ssh-user": "ubuntu"})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: not isinstance(app.screen, ProfileForm), "save")
        reloaded = load_config(path, environ={}, cwd=path.parent)
        assert "staging" not in reloaded.profiles and "stage2" in reloaded.profiles
        assert reloaded.profiles["stage2"].ssh.host == "bastion.example"
        assert reloaded.profiles["stage2"].ssh.port == 2222
        assert password not in path.read_text()

        # delete, after a yes
        plist.highlighted = list(app.config.profiles).index("stage2")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await wait_for(pilot, lambda: "stage2" not in app.config.profiles, "delete")
        assert "stage2" not in load_config(path, environ={}, cwd=path.parent).profiles
        assert set(load_config(path, environ={}, cwd=path.parent).profiles) == {"local", "server"}


async def test_form_refuses_what_the_loader_would_refuse(tui_config):
    app = DbconsoleApp(config=tui_config)
    before = tui_config.path.read_text()
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("f2", "n")
        form = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, ProfileForm) else None, "form")
        await fill(pilot, form, name="bad name", url="postgresql://x@localhost/db")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ProfileForm)
        assert "profile name" in str(form.query_one("#form-status").render())
        await fill(pilot, form, name="ok", url="mysql://x@localhost/db")
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ProfileForm)
        assert "postgresql://" in str(form.query_one("#form-status").render())
        await pilot.press("escape")
        assert not isinstance(app.screen, ProfileForm)
    assert tui_config.path.read_text() == before
