"""What a diff found: per table a status, counts by kind, and the keys of differing rows.

These are the values every consumer reads: the CLI prints them (:mod:`.render`), ``--json``
dumps :meth:`DiffReport.to_json` (SPEC's shape), the console shows a table's status, and a sync
driven by the diff reads :attr:`TableDiff.differing_ranges` to copy only those key ranges.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from dbconsole.diff.ranges import KeyRange
from dbconsole.errors import DbconsoleError

DiffStatus = Literal["same", "differ", "only_left", "only_right", "no_key", "error"]
RowKind = Literal["changed", "only_left", "only_right"]
Side = Literal["left", "right"]
DIFFERING: frozenset[str] = frozenset({"differ", "only_left", "only_right"})


@dataclass(frozen=True)
class RowDifference:
    """One differing row, by key (column name -> value as read from the server)."""

    key: dict[str, Any]
    kind: RowKind

    def to_json(self) -> dict[str, Any]:
        return {"key": {name: json_value(value) for name, value in self.key.items()}, "kind": self.kind}


@dataclass
class TableDiff:
    """One table's result. ``rows`` holds at most the requested limit; the counts are always exact."""

    table: str
    status: DiffStatus = "same"
    changed: int = 0
    only_left: int = 0
    only_right: int = 0
    rows_compared: int = 0
    seconds: float = 0.0
    key: tuple[str, ...] = ()
    rows: list[RowDifference] = field(default_factory=list)
    differing_ranges: list[KeyRange] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    steps: dict[str, int] = field(default_factory=dict)  # how ranges were settled: "bisect": 3, "stream": 12...
    rows_streamed: int = 0  # per-row (key, hash) pairs read, both sides: what the wire carried per row

    @property
    def differences(self) -> int:
        return self.changed + self.only_left + self.only_right

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "table": self.table, "status": self.status, "changed": self.changed, "only_left": self.only_left,
            "only_right": self.only_right, "rows_compared": self.rows_compared, "seconds": round(self.seconds, 3),
            "rows": [row.to_json() for row in self.rows],
        }
        if self.error:
            data["error"] = self.error
        if self.notes:
            data["notes"] = list(self.notes)
        return data


@dataclass
class DiffReport:
    left: str
    right: str
    tables: list[TableDiff] = field(default_factory=list)
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def same(self) -> bool:
        return all(t.status in ("same", "no_key") for t in self.tables) and not self.failed

    @property
    def differs(self) -> bool:
        return any(t.status in DIFFERING for t in self.tables)

    @property
    def failed(self) -> bool:
        return any(t.status == "error" for t in self.tables)

    def to_json(self) -> dict[str, Any]:
        return {"left": self.left, "right": self.right, "same": self.same,
                "tables": [t.to_json() for t in self.tables]}


def json_value(value: Any) -> Any:
    """A key value as JSON: numbers and strings as they are, everything else as PostgreSQL prints it."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return str(value)


class DiffError(DbconsoleError):
    """The diff as a whole could not run (a connection, a bad --where); one line, exit 1."""
