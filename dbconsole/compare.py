"""Line up two databases' tables side by side: the heart of ``dbconsole tables`` and the browser.

One :class:`TableComparison` per table present on either side, in a stable order, with the row
counts of both sides (estimates or exact) and what the difference means. The difference is
``right - left``: with left = local and right = server, a positive number is how many rows the
local copy lacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from dbconsole.catalog import CountResult, Table
from dbconsole.names import TableName

Status = Literal["equal", "left_only", "right_only", "more_left", "more_right", "unknown"]


@dataclass(frozen=True)
class PartitionComparison:
    """One partition of a partitioned table, side by side (estimates): shown beneath its table."""

    name: TableName
    left_rows: int | None
    right_rows: int | None
    on_left: bool
    on_right: bool

    def to_json(self) -> dict[str, object]:
        return {"table": str(self.name), "left_rows": self.left_rows, "right_rows": self.right_rows,
                "on_left": self.on_left, "on_right": self.on_right}


@dataclass(frozen=True)
class TableComparison:
    name: TableName
    left: Table | None
    right: Table | None
    left_rows: int | None
    right_rows: int | None
    exact: bool = False
    left_error: str | None = None
    right_error: str | None = None
    left_exact: bool = False   # this side's figure is a count(*), not the catalog's estimate
    right_exact: bool = False

    @property
    def left_estimated(self) -> bool:
        """This side shows the catalog's estimate (not a count(*), not an error, not absent)."""
        return self.left is not None and not self.left_exact and self.left_error is None

    @property
    def right_estimated(self) -> bool:
        return self.right is not None and not self.right_exact and self.right_error is None

    @property
    def difference_estimated(self) -> bool:
        """A difference is only as exact as its less exact side."""
        return not (self.left_exact and self.right_exact)

    @property
    def difference(self) -> int | None:
        if self.left is None or self.right is None or self.left_rows is None or self.right_rows is None:
            return None
        return self.right_rows - self.left_rows

    @property
    def status(self) -> Status:
        if self.left is None:
            return "right_only"
        if self.right is None:
            return "left_only"
        diff = self.difference
        if diff is None:
            return "unknown"
        if diff == 0:
            return "equal"
        return "more_right" if diff > 0 else "more_left"

    @property
    def has_key(self) -> bool:
        return any(t is not None and t.key is not None for t in (self.left, self.right))

    @property
    def size_bytes(self) -> int:
        return max(t.size_bytes for t in (self.left, self.right) if t is not None)

    @property
    def partitions(self) -> list[PartitionComparison]:
        """The partitions of either side, by name; a partition on one side only says so."""
        left = {p.qualified: p for p in (self.left.partitions if self.left else ())}
        right = {p.qualified: p for p in (self.right.partitions if self.right else ())}
        return [PartitionComparison(name, left[name].estimated_rows if name in left else None,
                                    right[name].estimated_rows if name in right else None,
                                    name in left, name in right)
                for name in sorted(set(left) | set(right))]

    def to_json(self) -> dict[str, object]:
        return {
            "table": str(self.name), "schema": self.name.schema, "name": self.name.name,
            "left_rows": self.left_rows, "right_rows": self.right_rows,
            "difference": self.difference, "status": self.status, "exact": self.exact,
            "left_size_bytes": self.left.size_bytes if self.left else None,
            "right_size_bytes": self.right.size_bytes if self.right else None,
            "has_key": self.has_key,
            "left_error": self.left_error, "right_error": self.right_error,
            "estimated": {"left": self.left_estimated, "right": self.right_estimated,
                          "difference": self.difference is not None and self.difference_estimated},
            "partitions": [p.to_json() for p in self.partitions],
        }


def compare_tables(
    left: Sequence[Table],
    right: Sequence[Table],
    *,
    left_counts: Mapping[TableName, CountResult] | None = None,
    right_counts: Mapping[TableName, CountResult] | None = None,
) -> list[TableComparison]:
    """Every table of either side, sorted by schema then name, with counts filled in."""
    left_by = {t.qualified: t for t in left}
    right_by = {t.qualified: t for t in right}
    names = sorted(set(left_by) | set(right_by))
    exact = left_counts is not None and right_counts is not None
    rows = []
    for name in names:
        lt, rt = left_by.get(name), right_by.get(name)
        l_rows, l_err, l_exact = _rows(lt, name, left_counts)
        r_rows, r_err, r_exact = _rows(rt, name, right_counts)
        rows.append(TableComparison(name, lt, rt, l_rows, r_rows, exact=exact, left_error=l_err, right_error=r_err,
                                    left_exact=l_exact, right_exact=r_exact))
    return rows


def _rows(table: Table | None, name: TableName,
          counts: Mapping[TableName, CountResult] | None) -> tuple[int | None, str | None, bool]:
    """(rows, error, exact): a counted table's count(*) or its error, else the catalog's estimate."""
    if table is None:
        return None, None, False
    if counts is not None and name in counts:
        result = counts[name]
        return result.rows, result.error, result.error is None
    return table.estimated_rows, None, False
