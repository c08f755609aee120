"""Step 7: what the run did, told truthfully, with the next sensible action one key away.

Every planned table gets a row: synced (``synced (filtered)`` when a ``where`` chose its rows),
the unfinished one with the rows it committed and whether it was cancelled or failed, and the
ones never started. A failed ``replace`` says its transaction rolled back (nothing of it was
written), not "run it again to resume". After a failure or a cancel, ``r`` runs the same sync
again (batched tables resume from their checkpoints) and, when FK parents were left out, ``p``
adds them and goes back to the dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from dbconsole.format import format_duration
from dbconsole.sync.counts import RowCounts, describe_counts
from dbconsole.tui.widgets.sync import columns as grid_columns
from dbconsole.tui.widgets.sync.columns import GridColumn
from dbconsole.tui.widgets.sync.preview import done_cells
from dbconsole.tui.widgets.sync.run import RunRecord
from dbconsole.tui.actions import bindings
from dbconsole.tui.widgets.sync.step import WizardStep
from dbconsole.tui.widgets.sync.wording import console_wording

SUMMARY_COLUMNS = (
    GridColumn("status", "status", 24, priority=95),
    GridColumn("inserted", "inserted", 10, priority=90, right=True),
    GridColumn("updated", "updated", 10, priority=80, right=True),
    GridColumn("deleted", "deleted", 9, priority=70, right=True),
    GridColumn("unchanged", "unchanged", 10, priority=60, right=True),
    GridColumn("time", "time", 7, priority=10, right=True),
)


@dataclass(frozen=True)
class TableOutcome:
    table: str
    status: str
    style: str
    done: Any = None  # the TableDone when the table finished


def outcomes(plan: Any, record: RunRecord, *, cancelled: bool, failed: bool) -> list[TableOutcome]:
    """One line per planned table, in plan order (pure: the summary's truth table)."""
    tables = list(plan.tables) if plan is not None else []
    names = [str(t.name) for t in tables] or list(record.done)
    by_name = {str(t.name): t for t in tables}
    unfinished = record.unfinished
    result = []
    for name in names:
        tp = by_name.get(name)
        if name in record.done:
            result.append(TableOutcome(name, "synced (filtered)" if tp is not None and tp.where else "synced",
                                       "green", record.done[name]))
        elif name == unfinished and (cancelled or failed):
            how = "cancelled" if cancelled else "failed"
            if tp is not None and tp.mode == "replace":
                result.append(TableOutcome(name, f"{how}: rolled back", "red" if failed else "yellow"))
            else:
                rows = record.committed.get(name, 0)
                result.append(TableOutcome(name, f"{how} · {rows:,} rows committed", "red" if failed else "yellow"))
        elif tp is not None and tp.mode == "replace" and failed and name in record.started:
            result.append(TableOutcome(name, "rolled back", "red"))
        else:
            result.append(TableOutcome(name, "not started", "dim"))
    return result


def replace_failed(plan: Any, record: RunRecord) -> bool:
    """The failure happened inside the replace group's one transaction (so it all rolled back)."""
    if plan is None:
        return False
    failing = record.error_table or record.unfinished
    return any(str(t.name) == failing and t.mode == "replace" for t in plan.tables)


class SummaryStep(WizardStep):
    ACTION_SCOPE = "wizard_summary"
    BINDINGS = bindings("wizard_summary")
    step_id = "summary"
    title = "Summary"

    def compose(self) -> ComposeResult:
        yield Static("", id="summary-text", classes="step-intro")
        yield DataTable(id="summary-table", zebra_stripes=True, cursor_type="row", classes="step-list")

    def enter(self) -> None:
        wizard = self.wizard
        summary, error, record = wizard.summary, wizard.run_error, wizard.run_record
        cancelled = summary is not None and summary.cancelled
        text = Text()
        if error:
            text.append(f"The sync stopped: {console_wording(error)}\n", style="red")
            if replace_failed(wizard.plan, record):
                text.append(f"The replace runs in one transaction, which rolled back: nothing of it was written "
                            f"to {wizard.target.name}. Tables synced before it are kept.\n", style="yellow")
            else:
                text.append("Committed batches are kept; r runs it again and resumes where it stopped.\n",
                            style="yellow")
        elif cancelled:
            where = f" during {record.unfinished}" if record.unfinished else ""
            text.append(f"Cancelled{where}. Committed batches are kept; r runs it again and resumes.\n",
                        style="yellow")
        else:
            text.append("Done.\n", style="green bold")
        done = list(record.done.values()) if summary is None else summary.tables
        text.append(describe_counts(RowCounts.sum(t.counts for t in done), sep=" · "))
        if summary is not None:
            text.append(f" · {format_duration(summary.seconds)}")
        if wizard.can_add_parents():
            text.append("\np adds the FK parents and dry-runs again.", style="bold")
        self.query_one("#summary-text", Static).update(text)

        lines = outcomes(wizard.plan, record, cancelled=cancelled, failed=bool(error))
        grid = self.query_one("#summary-table", DataTable)
        kept, width = grid_columns.setup(grid, SUMMARY_COLUMNS, [o.table for o in lines], self.app.size.width - 6)
        for line in lines:
            cells: dict[str, object] = done_cells(line.done) if line.done is not None else {}
            cells["status"] = Text(line.status, style=line.style, no_wrap=True, overflow="ellipsis")
            grid.add_row(*grid_columns.row(kept, line.table, width, cells))
        grid.focus()  # inside the step, so its keys (ctrl+n Close, r, p) are the footer's
