"""One line of the compare browser: what is known about a table on both sides, and its cells.

Kept apart from the widget so the wording and colours of a row (``~12,345`` estimate,
``+1,200`` in yellow, ``only right`` in red) are decided in one small place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from rich.text import Text

from dbconsole.catalog import Table
from dbconsole.compare import TableComparison
from dbconsole.format import STATUS_STYLES, format_bytes, format_count, format_difference
from dbconsole.names import TableName
from dbconsole.tui.widgets.browser.side import BrowserSide, RowCount

PARTITION_LINES = 4  # partitions listed beneath a partitioned table; more are summed up in one line
COLUMNS = ("mark", "table", "left", "right", "diff", "size", "key", "synced")
PENDING = "…"


class TableRow:
    """One table as the grid shows it: a view over what both sides know about it.

    The facts live in the two :class:`BrowserSide` objects; a row only names the table, so a
    count arriving for one side is seen by every row, the inspector and the wizard at once.
    """

    def __init__(self, name: TableName, sides: Mapping[str, BrowserSide], last_synced: Any = None) -> None:
        self.name = name
        self.sides = sides
        self.last_synced = last_synced  # LastSync from the engine's state

    @property
    def key(self) -> str:
        return str(self.name)

    def table(self, side: str) -> Table | None:
        return self.sides[side].tables.get(self.name)

    def count(self, side: str) -> RowCount | None:
        return self.sides[side].counts.get(self.name) if self.table(side) is not None else None

    def rows(self, side: str) -> int | None:
        count = self.count(side)
        return count.rows if count is not None else None

    def exact(self, side: str) -> bool:
        count = self.count(side)
        return bool(count and count.exact)

    def error(self, side: str) -> str | None:
        count = self.count(side)
        return count.error if count is not None else None

    # the names the wizard, the inspector and the tests read
    left = property(lambda self: self.table("left"))
    right = property(lambda self: self.table("right"))
    left_rows = property(lambda self: self.rows("left"))
    right_rows = property(lambda self: self.rows("right"))
    left_exact = property(lambda self: self.exact("left"))
    right_exact = property(lambda self: self.exact("right"))
    left_error = property(lambda self: self.error("left"))
    right_error = property(lambda self: self.error("right"))

    def comparison(self) -> TableComparison:
        return TableComparison(self.name, self.left, self.right, self.left_rows, self.right_rows,
                               exact=self.left_exact and self.right_exact,
                               left_error=self.left_error, right_error=self.right_error,
                               left_exact=self.left_exact, right_exact=self.right_exact)



SCHEMA_MARK = " ≠"  # after the name: the two sides declare this table differently (see the inspector / schema)


def name_cell(row: TableRow, width: int = 40, *, schema_differs: bool = False) -> Text:
    """The table's name (elided in the middle to ``width``), marked when its schema differs; a
    partitioned table shows its partitions beneath it (one sync unit)."""
    mark = SCHEMA_MARK if schema_differs else ""
    text = Text(elide_middle(str(row.name), width - len(mark)), no_wrap=True, overflow="ellipsis")
    if mark:
        text.append(mark, style="bold magenta")
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


def count_cell(row: TableRow, side: str) -> Text:
    """``12,345`` exact, ``~12,345`` the catalog's estimate, ``-`` absent, ``?`` failed."""
    state = row.sides[side]
    if state.stage == "idle":
        return Text("", justify="right")
    if state.stage == "unusable":
        return Text("-", style="dim", justify="right")
    if state.stage == "connecting" and not state.tables:
        return Text(PENDING, style="dim", justify="right")
    if row.table(side) is None:
        return Text("-", style="dim", justify="right")
    if row.error(side):
        return Text("?", style="red", justify="right")
    exact = row.exact(side)
    return Text(format_count(row.rows(side), exact=exact), style="" if exact else "dim", justify="right")


def diff_cell(row: TableRow) -> Text:
    """The difference right - left, ``~`` in front when either side is an estimate."""
    sides = row.sides
    if not all(s.loaded for s in sides.values()):
        return Text(PENDING if any(s.stage == "connecting" for s in sides.values()) else "",
                    style="dim", justify="right")
    comparison = row.comparison()
    text = format_difference(comparison, mark_estimate=True)  # the CLI's `tables` words it the same
    return Text(text, style=STATUS_STYLES[comparison.status], justify="right")


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
    """``[x]`` / ``[ ]``: a mark reads without colour (a monochrome terminal, a screen reader)."""
    return Text("[x]", style="bold cyan") if marked else Text("[ ]", style="dim")


def elide_middle(text: str, width: int) -> str:
    """``scan…_rank`` rather than ``scan_r…``: names that share a prefix stay apart when cut."""
    if width <= 0 or len(text) <= width:
        return text
    if width <= 3:
        return text[:width]
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + "…" + text[len(text) - tail:]
