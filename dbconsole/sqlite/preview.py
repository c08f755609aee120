"""The first rows of a table in a SQLite file, for the console's inspector.

The same shape as :func:`dbconsole.reading.preview_rows` gives for PostgreSQL (column names,
then rows of display cells, ordered by the key), so the inspector shows a SQLite side beside a
PostgreSQL one and lines their rows up. SQLite stores what it was given (Django: booleans as
0/1, datetimes as ISO text, UUIDs as 32 hex digits), so, given the PostgreSQL side's table
(``like``), each value is shown as the sync would write it there (:mod:`.convert`): a row the
sync would leave unchanged then reads the same on both sides. A value that does not convert is
shown as stored. Read-only (``mode=ro``).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from dbconsole.catalog import Table
from dbconsole.config import Profile
from dbconsole.sqlite.convert import Converter, Unconvertible, converter_for
from dbconsole.sqlite.source import first_rows, open_sqlite
from dbconsole.sync.column_types import base_type


def preview_sqlite_rows(profile: Profile, table: Table, limit: int, *,
                        like: Table | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = open_sqlite(profile)
    try:
        cur = conn.execute(first_rows(table.name, table.key or ()), (limit,))
        columns = [d[0] for d in cur.description or ()]
        raw = cur.fetchall()
    finally:
        conn.close()
    shown = [_shown_as(like, c) for c in columns]
    return columns, [tuple(show(v) for show, v in zip(shown, row)) for row in raw]


def _shown_as(like: Table | None, name: str) -> Any:
    """How one column's values are shown: converted to ``like``'s column type, else as stored."""
    from dbconsole.reading.query import display_value

    column = like.column(name) if like is not None else None
    if column is None:
        return display_value
    convert: Converter = converter_for(column.type)
    kind = base_type(column.type)
    scale = int(found.group(1)) if (found := re.fullmatch(r"numeric\(\d+,\s*(\d+)\)", column.type)) else None

    def show(value: Any) -> Any:
        if value is None:
            return display_value(None)
        try:
            converted = convert(value)
        except (Unconvertible, ValueError, TypeError):
            return display_value(value)
        if scale is not None and isinstance(converted, Decimal) and converted.is_finite():
            converted = converted.quantize(Decimal(1).scaleb(-scale))  # numeric(12,2) shows 2 places
        if kind in ("json", "jsonb") and isinstance(converted, str):
            document = json.loads(converted)
            return display_value(_jsonb_order(document) if kind == "jsonb" else document, json_value=True)
        return display_value(converted)

    return show


def _jsonb_order(value: Any) -> Any:
    """Objects' keys in jsonb's own order (shorter keys first, then by bytes), as PostgreSQL
    hands a jsonb value back, so the same document reads the same on both sides."""
    if isinstance(value, dict):
        return {k: _jsonb_order(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(value, list):
        return [_jsonb_order(v) for v in value]
    return value
