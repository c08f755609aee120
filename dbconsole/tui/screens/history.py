"""``y``: the sync runs recorded on a profile, and ``u`` to undo one after typing its name.

The runs come from :mod:`dbconsole.history` (the same as ``dbconsole history``), read in a
thread worker; an undo runs in a worker of its own (:func:`dbconsole.history.undo_run`, one
transaction on the target) once the profile's name was typed, as a ``replace`` asks it. The
screen only redraws from the workers' messages, so a slow target never freezes it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Header, Input, Static

from dbconsole.config import Profile
from dbconsole.history import RunRecord
from dbconsole.history.text import outcome_text, when_text
from dbconsole.reading.sides import error_line
from dbconsole.sync.counts import describe_counts
from dbconsole.tui.actions import bindings
from dbconsole.tui.messages import HistoryFailed, HistoryRead, UndoDone, UndoFailed
from dbconsole.tui.widgets.footer import KeysFooter
from dbconsole.tui.widgets.sync.wording import plural

COLUMNS = ("run", "started", "source", "mode", "tables", "rows", "outcome", "undo")


class HistoryScreen(Screen[None]):
    """The runs of one target profile, newest first; ``u`` undoes the highlighted one."""

    ACTION_SCOPE = "history"
    BINDINGS = bindings("history")

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile
        self.runs: list[RunRecord] = []
        self.error: str | None = None
        self.reads = 0  # finished reads, for tests and the status line
        self.undoing: int | None = None  # the run an undo worker is working on

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="history-status")
        table: DataTable[Any] = DataTable(id="history-runs", cursor_type="row", zebra_stripes=True)
        yield table
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"Sync history of {self.profile.name}"
        table = self.query_one("#history-runs", DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self._show_status("reading…")
        self._read()
        table.focus()

    # ------------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self._read()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_undo(self) -> None:
        run = self.highlighted
        if run is None or self.undoing is not None:
            return
        if self.profile.read_only:
            self.notify(f"{self.profile.name} is read-only: undo writes to it, so it is refused", severity="error")
            return
        question = (f"Undo run {run.id} on {self.profile.name}: its overwritten and deleted rows are put back "
                    f"and the rows it inserted removed, in one transaction (sequences are not rewound).")

        def answered(confirmed: bool | None) -> None:
            if confirmed:
                self.undoing = run.id
                self._show_status(f"undoing run {run.id}…")
                self._undo(run.id)

        self.app.push_screen(TypeNameScreen(question, self.profile.name), answered)

    @property
    def highlighted(self) -> RunRecord | None:
        table = self.query_one("#history-runs", DataTable)
        if not self.runs or table.cursor_row < 0 or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    # ------------------------------------------------------------------ workers

    @work(thread=True, group="history", exit_on_error=False)
    def _read(self) -> None:
        from dbconsole.history import load_history

        try:
            self.post_message(HistoryRead(self.profile.name, load_history(self.profile)))
        except Exception as exc:  # one line on screen
            self.post_message(HistoryFailed(self.profile.name, error_line(exc)))

    @work(thread=True, group="undo", exit_on_error=False)
    def _undo(self, run_id: int) -> None:
        from dbconsole.history import undo_run

        try:
            self.post_message(UndoDone(self.profile.name, undo_run(self.profile, run_id)))
        except Exception as exc:  # a refusal or a failure: nothing was written
            self.post_message(UndoFailed(self.profile.name, run_id, error_line(exc)))

    # ------------------------------------------------------------------ messages

    def on_history_read(self, message: HistoryRead) -> None:
        self.runs, self.error = message.runs, None
        self.reads += 1
        table = self.query_one("#history-runs", DataTable)
        row = table.cursor_row
        table.clear()
        for run in self.runs:
            source = f"{run.source_name} ({run.source_host})" if run.source_host else run.source_name
            style = {"ok": "green", "failed": "red", "interrupted": "yellow", "cancelled": "yellow"}.get(run.outcome, "")
            table.add_row(str(run.id), when_text(run), source, run.mode, str(len(run.tables)),
                          describe_counts(run.counts), Text(outcome_text(run), style=style), run.undo_text,
                          key=str(run.id))
        if self.runs:
            table.move_cursor(row=min(max(row, 0), len(self.runs) - 1))
        self._show_status(None if self.runs else f"no sync runs recorded on {self.profile.name}")

    def on_history_failed(self, message: HistoryFailed) -> None:
        self.error = message.error
        self.reads += 1
        self._show_status(None)

    def on_undo_done(self, message: UndoDone) -> None:
        self.undoing = None
        result = message.result
        restored = sum(t.restored for t in result.tables)
        removed = sum(t.removed for t in result.tables)
        self.notify(f"run {result.run_id} undone: {restored:,} rows put back, {removed:,} removed "
                    "(sequences not rewound)", title="undo", timeout=8)
        self._read()

    def on_undo_failed(self, message: UndoFailed) -> None:
        self.undoing = None
        self.notify(message.error, title=f"undo of run {message.run_id} refused", severity="error", timeout=10)
        self._show_status(None)

    def _show_status(self, note: str | None) -> None:
        line = Text(f"{self.profile.name}: {plural(len(self.runs), 'run')}, newest first", style="dim")
        if note:
            line.append(f"  ·  {note}", style="dim")
        if self.error:
            line.append(f"\n{self.error}", style="red")
        self.query_one("#history-status", Static).update(line)


class TypeNameScreen(ModalScreen[bool]):
    """Goes on only when the profile's name is typed exactly (``escape`` cancels)."""

    ACTION_SCOPE = "type_name"
    BINDINGS = bindings("type_name")

    def __init__(self, question: str, name: str) -> None:
        super().__init__(classes="modal")
        self.question = question
        self.expected = name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Static(self.question, id="question")
            yield Static(f"Type '{self.expected}' and press enter:", id="type-name-hint")
            yield Input(placeholder=self.expected, id="type-name-input")

    def on_mount(self) -> None:
        self.query_one("#type-name-input", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.expected:
            self.dismiss(True)
        else:
            self.query_one("#type-name-hint", Static).update(
                Text(f"That is not '{self.expected}'. Type it exactly, or escape to cancel.", style="red"))

    def action_cancel(self) -> None:
        self.dismiss(False)
