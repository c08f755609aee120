"""Step 6: the run. Progress per table and overall, an event log, and a record for the summary.

:class:`RunRecord` keeps what the summary must tell even when the run failed or was cancelled
and the engine returned no summary: which tables finished (their ``TableDone``), which one was
running and how many of its rows were committed (the last ``Progress`` of a batched table is
sent after its batch commits), and which table the error names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import RichLog

from dbconsole.format import format_duration
from dbconsole.sync.counts import describe_counts
from dbconsole.sync.events import Done, ErrorEvent, Notice, PlanEvent, Progress, SyncEvent, TableDone, TableStart
from dbconsole.tui.widgets.sync.progress import RunProgress
from dbconsole.tui.actions import bindings
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.wording import console_wording, plural


@dataclass
class RunRecord:
    done: dict[str, TableDone] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    committed: dict[str, int] = field(default_factory=dict)  # table -> rows committed (batched modes)
    error_table: str | None = None

    def note(self, event: SyncEvent) -> None:
        match event:
            case TableStart():
                if event.table not in self.started:
                    self.started.append(event.table)
                self.committed[event.table] = event.resume_rows
            case Progress():
                self.committed[event.table] = event.rows
            case TableDone():
                self.done[event.table] = event
            case ErrorEvent() if event.table:
                self.error_table = event.table

    @property
    def unfinished(self) -> str | None:
        return next((t for t in reversed(self.started) if t not in self.done), None)


class RunStep(WizardStep):
    ACTION_SCOPE = "wizard_run"
    BINDINGS = bindings("wizard_run")
    step_id = "run"
    title = "Run"

    def __init__(self) -> None:
        super().__init__()
        self.record = RunRecord()

    def compose(self) -> ComposeResult:
        yield RunProgress(id="run-progress")
        yield RichLog(id="run-log", wrap=True, markup=False, max_lines=2000)

    def on_mount(self) -> None:
        self.query_one("#run-log", RichLog).border_title = "Events"

    def enter(self) -> None:
        self.record = RunRecord()
        self.query_one("#run-log", RichLog).focus()

    def ask_to_stop(self, *, quitting: bool) -> None:
        """Ask first (escape, or ctrl+q), then have the wizard stop the run at its next block."""
        from dbconsole.tui.screens.confirm import ConfirmScreen

        wizard = self.wizard
        if not wizard.running or isinstance(self.app.screen, ConfirmScreen):
            return
        if wizard.cancel_event.is_set() and not quitting:
            return
        question = "A sync is running. Stop it and quit? " if quitting else "Cancel the running sync? "
        self.app.push_screen(
            ConfirmScreen(question + "It stops at the next block; committed batches are kept and a new run resumes.",
                          yes="Stop and quit" if quitting else "Cancel sync", no="Keep going"),
            lambda yes: wizard.stop_run(quitting=quitting) if yes else None)

    def write(self, text: str, style: str = "") -> None:
        self.query_one("#run-log", RichLog).write(Text(text, style=style))

    async def engine_events(self, events: list[SyncEvent]) -> None:
        progress = self.query_one(RunProgress)
        for event in events:
            self.record.note(event)
            match event:
                case PlanEvent():
                    await progress.plan([(t.table, t.estimated_rows) for t in event.tables])
                    self.write(f"plan: {plural(len(event.tables), 'table')}, {event.source} → {event.target}", "dim")
                    for warning in event.warnings:
                        self.write(f"warning: {console_wording(warning)}", "yellow")
                case TableStart():
                    progress.table_start(event.table, event.estimated_rows, event.resume_rows)
                    resumed = f" (resuming after {event.resume_rows:,} rows)" if event.resume_rows else ""
                    self.write(f"{event.table}: {event.mode}{resumed}")
                case Progress():
                    progress.progress(event.table, event.rows, event.rows_per_s, event.eta_s, event.estimated_rows)
                case TableDone():
                    progress.table_done(event.table, event.counts, event.seconds)
                    self.write(f"{event.table}: {describe_counts(event.counts)} in {format_duration(event.seconds)}",
                               "green")
                case ErrorEvent():
                    where = f" in {event.table}" if event.table else ""
                    self.write(f"error{where}: {console_wording(event.message)}", "red")
                case Notice():
                    self.write(f"{event.table + ': ' if event.table else ''}{console_wording(event.message)}",
                               "yellow" if event.kind in ("warning", "retry") else "dim")
                case Done():
                    state = "cancelled" if event.cancelled else "done"
                    self.write(f"{state}: {describe_counts(event.counts)} in {format_duration(event.seconds)}", "bold")
