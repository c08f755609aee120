"""Step 2: which tables. Only tables the sync can write are offered; the others are explained.

A table on one side only cannot be synced (dbconsole copies rows, not schema), so it is not in
the list; the step says why it is missing. A table without a key can only be synced with
``replace``; it is offered, marked so, and left out of the request (with a notice on the next
step) when the mode is one that matches rows by key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import SelectionList, Static

from dbconsole.modes import Mode
from dbconsole.names import TableName
from dbconsole.sync import SyncRequest
from dbconsole.sync.plan import effective_mode
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.toggles import TickList
from dbconsole.tui.widgets.sync.wording import plural

NO_KEY_NOTE = "no key: replace only"


class TablesStep(WizardStep):
    step_id = "tables"
    title = "Tables"

    def __init__(self, rows: Sequence[Any], marked: Sequence[TableName], left: str, right: str) -> None:
        super().__init__()
        both = {r.name: r for r in rows
                if getattr(r, "left", None) is not None and getattr(r, "right", None) is not None}
        known = {r.name: r for r in rows}
        self.available: list[TableName] = sorted(both)
        self.keyless: set[TableName] = {n for n, r in both.items() if r.left.key is None and r.right.key is None}
        self.marked = [n for n in marked if n in both]
        self.one_sided: list[tuple[TableName, str]] = []
        for name in marked:
            if name in both:
                continue
            row = known.get(name)
            side = left if row is not None and row.left is not None else right
            self.one_sided.append((name, side))
        self.others_one_sided = sum(1 for r in rows if r.name not in both) - len(self.one_sided)

    def compose(self) -> ComposeResult:
        yield Static("", classes="step-intro", id="tables-intro")
        yield TickList(*[(self._prompt(n), str(n), n in self.marked) for n in self.available],
                       id="table-choice", classes="step-list")
        yield Static(self._not_offered(), classes="step-note", id="tables-not-offered")
        yield Static("", classes="step-error", id="tables-error")

    def _prompt(self, name: TableName) -> Text:
        text = Text(str(name))
        if name in self.keyless:
            text.append(f"  ({NO_KEY_NOTE})", style="dim")
        return text

    def _not_offered(self) -> Text:
        text = Text(style="dim")
        for name, side in self.one_sided:
            text.append(f"{name} is only on {side}: not offered (dbconsole copies rows, not schema; "
                        "create the table on the other side first).\n")
        if self.others_one_sided > 0:
            text.append(f"{plural(self.others_one_sided, 'other table')} on one side only not offered.")
        return text

    def enter(self) -> None:
        self.update_intro()
        self.query_one(TickList).focus()

    def selected(self) -> list[str]:
        return list(self.query_one(TickList).selected)

    @on(SelectionList.SelectedChanged, "#table-choice")
    def _changed(self) -> None:
        self.update_intro()
        self.wizard.selection_changed()

    def update_intro(self) -> None:
        count = len(self.selected())
        self.query_one("#tables-intro", Static).update(
            f"{count} of {plural(len(self.available), 'table')} selected (present on both sides). "
            "space ticks · enter goes on; FK parents are offered on the next step.")
        if count:
            self.query_one("#tables-error", Static).update("")

    def blocker(self) -> str | None:
        if self.selected():
            return None
        message = "choose at least one table (space ticks)"
        self.query_one("#tables-error", Static).update(message)
        return message

    def contribute(self) -> dict[str, Any]:
        return {"tables": tuple(self.selected())}

    def left_out(self, request: SyncRequest) -> list[str]:
        """Selected tables without a key whose mode matches rows by key: skipped, with a notice."""
        names = {str(n): n for n in self.keyless}
        return [t for t in request.tables if t in names and effective_mode(names[t], request) != "replace"]

    def modes(self, request: SyncRequest) -> set[Mode]:
        names = {str(n): n for n in self.available}
        return {effective_mode(names[t], request) for t in request.tables if t in names}
