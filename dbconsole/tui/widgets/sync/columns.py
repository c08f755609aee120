"""Per-table grids that fit the terminal: columns by priority, names elided in the middle.

At 80 columns the wizard's grids would otherwise scroll sideways and hide the one figure that
matters. Each grid lists its columns with a width and a priority; :func:`fit` keeps the most
important ones that fit and gives the table name whatever is left. Names are elided in the
middle (``public.scan_…_settings``) so two names that share a prefix stay apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widgets import DataTable

CELL_PADDING = 2  # DataTable pads each cell by one on either side
NAME_MIN, NAME_MAX = 16, 40


@dataclass(frozen=True)
class GridColumn:
    key: str
    label: str
    width: int
    priority: int = 0  # lower goes first when space runs out; the name column is always kept
    right: bool = False


def fit(columns: Sequence[GridColumn], available: int, name_width: int) -> tuple[list[GridColumn], int]:
    """The columns that fit ``available`` cells, and the width left for the name column."""
    kept = list(columns)
    def used(cols: Sequence[GridColumn]) -> int:
        return sum(c.width + CELL_PADDING for c in cols) + CELL_PADDING
    while kept and used(kept) + NAME_MIN > available:
        drop = min(kept, key=lambda c: c.priority)
        if drop.priority >= 100:
            break
        kept.remove(drop)
    wanted = min(NAME_MAX, name_width)
    while available - used(kept) < wanted and any(c.priority < 50 for c in kept):
        kept.remove(min(kept, key=lambda c: c.priority))  # a whole name beats a minor figure
    room = available - used(kept)
    return kept, max(NAME_MIN, min(wanted, room))


def elide_middle(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width < 5:
        return text[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return f"{text[:head]}…{text[-tail:]}"


def setup(grid: DataTable, columns: Sequence[GridColumn], names: Sequence[str], available: int,
          name_label: str = "table") -> tuple[list[GridColumn], int]:
    """Clear ``grid`` and give it the name column plus the columns that fit."""
    kept, width = fit(columns, available, max([len(n) for n in names] + [len(name_label)]))
    grid.clear(columns=True)
    grid.add_column(name_label, key="table", width=width)
    for column in kept:
        grid.add_column(Text(column.label, justify="right") if column.right else column.label, key=column.key,
                        width=column.width)
    return kept, width


def row(kept: Sequence[GridColumn], name: str, name_width: int, cells: dict[str, object]) -> list[object]:
    """One grid row: the elided name, then each kept column's cell (right-aligned where asked)."""
    out: list[object] = [Text(elide_middle(name, name_width), no_wrap=True)]
    for column in kept:
        value = cells.get(column.key, "")
        if isinstance(value, str):
            value = Text(value, justify="right" if column.right else "left", no_wrap=True, overflow="ellipsis")
        out.append(value)
    return out
