"""``dbconsole diff`` for people: one line per table, and with ``--rows`` the differing keys."""

from __future__ import annotations

from typing import Any

from dbconsole.diff.model import DiffReport, RowDifference, TableDiff, json_value
from dbconsole.names import quote_if_needed

_KIND_TEXT = {"changed": "changed", "only_left": "only left", "only_right": "only right"}
_STATUS_STYLE = {"same": "green", "differ": "yellow", "only_left": "red", "only_right": "red", "no_key": "dim",
                 "error": "red"}


def table_summary(result: TableDiff, left: str, right: str) -> str:
    """``same`` / ``12 differ (changed 10, only left 1, only right 1)`` / ``no key`` / the error."""
    if result.status == "same":
        return "same"
    if result.status == "no_key":
        return "no key (" + (result.notes[0] if result.notes else "no usable key") + ")"
    if result.status == "error":
        return f"error: {result.error}"
    if result.status in ("only_left", "only_right") and not result.differences:
        return f"table only on {left if result.status == 'only_left' else right}"
    parts = [f"{label} {getattr(result, kind):,}" for kind, label in _KIND_TEXT.items() if getattr(result, kind)]
    return f"{result.differences:,} differ ({', '.join(parts)})"


def key_text(row: RowDifference) -> str:
    return ", ".join(f"{quote_if_needed(name)}={json_value(value)}" for name, value in row.key.items())


def render_report(report: DiffReport, console: Any, *, show_rows: bool) -> None:
    from rich.markup import escape
    from rich.table import Table as RichTable

    if not report.tables:
        console.print("No tables to compare.")
        return
    table = RichTable(box=None, header_style="bold", pad_edge=False)
    table.add_column("TABLE")
    table.add_column("CONTENT")
    table.add_column("ROWS", justify="right")
    table.add_column("SECONDS", justify="right")
    for result in report.tables:
        style = _STATUS_STYLE[result.status]
        table.add_row(escape(result.table), f"[{style}]{escape(table_summary(result, report.left, report.right))}[/]",
                      f"{result.rows_compared:,}" if result.status in ("same", "differ") else "-",
                      f"{result.seconds:.2f}")
    console.print(table)
    if show_rows:
        for result in report.tables:
            if not result.rows:
                continue
            console.print(f"\n[bold]{escape(result.table)}[/]")
            for row in result.rows:
                console.print(f"  {_KIND_TEXT[row.kind]:<10}  {escape(key_text(row))}")
            if len(result.rows) < result.differences:
                console.print(f"  … {result.differences - len(result.rows):,} more (raise --limit)", style="dim")
    differing = sum(1 for t in report.tables if t.status in ("differ", "only_left", "only_right"))
    verdict = "all the same" if report.same else f"{differing} of {len(report.tables)} tables differ"
    console.print(f"\n{report.left} vs {report.right}: {verdict}; only left = rows only on {report.left}", style="dim")
