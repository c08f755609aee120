"""Line up the rows a content diff reported, side by side, and find the cells that differ.

Pure logic (no screen, no server), tested on its own. The diff engine gives the keys of the
differing rows (at most the inspector's limit, in key order); the inspector reads those keys'
rows on both sides (one query per side) and this module turns them into two previews with one
line per key on *both* sides: a row missing on one side becomes a placeholder line there
(``–``, dim), so line *n* on the left and line *n* on the right are always the same key, and
the cells whose values differ are named so they can be highlighted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbconsole.tui.screens.row_compare import Preview, RowState

SIDES = ("left", "right")
ABSENT = ""  # a placeholder line's cells, but for its key


@dataclass
class FetchedSide:
    """One side's answer: its columns and its rows by key value (as read from the server)."""

    columns: list[str]
    rows: Mapping[tuple[Any, ...], tuple[Any, ...]]


@dataclass
class AlignedSide:
    """What one side's table shows: a preview (one line per differing key), states and changed cells."""

    preview: Preview
    states: list[RowState] = field(default_factory=list)
    changed: list[set[int]] = field(default_factory=list)  # per line: indices of the columns that differ


def align(key: Sequence[str], keys: Sequence[Mapping[str, Any]], fetched: Mapping[str, FetchedSide | None]
          ) -> dict[str, AlignedSide]:
    """One line per key in ``keys`` on both sides; ``fetched[side]`` None: the table is not there."""
    columns = {side: (fetched[side].columns if fetched.get(side) else list(key)) for side in SIDES}
    aligned = {side: AlignedSide(Preview(list(columns[side]), [])) for side in SIDES}
    for values in keys:
        wanted = tuple(values.get(c) for c in key)
        rows = {side: (fetched[side].rows.get(wanted) if fetched.get(side) else None) for side in SIDES}
        for side in SIDES:
            other = "right" if side == "left" else "left"
            mine, theirs = rows[side], rows[other]
            out = aligned[side]
            if mine is None:
                out.preview.rows.append(_placeholder(columns[side], key, values))
                out.states.append("absent")
                out.changed.append(set())
                continue
            out.preview.rows.append(tuple(mine))
            if theirs is None:
                out.states.append("only_here")
                out.changed.append(set())
                continue
            differing = _differing_cells(columns[side], mine, columns[other], theirs)
            out.states.append("differs")
            out.changed.append(differing)
    return aligned


def changed_columns(aligned: Mapping[str, AlignedSide]) -> list[str]:
    """Every column that differs in at least one line, by name, in the left side's column order."""
    found: set[str] = set()
    order: list[str] = []
    for side in SIDES:
        part = aligned.get(side)
        if part is None:
            continue
        order += [c for c in part.preview.columns if c not in order]
        for cells in part.changed:
            found |= {part.preview.columns[i] for i in cells}
    return [c for c in order if c in found]


def changed_first(aligned: Mapping[str, AlignedSide], key: Sequence[str]) -> dict[str, AlignedSide]:
    """The same lines with the key's columns first, then the changed ones, then the rest: on a
    narrow terminal what differs is on screen without scrolling sideways."""
    changed = changed_columns(aligned)
    result: dict[str, AlignedSide] = {}
    for side, part in aligned.items():
        columns = part.preview.columns
        front = [c for c in (*key, *changed) if c in columns]
        order = [columns.index(c) for c in dict.fromkeys(front)] + \
            [i for i, c in enumerate(columns) if c not in front]
        where = {old: new for new, old in enumerate(order)}
        result[side] = AlignedSide(
            Preview([columns[i] for i in order], [tuple(row[i] for i in order) for row in part.preview.rows]),
            list(part.states), [{where[i] for i in cells} for cells in part.changed])
    return result


def _differing_cells(columns: Sequence[str], mine: Sequence[Any], other_columns: Sequence[str],
                     theirs: Sequence[Any]) -> set[int]:
    """Indices (in ``columns``) of the shared columns whose shown values differ (the diff compares only those)."""
    where = {name: i for i, name in enumerate(other_columns)}
    cells = set()
    for index, name in enumerate(columns):
        twin = where.get(name)
        if twin is not None and str(mine[index]) != str(theirs[twin]):
            cells.add(index)
    return cells


def _placeholder(columns: Sequence[str], key: Sequence[str], values: Mapping[str, Any]) -> tuple[Any, ...]:
    from dbconsole.reading import display_value

    return tuple(display_value(values.get(c)) if c in key else ABSENT for c in columns)
