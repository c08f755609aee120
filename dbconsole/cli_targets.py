"""``dbconsole sync --to A,B``: the command-line face of :mod:`dbconsole.sync.targets`.

Kept apart from :mod:`dbconsole.cli` because several targets change what the command prints:
every event line says which target it is about (``"target"`` in ``--json``; ``[A]`` in front
for people, plain lines since two live progress displays cannot share one terminal), and the
run ends with one result per target; each failed target also gets its one ``dbconsole: error:``
line on stderr, and the exit code is 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from dbconsole.errors import UsageError
from dbconsole.format import format_duration
from dbconsole.progress import utc_timestamp
from dbconsole.redact import redact
from dbconsole.sync.counts import describe_counts
from dbconsole.sync.events import Done, ErrorEvent, Notice, PlanEvent, SyncEvent, TableDone, TableStart

EXIT_OK, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 130


def sync_to_targets(args: argparse.Namespace, config: Any) -> int:
    from dbconsole.cli import _cancel_on_sigint, _confirm, _create_missing, _resolve_profile, sync_request
    from dbconsole.sync.confirm import confirmation_reason
    from dbconsole.sync.targets import check_targets, run_to_targets, split_targets

    names = split_targets(args.target)
    source_name = args.source or _only_other_profile(config, names)
    source = _resolve_profile(config, source_name)
    targets = [_resolve_profile(config, name) for name in names]
    check_targets(source, targets)  # before any prompt or connection
    requests = [sync_request(args, config, source, target) for target in targets]
    reasons = [(r.target.name, reason) for r in requests if (reason := confirmation_reason(r))]
    if reasons and not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("this sync needs --yes (" + "; ".join(f"{n}: {why}" for n, why in reasons) + ")")
        for name, reason in reasons:  # every target that needs it is confirmed by its own name
            _confirm(f"{name}: {reason}", name)
    ready, conflicts = [], False
    for request in requests:
        if request.create_missing:
            request, conflicted = _create_missing(request, args)
            conflicts |= conflicted
            if request is None:
                continue
        ready.append(request)
    if not ready:
        return EXIT_FAILED if conflicts else EXIT_OK
    printer: Any = TargetJsonPrinter() if args.json else TargetLinePrinter()
    with _cancel_on_sigint(quiet=args.json) as cancel:
        outcome = run_to_targets(ready, printer, cancel)
    results = outcome.results
    printer.results(outcome)
    for failed in (r for r in results if r.outcome == "failed"):
        print(f"dbconsole: error: {failed.target}: {redact(failed.error or 'failed')}", file=sys.stderr)
    if any(r.outcome == "cancelled" for r in results):
        return EXIT_CANCELLED
    return EXIT_FAILED if conflicts or any(r.outcome == "failed" for r in results) else EXIT_OK


def _only_other_profile(config: Any, targets: list[str]) -> str:
    others = [name for name in config.profiles if name not in targets]
    if len(others) != 1:
        raise UsageError("the following arguments are required: --from (the config does not say which; "
                         f"choose one of {', '.join(others) or 'none'})")
    return others[0]


class TargetJsonPrinter:
    """JSON Lines as for one target, each event with ``"target"``; last, one ``targets`` line."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, target: str, event: SyncEvent) -> None:
        self._write({**event.to_json(), "target": target})

    def results(self, outcome: Any) -> None:
        self._write({"event": "targets", "targets": [r.to_json() for r in outcome.results], "failed": outcome.failed,
                     "source_reads": {"shared": outcome.reads_shared, "alone": outcome.reads_alone}})

    def _write(self, data: dict[str, Any]) -> None:
        data["ts"] = utc_timestamp()
        line = json.dumps(data, ensure_ascii=False, default=str)
        with self._lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


class TargetLinePrinter:
    """Plain lines, each prefixed by its target, then one result line per target."""

    def __init__(self) -> None:
        from dbconsole.format import output_console

        self.console = output_console()
        self._lock = threading.Lock()

    def __call__(self, target: str, event: SyncEvent) -> None:
        line = _line(event)
        if line is not None:
            with self._lock:
                self.console.print(f"[{target}] {line}", markup=False, highlight=False)

    def results(self, outcome: Any) -> None:
        for result in outcome.results:
            if result.outcome == "failed":
                text = f"{result.target}: FAILED: {result.error} (run the same command, or --to {result.target}, to resume)"
            elif result.summary is None:
                text = f"{result.target}: {result.outcome}"
            else:
                summary = result.summary
                text = (f"{result.target}: {result.outcome}, {len(summary.tables)} table(s), "
                        f"{describe_counts(summary.counts, dry_run=summary.dry_run)} "
                        f"({format_duration(summary.seconds)})")
            self.console.print(text, markup=False, highlight=False)
        self.console.print(f"source read once for several targets in {outcome.reads_shared} batch(es), "
                           f"alone in {outcome.reads_alone}", markup=False, highlight=False, style="dim")


def _line(event: SyncEvent) -> str | None:
    match event:
        case PlanEvent():
            what = "Dry run" if event.dry_run else "Sync"
            return f"{what}: {event.source} -> {event.target}, {len(event.tables)} table(s)"
        case TableStart() if event.resume_rows:
            return f"{event.table}: resuming at {event.resume_rows:,} rows"
        case TableDone():
            return (f"{event.table}: {describe_counts(event.counts, dry_run=event.dry_run)} "
                    f"({format_duration(event.seconds)})")
        case Notice():
            return f"{event.table + ': ' if event.table else ''}{event.message}"
        case ErrorEvent():
            return f"error: {event.table + ': ' if event.table else ''}{event.message}"
        case Done():
            return f"done in {format_duration(event.seconds)}: {describe_counts(event.counts, dry_run=event.dry_run)}"
    return None
