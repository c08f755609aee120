"""From the inspector, "copy this row and what it needs": a subset sync rooted at one row.

The highlighted preview row's key becomes the subset's filter (``public.users: id = 42``, the
same text ``sync --subset`` takes) and the wizard opens prefilled with it, over every table on
both sides that has a key (the walk goes down only into tables the sync writes, so all of them;
it goes up to every parent those rows need). The wizard then plans it, the dry run counts the
subset's rows per table, and nothing is written until the user confirms.
"""

from __future__ import annotations

from typing import Any

from dbconsole.names import TableName


def subset_text(table: TableName, where: str) -> str:
    return f"{table}: {where}"


def start_subset(inspector: Any) -> None:
    found = inspector.highlighted_where()
    if found is None:
        return
    _side, where = found
    app = inspector.app
    text = subset_text(inspector.row.name, where)
    inspector.dismiss(None)
    app.call_later(app.open_subset_wizard, inspector.row.name, text)


def subset_tables(rows: Any) -> list[TableName]:
    """Every table on both sides with a key: where the subset's rows may be written."""
    return sorted(r.name for r in rows if r.left is not None and r.right is not None
                  and (r.left.key is not None or r.right.key is not None))
