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
import fnmatch
import re
from collections.abc import Iterable, Sequence
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
    guess = suggest_table(text, tables)
    hint = f" (did you mean {guess}?)" if guess else ""
    raise UsageError(f"no table {text!r}{suffix}{hint}")


def suggest_table(text: str, available: Iterable[TableName]) -> TableName | None:
    """The table someone who typed ``text`` most likely meant, or None.

    Names are compared with names (``stock`` with ``stocks``, not with ``public.stocks``),
    within the schema typed (``public`` when none): the same name in another schema first,
    then the closest spelling.
    """
    tables = list(available)
    schema_part, name_part = parse_name(text)
    wanted = name_part[0].lower()
    same_name = [t for t in tables if t.name.lower() == wanted]
    if same_name:
        return same_name[0]
    schema = (schema_part[0] if schema_part else DEFAULT_SCHEMA).lower()
    pool = [t for t in tables if t.schema.lower() == schema] or tables
    by_name = {t.name.lower(): t for t in pool}
    close = difflib.get_close_matches(wanted, list(by_name), n=1, cutoff=0.6)
    return by_name[close[0]] if close else None


# --------------------------------------------------------------------------- selections


_GLOB_CHARS = set("*?[")


def is_pattern(text: str) -> bool:
    """``public.*`` or ``scan_*``: a glob (outside double quotes), not a name to resolve."""
    in_quotes = False
    for char in text:
        if char == '"':
            in_quotes = not in_quotes
        elif not in_quotes and char in _GLOB_CHARS:
            return True
    return False


def match_pattern(pattern: str, available: Iterable[TableName]) -> list[TableName]:
    """The tables a glob names, in catalog order. A bare pattern is in ``public``, as a bare
    name is; unquoted parts match case-insensitively (PostgreSQL folds unquoted names)."""
    schema_part, name_part = parse_name(pattern)
    schema_part = schema_part or (DEFAULT_SCHEMA, False)

    def matches(value: str, part: tuple[str, bool]) -> bool:
        text, quoted = part
        if quoted and not is_pattern(text):
            return value == text
        return fnmatch.fnmatchcase(value.lower(), text.lower()) if not quoted else fnmatch.fnmatchcase(value, text)

    return [t for t in available if matches(t.schema, schema_part) and matches(t.name, name_part)]


def select_tables(entries: Sequence[str], available: Iterable[TableName], *, exclude: Sequence[str] = (),
                  where: str = "") -> list[TableName]:
    """What ``--tables`` and ``--exclude`` select among ``available``, in the order named.

    No entries means every available table. Each entry is a name (resolved as
    :func:`resolve_name` does, with its suggestion) or a glob; a glob that matches nothing is
    an error of its own ("no table matches 'x*'"), never a "did you mean". ``--exclude`` takes
    the same forms, and a name or glob in it that matches nothing is refused too: a typo there
    would silently sync a table the user meant to leave out.
    """
    tables = list(available)
    chosen = list(dict.fromkeys(_expand(entries, tables, where, ""))) if entries else list(tables)
    removed = set(_expand(exclude, tables, where, "--exclude: "))
    return [t for t in chosen if t not in removed]


def _expand(entries: Sequence[str], tables: list[TableName], where: str, label: str) -> list[TableName]:
    suffix = f" on {where}" if where else ""
    found: list[TableName] = []
    for entry in entries:
        if is_pattern(entry):
            matched = match_pattern(entry, tables)
            if not matched:
                raise UsageError(f"{label}no table matches {entry!r}{suffix}")
            found += matched
        else:
            try:
                found.append(resolve_name(entry, tables, where=where))
            except UsageError as exc:
                raise UsageError(f"{label}{exc}") from None
    return found


# --------------------------------------------------------------------------- --where TABLE:EXPR


_IDENT = r'(?:"(?:[^"]|"")+"|[^\W\d][\w$]*)'
_TABLE_PREFIX = re.compile(rf"\s*({_IDENT}(?:\.{_IDENT})?)\s*:(?!:)(.*)\Z", re.DOTALL)


def split_where(text: str) -> tuple[str | None, str]:
    """``users:id < 5`` -> ``("users", "id < 5")``; a bare expression -> ``(None, text)``.

    Only a table name (optionally schema-qualified, optionally quoted) followed by a single
    colon counts as the prefix, so casts (``id::text``), times (``'10:00'``) and array slices
    (``a[1:2]``) in a bare expression are left alone.
    """
    match = _TABLE_PREFIX.match(text)
    if match is None:
        return None, text
    table, expression = match.group(1), match.group(2).strip()
    if not expression:
        raise UsageError(f"--where {text!r}: nothing after '{table}:' (use --where TABLE:EXPR)")
    return table, expression


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
