"""Table names as people type them and as PostgreSQL knows them.

Users write ``users``, ``public.users``, ``WatchList``, ``public."WatchList"`` or
``"my schema"."odd.name"``; PostgreSQL knows exact (schema, name) pairs. :func:`parse_name`
splits what was typed (honouring double quotes), and :func:`resolve_name` finds the table it
means among those that exist: an exact match first, then PostgreSQL's folding of unquoted
names to lower case, then a unique case-insensitive match, so a mixed-case table can be named
without shell-quoting gymnastics. SQL never sees these strings: identifiers go through
``psycopg.sql.Identifier``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import NamedTuple

from psycopg import sql

from dbconsole.errors import UsageError

DEFAULT_SCHEMA = "public"
_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


class TableName(NamedTuple):
    """An exact (schema, name) pair, as stored in the catalog."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{quote_if_needed(self.schema)}.{quote_if_needed(self.name)}"

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.schema, self.name)


def quote_if_needed(identifier: str) -> str:
    """``users`` stays as is; ``WatchList`` or ``odd name`` get double quotes, as psql shows them."""
    if _PLAIN.fullmatch(identifier):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def _split_parts(text: str) -> list[tuple[str, bool]]:
    """Split on dots outside double quotes; each part comes with whether it was quoted."""
    parts: list[tuple[str, bool]] = []
    current: list[str] = []
    quoted = in_quotes = False
    i = 0
    while i < len(text):
        char = text[i]
        if in_quotes:
            if char == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    current.append('"')
                    i += 1
                else:
                    in_quotes = False
            else:
                current.append(char)
        elif char == '"':
            in_quotes = quoted = True
        elif char == ".":
            parts.append(("".join(current), quoted))
            current, quoted = [], False
        else:
            current.append(char)
        i += 1
    if in_quotes:
        raise UsageError(f"unbalanced double quote in table name {text!r}")
    parts.append(("".join(current), quoted))
    return parts


def parse_name(text: str) -> tuple[tuple[str, bool] | None, tuple[str, bool]]:
    """``(schema part or None, name part)``; each part is (text, was_quoted)."""
    cleaned = text.strip()
    if not cleaned:
        raise UsageError("empty table name")
    parts = _split_parts(cleaned)
    if any(not part for part, _ in parts):
        raise UsageError(f"bad table name {text!r}")
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    # Unquoted dots beyond one: maybe a table whose name holds dots, quoted by nobody.
    raise UsageError(f"bad table name {text!r}: use schema.table, quoting names that hold dots")


def _candidates(part: tuple[str, bool]) -> list[str]:
    text, quoted = part
    return [text] if quoted else list(dict.fromkeys([text, text.lower()]))


def resolve_name(text: str, available: Iterable[TableName], *, where: str = "") -> TableName:
    """The existing table that ``text`` names, or a UsageError with a suggestion."""
    tables = list(available)
    schema_part, name_part = parse_name(text)
    schemas = _candidates(schema_part) if schema_part else [DEFAULT_SCHEMA]
    names = _candidates(name_part)
    exact = set(tables)
    for schema in schemas:
        for name in names:
            if TableName(schema, name) in exact:
                return TableName(schema, name)
    if not name_part[1] and (schema_part is None or not schema_part[1]):
        wanted_schema = schemas[0].lower()
        folded = [t for t in tables if t.schema.lower() == wanted_schema and t.name.lower() == name_part[0].lower()]
        if len(folded) == 1:
            return folded[0]
    suffix = f" on {where}" if where else ""
    same_name = [str(t) for t in tables if t.name.lower() == name_part[0].lower()]
    guesses = same_name or difflib.get_close_matches(text, [str(t) for t in tables], n=1, cutoff=0.6)
    hint = f" (did you mean {guesses[0]}?)" if guesses else ""
    raise UsageError(f"no table {text!r}{suffix}{hint}")


def split_list(text: str) -> list[str]:
    """Split ``--tables a,b,"c,d"`` on commas outside double quotes."""
    items, current, in_quotes = [], [], False
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
        if char == "," and not in_quotes:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]
