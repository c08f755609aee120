"""What a first start shows: no profile yet, so say how to get one instead of an empty screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from dbconsole.tui.actions import bindings

WELCOME = """\
[b]Welcome to dbconsole[/b]

No database profile yet. A profile is one environment: your local
development database, or the server one behind SSH.

[b]n[/b]  Add a profile: a name, a URL and, for a server, the SSH hop.
   Passwords go to [i].env[/i] beside the config, never into the TOML.

Or use the variables you already have (then start dbconsole again):
   [b]DATABASE_URL[/b] (or POSTGRES_DSN, DB_URL)  →  profile [b]local[/b]
   [b]SERVER_DATABASE_URL[/b]                      →  profile [b]server[/b], read-only
   from the environment or a .env file in this folder.

Or try it on throwaway data:  [b]dbconsole demo[/b]
   (a seeded local and server database, the server behind SSH)
"""


class WelcomeScreen(Screen[None]):
    ACTION_SCOPE = "welcome"
    BINDINGS = bindings("welcome")

    def __init__(self, config_hint: str) -> None:
        super().__init__()
        self.config_hint = config_hint

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="welcome"):
            yield Static(WELCOME, id="welcome-text")
            yield Static(Text(f"The config will be saved to {self.config_hint}", style="dim"), id="welcome-path")
            with Horizontal(classes="buttons"):
                yield Button("Add a profile (n)", id="welcome-add", variant="primary", compact=True)
                yield Button("Quit (q)", id="welcome-quit", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#welcome-add", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "welcome-add":
            self.app.action_add_profile()
        else:
            self.app.exit(0)
