"""Step 4: the dry run. Both sides are read, nothing is written; a predicted failure blocks.

The engine marks a notice ``fails`` when the real run would stop there (rows whose FK parents
the target lacks; rows a replace would delete while another table still points at them). Such
a prediction keeps the user from confirming; when adding the FK parents would fix it, ``p``
does that in one key (re-plans and dry-runs again).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from dbconsole.format import format_duration
from dbconsole.sync.counts import describe_counts
from dbconsole.sync.events import Notice, SyncEvent, TableDone, TableStart
from dbconsole.tui.widgets.sync import columns as grid_columns
from dbconsole.tui.widgets.sync.columns import GridColumn
from dbconsole.tui.actions import bindings
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.wording import console_wording

PREVIEW_COLUMNS = (
    GridColumn("inserted", "would insert", 12, priority=90, right=True),
    GridColumn("updated", "would update", 12, priority=80, right=True),
    GridColumn("deleted", "would delete", 12, priority=70, right=True),
    GridColumn("unchanged", "unchanged", 10, priority=40, right=True),
    GridColumn("read", "would read", 10, priority=60, right=True),  # rows that would cross the network
    GridColumn("time", "time", 7, priority=10, right=True),
)

# With a subset, the rows a table would read are the subset's rows of that table.
SUBSET_COLUMNS = tuple(GridColumn("read", "in subset", 10, priority=95, right=True) if c.key == "read" else c
                       for c in PREVIEW_COLUMNS)


def rows_read(summary: Any) -> int:
    """Rows the real run would read from the source (only the differing ones for a diff)."""
    return sum(t.rows_read for t in summary.tables)


def done_cells(done: TableDone) -> dict[str, object]:
    """A finished table's grid cells: one per count (columns are keyed by the counts' names), and its time."""
    return {**{name: f"{value:,}" for name, value in asdict(done.counts).items()},
            "read": f"{done.rows_read:,}", "time": format_duration(done.seconds)}


class PreviewStep(WizardStep):
    ACTION_SCOPE = "wizard_preview"
    BINDINGS = bindings("wizard_preview")
    step_id = "preview"
    title = "Dry run"

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.results: list[TableDone] = []
        self.notes: list[Notice] = []  # the dry run's notices (warnings, predicted failures, info)
        self.done = False
        self.error: str | None = None
        self.kept: list[GridColumn] = []
        self.name_width = grid_columns.NAME_MIN
        self.ddl_statements: list[str] = []

    @property
    def failures(self) -> list[Notice]:
        return [n for n in self.notes if n.fails]

    @property
    def parents_would_fix(self) -> bool:
        return any(n.remedy == "add_parents" for n in self.failures)

    def compose(self) -> ComposeResult:
        yield Static("", id="preview-status", classes="step-intro")
        yield DataTable(id="preview-table", zebra_stripes=True, cursor_type="row", classes="step-list")
        yield Static("", id="preview-ddl", classes="step-note")

    def show_ddl(self, step: Any) -> None:
        """create-missing's DDL, as it would run on the target (:mod:`.more_options`)."""
        from dbconsole.tui.widgets.sync.more_options import ddl_text

        self.ddl_statements = list(step.statements)
        box = self.query_one("#preview-ddl", Static)
        box.update(ddl_text(step))
        box.display = True
        grid = self.query_one("#preview-table", DataTable)
        for name in step.outcome.plan.created_tables:
            if name in step.left_out:  # a dry run: the table exists only once the DDL runs
                grid.add_row(*grid_columns.row(self.kept, str(name), self.name_width,
                                               {"inserted": "new table", "read": "all rows"}))

    def enter(self) -> None:
        self.reset()
        plan = self.wizard.plan
        names = [str(t.name) for t in plan.tables] if plan is not None else []
        grid = self.query_one("#preview-table", DataTable)
        columns = SUBSET_COLUMNS if self.wizard.request().subsets else PREVIEW_COLUMNS
        self.kept, self.name_width = grid_columns.setup(grid, columns, names, self.app.size.width - 6)
        ddl = self.query_one("#preview-ddl", Static)
        ddl.update("")
        ddl.display = False
        self.query_one("#preview-status", Static).update(
            Text("dry run: reading both sides, writing nothing…", style="yellow"))
        grid.focus()
        self.wizard.start_dry_run()

    def add_result(self, done: TableDone) -> None:
        self.results.append(done)
        self.query_one("#preview-table", DataTable).add_row(
            *grid_columns.row(self.kept, done.table, self.name_width, done_cells(done)))

    def engine_event(self, event: SyncEvent) -> None:
        match event:
            case TableDone():
                self.add_result(event)
            case TableStart():
                self.query_one("#preview-status", Static).update(Text(f"dry run: {event.table}…", style="yellow"))
            case Notice(kind="warning" | "info"):
                self.notes.append(event)

    def finished(self, summary: Any, error: str | None) -> None:
        status = self.query_one("#preview-status", Static)
        if error:
            self.error = console_wording(error)
            status.update(Text(f"dry run failed: {self.error}", style="red"))
            return
        self.done = True
        if summary is not None and not self.results and summary.tables:
            for done in summary.tables:
                self.add_result(done)
        status.update(self.headline(summary))

    def headline(self, summary: Any) -> Text:
        if summary is None:  # create-missing only: the new tables' rows are counted once they exist
            text = Text("dry run done: nothing was written; every chosen table is new on the target, so its "
                        "rows are copied once the DDL below has run.", style="green")
        else:
            text = Text(f"dry run done in {format_duration(summary.seconds)}: nothing was written; "
                        f"{describe_counts(summary.counts, dry_run=True)}; "
                        f"{rows_read(summary):,} rows would cross the network.", style="green")
        for note in self.notes:
            where = f"{note.table}: " if note.table else ""
            if note.fails:
                text.append(f"\n✗ {where}{console_wording(note.message)}", style="bold red")
            elif note.kind == "warning":
                text.append(f"\n⚠ {where}{console_wording(note.message)}", style="yellow")
            else:
                text.append(f"\n· {where}{console_wording(note.message)}", style="dim")
        if self.failures:
            text.append("\nThe run would fail, so it cannot be confirmed. ", style="bold red")
            if self.parents_would_fix:
                text.append("Press p to add the FK parents and dry-run again; escape goes back.", style="bold")
            else:
                text.append("Add the tables that still point at those rows, or choose mode upsert "
                            "(escape goes back).", style="bold")
        else:
            text.append("\nctrl+n to continue.", style="green")
        return text

    def blocker(self) -> str | None:
        if self.error:
            return self.error
        if not self.done:
            return "the dry run is still running"
        if self.failures:
            return ("the dry run predicts the run would fail: " + console_wording(self.failures[0].message)
                    + (" (p adds the FK parents)" if self.parents_would_fix else ""))
        return None
