"""A subset computed on the source, inside the sync's own read-only snapshot.

Why an iterative fixed point and not one ``WITH RECURSIVE``: a recursive CTE over
(table, key) pairs of many tables needs one branch per FK and direction that all read the
working table, which PostgreSQL allows only once per recursive term; and its working set
cannot be keyset-paged. Here each step is one query per edge for a page of at most
:data:`~.subset.KEY_PAGE` keys (sent as ``text[]`` parameters, cast back to the key types on
the source; a step down also brings the found rows' other FK values, so the step up from them
reads only the parent table), so every statement stays small, nothing is written (temporary tables are refused in
a read-only transaction) and only the *selected* keys ever reach Python, never a table.

The result becomes one filter per planned table (``key IN (the selected keys)``, or ``false``),
which the ordinary filtered-read path of :mod:`.table_run` and :mod:`.preview` applies to the
same snapshot: the dry run counts exactly the rows a real run writes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.connect import describe_pg_error
from dbconsole.errors import SyncError, UsageError
from dbconsole.names import TableName, resolve_name
from dbconsole.sync.plan import SyncPlan, TablePlan
from dbconsole.sync.statements import relation, user_filter
from dbconsole.sync.subset import Direction, Edge, Key, SubsetRows, SubsetSpec, close_subset_parts, subset_edges

SUBSET_MODES = ("upsert", "mirror")  # a subset adds and updates rows; mirror also deletes its target-only rows


def mode_refusal(mode: str) -> str:
    """The one line that refuses a subset with ``mode`` (replace empties whole tables; incremental
    and xmin read rows by a watermark, not by the subset's keys)."""
    return f"--subset works with --mode upsert or mirror, not {mode}"


def apply_subsets(plan: SyncPlan, source: psycopg.Connection[Any], source_tables: Sequence[Table], *,
                  target: psycopg.Connection[Any] | None = None, target_tables: Sequence[Table] = ()) -> str:
    """Compute the request's subsets in the source's current snapshot, set each planned
    table's :class:`SubsetRows` and say what was selected, in one line.

    With mirror tables, the subset's rows on ``target`` that the source's subset lacks are
    found too (:mod:`.subset_target`, read-only) and kept as each table's ``deletes``.

    Raises (before any row is written) on a bad filter, a root filter that matches nothing (for
    a mirror: on neither side; matching only on the target, its rows there are deleted, as when
    the source deleted the root), or a subset that reaches a table the sync does not write.
    """
    started = time.monotonic()
    request = plan.request
    tables = {t.qualified: t for t in source_tables}
    refuse_modes(plan)
    relations = [r for spec in request.subsets for r in spec.relations]
    planned = {t.name for t in plan.tables}
    edges = subset_edges(tables, relations, within=planned)
    scope = _down_scope(plan, tables)
    limits = _limits(request.subsets, tables)
    for table, where in limits.items():
        validate_expression(source, tables[table], where, "limit")
    mirroring = any(t.mode == "mirror" for t in plan.tables)
    roots: dict[TableName, set[Key]] = {}
    unmatched: list[str] = []  # root filters matching nothing on the source
    for spec in request.subsets:
        root = resolve_name(spec.root, tables, where=request.source.name)
        validate_expression(source, tables[root], spec.where, "filter")
        require_key(tables[root])
        keys = set(root_keys(source, tables[root], spec.where))
        if not keys:
            unmatched.append(f"--subset {spec.label!r}: no row of {root} matches {spec.where!r} on "
                             f"{request.source.name}")
            if not mirroring:  # a mirror still deletes what the target holds of it (prod deleted the root)
                raise SyncError(f"{unmatched[-1]}; nothing to sync", table=str(root))
        roots.setdefault(root, set()).update(keys)

    down, up = close_subset_parts(roots, edges, scope, SourceSteps(source, tables, edges, limits).expand)
    selected = {t: down.get(t, set()) | up.get(t, set()) for t in {*down, *up}}
    for table, keys in selected.items():
        if keys and table not in planned:
            raise SyncError(f"the subset reaches {len(keys):,} rows of {table}, which this sync does not write: "
                            f"add it to --tables", table=str(table))
    deletes: dict[TableName, list[Key]] = {}
    if mirroring:
        if target is None:
            raise SyncError("--subset with --mode mirror needs the target's rows to find what to delete")
        from dbconsole.sync.subset_target import target_deletes  # it walks with this module's steps

        deletes = target_deletes(plan, target, target_tables, edges=edges, scope=scope, limits=limits,
                                 down=down, selected=selected)
        if unmatched and not any(selected.values()) and not deletes:
            raise SyncError(f"{unmatched[0]} or {request.target.name}; nothing to sync",
                            table=str(request.subsets[0].root))
    for table_plan in plan.tables:
        table_plan.subset = subset_rows(table_plan, selected.get(table_plan.name, set()), source,
                                        deletes=deletes.get(table_plan.name, ()))
    reached = [t for t in plan.tables if t.subset and t.subset.rows]
    labels = ", ".join(repr(spec.label) for spec in request.subsets)
    doomed = sum(len(keys) for keys in deletes.values())
    deleting = (f", {doomed:,} target-only rows of it on {request.target.name} to delete (mirror)"
                if mirroring else "")
    if unmatched:  # only a mirror gets here: say why the root's own rows go
        deleting += f" ({unmatched[0]}: the source deleted it, so its rows on {request.target.name} go too)"
    return (f"subset {labels}: {sum(t.subset.rows for t in reached if t.subset):,} rows in {len(reached)} of "
            f"{len(plan.tables)} tables{deleting}, chosen in {time.monotonic() - started:.2f} s")


def refuse_modes(plan: SyncPlan) -> None:
    """Upsert or mirror. A subset's mirror deletes only the target's rows that belong to the
    subset *on the target* and not on the source (:mod:`.subset_target`); ``replace`` would empty
    whole tables, and incremental / xmin choose rows by a watermark, not by the subset's keys."""
    for table in plan.tables:
        if table.mode not in SUBSET_MODES:
            raise UsageError(f"--subset works with --mode upsert or mirror, and {table.name} would be synced with "
                             f"{table.mode}: use --mode upsert")


def subset_rows(plan: TablePlan, keys: set[Key], conn: psycopg.Connection[Any],
                deletes: Sequence[Key] = ()) -> SubsetRows:
    """The table's key filter, rendered to SQL once: every batch statement of the table embeds it."""
    ordered = sorted(keys)
    digest = hashlib.sha256(repr(ordered).encode()).hexdigest()[:16]
    rendered = sql.SQL(key_filter(plan.source, ordered).as_string(conn))  # values quoted by psycopg
    return SubsetRows(filter=rendered, digest=digest, rows=len(ordered), deletes=tuple(sorted(deletes)))


def key_filter(table: Table, keys: Sequence[Key] | None, alias: str | None = None) -> sql.Composable:
    """``(k1, k2) IN (SELECT u.k1::t1, u.k2::t2 FROM unnest(ARRAY[..]::text[], ..) u)``, or ``false``.

    ``keys=None``: the arrays are placeholders, one per key column, for the caller's parameters.
    """
    if keys is not None and not keys:
        return sql.SQL("false")
    assert table.key is not None
    return sql.SQL("({}) IN ({})").format(_columns(table.key, alias), _key_select(table, keys))


def _key_select(table: Table, keys: Sequence[Key] | None) -> sql.Composable:
    """``SELECT u.k0::t0, ... FROM unnest(ARRAY::text[], ...) AS u(k0, ...)``: keys as typed rows."""
    assert table.key is not None
    names = [f"_dbconsole_k{i}" for i in range(len(table.key))]
    arrays = [sql.Placeholder() if keys is None else sql.Literal([k[i] for k in keys]) for i in range(len(names))]
    return sql.SQL("SELECT {casts} FROM unnest({arrays}) AS u({names})").format(
        casts=sql.SQL(", ").join(sql.SQL("u.{}::{}").format(sql.Identifier(n), sql.SQL(_type(table, c)))
                                 for n, c in zip(names, table.key)),
        arrays=sql.SQL(", ").join(sql.SQL("{}::text[]").format(a) for a in arrays),
        names=sql.SQL(", ").join(sql.Identifier(n) for n in names))


# --------------------------------------------------------------------------- the reads


def root_keys(source: psycopg.Connection[Any], table: Table, where: str) -> Iterable[Key]:
    statement = sql.SQL("SELECT {keys} FROM {t} WHERE {f}").format(
        keys=_key_text(table), t=relation(table), f=user_filter(where))
    with source.cursor() as cur:
        cur.execute(statement)
        return [tuple(row) for row in cur]


class SourceSteps:
    """The walk's steps as queries on the source, for one page of keys at a time.

    A step down also reads, for every row it finds, the values of that table's other FKs, so
    the step up from those rows reads only the parent (by those values), not the rows again.
    The values are dropped once used: memory stays a few values per selected row.
    """

    def __init__(self, source: psycopg.Connection[Any], tables: Mapping[TableName, Table], edges: Sequence[Edge],
                 limits: Mapping[TableName, str], *, follow_up: bool = True) -> None:
        self.source = source  # the session read (the target, for a subset mirror's walk there)
        self.tables = tables
        self.edges = edges
        self.limits = limits
        self.follow_up = follow_up  # False: a walk down only, so no FK values are kept for steps up
        self.known: dict[Edge, dict[Key, tuple[str | None, ...]]] = {}  # up edge -> child key -> FK values

    def expand(self, edge: Edge, direction: Direction, keys: Sequence[Key]) -> Iterable[Key]:
        for side in (edge.child, edge.parent):
            require_key(self.tables[side])
        if direction == "down":
            return self._down(edge, keys)
        known = self.known.get(edge, {})
        if keys and all(k in known for k in keys):
            values = {known.pop(k) for k in keys}
            return self._parents_by_values(edge, [v for v in values if None not in v])
        return self._up(edge, keys)

    def _down(self, edge: Edge, keys: Sequence[Key]) -> list[Key]:
        child, parent = self.tables[edge.child], self.tables[edge.parent]
        if edge.parent_columns == parent.key:  # the FK points at the key: match the keys themselves
            conditions = [_in_keys(parent, edge.columns)]
        else:
            inner = sql.SQL("SELECT {pcols} FROM {p} AS _dbconsole_from WHERE {known}").format(
                pcols=_columns(edge.parent_columns, "_dbconsole_from"), p=relation(parent),
                known=key_filter(parent, None, "_dbconsole_from"))
            conditions = [sql.SQL("({}) IN ({})").format(_columns(edge.columns), inner)]
        if edge.child in self.limits:
            conditions.append(user_filter(self.limits[edge.child]))
        ups = [e for e in self.edges if e.child == edge.child and e != edge] if self.follow_up else []
        extra = [sql.SQL("{}::text").format(sql.Identifier(c)) for e in ups for c in e.columns]
        statement = sql.SQL("SELECT {cols} FROM {c} WHERE {cond}").format(
            cols=sql.SQL(", ").join([_key_text(child), *extra]), c=relation(child),
            cond=sql.SQL(" AND ").join(conditions))
        assert child.key is not None
        width = len(child.key)
        found: list[Key] = []
        for row in _rows(self.source, statement, keys):
            key = tuple(row[:width])
            found.append(key)
            offset = width
            for up in ups:
                self.known.setdefault(up, {})[key] = tuple(row[offset:offset + len(up.columns)])
                offset += len(up.columns)
        return found

    def _up(self, edge: Edge, keys: Sequence[Key]) -> list[Key]:
        child, parent = self.tables[edge.child], self.tables[edge.parent]
        inner = sql.SQL("SELECT {cols} FROM {c} AS _dbconsole_from WHERE {known}").format(
            cols=_columns(edge.columns, "_dbconsole_from"), c=relation(child),
            known=key_filter(child, None, "_dbconsole_from"))
        statement = sql.SQL("SELECT {keys} FROM {p} WHERE ({pcols}) IN ({inner})").format(
            keys=_key_text(parent), p=relation(parent), pcols=_columns(edge.parent_columns), inner=inner)
        return [tuple(row) for row in _rows(self.source, statement, keys)]

    def _parents_by_values(self, edge: Edge, values: Sequence[tuple[str | None, ...]]) -> list[Key]:
        if not values:
            return []
        parent = self.tables[edge.parent]
        names = [f"_dbconsole_v{i}" for i in range(len(edge.parent_columns))]
        typed = sql.SQL("SELECT {casts} FROM unnest({arrays}) AS u({names})").format(
            casts=sql.SQL(", ").join(sql.SQL("u.{}::{}").format(sql.Identifier(n), sql.SQL(_type(parent, c)))
                                     for n, c in zip(names, edge.parent_columns)),
            arrays=sql.SQL(", ").join(sql.SQL("{}::text[]").format(sql.Placeholder()) for _ in names),
            names=sql.SQL(", ").join(sql.Identifier(n) for n in names))
        statement = sql.SQL("SELECT {keys} FROM {p} WHERE ({pcols}) IN ({typed})").format(
            keys=_key_text(parent), p=relation(parent), pcols=_columns(edge.parent_columns), typed=typed)
        return [tuple(row) for row in _rows(self.source, statement, values)]


def _rows(source: psycopg.Connection[Any], statement: sql.Composable, tuples: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Run ``statement`` with one ``text[]`` parameter per column of ``tuples``."""
    width = len(tuples[0]) if tuples else 0
    with source.cursor() as cur:
        cur.execute(statement, [[k[i] for k in tuples] for i in range(width)])
        return cur.fetchall()


def _in_keys(table: Table, columns: Sequence[str]) -> sql.Composable:
    """``(columns) IN (the page of table's keys)``, the keys passed as parameters."""
    return sql.SQL("({}) IN ({})").format(_columns(columns), _key_select(table, None))


def validate_expression(source: psycopg.Connection[Any], table: Table, where: str, what: str) -> None:
    """One valid expression over the table, proved before any row is read (as ``--where`` is)."""
    statement = sql.SQL("SELECT 1 FROM {} WHERE {} LIMIT 0").format(relation(table), user_filter(where))
    try:
        with source.cursor() as cur:
            cur.execute(statement, prepare=True)
    except psycopg.Error as exc:
        raise SyncError(f"{table.qualified}: bad subset {what} {where!r}: {describe_pg_error(exc)}; "
                        "nothing was written", table=str(table.qualified)) from None


def require_key(table: Table) -> None:
    if table.key is None:
        raise SyncError(f"{table.qualified} has no primary key or unique NOT NULL key, so a subset cannot "
                        "tell its rows apart", table=str(table.qualified))


def _down_scope(plan: SyncPlan, tables: Mapping[TableName, Table]) -> set[TableName]:
    """The tables the walk may go down into: those the user selected, minus the subsets' excludes."""
    request = plan.request
    chosen = set(plan.chosen)
    excluded = {resolve_name(text, tables, where=request.source.name)
                for spec in request.subsets for text in spec.exclude}
    return chosen - excluded


def _limits(specs: Sequence[SubsetSpec], tables: Mapping[TableName, Table]) -> dict[TableName, str]:
    limits: dict[TableName, str] = {}
    for spec in specs:
        for text, where in spec.limits.items():
            name = resolve_name(text, tables)
            limits[name] = f"({limits[name]}) AND ({where})" if name in limits else where
    return limits


def _key_text(table: Table) -> sql.Composable:
    assert table.key is not None
    return sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in table.key)


def _columns(columns: Sequence[str], alias: str | None = None) -> sql.Composable:
    if alias:
        return sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns)
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _type(table: Table, column: str) -> str:
    col = table.column(column)
    assert col is not None
    return col.type
