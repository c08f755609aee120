"""The inspector's schema part: how the table's declaration differs on the two sides.

The differences are the browser's (its schema worker compares the pair once per pair and on
``ctrl+r``, with :func:`dbconsole.schema.compare.compare_schemas`, the data ``dbconsole schema
--json`` prints), so opening the inspector reads nothing more; when the comparison arrives after
the inspector opened, the browser tells the screens on top (``SchemaCompared``) and this part
redraws. A table on one side only says how to get it onto the other: mark it and sync with
create-missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.text import Text
from textual.widgets import Static

from dbconsole.schema.text import difference_line
from dbconsole.tui.messages import SchemaCompared

MAX_LINES = 8  # the rows stay the inspector's main content; ``dbconsole schema`` lists the rest


def schema_note(row: Any, diffs: Sequence[Any] | None, compared: bool, left: str, right: str, *,
                read_only: frozenset[str] = frozenset()) -> Text:
    """The lines the inspector shows under the rows, from the browser's comparison. ``read_only``:
    the profiles nothing is ever created on."""
    text = Text(no_wrap=True, overflow="ellipsis")
    if row.left is None or row.right is None:
        has, lacks = (right, left) if row.left is None else (left, right)
        text.append(f"schema: only on {has}", style="yellow")
        if lacks in read_only:
            text.append(f" · {lacks} is read-only: dbconsole creates nothing there", style="dim")
        else:
            text.append(f" · in the browser, space marks it and s syncs it: the wizard creates it on {lacks} "
                        "(create-missing)", style="dim")
        return text
    if not compared:
        text.append("schema: not compared yet (ctrl+r in the browser compares)", style="dim")
        return text
    if not diffs:
        text.append("schema: same on both sides", style="green")
        return text
    noun = "difference" if len(diffs) == 1 else "differences"
    text.append(f"schema: {len(diffs)} {noun} ", style="bold yellow")
    text.append(f"({left} | {right})", style="dim")
    for diff in list(diffs)[:MAX_LINES]:
        text.append("\n  " + difference_line(diff, left, right))
    if len(diffs) > MAX_LINES:
        text.append(f"\n  … {len(diffs) - MAX_LINES} more: dbconsole schema --tables {row.name}", style="dim")
    return text


class SchemaDiffView:
    """Mixed into the inspector (``row``, ``profiles`` and the ``#schema-note`` Static are its)."""

    schema_diffs: Sequence[Any] | None
    schema_compared: bool

    def _show_schema(self) -> None:
        profiles = self.profiles  # type: ignore[attr-defined]
        names = [p.name if p is not None else side for side, p in profiles.items()]
        read_only = frozenset(p.name for p in profiles.values() if p is not None and p.read_only)
        note = self.query_one("#schema-note", Static)  # type: ignore[attr-defined]
        note.update(schema_note(self.row, self.schema_diffs, self.schema_compared, *names,  # type: ignore[attr-defined]
                                read_only=read_only))
        # "same" and "not compared yet" say nothing to act on: a short terminal keeps that line for rows
        one_sided = self.row.left is None or self.row.right is None  # type: ignore[attr-defined]
        note.set_class(not (one_sided or self.schema_diffs), "-quiet")

    def on_schema_compared(self, message: SchemaCompared) -> None:
        self.schema_compared = True
        self.schema_diffs = message.differing.get(self.row.name)  # type: ignore[attr-defined]
        self._show_schema()
