"""``?``: every key of the console, read from the action registry (never out of date)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dbconsole.tui.actions import ACTIONS, SCOPE_TITLES, key_label

ABOUT = (
    "dbconsole compares the two profiles marked L and R and syncs tables between them. "
    "Counts marked ~ are the catalog's estimates: a live refresh never runs count(*) on a read-only "
    "or tunnelled profile. ctrl+r counts the marked tables exactly (none marked: every table shown), "
    "one at a time; esc stops. Equal counts can hide changed rows: c runs a content diff of the marked "
    "tables (none marked: the highlighted one), C of every table shown; the content column then says "
    "same, ≠ N rows, checking… 40% or no key (checksums computed on the servers, read-only; esc stops), "
    "and the inspector (enter) shows the differing rows side by side (ctrl+d). A diff runs only when asked, "
    "or once for tables under [tui] auto_diff_rows rows when that is set. On the main screen j/k move, q quits, n/e/d add, edit and delete "
    "the profile highlighted in the profiles pane (F2). "
    "The SQL box of the inspector is always read-only."
)


def help_table() -> Group:
    """One block per scope: its title, then key, action and what it does."""
    blocks: list[Any] = []
    for scope, title in SCOPE_TITLES.items():
        specs = [s for s in ACTIONS if s.scope == scope]
        if not specs:
            continue
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", no_wrap=True, min_width=7)
        table.add_column(min_width=16)
        table.add_column(style="dim")
        for spec in specs:
            table.add_row(key_label(spec), spec.description, spec.help)
        blocks += [Text(title, style="bold underline"), table, Text("")]
    return Group(*blocks)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", key_display="esc")]

    def __init__(self) -> None:
        super().__init__(classes="modal")

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Static(Text(ABOUT, style="dim"), id="help-about")
            yield Static(help_table(), id="help-keys")

    def on_mount(self) -> None:
        self.query_one("#help").border_title = "Keys  (esc closes)"
