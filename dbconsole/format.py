"""Numbers as people read them, the same in the CLI and the TUI."""

from __future__ import annotations

from typing import Any


# How each comparison status is coloured, in the CLI's table and in the console's browser.
STATUS_STYLES = {
    "equal": "green",
    "more_left": "yellow",
    "more_right": "yellow",
    "left_only": "red",
    "right_only": "red",
    "unknown": "dim",
}


def format_count(rows: int | None, *, missing: bool = False, exact: bool = True) -> str:
    """``12,345`` exact, ``~12,345`` estimated, ``-`` absent, ``?`` unknown."""
    if missing:
        return "-"
    if rows is None:
        return "?"
    return f"{rows:,}" if exact else f"~{rows:,}"


def format_difference(row: Any, *, mark_estimate: bool = False) -> str:
    """``+1,200`` / ``-35`` / ``=`` / ``only left`` for a TableComparison.

    With ``mark_estimate``, a difference computed from an estimate reads ``~-39`` / ``~=``:
    two estimates apart by 39 can be two tables whose exact counts are equal.
    """
    status = row.status
    if mark_estimate and status in ("equal", "more_left", "more_right") and row.difference_estimated:
        return "~" + format_difference(row)
    if status == "left_only":
        return "only left"
    if status == "right_only":
        return "only right"
    if status == "unknown":
        return "?"
    if status == "equal":
        return "="
    return f"{row.difference:+,}"


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def format_duration(seconds: float | None) -> str:
    """``0.4s``, ``12s``, ``3m05s``, ``1h02m``."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_rate(rows_per_s: float | None) -> str:
    if not rows_per_s:
        return "-"
    if rows_per_s >= 1_000_000:
        return f"{rows_per_s / 1_000_000:.1f}M rows/s"
    if rows_per_s >= 1_000:
        return f"{rows_per_s / 1_000:.1f}k rows/s"
    return f"{rows_per_s:.0f} rows/s"


def output_console(*, stderr: bool = False) -> Any:
    """A rich Console for the CLI: the terminal's width on a TTY; piped into a file or a log,
    lines are never hard-wrapped (nor cut to 80 columns) and carry no colour codes."""
    import sys

    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(highlight=False, stderr=stderr)
    return Console(highlight=False, stderr=stderr, width=100_000, soft_wrap=True, no_color=True)
