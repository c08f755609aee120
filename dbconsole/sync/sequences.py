"""Sequences a synced table uses, moved past what the sync wrote.

After rows arrive with their server ids, the target's next ``nextval`` must not hand out one of
them again. The catalog finds every sequence a column uses: owned (``serial``), identity, and
the ones its ``DEFAULT`` calls without ``OWNED BY`` (hand-written schemas, ports from MySQL,
many dumps), through ``pg_depend`` on the default. Each moves to the column's maximum on the
target, only forwards; a sequence shared by several tables is moved by each, so it ends past
the largest.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dbconsole.sync.column_types import base_type
from dbconsole.sync.plan import TablePlan

_INTEGER_TYPES = {"smallint", "integer", "bigint"}


def sequence_columns(plan: TablePlan) -> list[tuple[str, str]]:
    """(column, sequence) pairs to advance: synced integer columns that draw from a sequence."""
    pairs = []
    for column, sequence in sorted(plan.target.sequences.items()):
        col = plan.target.column(column)
        if column in plan.columns and col is not None and base_type(col.type) in _INTEGER_TYPES:
            pairs.append((column, sequence))
    return pairs


def advance_statement(plan: TablePlan, column: str) -> sql.Composable:
    """Move the column's sequence to the column's maximum, never backwards."""
    return sql.SQL(
        "SELECT setval(%(seq)s::regclass, m) FROM (SELECT max({c}) AS m FROM {t}) s "
        "WHERE m IS NOT NULL AND m > coalesce(pg_sequence_last_value(%(seq)s::regclass), 0)").format(
        c=sql.Identifier(column), t=plan.target.qualified.ident)


def advance_sequences(conn: psycopg.Connection[Any], plan: TablePlan) -> None:
    with conn.cursor() as cur:
        for column, sequence in sequence_columns(plan):
            cur.execute(advance_statement(plan, column), {"seq": sequence})
