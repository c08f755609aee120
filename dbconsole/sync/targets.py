"""``sync --to A,B``: one source snapshot, written into several targets, each on its own.

Why a layer above the engine rather than inside it: each target must keep everything a
single-target run has (its own plan, locks, checkpoints, counts, retries, confirmation and
failure), so each target is an ordinary :func:`~.engine.run_sync` in a thread of its own. What
they share is the source's snapshot: one read-only session here exports it and stays open
until every target is done, and every attempt of every target imports it, so all targets get
exactly the same rows, however long the slowest one takes, and a retry reads the same rows too.

The bulk read is shared as well (:mod:`.fanout`): the targets' COPY reads of the same batch
meet, and one source COPY feeds every target writer; a target that is busy elsewhere (another
table, a resume point of its own) reads alone from its own session in the same snapshot, so
sharing saves work but never decides what is written.

A target that fails (its server stopped mid-run) stops only its own run: its committed batches
and checkpoints stay, so ``sync --to B`` later resumes it, while the other targets go on. The
strategies that diff (``diff``, ``mirror``) diff each target separately against the shared
snapshot: a diff is per target by nature. ``max_snapshot_age`` does not apply: renewing the
snapshot for one target would give the targets different rows.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Literal

import psycopg

from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.errors import SyncError, UsageError
from dbconsole.reading.sides import error_line
from dbconsole.sync import fanout
from dbconsole.sync.engine import SESSION_OPTIONS, SyncSummary, refuse_read_only_target, run_sync
from dbconsole.sync.events import SyncEvent
from dbconsole.sync.plan import SyncRequest

Outcome = Literal["done", "failed", "cancelled"]
TargetSink = Callable[[str, SyncEvent], None]  # (target profile name, event)


@dataclass(frozen=True)
class TargetResult:
    """How one target's run ended: its summary, or the one line that says why it failed."""

    target: str
    outcome: Outcome
    summary: SyncSummary | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"target": self.target, "outcome": self.outcome, "error": self.error}
        if self.summary is not None:
            data.update(asdict(self.summary.counts))
            data["tables"] = len(self.summary.tables)
            data["seconds"] = self.summary.seconds
        return data


@dataclass(frozen=True)
class TargetsOutcome:
    """Every target's result, and how the source was read: COPY reads that fed several
    targets at once (``shared``) and reads of one target alone (``alone``)."""

    results: list[TargetResult]
    reads_shared: int = 0
    reads_alone: int = 0

    @property
    def failed(self) -> list[str]:
        return [r.target for r in self.results if r.outcome == "failed"]


def split_targets(text: str) -> list[str]:
    """``A,B`` as profile names, each once, in the order given."""
    names = [name.strip() for name in text.split(",")]
    if any(not name for name in names):
        raise UsageError(f"--to {text!r}: an empty profile name in the list")
    if len(set(names)) != len(names):
        raise UsageError(f"--to {text!r}: a profile is named twice")
    return names


def check_targets(source: Profile, targets: Sequence[Profile]) -> None:
    """Refused before any connection: a read-only target, or the source among the targets."""
    for target in targets:
        refuse_read_only_target(target)
        if target.name == source.name:
            raise UsageError(f"{target.name} is the source and cannot also be a target")


def run_to_targets(requests: Sequence[SyncRequest], on_event: TargetSink,
                   cancel: threading.Event | None = None) -> TargetsOutcome:
    """Every request (one per target, one source) run at once in one source snapshot."""
    if not requests:
        raise UsageError("no target to sync into")
    source = requests[0].source
    if any(r.source.name != source.name for r in requests):
        raise SyncError("several targets must share one source")
    check_targets(source, [r.target for r in requests])
    cancel = cancel or threading.Event()
    if source.is_sqlite:  # a local file: each target reads it in a read transaction of its own
        return TargetsOutcome(_run_all(requests, on_event, cancel, snapshot=None, reads=None))
    with shared_snapshot(source) as snapshot, fanout.SharedReads(source, snapshot) as reads:
        results = _run_all(requests, on_event, cancel, snapshot=snapshot, reads=reads)
    return TargetsOutcome(results, reads_shared=reads.reads_shared, reads_alone=reads.reads_alone)


def _run_all(requests: Sequence[SyncRequest], on_event: TargetSink, cancel: threading.Event, *,
             snapshot: str | None, reads: fanout.SharedReads | None) -> list[TargetResult]:
    """Every target's run in a thread of its own; one failing is that target's result only."""

    def one(request: SyncRequest) -> TargetResult:
        name = request.target.name
        try:
            with reads.participant() if reads is not None else contextlib.nullcontext():
                summary = run_sync(request, on_event=lambda event: on_event(name, event), cancel=cancel,
                                   shared_snapshot=snapshot)
        except Exception as exc:  # noqa: BLE001 - one target's failure is its own result
            return TargetResult(name, "failed", error=error_line(exc))
        return TargetResult(name, "cancelled" if summary.cancelled else "done", summary=summary)

    with ThreadPoolExecutor(max_workers=len(requests), thread_name_prefix="dbconsole-target") as pool:
        return list(pool.map(one, requests))


@contextlib.contextmanager
def shared_snapshot(source: Profile) -> Iterator[str]:
    """A read-only REPEATABLE READ session on the source whose snapshot is exported and kept
    open until every target is done (an exported snapshot lives as long as its transaction)."""
    conn = connect(source, read_only=True, options=SESSION_OPTIONS, purpose="sync source")
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = str(cur.fetchone()[0])  # type: ignore[index]
        yield snapshot
    finally:
        with contextlib.suppress(Exception):
            conn.close()
