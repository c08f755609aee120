"""Add or edit a profile: a small form over :mod:`dbconsole.config.editing`.

Secrets never reach the TOML: a password typed into the URL or into the password box is moved
to ``.env`` beside the config (as ``DBCONSOLE_<NAME>_PASSWORD``) and the URL keeps a
``${VAR}`` reference. :func:`~dbconsole.config.build_profile` validates the table exactly as the
loader would read it, so the form cannot save a file the app would later refuse; this screen
only gathers the boxes' text and shows the result.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from dbconsole.config import (
    Config,
    ProfileFormValues,
    build_profile,
    env_var_name,
    is_local_host,
    save_profile,
    split_password,
    values_from_profile,
)
from dbconsole.errors import DbconsoleError
from dbconsole.reading import describe_probe, error_line, probe
from dbconsole.tui.actions import bindings
from dbconsole.tui.messages import ProfileTested

COLORS = ("red", "green", "yellow", "blue", "magenta", "cyan", "white", "bright_red", "bright_green",
          "bright_blue")


class ProfileForm(ModalScreen[Config | None]):
    """Dismisses with the saved Config, or None when cancelled."""

    ACTION_SCOPE = "form"
    BINDINGS = bindings("form")

    def __init__(self, config: Config, name: str | None = None) -> None:
        super().__init__(classes="modal")
        self.config = config
        self.old_name = name
        self.initial = values_from_profile(config, name) if name else ProfileFormValues(name="", url="")
        self._read_only_touched = name is not None

    def compose(self) -> ComposeResult:
        v = self.initial
        colors = [(Text(c, style=c), c) for c in COLORS]
        if v.color and v.color not in COLORS:
            colors.insert(0, (v.color, v.color))
        with Vertical(id="form", classes="dialog"):
            with Grid(id="form-grid"):
                yield Label("Name")
                yield Input(v.name, placeholder="local, server, staging…", id="f-name", compact=True)
                yield Label("URL")
                yield Input(v.url, placeholder="postgresql://user@localhost:5432/db", id="f-url", compact=True)
                yield Label("Password")
                yield Input("", placeholder="kept in .env, never in the TOML (empty: unchanged)", password=True,
                            id="f-password", compact=True)
                yield Label("SSH host")
                yield Input(v.ssh_host, placeholder="empty: no tunnel; host or ~/.ssh/config alias",
                            id="f-ssh-host", compact=True)
                yield Label("SSH port")
                yield Input(v.ssh_port, placeholder="22", id="f-ssh-port", compact=True, type="integer")
                yield Label("SSH user")
                yield Input(v.ssh_user, placeholder="ubuntu", id="f-ssh-user", compact=True)
                yield Label("SSH key")
                yield Input(v.ssh_key, placeholder="~/.ssh/id_ed25519", id="f-ssh-key", compact=True)
                yield Label("Read-only")
                yield Checkbox("never write to this profile", v.read_only, id="f-read-only", compact=True)
                yield Label("Colour")
                yield Select(colors, value=v.color if v.color else Select.NULL, prompt="none",
                             id="f-color", compact=True)
            yield Static("", id="form-status")
            with Horizontal(classes="buttons"):
                yield Button("Save ^s", id="form-save", variant="primary")
                yield Button("Test ^t", id="form-test")
                yield Button("Cancel esc", id="form-cancel")

    def on_mount(self) -> None:
        dialog = self.query_one("#form")
        dialog.border_title = f"Edit profile {self.old_name}" if self.old_name else "New profile"
        self.query_one("#f-name", Input).focus()

    def values(self) -> ProfileFormValues:
        color = self.query_one("#f-color", Select).value
        return ProfileFormValues(
            name=self.query_one("#f-name", Input).value,
            url=self.query_one("#f-url", Input).value,
            password=self.query_one("#f-password", Input).value,
            ssh_host=self.query_one("#f-ssh-host", Input).value,
            ssh_port=self.query_one("#f-ssh-port", Input).value,
            ssh_user=self.query_one("#f-ssh-user", Input).value,
            ssh_key=self.query_one("#f-ssh-key", Input).value,
            read_only=self.query_one("#f-read-only", Checkbox).value,
            color=color if isinstance(color, str) else None,
        )

    def show_status(self, text: str, style: str = "") -> None:
        self.query_one("#form-status", Static).update(Text(text, style=style))

    @on(Input.Changed, "#f-url, #f-ssh-host")
    def _follow_read_only(self) -> None:
        """Until the user decides, read-only follows the config's own default for the URL."""
        if self._read_only_touched:
            return
        url = self.query_one("#f-url", Input).value
        ssh = self.query_one("#f-ssh-host", Input).value.strip()
        box = self.query_one("#f-read-only", Checkbox)
        with box.prevent(Checkbox.Changed):
            box.value = bool(ssh) or not is_local_host(url)

    @on(Input.Blurred, "#f-url")
    def _hide_typed_password(self) -> None:
        """A password pasted into the URL moves to the (masked) password box when the URL is left,
        so it does not stay on screen; the URL keeps a ``${VAR}`` reference instead."""
        url_box = self.query_one("#f-url", Input)
        name = self.query_one("#f-name", Input).value.strip() or "profile"
        url, password = split_password(url_box.value, env_var_name(name))
        if password is None:
            return
        url_box.value = url
        self.query_one("#f-password", Input).value = password
        self.show_status("the password moved to the password box; it will be kept in .env", "dim")

    @on(Checkbox.Changed, "#f-read-only")
    def _read_only_changed(self) -> None:
        self._read_only_touched = True

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        try:
            new_config = save_profile(self.config, self.values(), self.old_name)
        except DbconsoleError as exc:
            self.show_status(str(exc), "red")
            return
        except OSError as exc:
            self.show_status(error_line(exc), "red")
            return
        self.dismiss(new_config)

    def action_test(self) -> None:
        try:
            staged, _ = build_profile(self.config, self.values(), self.old_name)
        except DbconsoleError as exc:
            self.show_status(str(exc), "red")
            return
        profile = staged.profiles[self.values().name.strip()]
        self.show_status("testing…", "yellow")
        self._test(profile)

    @work(thread=True, group="profile-test", exclusive=True, exit_on_error=False)
    def _test(self, profile: Any) -> None:
        if profile.is_sqlite:  # no server: the file, opened read-only and read
            from dbconsole.sqlite.info import read_sqlite_file

            try:
                self.post_message(ProfileTested(read_sqlite_file(profile).info.tested, None))
            except Exception as exc:
                self.post_message(ProfileTested(None, error_line(exc)))
            return
        try:
            result = probe(profile)
        except Exception as exc:
            self.post_message(ProfileTested(None, error_line(exc)))
            return
        self.post_message(ProfileTested(describe_probe(profile, result), None))

    def on_profile_tested(self, message: ProfileTested) -> None:
        if message.error:
            self.show_status(message.error, "red")
        else:
            summary = message.summary or ""
            self.show_status(f"connected: {summary}", "yellow" if "NOT fully writable" in summary else "green")

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"form-save": self.action_save, "form-test": self.action_test, "form-cancel": self.action_cancel}[
            event.button.id or "form-cancel"]()
