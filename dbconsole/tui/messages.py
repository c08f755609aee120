"""Every message the console's threads and widgets exchange, in one place.

Why one module: workers never touch widgets; they post one of these and the handler that owns
the state decides what changes on screen. Keeping them together makes the message flow easy to
read and easy to assert in tests (``run_test(message_hook=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.message import Message

from dbconsole.catalog import CountResult, Table
from dbconsole.names import TableName

# --------------------------------------------------------------------------- profiles


class ProfileStatusChanged(Message):
    """A profile's connection state changed: unknown / connecting / connected / error."""

    def __init__(self, name: str, state: str, *, version: str | None = None, error: str | None = None,
                 read_only: bool | None = None, file: Any = None) -> None:
        super().__init__()
        self.name = name
        self.state = state
        self.version = version
        self.error = error
        self.read_only = read_only
        self.file = file  # a SQLite profile's SqliteFileInfo, once the file was read


class PairChosen(Message):
    """The user picked a profile for one side of the comparison."""

    def __init__(self, side: str, name: str) -> None:
        super().__init__()
        self.side = side
        self.name = name


class ProfileTested(Message):
    """The profile form's connection test finished (``error`` is one readable line)."""

    def __init__(self, summary: str | None, error: str | None) -> None:
        super().__init__()
        self.summary = summary
        self.error = error


# --------------------------------------------------------------------------- compare browser


class CatalogLoaded(Message):
    """One side's tables (with estimates) arrived; ``generation`` identifies the refresh."""

    def __init__(self, generation: int, side: str, profile: str, tables: Sequence[Table]) -> None:
        super().__init__()
        self.generation = generation
        self.side = side
        self.profile = profile
        self.tables = list(tables)


class SideFailed(Message):
    """One side could not be read at all (connection, tunnel, permissions)."""

    def __init__(self, generation: int, side: str, profile: str, error: str) -> None:
        super().__init__()
        self.generation = generation
        self.side = side
        self.profile = profile
        self.error = error


class CountsArrived(Message):
    """Exact counts for a few tables of one side, streamed as they finish."""

    def __init__(self, generation: int, side: str, results: Sequence[CountResult]) -> None:
        super().__init__()
        self.generation = generation
        self.side = side
        self.results = list(results)


class CountsFinished(Message):
    """Every exact count of one side is in (or the refresh was cancelled)."""

    def __init__(self, generation: int, side: str) -> None:
        super().__init__()
        self.generation = generation
        self.side = side


class LastSyncedLoaded(Message):
    """The engine's record of past syncs as one side holds it (the side that was a target)."""

    def __init__(self, generation: int, side: str, entries: Mapping[TableName, Any]) -> None:
        super().__init__()
        self.generation = generation
        self.side = side
        self.entries = dict(entries)


class SchemaCompared(Message):
    """The two sides' schemas were compared (once per pair, and on ctrl+r): which tables differ."""

    def __init__(self, pair: int, differing: Mapping[TableName, Any]) -> None:
        super().__init__()
        self.pair = pair
        self.differing = dict(differing)


class MigrationsRead(Message):
    """Each compared profile's migration history (read with its schema, once per pair and on
    ctrl+r, never on the live timer), and which side is behind; posted to the app."""

    def __init__(self, histories: Mapping[str, Any], comparison: Any) -> None:
        super().__init__()
        self.histories = dict(histories)  # profile name -> MigrationHistory | None (no migration table)
        self.comparison = comparison  # MigrationComparison | None


class JobFailed(Message):
    """A background job failed; the app shows ``message`` as a notification."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__()
        self.kind = kind
        self.message = message


class SyncStateChanged(Message):
    """A sync started or stopped between two profiles (pauses the browser's live refresh)."""

    def __init__(self, profiles: tuple[str, str], running: bool) -> None:
        super().__init__()
        self.profiles = profiles
        self.running = running


# --------------------------------------------------------------------------- content diff


class ContentProgress(Message):
    """A content diff of one table is under way (``fraction`` of its rows settled)."""

    def __init__(self, run: int, table: TableName, fraction: float) -> None:
        super().__init__()
        self.run = run  # which batch of checks sent it: a cancelled one's messages are stale
        self.table = table
        self.fraction = fraction


class ContentChecked(Message):
    """One table's content diff finished: ``result`` is its TableDiff (status ``error`` on failure)."""

    def __init__(self, run: int, table: TableName, result: Any) -> None:
        super().__init__()
        self.run = run
        self.table = table
        self.result = result


class ContentChecksFinished(Message):
    """The diff worker has nothing left to check (or was cancelled)."""

    def __init__(self, run: int, cancelled: bool) -> None:
        super().__init__()
        self.run = run
        self.cancelled = cancelled


class ContentUpdated(Message):
    """The browser's content state of a table changed; screens on top (the inspector) may show it."""

    def __init__(self, table: TableName, content: Any) -> None:
        super().__init__()
        self.table = table
        self.content = content


class DifferingRowsFetched(Message):
    """The inspector's rows of the differing keys, one side (``rows`` keyed by the key's cells)."""

    def __init__(self, token: int, side: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                 error: str | None) -> None:
        super().__init__()
        self.token = token
        self.side = side
        self.columns = list(columns)
        self.rows = list(rows)
        self.error = error


# --------------------------------------------------------------------------- sync wizard


class PlanReady(Message):
    """``plan_sync`` answered (``plan`` is None and ``error`` set when it refused)."""

    def __init__(self, token: int, plan: Any, error: str | None, create: Any = None) -> None:
        super().__init__()
        self.token = token
        self.plan = plan
        self.error = error
        self.create = create  # the create-missing step's dry run (CreateMissingStep), when ticked


class CreateMissingPlanned(Message):
    """The wizard's dry run (or run) planned create-missing: the DDL it would run (or ran)."""

    def __init__(self, run: int, step: Any) -> None:
        super().__init__()
        self.run = run
        self.step = step  # CreateMissingStep


class RunPlanned(Message):
    """A real run re-planned once create-missing gave the target its new tables."""

    def __init__(self, run: int, plan: Any) -> None:
        super().__init__()
        self.run = run
        self.plan = plan


class SyncEvents(Message):
    """Engine events from the running (or dry-running) sync, a few at a time."""

    def __init__(self, dry_run: bool, events: Sequence[Any], run: int = 0) -> None:
        super().__init__()
        self.dry_run = dry_run
        self.events = list(events)
        self.run = run  # which engine call sent it: a newer one makes it stale


class SyncFinished(Message):
    """``run_sync`` returned (``summary``) or raised (``error`` is its one line)."""

    def __init__(self, dry_run: bool, summary: Any, error: str | None, run: int = 0) -> None:
        super().__init__()
        self.dry_run = dry_run
        self.summary = summary
        self.error = error
        self.run = run


# --------------------------------------------------------------------------- inspector


class RowsPreviewed(Message):
    """The first rows of the inspected table on one side."""

    def __init__(self, side: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], error: str | None) -> None:
        super().__init__()
        self.side = side
        self.columns = list(columns)
        self.rows = list(rows)
        self.error = error


class QueryFinished(Message):
    """The read-only SQL box's statement finished, failed or was cancelled."""

    def __init__(self, side: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                 truncated: bool = False, seconds: float = 0.0, status: str = "",
                 error: str | None = None) -> None:
        super().__init__()
        self.side = side
        self.columns = list(columns)
        self.rows = list(rows)
        self.truncated = truncated
        self.seconds = seconds
        self.status = status
        self.error = error


# --------------------------------------------------------------------------- health view


class HealthRead(Message):
    """The health panels of one profile were read (a panel that failed says so in ``report.errors``)."""

    def __init__(self, report: Any) -> None:
        super().__init__()
        self.report = report


class HealthFailed(Message):
    """The health view could not read its profile at all (one readable line)."""

    def __init__(self, profile: str, error: str) -> None:
        super().__init__()
        self.profile = profile
        self.error = error


class HistoryRead(Message):
    """The sync runs recorded on one profile were read (newest first)."""

    def __init__(self, profile: str, runs: list[Any]) -> None:
        super().__init__()
        self.profile = profile
        self.runs = runs


class HistoryFailed(Message):
    """The history view could not read its profile (one readable line)."""

    def __init__(self, profile: str, error: str) -> None:
        super().__init__()
        self.profile = profile
        self.error = error


class UndoDone(Message):
    """A run was undone (``result``: an :class:`~dbconsole.history.UndoResult`)."""

    def __init__(self, profile: str, result: Any) -> None:
        super().__init__()
        self.profile = profile
        self.result = result


class UndoFailed(Message):
    """An undo was refused or failed; nothing was written (one readable line)."""

    def __init__(self, profile: str, run_id: int, error: str) -> None:
        super().__init__()
        self.profile = profile
        self.run_id = run_id
        self.error = error
