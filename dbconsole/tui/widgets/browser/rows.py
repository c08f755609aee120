"""One line of the compare browser: what is known about a table on both sides, and its cells.

Kept apart from the widget so the wording and colours of a row (``~12,345`` estimate,
``+1,200`` in yellow, ``only right`` in red) are decided in one small place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rich.text import Text

from dbconsole.catalog import Table
from dbconsole.compare import TableComparison
from dbconsole.format import STATUS_STYLES, format_bytes, format_count, format_difference
from dbconsole.names import TableName

PARTITION_LINES = 4  # partitions listed beneath a partitioned table; more are summed up in one line
COLUMNS = ("mark", "table", "left", "right", "diff", "size", "key", "synced")
PENDING = "…"


@dataclass
class TableRow:
    name: TableName
    left: Table | None = None
    right: Table | None = None
    left_rows: int | None = None
    right_rows: int | None = None
    left_exact: bool = False
    right_exact: bool = False
    left_error: str | None = None
    right_error: str | None = None
    last_synced: Any = None  # LastSync from the engine's state

    @property
    def key(self) -> str:
        return str(self.name)

    def comparison(self) -> TableComparison:
        return TableComparison(self.name, self.left, self.right, self.left_rows, self.right_rows,
                               exact=self.left_exact and self.right_exact,
                               left_error=self.left_error, right_error=self.right_error)

    def set_count(self, side: str, rows: int | None, error: str | None) -> None:
        if side == "left":
            self.left_rows, self.left_exact, self.left_error = rows, error is None, error
        else:
            self.right_rows, self.right_exact, self.right_error = rows, error is None, error


def name_cell(row: TableRow) -> Text:
    """The table's name; a partitioned table shows its partitions beneath it (one sync unit)."""
    text = Text(str(row.name), no_wrap=True, overflow="ellipsis")
    partitions = row.comparison().partitions
    if partitions:
        text.append(f"  {len(partitions)} partitions", style="dim")
    for part in partitions[:PARTITION_LINES]:
        one_side = "" if part.on_left and part.on_right else (" (only left)" if part.on_left else " (only right)")
        text.append(f"\n  └ {part.name.name}{one_side}", style="yellow" if one_side else "dim")
    if len(partitions) > PARTITION_LINES:
        text.append(f"\n  └ … {len(partitions) - PARTITION_LINES} more", style="dim")
    return text


def row_height(row: TableRow) -> int:
    """Lines a row needs: its name, and the partitions listed beneath it."""
    count = len(row.comparison().partitions)
    return 1 + min(count, PARTITION_LINES + 1) if count else 1


def count_cell(row: TableRow, side: str, loaded: bool) -> Text:
    table = row.left if side == "left" else row.right
    rows = row.left_rows if side == "left" else row.right_rows
    exact = row.left_exact if side == "left" else row.right_exact
    error = row.left_error if side == "left" else row.right_error
    if not loaded:
        return Text(PENDING, style="dim", justify="right")
    if table is None:
        return Text("-", style="dim", justify="right")
    if error:
        return Text("?", style="red", justify="right")
    return Text(format_count(rows, exact=exact), style="" if exact else "dim", justify="right")


def diff_cell(row: TableRow, loaded: bool) -> Text:
    if not loaded:
        return Text(PENDING, style="dim", justify="right")
    comparison = row.comparison()
    status = comparison.status
    text = format_difference(comparison)
    if status in ("more_left", "more_right") and not comparison.exact:
        text = "~" + text
    return Text(text, style=STATUS_STYLES[status], justify="right")


def key_cell(row: TableRow) -> Text:
    return Text("yes", style="green") if row.comparison().has_key else Text("no", style="yellow")


def size_cell(row: TableRow) -> Text:
    return Text(format_bytes(row.comparison().size_bytes), justify="right")


def synced_cell(row: TableRow, now: datetime | None = None) -> Text:
    last = row.last_synced
    if last is None:
        return Text("never", style="dim")
    finished = getattr(last, "finished_at", None)
    if finished is None:
        return Text("?", style="dim")
    return Text(ago(finished, now))


def ago(moment: datetime, now: datetime | None = None) -> str:
    """``just now`` / ``12m ago`` / ``3h ago`` / ``5d ago``: short enough for a narrow column."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    seconds = max(0.0, (now - moment).total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return f"{int(seconds // 86400)}d ago"


def mark_cell(marked: bool) -> Text:
    return Text("●", style="bold cyan") if marked else Text(" ")
