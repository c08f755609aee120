"""Progress events: the one way a sync tells the world what it is doing.

The engine emits these; the CLI prints them (a live display, or JSON Lines with ``--json``) and
the TUI's sync wizard turns them into progress bars. They are plain frozen dataclasses with a
``to_json`` that matches SPEC's JSON Lines contract (``{"event": "table_done", ...}``), and
they never carry a secret: messages are redacted when the event is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

from dbconsole.modes import Mode, Strategy
from dbconsole.redact import redact
from dbconsole.sync.counts import HasCounts, RowCounts

NoticeKind = Literal["info", "warning", "retry", "waiting", "snapshot", "split"]  # snapshot: a fresh source snapshot; split: a table copied as key ranges (--jobs)
Remedy = Literal["add_parents", "add_children"]  # what would fix a predicted failure


@dataclass(frozen=True)
class SyncEvent:
    event: ClassVar[str] = "event"

    def to_json(self) -> dict[str, Any]:
        """SPEC's flat shape: a ``counts`` value is spelled out as its four fields, in place."""
        data: dict[str, Any] = {"event": self.event}
        for name, value in asdict(self).items():
            if name == "counts":
                data.update(value)
            else:
                data[name] = value
        return data


@dataclass(frozen=True)
class PlannedTable:
    """One line of the plan: what will happen to a table, and how."""

    table: str
    mode: Mode
    estimated_rows: int | None
    copy_format: str  # "binary" | "text"
    batch_size: int
    key: list[str] | None
    columns: list[str]
    resume_rows: int = 0  # rows already committed by an interrupted earlier run
    where: str | None = None
    masked: dict[str, str] = field(default_factory=dict)
    preserved: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    triggers_disabled: list[str] = field(default_factory=list)  # "schema.table.trigger" turned off during the apply
    partitions: list[str] = field(default_factory=list)  # the target's partitions of a partitioned table


@dataclass(frozen=True)
class PlanEvent(SyncEvent):
    event: ClassVar[str] = "plan"
    source: str
    target: str
    mode: str
    dry_run: bool
    tables: list[PlannedTable]
    warnings: list[str] = field(default_factory=list)
    matviews: list[str] = field(default_factory=list)  # target materialized views that read synced tables


@dataclass(frozen=True)
class TableStart(SyncEvent):
    event: ClassVar[str] = "table_start"
    table: str
    mode: Mode
    estimated_rows: int | None
    resume_rows: int = 0


@dataclass(frozen=True)
class Progress(SyncEvent):
    event: ClassVar[str] = "progress"
    table: str
    rows: int  # source rows processed so far in this table (resumed rows included)
    rows_per_s: float
    estimated_rows: int | None = None
    eta_s: float | None = None


@dataclass(frozen=True)
class TableDone(HasCounts, SyncEvent):
    event: ClassVar[str] = "table_done"
    table: str
    counts: RowCounts
    seconds: float
    dry_run: bool = False
    rows_read: int = 0  # source rows that crossed the network (a dry run: that the run would read)
    ranges_skipped: int = 0  # key ranges whose checksums matched, so none of their rows were read
    strategy: Strategy = "copy"  # how this table's rows were read: every row, or only what differs


@dataclass(frozen=True)
class Done(HasCounts, SyncEvent):
    event: ClassVar[str] = "done"
    counts: RowCounts
    seconds: float
    tables: int = 0
    dry_run: bool = False
    cancelled: bool = False


@dataclass(frozen=True)
class ErrorEvent(SyncEvent):
    event: ClassVar[str] = "error"
    table: str | None
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact(self.message))


@dataclass(frozen=True)
class Notice(SyncEvent):
    """Something worth telling that is not a failure: a retry, a wait for a lock, a skipped column."""

    event: ClassVar[str] = "notice"
    table: str | None
    message: str
    kind: NoticeKind = "info"
    fails: bool = False  # a dry run's prediction that the real run would fail here
    remedy: Remedy | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", redact(self.message))
