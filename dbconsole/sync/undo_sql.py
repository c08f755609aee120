"""The SQL of undo: keeping pre-images while a run writes, and putting them back.

A run's undo store for one table is a plain table ``_dbconsole.undo_<run>_<position>`` with the
target's own column types (``CREATE TABLE ... AS ... WITH NO DATA``: no constraints, no index,
so keeping rows costs one heap insert each) plus one column saying what the row is:

- ``i``: a key the run inserted (only the key columns are filled);
- ``u``: the row as it was before the run updated it;
- ``d``: the row as it was before the run deleted it (mirror);
- ``o``: a row of the whole old table (replace keeps the table as it was, in one call).

Every statement here runs on the target, server side (``INSERT ... SELECT``): no row is read
into Python. An upsert's batch is looked up once (:class:`Delta`): the same "really differs"
test the plain apply makes finds the rows it changes and the keys it adds, the apply writes
from that, and only those rows are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.sync.column_types import base_type

UndoOp = Literal["i", "u", "d", "o"]
OP_COLUMN = "dbconsole_undo_op"
_OP = sql.Identifier(OP_COLUMN)
# Types without an equality operator: compared through their text form (as the upsert does).
_NO_EQUALITY = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}


def _idents(columns: Sequence[str], alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, c) if alias else sql.Identifier(c) for c in columns)


def _relation(table: Table) -> sql.Composable:
    """``ONLY`` a plain table (old-style inheritance children are tables of their own)."""
    return table.qualified.ident if table.partitioned else sql.SQL("ONLY {}").format(table.qualified.ident)


def _match(key: Sequence[str], left: str, right: str) -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier(left, k), sql.Identifier(right, k))
                                 for k in key)


def differs(table: Table, columns: Sequence[str], left: str, right: str) -> sql.Composable:
    """Any of ``columns`` differs between the two aliases (``IS DISTINCT FROM``, text for json & co)."""
    if not columns:
        return sql.SQL("false")
    parts = []
    for column in columns:
        col = table.column(column)
        text = col is not None and base_type(col.type).removesuffix("[]") in _NO_EQUALITY
        a, b = sql.Identifier(left, column), sql.Identifier(right, column)
        template = "{}::text IS DISTINCT FROM {}::text" if text else "{} IS DISTINCT FROM {}"
        parts.append(sql.SQL(template).format(a, b))
    return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))


def kept_columns(table: Table) -> list[str]:
    """Every column a row can be put back with: all but the generated ones."""
    return [c.name for c in table.columns if not c.generated]


# --------------------------------------------------------------------------- while the run writes


def create_store(store: sql.Identifier, table: Table, columns: Sequence[str]) -> sql.Composable:
    return sql.SQL("CREATE TABLE {store} AS SELECT NULL::\"char\" AS {op}, {cols} FROM {t} WITH NO DATA").format(
        store=store, op=_OP, cols=_idents(columns), t=_relation(table))


@dataclass(frozen=True)
class Delta:
    """A batch's changes, found once: per staged row that the upsert inserts or updates, its
    key, the target row as it is (``o_``) and the staged values (``n_``), under positional names
    so no user column name can collide. Held in a temp table emptied at commit."""

    table: sql.Identifier
    key: tuple[str, ...]
    old: tuple[str, ...]  # kept columns but the key: the pre-image
    new: tuple[str, ...]  # written columns but the key: what the upsert writes

    def _k(self) -> list[sql.Identifier]:
        return [sql.Identifier(f"k_{i}") for i in range(len(self.key))]

    def _o(self) -> list[sql.Identifier]:
        return [sql.Identifier(f"o_{i}") for i in range(len(self.old))]

    def _n(self, column: str) -> sql.Identifier:
        return sql.Identifier(f"n_{self.new.index(column)}")

    def create(self, target: Table) -> sql.Composable:
        items = ([sql.SQL("NULL::\"char\" AS {}").format(_OP)]
                 + [sql.SQL("s.{} AS {}").format(sql.Identifier(c), a) for c, a in zip(self.key, self._k())]
                 + [sql.SQL("t.{} AS {}").format(sql.Identifier(c), a) for c, a in zip(self.old, self._o())]
                 + [sql.SQL("s.{} AS {}").format(sql.Identifier(c), self._n(c)) for c in self.new])
        return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {d} ON COMMIT DELETE ROWS AS SELECT {items} "
                       "FROM {t} t, {t} s WITH NO DATA").format(d=self.table, items=sql.SQL(", ").join(items),
                                                                t=_relation(target))

    def find(self, target: Table, updatable: Sequence[str], stage: sql.Identifier) -> sql.Composable:
        """One probe of the target per staged row: new keys (``i``), rows that really differ (``u``)."""
        present = sql.Identifier("t", self.key[0])
        values = ([sql.Identifier("s", c) for c in self.key] + [sql.Identifier("t", c) for c in self.old]
                  + [sql.Identifier("s", c) for c in self.new])
        return sql.SQL("INSERT INTO {d} SELECT CASE WHEN {p} IS NULL THEN 'i' ELSE 'u' END, {values} "
                       "FROM {stage} s LEFT JOIN {t} t ON {match} WHERE {p} IS NULL OR {differs}").format(
            d=self.table, p=present, values=sql.SQL(", ").join(values), stage=stage, t=_relation(target),
            match=_match(self.key, "t", "s"), differs=differs(target, updatable, "t", "s"))

    def insert(self, target: Table, columns: Sequence[str], overriding: bool) -> sql.Composable:
        values = [self._k()[self.key.index(c)] if c in self.key else self._n(c) for c in columns]
        return sql.SQL("INSERT INTO {t} ({cols}){ovr} SELECT {values} FROM {d} WHERE {op} = 'i'").format(
            t=target.qualified.ident, cols=_idents(columns),
            ovr=sql.SQL(" OVERRIDING SYSTEM VALUE") if overriding else sql.SQL(""),
            values=sql.SQL(", ").join(values), d=self.table, op=_OP)

    def update(self, target: Table, updatable: Sequence[str]) -> sql.Composable | None:
        if not updatable:
            return None
        match = sql.SQL(" AND ").join(sql.SQL("t.{} = d.{}").format(sql.Identifier(c), a)
                                      for c, a in zip(self.key, self._k()))
        return sql.SQL("UPDATE {t} t SET {sets} FROM {d} d WHERE d.{op} = 'u' AND {match}").format(
            t=_relation(target), sets=sql.SQL(", ").join(sql.SQL("{} = d.{}").format(sql.Identifier(c), self._n(c))
                                                         for c in updatable),
            d=self.table, op=_OP, match=match)

    def keep(self, store: sql.Identifier) -> sql.Composable:
        """The batch's inserted keys and pre-images into the run's store."""
        return sql.SQL("INSERT INTO {store} ({op}, {cols}) SELECT {op}, {values} FROM {d}").format(
            store=store, op=_OP, cols=_idents([*self.key, *self.old]),
            values=sql.SQL(", ").join([*self._k(), *self._o()]), d=self.table)


def keep_inserted_range(store: sql.Identifier, table: Table, key: Sequence[str], lower: Sequence[str] | None,
                        upper: Sequence[str] | None) -> sql.Composable:
    """After a batch was copied straight into an empty target table: the keys it put there,
    read back from the target's key index by the batch's own key range."""
    row = sql.SQL("({})").format(_idents(key))
    parts: list[sql.Composable] = []
    for bound, op in ((lower, ">"), (upper, "<=")):
        if bound is not None:
            values = sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(table.column(k).type))  # type: ignore[union-attr]
                                        for k, v in zip(key, bound))
            parts.append(sql.SQL("{} {} ({})").format(row, sql.SQL(op), values))
    where = sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")
    return sql.SQL("INSERT INTO {store} ({op}, {cols}) SELECT 'i', {cols} FROM {t} WHERE {where}").format(
        store=store, op=_OP, cols=_idents(key), t=_relation(table), where=where)


def copy_keys(store: sql.Identifier, key: Sequence[str]) -> sql.Composable:
    """COPY of inserted keys (``i`` rows) into a store, for keys the writer holds in memory."""
    return sql.SQL("COPY {store} ({op}, {cols}) FROM STDIN").format(store=store, op=_OP, cols=_idents(key))


def keep_rows(store: sql.Identifier, table: Table, columns: Sequence[str], op: UndoOp,
              condition: sql.Composable | None = None) -> sql.Composable:
    """The target's rows (those matching ``condition``) as they are now: before a delete, or
    the whole table before a replace."""
    return sql.SQL("INSERT INTO {store} ({op}, {cols}) SELECT {kind}, {cols} FROM {t} WHERE {cond}").format(
        store=store, op=_OP, cols=_idents(columns), kind=sql.Literal(op), t=_relation(table),
        cond=condition if condition is not None else sql.SQL("true"))


# --------------------------------------------------------------------------- undo


def overlap(store: sql.Identifier, later: sql.Identifier, key: Sequence[str]) -> sql.Composable:
    """Does a later run's store name any key this run's store names?"""
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {a} a JOIN {b} b ON {match})").format(
        a=store, b=later, match=_match(key, "a", "b"))


def restore_updates(store: sql.Identifier, table: Table, key: Sequence[str], settable: Sequence[str],
                    ops: Sequence[UndoOp]) -> sql.Composable | None:
    """Rows still present get their pre-image values back (only where they differ)."""
    if not settable:
        return None
    return sql.SQL("UPDATE {t} t SET {sets} FROM {store} u WHERE u.{op} = ANY({ops}::\"char\"[]) AND {match} "
                   "AND {differs}").format(
        t=_relation(table), sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Identifier("u", c))
                                                   for c in settable),
        store=store, op=_OP, ops=sql.Literal(list(ops)), match=_match(key, "t", "u"),
        differs=differs(table, settable, "t", "u"))


def restore_missing(store: sql.Identifier, table: Table, columns: Sequence[str], key: Sequence[str] | None,
                    ops: Sequence[UndoOp], overriding: bool) -> sql.Composable:
    """Pre-images whose row is gone are inserted again (all of them, for a keyless table)."""
    absent = (sql.SQL(" AND NOT EXISTS (SELECT 1 FROM {t} t WHERE {match})").format(
        t=_relation(table), match=_match(key, "t", "u")) if key else sql.SQL(""))
    return sql.SQL("INSERT INTO {t} ({cols}){ovr} SELECT {ucols} FROM {store} u WHERE u.{op} = ANY({ops}::\"char\"[])"
                   "{absent}").format(
        t=table.qualified.ident, cols=_idents(columns),
        ovr=sql.SQL(" OVERRIDING SYSTEM VALUE") if overriding else sql.SQL(""), ucols=_idents(columns, "u"),
        store=store, op=_OP, ops=sql.Literal(list(ops)), absent=absent)


def delete_inserted(store: sql.Identifier, table: Table, key: Sequence[str]) -> sql.Composable:
    return sql.SQL("DELETE FROM {t} t USING {store} u WHERE u.{op} = 'i' AND {match}").format(
        t=_relation(table), store=store, op=_OP, match=_match(key, "t", "u"))


def delete_not_kept(store: sql.Identifier, table: Table, key: Sequence[str] | None) -> sql.Composable:
    """After a replace: rows the old table did not hold (every row, for a keyless table)."""
    if not key:
        return sql.SQL("DELETE FROM {t}").format(t=_relation(table))
    return sql.SQL("DELETE FROM {t} t WHERE NOT EXISTS (SELECT 1 FROM {store} u WHERE u.{op} = 'o' AND {match})").format(
        t=_relation(table), store=store, op=_OP, match=_match(key, "t", "u"))


def referenced_inserts(store: sql.Identifier, child: Table, columns: Sequence[str],
                       parent_columns: Sequence[str]) -> sql.Composable:
    """Do rows of ``child`` still point at a row the run inserted (and undo is about to delete)?"""
    match = sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier("c", c), sql.Identifier("u", p))
                                  for c, p in zip(columns, parent_columns))
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {child} c JOIN {store} u ON {match} WHERE u.{op} = 'i')").format(
        child=_relation(child), store=store, match=match, op=_OP)
