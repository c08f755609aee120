"""Which columns a table's diff compares, and in what form each side renders them.

Both servers hash a row's text, so a column must print identically on both ends whenever its
values are equal. Same type on both sides: the value as it is (the shared session settings
pin dates, floats, bytea and the time zone). Different types: both sides cast to one canonical
type first (integers to ``bigint``, ``real`` to ``double precision``, ``json`` to ``jsonb``,
character types to ``text``, numerics of different scale to ``trim_scale(numeric)``, so
``1.50`` and ``1.5000`` are the same value); any other pair is refused with one line, because
a guess would give a false "differ" or a false "same". Masks apply on the source side before
the cast, so a masked column compares as the masked value.

Keys are compared in a form both servers order the same way: text-like and user-defined
types (enums sort by their own label order per database) as ``text COLLATE "C"``.

Each column also gets a :data:`Rendering`, how its text joins the row's text so that two
different rows never print alike (see :meth:`SideColumn.part`). It is decided from the type both
sides render (the same after the canonical cast) and the mask, so both sides always agree on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from psycopg import sql

from dbconsole.catalog import Column, Table
from dbconsole.config import SyncSettings, TableRules
from dbconsole.errors import UsageError
from dbconsole.names import TableName, resolve_name
from dbconsole.sync.masks import mask_expression
from dbconsole.sync.plan import base_type

_INTEGERS = {"smallint", "integer", "bigint"}
_FLOATS = {"real", "double precision"}
_CHARACTERS = {"text", "character varying", "character", "name"}
_JSON = {"json", "jsonb"}
_COLLATABLE = _CHARACTERS | {"citext"}
# Built-in types whose text never holds the separator (chr 31) and is never empty: numbers,
# times, uuid, bytea (hex or escaped), network types, and json/jsonb (control characters are
# escaped in JSON strings; PostgreSQL refuses them raw). A NULL of these prints as "".
_PLAIN = _INTEGERS | _FLOATS | _JSON | {
    "numeric", "boolean", "date", "time without time zone", "time with time zone", "timestamp without time zone",
    "timestamp with time zone", "interval", "uuid", "bytea", "inet", "cidr", "macaddr", "macaddr8", "money", "oid"}
_COUNTED = {"text", "character varying"}  # octet_length() reads the header; the value is its own text

Rendering = Literal["plain", "counted", "quoted"]
"""How a column's text joins the row's text (joined with chr 31 by ``concat_ws``):

* ``plain``: the value's text as it is (a NULL as "", which no value of these types prints);
* ``counted``: ``<octets>:<text>`` (a NULL as ":"), so the text may hold anything;
* ``quoted``: ``quote_nullable`` of the value (NULL unquoted), for every other type and for masks.

One ``counted`` or ``quoted`` column goes last, bare (``dbconsole.diff.checksum.row_text_parts``).

Measured on the sync bench's 1M-row table (bigint, text, numeric, jsonb, timestamptz): 0.74 s per
checksum pass against 1.03 s for ``ROW(...)::text``, whose tuple forming and per-value quoting scan
cost more than the values' own output functions.
"""

class Refused(Exception):
    """This table cannot be compared as it is; the message is the one line to show."""


@dataclass(frozen=True)
class SideColumn:
    """How one side renders one compared column: the SQL expression and the type it has."""

    expression: sql.Composable
    type: str  # the expression's type, for casting range bounds on this side
    collate_c: bool = False
    rendering: Rendering = "quoted"
    never_null: bool = False  # NOT NULL on this side (and unmasked): a plain value needs no NULL guard

    def part(self) -> sql.Composable:
        """This column's piece of the row's text (see :data:`Rendering`); never NULL, because
        ``concat_ws`` would skip it and shift the columns after it."""
        value = self.expression
        if self.rendering == "plain":
            return value if self.never_null else sql.SQL("concat({})").format(value)
        if self.rendering == "counted":
            return sql.SQL("concat(octet_length({v}), ':', {v})").format(v=value)
        return sql.SQL("quote_nullable({})").format(value)

    @property
    def ordered(self) -> sql.Composable:
        """The expression as ranges compare it (text in the "C" collation on both ends)."""
        if self.collate_c:
            return sql.SQL('({} COLLATE "C")').format(self.expression)
        return self.expression


@dataclass(frozen=True)
class TablePair:
    """One table present on both sides, ready to diff."""

    name: TableName
    left: Table
    right: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]  # compared columns, left order, key included
    left_columns: Mapping[str, SideColumn] = field(default_factory=dict)
    right_columns: Mapping[str, SideColumn] = field(default_factory=dict)
    masks: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def side(self, which: str) -> Mapping[str, SideColumn]:
        return self.left_columns if which == "left" else self.right_columns

    def table(self, which: str) -> Table:
        return self.left if which == "left" else self.right


class NoKey(Exception):
    """No primary key or unique key of NOT NULL columns on a side: reported ``no_key``."""


def rules_for(name: TableName, settings: SyncSettings) -> TableRules:
    """The ``[sync.tables."..."]`` rules for ``name``, matched like a ``--tables`` entry."""
    for text, rules in settings.tables.items():
        try:
            if resolve_name(text, [name]) == name:
                return rules
        except UsageError:
            continue
    return TableRules()


def pair_table(left: Table, right: Table, *, left_name: str, right_name: str,
               masks: Mapping[str, str], masked_side: str) -> TablePair:
    """Decide the compared columns and their forms; raise :class:`NoKey` or :class:`Refused`."""
    name = left.qualified
    if left.key is None or right.key is None:
        raise NoKey(f"no primary key or unique key of NOT NULL columns on "
                    f"{left_name if left.key is None else right_name}")
    if tuple(left.key) != tuple(right.key):
        raise Refused(f"the key is ({', '.join(left.key)}) on {left_name} but ({', '.join(right.key)}) on "
                      f"{right_name}; rows cannot be matched")
    right_by_name = {c.name: c for c in right.columns}
    shared = [c.name for c in left.columns if c.name in right_by_name]
    notes = [f"column {c.name} exists only on {left_name}: not compared" for c in left.columns
             if c.name not in right_by_name]
    notes += [f"column {c.name} exists only on {right_name}: not compared" for c in right.columns
              if left.column(c.name) is None]
    for column in masks:
        if column in left.key:
            raise Refused(f"key column {column} is masked; a masked key cannot match rows")
    left_columns: dict[str, SideColumn] = {}
    right_columns: dict[str, SideColumn] = {}
    for column in shared:
        lcol, rcol = left.column(column), right_by_name[column]
        assert lcol is not None
        canonical = canonical_type(lcol, rcol)
        if canonical is None:
            raise Refused(f"column {column} is {lcol.type} on {left_name} but {rcol.type} on {right_name}; "
                          "they print differently, so the diff cannot compare them (make the types match)")
        is_key = column in left.key
        rule = masks.get(column)
        left_columns[column] = _side_column(lcol, canonical, is_key, rule if masked_side == "left" else None,
                                            masked=rule is not None)
        right_columns[column] = _side_column(rcol, canonical, is_key, rule if masked_side == "right" else None,
                                             masked=rule is not None)
    return TablePair(name=name, left=left, right=right, key=tuple(left.key), columns=tuple(shared),
                     left_columns=left_columns, right_columns=right_columns,
                     masks={c: r for c, r in masks.items() if c in shared}, notes=tuple(notes))


def canonical_type(left: Column, right: Column) -> str | None:
    """The type both sides cast to before rendering ("" when the types are the same), or None."""
    if left.type == right.type:
        return ""
    lbase, rbase = base_type(left.type), base_type(right.type)
    larray, rarray = lbase.endswith("[]"), rbase.endswith("[]")
    if larray != rarray:
        return None
    suffix = "[]" if larray else ""
    lbase, rbase = lbase.removesuffix("[]"), rbase.removesuffix("[]")
    pair = {lbase, rbase}
    if lbase == rbase == "numeric" and not larray:
        return "trim_scale"  # numeric(12,2) vs numeric(14,4): compared as values, scale aside
    if lbase == rbase and lbase in ("character varying", "character", "bit varying", "bit"):
        return "text" + suffix if lbase in _CHARACTERS else None
    if lbase == rbase and lbase in ("timestamp with time zone", "timestamp without time zone", "time without time zone",
                                    "time with time zone", "interval"):
        return lbase + suffix  # a different precision: values print in full on both sides
    if pair <= _INTEGERS:
        return "bigint" + suffix
    if pair <= _INTEGERS | {"numeric"} and not larray:
        return "trim_scale"
    if pair <= _FLOATS:
        return "double precision" + suffix
    if pair <= _CHARACTERS:
        return "text" + suffix
    if pair <= _JSON:
        return "jsonb" + suffix
    return None


def _side_column(column: Column, canonical: str, is_key: bool, mask_rule: str | None, *,
                 masked: bool = False) -> SideColumn:
    """``masked``: the column is masked on either side, so both render it ``quoted`` (a mask
    may print anything, and both sides must join the column's text the same way)."""
    value: sql.Composable = sql.Identifier(column.name)
    if mask_rule:
        value = mask_expression(column.name, column.type, mask_rule)
    type_name = column.type
    if canonical == "trim_scale":
        value, type_name = sql.SQL("trim_scale(({})::numeric)").format(value), "numeric"
    elif canonical:
        value, type_name = sql.SQL("({})::{}").format(value, sql.SQL(canonical)), canonical
    collate = False
    if is_key and (base_type(type_name) in _COLLATABLE or not column.builtin_type):
        if base_type(type_name) not in _COLLATABLE:
            value, type_name = sql.SQL("({})::text").format(value), "text"
        collate = True
    rendering = rendering_of(type_name, builtin=column.builtin_type or bool(canonical), masked=masked)
    return SideColumn(expression=value, type=type_name, collate_c=collate, rendering=rendering,
                      never_null=column.not_null and not masked)


def rendering_of(type_name: str, *, builtin: bool, masked: bool) -> Rendering:
    """The :data:`Rendering` of a column both sides render as ``type_name`` (after any cast)."""
    if masked or not builtin:
        return "quoted"
    base = base_type(type_name)
    return "plain" if base in _PLAIN else "counted" if base in _COUNTED else "quoted"
