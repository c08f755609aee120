"""Progress events of a diff, shaped like the sync's (:mod:`dbconsole.sync.events`).

The engine emits them from whatever thread runs it; the console turns them into messages for
its content column ("checking… 40%"), the CLI ignores them or could print them as JSON Lines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class DiffEvent:
    event: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.event}
        data.update(asdict(self))
        return data


@dataclass(frozen=True)
class DiffTableStart(DiffEvent):
    event: ClassVar[str] = "diff_table_start"
    table: str
    estimated_rows: int | None


@dataclass(frozen=True)
class DiffProgress(DiffEvent):
    """How far one table's diff is: rows whose ranges are settled (same, or resolved to rows)."""

    event: ClassVar[str] = "diff_progress"
    table: str
    rows_settled: int
    rows_total: int
    differences: int

    @property
    def fraction(self) -> float:
        return 1.0 if self.rows_total <= 0 else min(1.0, self.rows_settled / self.rows_total)


@dataclass(frozen=True)
class DiffTableDone(DiffEvent):
    event: ClassVar[str] = "diff_table_done"
    table: str
    status: str
    changed: int
    only_left: int
    only_right: int
    rows_compared: int
    seconds: float
    error: str | None = None


@dataclass(frozen=True)
class DiffDone(DiffEvent):
    event: ClassVar[str] = "diff_done"
    tables: int
    differing_tables: int
    seconds: float
    cancelled: bool = False
