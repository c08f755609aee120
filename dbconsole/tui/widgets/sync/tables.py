"""Step 2: which tables. Only tables the sync can write are offered; the others are explained.

A table on both sides is offered as it is. A table only on the **source** is offered too, marked
so: choosing it ticks create-missing on the next step (the target gets the table first, then its
rows). A table only on the target has nothing to copy and is not offered; the step says why. A
table without a key can only be synced with ``replace``; it is offered, marked so, and left out
of the request (with a notice on the next step) when the mode is one that matches rows by key.
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

    def __init__(self, rows: Sequence[Any], marked: Sequence[TableName], left: str, right: str, *,
                 source: str | None = None) -> None:
        super().__init__()
        self.rows = {r.name: r for r in rows}
        self.names = {"left": left, "right": right}
        both = {n: r for n, r in self.rows.items()
                if getattr(r, "left", None) is not None and getattr(r, "right", None) is not None}
        self.both = set(both)
        self.keyless: set[TableName] = {n for n, r in both.items() if r.left.key is None and r.right.key is None}
        self.wanted = list(marked)  # what the browser marked, whichever direction is chosen
        self.source = source or right
        self.available: list[TableName] = []
        self.source_only: set[TableName] = set()
        self._offer(self.source)
        self.marked = [n for n in marked if n in self.available]

    def _offer(self, source: str) -> None:
        """Tables on both sides, and those only on ``source`` (create-missing makes them)."""
        self.source = source
        side = "left" if source == self.names["left"] else "right"
        other = "right" if side == "left" else "left"
        self.source_only = {n for n, r in self.rows.items() if getattr(r, side, None) is not None
                            and getattr(r, other, None) is None}
        self.available = sorted(self.both | self.source_only)
        target = self.names[other]
        self.one_sided: list[tuple[TableName, str]] = [
            (n, target) for n in self.wanted if n in self.rows and n not in self.available]
        self.others_one_sided = sum(1 for n in self.rows if n not in self.available) - len(self.one_sided)

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
        if name in self.source_only:
            text.append(f"  (only on {self.source}: created first, with create-missing)", style="yellow")
        return text

    def _not_offered(self) -> Text:
        text = Text(style="dim")
        for name, side in self.one_sided:
            text.append(f"{name} is only on {side}: not offered ({side} is the target: nothing to copy from "
                        f"{self.source}).\n")
        if self.others_one_sided > 0:
            text.append(f"{plural(self.others_one_sided, 'other table')} only on the target not offered.")
        return text

    def needs_create(self) -> bool:
        """A chosen table exists only on the source: the sync must create it first."""
        only = {str(n) for n in self.source_only}
        return any(t in only for t in self.selected())

    def enter(self) -> None:
        if self.wizard.source.name != self.source:  # the direction changed: offer the new source's tables
            keep = set(self.selected()) | {str(n) for n in self.wanted}
            self._offer(self.wizard.source.name)
            choice = self.query_one(TickList)
            choice.clear_options()
            choice.add_options([(self._prompt(n), str(n), str(n) in keep) for n in self.available])
            self.query_one("#tables-not-offered", Static).update(self._not_offered())
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
            f"{count} of {plural(len(self.available), 'table')} selected"
            f"{f' ({len(self.source_only)} only on {self.source})' if self.source_only else ''}. "
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

    def created(self, request: SyncRequest) -> list[str]:
        """The request's tables that exist only on the source (create-missing makes them)."""
        only = {str(n) for n in self.source_only}
        return [t for t in request.tables if t in only]
