"""How ``dbconsole sync`` shows a run: JSON Lines for machines, a live display for people.

Both are consumers of the engine's events (:mod:`dbconsole.sync.events`), the same events the
TUI's wizard draws, so the three faces never disagree about what happened.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from dbconsole.format import format_count, format_duration, format_rate
from dbconsole.sync.counts import describe_counts
from dbconsole.sync.event_lines import json_line, utc_timestamp  # noqa: F401  (utc_timestamp re-exported)
from dbconsole.sync.events import (
    Done, ErrorEvent, Notice, PlanEvent, Progress, SyncEvent, TableDone, TableStart)


NON_TTY_PROGRESS_SECONDS = 5.0  # a log gets a progress line this often, not a redraw per batch


class JsonLinesPrinter:
    """One JSON object per event per line, flushed at once (SPEC's ``--json`` contract),
    each stamped with ``ts`` (ISO-8601, UTC) as it is printed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def __call__(self, event: SyncEvent) -> None:
        line = json_line(event)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass


class LivePrinter:
    """A rich progress display per table (rows, rows/s, ETA) on a terminal.

    Not on a terminal (a pipe, a log file, cron), there is nothing to redraw: plain lines,
    never hard-wrapped, and a progress line per running table at most every
    ``progress_interval`` seconds.
    """

    def __init__(self, *, progress_interval: float = NON_TTY_PROGRESS_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from dbconsole.format import output_console

        self.console = output_console()
        self.live = self.console.is_terminal
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}
        self.dry_run = False
        self.progress_interval = progress_interval
        self.clock = clock
        self._last_line: dict[str, float] = {}
        self.running: list[str] = []  # tables started and not done: several at once with --jobs

    def __call__(self, event: SyncEvent) -> None:
        match event:
            case PlanEvent():
                self._on_plan(event)
            case TableStart():
                self._on_table_start(event)
            case Progress():
                self._on_progress(event)
            case TableDone():
                self._on_table_done(event)
            case Notice():
                self._on_notice(event)
            case ErrorEvent():
                self.close()
            case Done():
                self._on_done(event)

    def _on_plan(self, event: PlanEvent) -> None:
        self.dry_run = event.dry_run
        what = "Dry run" if event.dry_run else "Sync"
        self.console.print(f"{what}: {event.source} -> {event.target}, {len(event.tables)} table(s)")
        for warning in event.warnings:
            self.console.print(f"  [yellow]![/] {warning}")
        if self.live and event.tables:
            from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

            self.progress = RichProgress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[rows]}"),
                TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=self.console, transient=False)
            self.progress.start()

    def _add_task(self, event: TableStart) -> None:
        if self.progress is not None:
            total = event.estimated_rows or None
            resumed = f" (resuming at {event.resume_rows:,})" if event.resume_rows else ""
            self.tasks[event.table] = self.progress.add_task(
                f"{event.table}{resumed}", total=total, completed=event.resume_rows,
                rows=format_count(event.resume_rows), rate="")

    def _on_progress(self, event: Progress) -> None:
        if not self.live:
            self._progress_line(event)
            return
        task = self.tasks.get(event.table)
        if self.progress is not None and task is not None:
            total = max(event.estimated_rows or 0, event.rows) or None
            self.progress.update(task, completed=event.rows, total=total, rows=format_count(event.rows),
                                 rate=format_rate(event.rows_per_s))

    def _progress_line(self, event: Progress) -> None:
        now = self.clock()
        started = self._last_line.setdefault(event.table, now)
        if now - started < self.progress_interval:
            return
        self._last_line[event.table] = now
        total = f" of ~{event.estimated_rows:,}" if event.estimated_rows else ""
        others = [t for t in self.running if t != event.table]
        also = f" (also running: {', '.join(others)})" if others else ""
        self.console.print(f"  {event.table}: {event.rows:,}{total} rows, {format_rate(event.rows_per_s)}{also}")

    def _on_table_start(self, event: TableStart) -> None:
        self._last_line[event.table] = self.clock()
        if event.table not in self.running:
            self.running.append(event.table)
        self._add_task(event)

    def _on_table_done(self, event: TableDone) -> None:
        if event.table in self.running:
            self.running.remove(event.table)
        read = ""
        if event.strategy == "diff":  # what the checksums saved: only these rows crossed the network
            verb = "would read" if event.dry_run else "read"
            read = f"; by diff, {verb} {event.rows_read:,} rows, {event.ranges_skipped:,} ranges skipped"
        line = (f"{event.table}: {describe_counts(event.counts, dry_run=event.dry_run)}{read}"
                f" ({format_duration(event.seconds)})")
        task = self.tasks.get(event.table)
        if self.progress is not None and task is not None:
            done_rows = event.counts.total
            self.progress.update(task, completed=done_rows, total=done_rows or 1, description=event.table,
                                 rows=format_count(done_rows), rate="done")
            self.progress.console.print(f"  [green]✓[/] {line}")
        else:
            self.console.print(f"  {line}")

    def _on_notice(self, event: Notice) -> None:
        marks = {"warning": "[yellow]![/]", "retry": "[yellow]↻[/]", "waiting": "[cyan]…[/]", "snapshot": "[cyan]⟳[/]", "split": "[cyan]⇶[/]"}
        where = f"{event.table}: " if event.table else ""
        target = self.progress.console if self.progress is not None else self.console
        target.print(f"  {marks.get(event.kind, '·')} {where}{event.message}")

    def _on_done(self, event: Done) -> None:
        self.close()
        if event.cancelled:
            self.console.print(f"Cancelled after {format_duration(event.seconds)}; finished batches are kept, "
                               "run the same command again to resume.")
            return
        self.console.print(
            f"Done in {format_duration(event.seconds)}: {describe_counts(event.counts, dry_run=event.dry_run)}"
            + (" (dry run: nothing written)" if event.dry_run else ""))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
