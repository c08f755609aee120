"""Line up the inspector's two previews by key: which rows are on one side only, which differ.

Pure logic (no screen, no server) so the marking is tested on its own. It only knows the
preview's rows (the first 50 by key on each side), so "only here" means "not among the other
side's first rows", which is why rows beyond the other side's last key are left unmarked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

# absent: a placeholder line where the other side has a row this side lacks (differing rows view)
RowState = Literal["same", "differs", "only_here", "unknown", "absent"]
ROW_MARKS: dict[RowState, str] = {"same": "=", "differs": "≠", "only_here": "+", "unknown": " ", "absent": "–"}
ROW_STYLES: dict[RowState, str] = {"same": "", "differs": "bold yellow", "only_here": "bold red", "unknown": "dim",
                                   "absent": "dim"}


@dataclass(frozen=True)
class Preview:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def key_of(self, row: Sequence[Any], key: Sequence[str]) -> tuple[Any, ...] | None:
        try:
            return tuple(row[self.columns.index(c)] for c in key)
        except ValueError:
            return None

    def keys(self, key: Sequence[str]) -> list[tuple[Any, ...] | None]:
        return [self.key_of(row, key) for row in self.rows]


def compare_previews(mine: Preview, other: Preview, key: Sequence[str] | None, other_complete: bool) -> list[RowState]:
    """One state per row of ``mine``, judged against ``other``'s rows with the same key.

    ``other_complete``: ``other`` holds every row of its table (fewer rows than the preview
    limit), so a key missing there is missing from the table, not just from the preview.
    """
    if not key or not other.rows:
        return ["only_here" if key and other_complete else "unknown"] * len(mine.rows)
    by_key = {k: row for k, row in zip(other.keys(key), other.rows) if k is not None}
    last_other = other.keys(key)[-1]
    shared = [c for c in mine.columns if c in other.columns]
    states: list[RowState] = []
    for row, row_key in zip(mine.rows, mine.keys(key)):
        if row_key is None:
            states.append("unknown")
            continue
        twin = by_key.get(row_key)
        if twin is None:
            beyond = not other_complete and last_other is not None and _after(row_key, last_other)
            states.append("unknown" if beyond else "only_here")
            continue
        same = all(row[mine.columns.index(c)] == twin[other.columns.index(c)] for c in shared)
        states.append("same" if same else "differs")
    return states


def _after(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    """Is key ``a`` after ``b`` in the preview's order? Cells are text, so numbers compare as numbers."""
    def sortable(cells: tuple[Any, ...]) -> tuple[Any, ...]:
        out = []
        for cell in cells:
            try:
                out.append((0, float(cell), ""))
            except (TypeError, ValueError):
                out.append((1, 0.0, str(cell)))
        return tuple(out)
    return sortable(a) > sortable(b)


def where_clause(columns: Sequence[str], key: Sequence[str], row: Sequence[Any]) -> str:
    """``id = 42 AND day = '2024-01-02'``: the highlighted row's key, ready to paste into the SQL box."""
    parts = []
    for column in key:
        value = row[list(columns).index(column)]
        ident = column if column.isidentifier() and column.islower() else '"' + column.replace('"', '""') + '"'
        if value == "NULL":
            parts.append(f"{ident} IS NULL")
        elif _is_number(value):
            parts.append(f"{ident} = {value}")
        else:
            parts.append(f"{ident} = '" + str(value).replace("'", "''") + "'")
    return " AND ".join(parts)


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return str(value).strip() == str(value) and str(value).lower() not in ("nan", "inf", "-inf", "infinity")
