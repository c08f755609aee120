"""The SQL a sync runs, built from a :class:`TablePlan` with ``psycopg.sql`` only.

Identifiers always go through ``sql.Identifier`` and values through ``sql.Literal``; the one
deliberate exception is the user's own ``--where`` text, which runs on the source inside a
read-only transaction after :func:`validate_where` proved it is a single expression. Type
names come from the server's own ``format_type()``.

Keyset batches: a batch is every source row whose key lies in ``(lower, upper]``, where
``upper`` is the key of the batch-size-th row after ``lower`` (or open when fewer rows remain).
Keys travel as text and are cast back to the source column types, so any key type works and
both bounds are compared by the source with its own collation.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from dbconsole.catalog import ForeignKey, Table
from dbconsole.sync.masks import mask_expression
from dbconsole.sync.column_types import base_type
from dbconsole.sync.plan import TablePlan

# Types without an equality operator: compared through their text form.
_NO_EQUALITY = {"json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle"}


def _ident_list(columns: Sequence[str], alias: str | None = None) -> sql.Composable:
    if alias:
        return sql.SQL(", ").join(sql.Identifier(alias, c) for c in columns)
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def relation(table: Table) -> sql.Composable:
    """A table as a statement reads or changes it: ``ONLY`` a plain table, so the rows of
    old-style inheritance children (synced as tables of their own) are not taken as its rows;
    a partitioned table as itself, since its rows live in its partitions."""
    if table.partitioned:
        return table.qualified.ident
    return sql.SQL("ONLY {}").format(table.qualified.ident)


def _source_type(plan: TablePlan, column: str) -> str:
    col = plan.source.column(column)
    assert col is not None
    return col.type


# --------------------------------------------------------------------------- source side


def select_list(plan: TablePlan) -> sql.Composable:
    """The source columns in target order, masked where a data rule says so."""
    items = []
    for column in plan.columns:
        rule = plan.masks.get(column)
        if rule:
            items.append(sql.SQL("{} AS {}").format(
                mask_expression(column, _source_type(plan, column), rule), sql.Identifier(column)))
        else:
            items.append(sql.Identifier(column))
    return sql.SQL(", ").join(items)


def key_tuple(plan: TablePlan, values: Sequence[str]) -> sql.Composable:
    """``(k1, k2) `` bound values as typed literals for a row comparison on the source."""
    assert plan.key is not None
    return sql.SQL("({})").format(sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(_source_type(plan, k))) for k, v in zip(plan.key, values)))


def key_columns(plan: TablePlan) -> sql.Composable:
    assert plan.key is not None
    return sql.SQL("({})").format(_ident_list(plan.key))


def source_conditions(plan: TablePlan, row_filter: sql.Composable | None, lower: Sequence[str] | None,
                      upper: Sequence[str] | None) -> sql.Composable:
    parts: list[sql.Composable] = []
    if row_filter is not None:
        parts.append(row_filter)
    if lower is not None:
        parts.append(sql.SQL("{} > {}").format(key_columns(plan), key_tuple(plan, lower)))
    if upper is not None:
        parts.append(sql.SQL("{} <= {}").format(key_columns(plan), key_tuple(plan, upper)))
    if not parts:
        return sql.SQL("true")
    return sql.SQL(" AND ").join(parts)


def user_filter(where: str) -> sql.Composable:
    """The user's ``--where`` text, parenthesised (validated by :func:`validate_where`).

    The closing parenthesis goes on a line of its own, so a ``--`` comment in the text cannot
    swallow it and the conditions that follow (the batch's key range).
    """
    return sql.SQL("({}\n)").format(sql.SQL(where))


def combine(*filters: sql.Composable | None) -> sql.Composable | None:
    present = [f for f in filters if f is not None]
    if not present:
        return None
    return sql.SQL(" AND ").join(present)


def upper_bound_query(plan: TablePlan, row_filter: sql.Composable | None, lower: Sequence[str] | None,
                      batch_size: int) -> sql.Composable:
    """The key of the ``batch_size``-th row after ``lower``: where this batch ends."""
    assert plan.key is not None
    # The text casts get their own names: ORDER BY must sort by the columns, not by their text.
    return sql.SQL("SELECT {keys} FROM {table} WHERE {cond} ORDER BY {order} OFFSET {offset} LIMIT 1").format(
        keys=sql.SQL(", ").join(sql.SQL("{}::text AS {}").format(sql.Identifier(k), sql.Identifier(f"_dbconsole_k{i}"))
                                for i, k in enumerate(plan.key)),
        table=relation(plan.source),
        cond=source_conditions(plan, row_filter, lower, None),
        order=_ident_list(plan.key),
        offset=sql.Literal(batch_size - 1),
    )


def source_select(plan: TablePlan, row_filter: sql.Composable | None, lower: Sequence[str] | None = None,
                  upper: Sequence[str] | None = None) -> sql.Composable:
    return sql.SQL("SELECT {cols} FROM {table} WHERE {cond}").format(
        cols=select_list(plan), table=relation(plan.source),
        cond=source_conditions(plan, row_filter, lower, upper))


def copy_out(select: sql.Composable, copy_format: str) -> sql.Composable:
    return sql.SQL("COPY ({}) TO STDOUT (FORMAT {})").format(select, sql.SQL(copy_format))


def count_source(plan: TablePlan, row_filter: sql.Composable | None) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {} WHERE {}").format(
        relation(plan.source), source_conditions(plan, row_filter, None, None))


def validate_where(plan: TablePlan, where: str) -> sql.Composable:
    """A statement that parses, plans and starts ``--where`` against the table without reading rows.

    Run it with ``prepare=True``: the extended protocol refuses more than one statement, so
    text like ``1=1); DELETE FROM t; --`` fails here instead of running. ``LIMIT 0`` (not
    ``EXPLAIN``) lets the executor start, which is where the source's read-only transaction
    refuses row locks (``... FOR UPDATE`` in a sub-select).
    """
    return sql.SQL("SELECT 1 FROM {} WHERE {} LIMIT 0").format(relation(plan.source), user_filter(where))


def incremental_filter(plan: TablePlan, watermark: str, overlap_seconds: float) -> sql.Composable:
    """``cursor >= watermark - overlap``: rows at the boundary or committed late are read again."""
    assert plan.cursor is not None
    cursor_type = _source_type(plan, plan.cursor)
    bound = sql.SQL("{}::{}").format(sql.Literal(watermark), sql.SQL(cursor_type))
    if base_type(cursor_type) in ("timestamp with time zone", "timestamp without time zone", "date"):
        bound = sql.SQL("({} - make_interval(secs => {}))").format(bound, sql.Literal(overlap_seconds))
    return sql.SQL("{} >= {}").format(sql.Identifier(plan.cursor), bound)


def max_cursor(plan: TablePlan, row_filter: sql.Composable | None) -> sql.Composable:
    assert plan.cursor is not None
    return sql.SQL("SELECT max({c})::text FROM {t} WHERE {cond}").format(
        c=sql.Identifier(plan.cursor), t=relation(plan.source),
        cond=source_conditions(plan, row_filter, None, None))


def stage_max_cursor(plan: TablePlan, stage: sql.Identifier, stored: str) -> sql.Composable:
    """The newest cursor among the staged delta, never older than the stored watermark."""
    assert plan.cursor is not None
    cursor_type = sql.SQL(plan.target.column(plan.cursor).type)  # type: ignore[union-attr]
    return sql.SQL("SELECT greatest(max({c}), {w}::{t})::text FROM {s}").format(
        c=sql.Identifier(plan.cursor), w=sql.Literal(stored), t=cursor_type, s=stage)


def xmin_filter(watermark: int, snapshot_xmax: int) -> sql.Composable:
    """Rows whose 64-bit creating transaction id is at or past ``watermark``.

    ``xmin`` is 32 bits; its epoch is the snapshot's when it is not above the snapshot's low
    32 bits, else the one before (valid while fewer than 2^31 transactions separate them,
    which the caller checks before trusting a watermark).
    """
    epoch = snapshot_xmax >> 32
    low = snapshot_xmax & 0xFFFFFFFF
    xid = sql.SQL("(xmin::text::bigint)")
    return sql.SQL("(CASE WHEN {x} <= {low} THEN {cur} + {x} ELSE {prev} + {x} END) >= {w}").format(
        x=xid, low=sql.Literal(low), cur=sql.Literal(epoch << 32), prev=sql.Literal((epoch - 1) << 32),
        w=sql.Literal(watermark))


# --------------------------------------------------------------------------- target side


def copy_in(plan: TablePlan, into: sql.Composable) -> sql.Composable:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT {})").format(into, _ident_list(plan.columns),
                                                                  sql.SQL(plan.copy_format))


def create_stage(plan: TablePlan, stage: sql.Identifier, *, on_commit: str = "DELETE ROWS") -> sql.Composable:
    """A temp table with exactly the target's column types, no constraints, emptied at commit."""
    return sql.SQL("CREATE TEMP TABLE {stage} ON COMMIT {on_commit} AS SELECT {cols} FROM {target} WITH NO DATA").format(
        stage=stage, on_commit=sql.SQL(on_commit), cols=_ident_list(plan.columns), target=relation(plan.target))


def _key_match(plan: TablePlan, left: str, right: str) -> sql.Composable:
    assert plan.key is not None
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(left, k), sql.Identifier(right, k)) for k in plan.key)


def _differs(plan: TablePlan, columns: Sequence[str]) -> sql.Composable:
    parts = []
    for column in columns:
        col = plan.target.column(column)
        assert col is not None
        left, right = sql.Identifier("t", column), sql.Identifier("s", column)
        if base_type(col.type).removesuffix("[]") in _NO_EQUALITY:
            parts.append(sql.SQL("{}::text IS DISTINCT FROM {}::text").format(left, right))
        else:
            parts.append(sql.SQL("{} IS DISTINCT FROM {}").format(left, right))
    return sql.SQL("({})").format(sql.SQL(" OR ").join(parts))


def insert_new(plan: TablePlan, stage: sql.Identifier) -> sql.Composable:
    """Rows of the stage whose key the target lacks. Run before :func:`update_changed`, so a
    changed row may point (self-reference) at a row that is new in this batch."""
    overriding = sql.SQL(" OVERRIDING SYSTEM VALUE") if plan.overriding_system_value else sql.SQL("")
    return sql.SQL(
        "INSERT INTO {into} ({cols}){overriding} SELECT {scols} FROM {stage} s "
        "WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {match})").format(
        into=plan.target.qualified.ident, target=relation(plan.target), cols=_ident_list(plan.columns), overriding=overriding,
        scols=_ident_list(plan.columns, "s"), stage=stage, match=_key_match(plan, "t", "s"))


def update_changed(plan: TablePlan, stage: sql.Identifier) -> sql.Composable | None:
    """Only rows that really differ are rewritten (``IS DISTINCT FROM``); preserved columns stay."""
    columns = plan.updatable
    if not columns:
        return None
    return sql.SQL("UPDATE {target} t SET {sets} FROM {stage} s WHERE {match} AND {differs}").format(
        target=relation(plan.target),
        sets=sql.SQL(", ").join(sql.SQL("{} = {}").format(sql.Identifier(c), sql.Identifier("s", c)) for c in columns),
        stage=stage, match=_key_match(plan, "t", "s"), differs=_differs(plan, columns))


def delete_missing(plan: TablePlan, stage: sql.Identifier) -> sql.Composable:
    return sql.SQL("DELETE FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM {stage} s WHERE {match})").format(
        target=relation(plan.target), stage=stage, match=_key_match(plan, "t", "s"))


def preview_counts(plan: TablePlan, stage: sql.Identifier) -> sql.Composable:
    """(would insert, would update) for the staged rows, without touching the target."""
    columns = plan.updatable
    differs = _differs(plan, columns) if columns else sql.SQL("false")
    first_key = sql.Identifier("t", plan.key[0]) if plan.key else sql.SQL("NULL")
    return sql.SQL(
        "SELECT count(*) FILTER (WHERE {k} IS NULL), count(*) FILTER (WHERE {k} IS NOT NULL AND {differs}) "
        "FROM {stage} s LEFT JOIN {target} t ON {match}").format(
        k=first_key, differs=differs, stage=stage, target=relation(plan.target),
        match=_key_match(plan, "t", "s"))


def preview_deletes(plan: TablePlan, stage: sql.Identifier) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {target} t WHERE NOT EXISTS (SELECT 1 FROM {stage} s WHERE {match})").format(
        target=relation(plan.target), stage=stage, match=_key_match(plan, "t", "s"))


def orphan_count(fk: ForeignKey, stage: sql.Identifier) -> sql.Composable:
    """Staged rows whose foreign key points at a parent row the target lacks (MATCH SIMPLE:
    a row with any NULL in the key is not checked, as PostgreSQL does)."""
    return sql.SQL("SELECT count(*) FROM {stage} s WHERE {not_null} AND NOT EXISTS "
                   "(SELECT 1 FROM {parent} p WHERE {match})").format(
        stage=stage,
        not_null=sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier("s", c)) for c in fk.columns),
        parent=fk.parent.ident,
        match=sql.SQL(" AND ").join(sql.SQL("{} = {}").format(sql.Identifier("p", pc), sql.Identifier("s", c))
                                    for c, pc in zip(fk.columns, fk.parent_columns)))


def target_is_empty(plan: TablePlan) -> sql.Composable:
    return sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(relation(plan.target))


def target_beyond(plan: TablePlan, last_key: Sequence[str]) -> sql.Composable:
    """Does the target hold rows past ``last_key``? (Decides whether a fast path may go on.)"""
    assert plan.key is not None
    values = sql.SQL(", ").join(
        sql.SQL("{}::{}").format(sql.Literal(v), sql.SQL(plan.target.column(k).type))  # type: ignore[union-attr]
        for k, v in zip(plan.key, last_key))
    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {t} WHERE {k} > ({v}))").format(
        t=relation(plan.target), k=key_columns(plan), v=values)


def delete_all(plan: TablePlan) -> sql.Composable:
    return sql.SQL("DELETE FROM {}").format(relation(plan.target))


def count_target(plan: TablePlan) -> sql.Composable:
    return sql.SQL("SELECT count(*) FROM {}").format(relation(plan.target))
