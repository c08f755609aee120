"""``dbconsole history`` and ``dbconsole undo``: the CLI face of :mod:`dbconsole.history`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dbconsole.errors import UsageError

EXIT_OK = 0


def _target(args: argparse.Namespace) -> Any:
    from dbconsole.cli import _load, _resolve_profile

    config = _load(args)
    name = args.profile
    if not name:
        name, _ = config.default()
        if not name:
            raise UsageError("the following arguments are required: --profile (no profile is this machine's)")
    return _resolve_profile(config, name)


def cmd_history(args: argparse.Namespace) -> int:
    from dbconsole.cli import _print_json
    from dbconsole.history import load_history

    profile = _target(args)
    runs = load_history(profile, limit=args.limit)
    if args.json:
        _print_json({"profile": profile.name, "runs": [run.to_json() for run in runs]})
        return EXIT_OK
    _render_history(profile.name, runs)
    return EXIT_OK


def _render_history(profile_name: str, runs: list[Any]) -> None:
    from rich.table import Table as RichTable

    from dbconsole.cli import _console
    from dbconsole.history.text import outcome_text, when_text
    from dbconsole.sync.counts import describe_counts

    console = _console()
    if not runs:
        console.print(f"No sync runs recorded on {profile_name}.", markup=False)
        return
    table = RichTable(box=None, header_style="bold", pad_edge=False)
    for title in ("RUN", "STARTED", "SOURCE", "MODE", "TABLES", "ROWS", "OUTCOME", "UNDO"):
        table.add_column(title, justify="right" if title == "RUN" else "left")
    for run in runs:
        source = f"{run.source_name} ({run.source_host})" if run.source_host else run.source_name
        table.add_row(str(run.id), when_text(run), source, run.mode, str(len(run.tables)),
                      describe_counts(run.counts), outcome_text(run), run.undo_text)
    console.print(table, markup=False)
    console.print(f"\n{len(runs)} run{'s' if len(runs) != 1 else ''} on {profile_name}, newest first; "
                  f"undo one with: dbconsole undo RUN --profile {profile_name}", style="dim", markup=False)


def cmd_undo(args: argparse.Namespace) -> int:
    from dbconsole.cli import _console, _print_json
    from dbconsole.history import undo_run
    from dbconsole.sync.engine import refuse_read_only_target

    profile = _target(args)
    refuse_read_only_target(profile)  # before the prompt
    if not args.yes:
        _confirm_undo(args.run_id, profile.name)
    result = undo_run(profile, args.run_id)
    if args.json:
        _print_json(result.to_json())
        return EXIT_OK
    console = _console()
    for table in result.tables:
        console.print(f"{table.name}: {table.restored:,} rows put back, {table.removed:,} rows removed", markup=False)
    console.print(f"run {result.run_id} undone on {profile.name} in {result.seconds:.1f} s "
                  "(sequences were not rewound)", markup=False)
    return EXIT_OK


def _confirm_undo(run_id: int, target_name: str) -> None:
    """Undo writes to the target: the user types its name (or passes --yes)."""
    if not sys.stdin.isatty():
        raise UsageError(f"undo writes to {target_name}: it needs --yes")
    answer = input(f"undo run {run_id} on {target_name}. Type '{target_name}' to go on: ")
    if answer.strip() != target_name:
        raise UsageError("not confirmed; nothing was written")
