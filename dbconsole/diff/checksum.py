"""The SQL each server runs for a diff, built with ``psycopg.sql`` only.

Every statement reads one side of one table, restricted to a key range ``[lower, upper)``
and the user's ``--where``; range bounds travel as text literals cast to the key's compare
type on that server (no ``%s`` parameters, so a ``%`` in a ``--where`` stays what it is).

A row is fingerprinted from its text: the compared columns' texts joined by ``concat_ws`` with
chr 31, each in the form its type needs so that NULL, an empty string and a value holding the
separator all print apart (:data:`dbconsole.diff.columns.Rendering`), rendered once per row. Two 64-bit hashes of that text make the 128 bits per row: by default
``hashtextextended`` with two seeds (the hash PostgreSQL itself keeps stable for hash
partitioning; measured ~3x cheaper per row than ``md5``, whose per-call set-up dominates a
scan), or the two halves of ``md5`` when the two servers' ``hashtextextended`` disagree (a
different byte order) -- see :data:`HashKind`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from psycopg import sql

from dbconsole.diff.columns import SideColumn
from dbconsole.diff.ranges import Bound, KeyRange
from dbconsole.sync.plan import base_type
from dbconsole.sync.statements import user_filter


HashKind = Literal["hashtext", "md5"]
INTEGER_TYPES = frozenset({"smallint", "integer", "bigint"})
SECOND_SEED = 0x5DB_C0_501E  # any fixed seed other than 0; both sides must use the same
BUCKET_SEED = 0x2B_D1FF  # seeds the key hash that spreads a range's rows over fine buckets
PROBE_TEXT = "dbconsole diff: hash probe"
SEPARATOR = "\x1f"  # joins a row's column texts; see dbconsole.diff.columns.Rendering


def probe_hash() -> sql.Composable:
    """What both servers must answer alike for ``hashtext`` fingerprints to be comparable."""
    return sql.SQL("SELECT hashtextextended({}, {})::text").format(sql.Literal(PROBE_TEXT), sql.Literal(SECOND_SEED))


@dataclass(frozen=True)
class SideSql:
    """One side's view of a table: where it lives, how its key and rows render, its filter."""

    table: sql.Identifier
    key: tuple[str, ...]
    columns: Mapping[str, SideColumn]
    compared: tuple[str, ...]
    where: str | None = None
    hash_kind: HashKind = "hashtext"

    # -- pieces ---------------------------------------------------------------------------

    def _key_items(self) -> list[SideColumn]:
        return [self.columns[k] for k in self.key]

    def key_row(self) -> sql.Composable:
        return sql.SQL("({})").format(sql.SQL(", ").join(c.ordered for c in self._key_items()))

    def bound_row(self, bound: Bound) -> sql.Composable:
        items = [sql.SQL("{}::{}{}").format(sql.Literal(value), sql.SQL(c.type),
                                            sql.SQL(' COLLATE "C"') if c.collate_c else sql.SQL(""))
                 for c, value in zip(self._key_items(), bound)]
        return sql.SQL("({})").format(sql.SQL(", ").join(items))

    def digest(self) -> sql.Composable:
        """Per row, what the two hashes are taken from: the row's text, or its md5."""
        text = sql.SQL('(concat_ws({}, {}) COLLATE "C")').format(
            sql.Literal(SEPARATOR), sql.SQL(", ").join(row_text_parts([self.columns[c] for c in self.compared])))
        return sql.SQL("md5({})").format(text) if self.hash_kind == "md5" else text

    def hashes(self, digest: sql.Composable) -> tuple[sql.Composable, sql.Composable]:
        """The two 64-bit halves of the 128-bit fingerprint, from a column holding :meth:`digest`."""
        if self.hash_kind == "md5":
            return (sql.SQL("('x' || left({}, 16))::bit(64)::bigint").format(digest),
                    sql.SQL("('x' || right({}, 16))::bit(64)::bigint").format(digest))
        return (sql.SQL("hashtextextended({}, 0)").format(digest),
                sql.SQL("hashtextextended({}, {})").format(digest, sql.Literal(SECOND_SEED)))

    def conditions(self, key_range: KeyRange) -> sql.Composable:
        parts: list[sql.Composable] = []
        if self.where:
            parts.append(user_filter(self.where))
        if key_range.lower is not None:
            parts.append(sql.SQL("{} >= {}").format(self.key_row(), self.bound_row(key_range.lower)))
        if key_range.upper is not None:
            parts.append(sql.SQL("{} < {}").format(self.key_row(), self.bound_row(key_range.upper)))
        return sql.SQL(" AND ").join(parts) if parts else sql.SQL("true")

    def _bucket(self, cuts: Sequence[Bound]) -> sql.Composable:
        """Which of the ``len(cuts) + 1`` sub-ranges a row falls in (0 .. len(cuts))."""
        if not cuts:
            return sql.SQL("0")
        items = self._key_items()
        step = evenly_spaced(cuts) if len(items) == 1 and base_type(items[0].type) in INTEGER_TYPES else None
        if step is not None:
            # Arithmetic instead of a search: measured ~0.9 us a row for width_bucket over 100
            # cuts on a busy 2-core machine, as much as rendering and hashing the row.
            first, last = int(cuts[0][0]), int(cuts[-1][0])
            key = sql.SQL("({})::bigint").format(items[0].expression)
            return sql.SQL("CASE WHEN {k} < {first} THEN 0 WHEN {k} >= {last} THEN {n} "
                           "ELSE ({k} - {first}) / {step} + 1 END").format(
                k=key, first=sql.Literal(first), last=sql.Literal(last), n=sql.Literal(len(cuts)),
                step=sql.Literal(step))
        if len(items) == 1:  # one binary search per row, done by the server in C
            item = items[0]
            collate = sql.SQL(' COLLATE "C"') if item.collate_c else sql.SQL("")
            return sql.SQL("width_bucket({}, ({}::text[])::{}[]{})").format(
                item.ordered, sql.Literal([c[0] for c in cuts]), sql.SQL(item.type), collate)
        cases = [sql.SQL("WHEN {} < {} THEN {}").format(self.key_row(), self.bound_row(cut), sql.Literal(index))
                 for index, cut in enumerate(cuts)]
        return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(cases), sql.Literal(len(cuts)))

    # -- statements -----------------------------------------------------------------------

    def bucket_checksums(self, key_range: KeyRange, cuts: Sequence[Bound]) -> sql.Composable:
        """Per sub-range: (bucket, rows, sum of the first 64-bit hashes, sum of the second).

        ``OFFSET 0`` keeps the inner query a separate step, so each row is rendered (and hashed
        with md5) once and both hashes are taken from that. ``sum(bigint)`` is exact (numeric
        result), so the aggregate is order-independent and counts duplicates, unlike an XOR.
        """
        return self._checksums(key_range, self._bucket(cuts))

    def key_hash_checksums(self, key_range: KeyRange, buckets: int) -> sql.Composable:
        """Like :meth:`bucket_checksums`, over ``buckets`` fine buckets picked by a hash of the key."""
        return self._checksums(key_range, self.key_bucket(buckets))

    def key_bucket(self, buckets: int) -> sql.Composable:
        """A row's fine bucket (0 .. buckets - 1): a hash of its key, so both sides put a key in the
        same bucket (keys render alike: canonical types, the shared session settings, "C" bytes)
        and no cut points need to cross the network. Integer keys hash as ``bigint``, the rest as
        the key's text."""
        items = self._key_items()
        if len(items) == 1 and base_type(items[0].type) in INTEGER_TYPES:
            hashed = sql.SQL("hashint8extended(({})::bigint, {})").format(items[0].expression, sql.Literal(BUCKET_SEED))
        else:
            text = (sql.SQL("({})::text").format(items[0].expression) if len(items) == 1 else
                    sql.SQL("ROW({})::text").format(sql.SQL(", ").join(c.expression for c in items)))
            hashed = sql.SQL('hashtextextended(({}) COLLATE "C", {})').format(text, sql.Literal(BUCKET_SEED))
        return sql.SQL("abs({} % {})").format(hashed, sql.Literal(buckets))

    def _checksums(self, key_range: KeyRange, bucket: sql.Composable) -> sql.Composable:
        digest = sql.Identifier("_dbconsole_d")
        first, second = self.hashes(digest)
        return sql.SQL(
            "SELECT b, count(*), sum({first}), sum({second})"
            " FROM (SELECT {bucket} AS b, {digest} AS {d} FROM {table} WHERE {cond} OFFSET 0) s GROUP BY b").format(
            first=first, second=second, bucket=bucket, digest=self.digest(), d=digest, table=self.table,
            cond=self.conditions(key_range))

    def row_hashes(self, key_range: KeyRange, buckets: tuple[int, Sequence[int]] | None = None) -> sql.Composable:
        """(key columns..., 64-bit hash) for every row of the range, in no particular order;
        with ``buckets`` = (how many, which), only the rows of those :meth:`key_bucket` buckets."""
        cond = self.conditions(key_range)
        if buckets is not None:
            count, wanted = buckets
            cond = sql.SQL("{} AND {} = ANY({}::bigint[])").format(cond, self.key_bucket(count), sql.Literal(list(wanted)))
        return sql.SQL("SELECT {keys}, {hash} FROM {table} WHERE {cond}").format(
            keys=self._key_select(), hash=self.hashes(self.digest())[0], table=self.table, cond=cond)

    def keys_in(self, key_range: KeyRange, limit: int) -> sql.Composable:
        return sql.SQL("SELECT {keys} FROM {table} WHERE {cond} ORDER BY {order} LIMIT {limit}").format(
            keys=self._key_select(), table=self.table, cond=self.conditions(key_range), order=self._order(),
            limit=sql.Literal(limit))

    def sample_keys(self, percent: float) -> sql.Composable:
        """Keys of a page sample, sorted by the server in compare order (source side only)."""
        return sql.SQL("SELECT {keys} FROM {table} TABLESAMPLE SYSTEM ({pct}) WHERE {cond} ORDER BY {order}").format(
            keys=self._key_text(), table=self.table, pct=sql.Literal(round(percent, 6)),
            cond=self.conditions(KeyRange()), order=self._order())

    def key_extremes(self) -> sql.Composable:
        """The smallest and largest key (single-column keys): two index probes, as text."""
        key = self._key_items()[0].expression
        return sql.SQL("SELECT min({k})::text, max({k})::text FROM {table}").format(k=key, table=self.table)

    def cut_points(self, key_range: KeyRange, step: int) -> sql.Composable:
        """Every ``step``-th key of the range (after the first), walking the key in compare order."""
        inner_keys = sql.SQL(", ").join(
            sql.SQL("({})::text AS {}").format(c.expression, sql.Identifier(f"_dbconsole_k{i}"))
            for i, c in enumerate(self._key_items()))
        return sql.SQL(
            "SELECT {names} FROM (SELECT {inner}, row_number() OVER (ORDER BY {order}) AS _dbconsole_rn"
            " FROM {table} WHERE {cond}) s WHERE _dbconsole_rn > 1 AND (_dbconsole_rn - 1) % {step} = 0"
            " ORDER BY _dbconsole_rn").format(
            names=sql.SQL(", ").join(sql.Identifier(f"_dbconsole_k{i}") for i in range(len(self.key))),
            inner=inner_keys, order=self._order(), table=self.table, cond=self.conditions(key_range),
            step=sql.Literal(step))

    def validate_where(self) -> sql.Composable:
        assert self.where is not None
        return sql.SQL("SELECT 1 FROM {} WHERE {} LIMIT 0").format(self.table, user_filter(self.where))

    def _key_select(self) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{} AS {}").format(c.expression, sql.Identifier(f"_dbconsole_k{i}"))
                                  for i, c in enumerate(self._key_items()))

    def _key_text(self) -> sql.Composable:
        # Output names of their own: ORDER BY must sort by the key, not by its text.
        return sql.SQL(", ").join(sql.SQL("({})::text AS {}").format(c.expression, sql.Identifier(f"_dbconsole_k{i}"))
                                  for i, c in enumerate(self._key_items()))

    def _order(self) -> sql.Composable:
        return sql.SQL(", ").join(c.ordered for c in self._key_items())




def evenly_spaced(cuts: Sequence[Bound]) -> int | None:
    """The common step of integer cut points in arithmetic progression (None if they are not)."""
    try:
        values = [int(cut[0]) for cut in cuts]
    except ValueError:
        return None
    if len(values) < 2:
        return None
    step = values[1] - values[0]
    if step <= 0 or any(b - a != step for a, b in zip(values, values[1:])):
        return None
    return step


_TAIL_RANK = {"quoted": 2, "counted": 1, "plain": 0}


def row_text_parts(columns: Sequence[SideColumn]) -> list[sql.Composable]:
    """The pieces ``concat_ws`` joins into a row's text, in order.

    One column goes last, as its bare value: the rest of the text after the last separator is
    all of it, so it needs no length or quotes, and ``concat_ws`` skips a NULL there together
    with its separator, so NULL (no trailing separator) and '' (one) still differ. The column
    is the last of the costliest form (``quoted``, else ``counted``), picked from the forms
    alone, which both sides share; measured 0.63 s against 0.71 s a checksum pass on the sync
    bench's table with its text column moved there. Never with one column: with nothing before
    it, a skipped NULL and '' would both be "".
    """
    parts = [c.part() for c in columns]
    if len(columns) < 2:
        return parts
    ranks = [_TAIL_RANK[c.rendering] for c in columns]
    best = max(ranks)
    if best == 0:
        return parts
    tail = max(i for i, rank in enumerate(ranks) if rank == best)
    return [p for i, p in enumerate(parts) if i != tail] + [columns[tail].expression]
