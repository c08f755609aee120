"""The command line: parse, call the library, print, exit with 0 / 1 / 2.

No business logic lives here: each command is a few calls into config / connect / catalog /
compare / sync and a renderer for humans (aligned tables via rich) or machines (``--json``).
Every :class:`DbconsoleError` becomes one line on stderr and its exit code; anything else is
an internal error, shown as one redacted line unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from dbconsole.cli_history import cmd_history, cmd_undo
from dbconsole.cli_parser import build_parser
from dbconsole.errors import DbconsoleError, UsageError
from dbconsole.redact import redact

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEMO_MODULES = ("asyncssh",)  # what the demo cannot run without (pgserver is only a fallback)
__all__ = ["build_parser", "main"]


def _resolve_profile(config: Any, name: str) -> Any:
    """A profile (or ad-hoc URL profile) that can be used now; an unusable one fails naming its variables."""
    return config.profile(name).require_usable()


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = _COMMANDS.get(args.command or "tui")
    assert handler is not None
    try:
        return handler(args)
    except DbconsoleError as exc:
        print(f"dbconsole: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dbconsole: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # an internal error: one line unless --debug
        if args.debug:
            raise
        detail = redact(str(exc)).splitlines()[0] if str(exc) else ""
        print(f"dbconsole: internal error: {exc.__class__.__name__}: {detail} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        from dbconsole.connect import tunnels

        tunnels.close_all()


def _load(args: argparse.Namespace):  # -> Config
    from dbconsole.config import load_config

    return load_config(args.config)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str))


def _console():
    """Aligned output for people; piped output is never wrapped or cut to 80 columns."""
    from dbconsole.format import output_console

    return output_console()


# --------------------------------------------------------------------------- commands


def cmd_profiles(args: argparse.Namespace) -> int:
    config = _load(args)
    default, reason = config.default()
    if args.json:
        _print_json([_profile_json(p, p.name == default) for p in config.profiles.values()])
        return EXIT_OK
    console = _console()
    if not config.profiles:
        console.print("No profiles. Create dbconsole.toml (see README) or set DATABASE_URL / SERVER_DATABASE_URL.")
        return EXIT_OK
    from rich.table import Table as RichTable

    table = RichTable(box=None, header_style="bold", pad_edge=False)
    for header in ("", "PROFILE", "URL", "SSH", "ACCESS", "FROM"):
        table.add_column(header)
    for profile in config.profiles.values():
        ssh = profile.ssh
        table.add_row(
            "*" if profile.name == default else "",
            f"[{profile.color}]{profile.name}[/]" if profile.color else profile.name,
            profile.display_url,
            _ssh_text(ssh) if ssh else "-",
            ("read-only" if profile.read_only else "read-write")
            + (f", [yellow]unusable: {profile.unusable}[/]" if profile.unusable else ""),
            "config" if profile.origin == "file" else profile.origin.replace("env:", "$"),
            style=None,
        )
    console.print(table)
    if default:
        console.print(f"\n* default profile: {default} ({reason})", style="dim")
    return EXIT_OK


def _ssh_text(ssh: Any) -> str:
    user = f"{ssh.user}@" if ssh.user else ""
    port = f":{ssh.port}" if ssh.port else ""
    return f"{user}{ssh.host}{port}"


def _profile_json(profile: Any, is_default: bool) -> dict[str, Any]:
    ssh = profile.ssh
    return {
        "name": profile.name,
        "url": profile.display_url,
        "read_only": profile.read_only,
        "ssh": None if ssh is None else {"host": ssh.host, "port": ssh.port, "user": ssh.user, "key": ssh.key},
        "color": profile.color,
        "default": is_default,
        "origin": profile.origin,
        "unusable": profile.unusable,
    }


def cmd_check(args: argparse.Namespace) -> int:
    from dbconsole.reading import probe

    config = _load(args)
    profile = _resolve_profile(config, args.profile)
    probed = probe(profile, purpose="check", ask_write_access=False, ask_migrations=True)
    info, migrations = probed.info, probed.migrations
    data = {
        "profile": profile.name, "url": profile.display_url, "ok": True,
        "version": info.version, "version_num": info.version_num, "latency_ms": round(info.latency_ms, 2),
        "read_only": info.read_only, "in_recovery": info.in_recovery, "ssl": info.ssl,
        "tunnel": info.tunnel, "database": info.database, "user": info.user,
        "migrations": migrations.to_json() if migrations else None,
    }
    if args.json:
        _print_json(data)
        return EXIT_OK
    console = _console()
    via = f" via SSH {_ssh_text(profile.ssh)}" if profile.ssh else ""
    access = "read-only (enforced by the server)" if info.read_only else "read-write"
    if info.in_recovery:
        access += ", standby in recovery"
    console.print(f"[green]ok[/]  {profile.name}  {profile.display_url}{via}")
    console.print(f"    server    {info.version}")
    console.print(f"    latency   {info.latency_ms:.1f} ms")
    console.print(f"    access    {access}")
    console.print(f"    ssl       {'yes' if info.ssl else 'no'}")
    if migrations:
        applied = f", {len(migrations.applied)} applied" if migrations.applied is not None else ""
        console.print(f"    migrations {migrations.tool} at {migrations.current or '-'}{applied}", markup=False)
    return EXIT_OK


def cmd_health(args: argparse.Namespace) -> int:
    from dbconsole.health import collect_health
    from dbconsole.health_text import render_report

    profile = _resolve_profile(_load(args), args.profile)
    report = collect_health(profile, threshold_seconds=args.threshold)
    if args.json:
        _print_json(report.to_json())
    else:
        _console().print(render_report(report))
    return EXIT_OK


def cmd_tables(args: argparse.Namespace) -> int:
    from dbconsole.names import split_list
    from dbconsole.pairing import TABLES_ROLES, choose_pair
    from dbconsole.reading import compare_profiles

    config = _load(args)
    left_name, right_name = choose_pair(config, args.left, args.right, TABLES_ROLES)
    left, right = _resolve_profile(config, left_name), _resolve_profile(config, right_name)
    rows = compare_profiles(left, right, asked_exact=args.exact, timeout_ms=int(args.timeout * 1000),
                            wanted=split_list(args.tables) if args.tables else [],
                            excluded=split_list(args.exclude) if args.exclude else [])
    if args.json:
        _print_json({"left": left.name, "right": right.name, "exact": bool(args.exact),
                     "tables": [r.to_json() for r in rows]})
        return EXIT_OK
    _render_comparison(rows, left.name, right.name)
    return EXIT_OK


def _render_comparison(rows: list[Any], left: str, right: str) -> None:
    from rich.table import Table as RichTable

    from dbconsole.format import STATUS_STYLES, format_bytes, format_count, format_difference

    console = _console()
    if not rows:
        console.print("No tables on either side.")
        return
    table = RichTable(box=None, header_style="bold", pad_edge=False)
    table.add_column("TABLE")
    table.add_column(f"{left.upper()} ROWS", justify="right")
    table.add_column(f"{right.upper()} ROWS", justify="right")
    table.add_column("DIFF", justify="right")
    table.add_column("SIZE", justify="right")
    table.add_column("KEY", justify="center")
    for row in rows:
        l_rows = row.left_error or format_count(row.left_rows, missing=row.left is None, exact=row.left_exact)
        r_rows = row.right_error or format_count(row.right_rows, missing=row.right is None, exact=row.right_exact)
        table.add_row(str(row.name), l_rows, r_rows,
                      f"[{STATUS_STYLES[row.status]}]{format_difference(row, mark_estimate=True)}[/]",
                      format_bytes(row.size_bytes), "yes" if row.has_key else "[red]no[/]")
    console.print(table)
    estimated = any(r.left_estimated or r.right_estimated for r in rows)
    kind = "~ = estimate from the catalog (use --exact for count(*))" if estimated else "exact counts"
    noun = "table" if len(rows) == 1 else "tables"
    console.print(f"\n{len(rows)} {noun}; {kind}; DIFF = {right} - {left}", style="dim")


def cmd_sync(args: argparse.Namespace) -> int:
    from dbconsole.pairing import SYNC_ROLES, choose_pair
    from dbconsole.progress import JsonLinesPrinter, LivePrinter
    from dbconsole.sync.confirm import confirmation_reason
    from dbconsole.sync.engine import refuse_read_only_target, run_sync

    config = _load(args)
    if args.target and "," in args.target:
        from dbconsole.cli_targets import sync_to_targets

        return sync_to_targets(args, config)
    target_name, source_name = choose_pair(config, args.target, args.source, SYNC_ROLES)
    source, target = _resolve_profile(config, source_name), _resolve_profile(config, target_name)
    refuse_read_only_target(target)  # before the confirmation prompt and before any connection
    request = sync_request(args, config, source, target)
    reason = confirmation_reason(request)
    if reason and not args.yes:
        _confirm(reason, request.target.name)
    conflicts = False
    if request.create_missing:
        request, conflicts = _create_missing(request, args)
        if request is None:
            return EXIT_FAILED if conflicts else EXIT_OK
    printer = JsonLinesPrinter() if args.json else LivePrinter()
    with _cancel_on_sigint(quiet=args.json) as cancel:
        try:
            summary = run_sync(request, on_event=printer, cancel=cancel)
        finally:
            printer.close()
    return 130 if summary.cancelled else (EXIT_FAILED if conflicts else EXIT_OK)


def sync_request(args: argparse.Namespace, config: Any, source: Any, target: Any) -> Any:
    """The :class:`SyncRequest` the sync options describe, from ``source`` into ``target``."""
    from dbconsole.sync.requests import build_request

    return build_request(
        source, target, config.sync, tables=args.tables, exclude=args.exclude, mode=args.mode,
        strategy=args.strategy, where=args.where, subsets=args.subset, with_parents=args.with_parents,
        batch_size=args.batch_size, dry_run=args.dry_run, triggers=args.triggers,
        refresh_matviews=args.refresh_matviews, create_missing=args.create_missing, jobs=args.jobs)


def _create_missing(request: Any, args: argparse.Namespace) -> tuple[Any, bool]:
    """``--create-missing``: the DDL step before the sync (:mod:`dbconsole.schema.for_sync`).

    Returns the request the sync then runs (conflicting tables left out; in a dry run, only the
    tables the target already has, since the new ones exist only once the DDL runs), or None when
    nothing is left to sync, and whether any table was skipped for a conflict.
    """
    from dbconsole.schema.for_sync import create_missing_for_sync

    step = create_missing_for_sync(request)
    outcome = step.outcome
    plan = outcome.plan
    if args.json:
        _print_json({"event": "create_missing", "applied": outcome.applied, "statements": outcome.statements,
                     "created_tables": [str(t) for t in plan.created_tables], "conflicts": plan.conflicts,
                     "notes": plan.notes})
    else:
        verb = "would run" if request.dry_run else "ran"
        print(f"create-missing: {verb} {len(outcome.statements)} DDL statements on {request.target.name}")
        for statement in outcome.statements if request.dry_run else ():
            print(f"  {statement}")
        for note in plan.notes:
            print(f"  note: {note}")
    for conflict in plan.conflicts:
        print(f"dbconsole: create-missing: {conflict}", file=sys.stderr)
    if request.dry_run and plan.created_tables and not args.json:
        print(f"  the sync's dry run leaves out the {len(plan.created_tables)} tables this would create "
              f"({'nothing else to preview' if step.request is None else 'previewing the rest'})")
    return step.request, bool(plan.conflicts)


def _confirm(reason: str, target_name: str) -> None:
    """``replace`` or a non-local target: the user types the target's name (or passes --yes)."""
    if not sys.stdin.isatty():
        raise UsageError(f"this sync needs --yes ({reason})")
    answer = input(f"{reason}. Type '{target_name}' to sync into it: ")
    if answer.strip() != target_name:
        raise UsageError("not confirmed; nothing was written")


@contextlib.contextmanager
def _cancel_on_sigint(*, quiet: bool):
    """First Ctrl+C: stop cleanly at the next block (checkpoint kept). Second: stop now."""
    cancel = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if not quiet:
            print("\ncancelling at the next block (Ctrl+C again to stop at once)...", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)


EXIT_DIFFERS = 3


def cmd_diff(args: argparse.Namespace) -> int:
    from dbconsole.diff import DiffRequest, default_source, diff_tables
    from dbconsole.names import split_list
    from dbconsole.pairing import TABLES_ROLES, choose_pair

    config = _load(args)
    left_name, right_name = choose_pair(config, args.left, args.right, TABLES_ROLES)
    left, right = _resolve_profile(config, left_name), _resolve_profile(config, right_name)
    if left.is_sqlite or right.is_sqlite:
        from dbconsole.sqlite.content import diff_with_sqlite

        if args.where:
            raise UsageError("--where is PostgreSQL SQL: a diff with a SQLite side takes no filter")
        with _cancel_on_sigint(quiet=args.json) as cancel:
            report = diff_with_sqlite(left, right, tables=tuple(split_list(args.tables)) if args.tables else (),
                                      row_limit=args.limit if args.rows else 0, settings=config.sync, cancel=cancel)
        return _diff_outcome(args, report)
    request = DiffRequest(left=left, right=right, tables=tuple(split_list(args.tables)) if args.tables else (),
                          where=args.where, row_limit=args.limit if args.rows else 0,
                          source=default_source(left, right), timeout_ms=int(args.timeout * 1000),
                          settings=config.sync)
    with _cancel_on_sigint(quiet=args.json) as cancel:
        report = diff_tables(request, cancel=cancel)
    return _diff_outcome(args, report)


def _diff_outcome(args: argparse.Namespace, report: Any) -> int:
    from dbconsole.diff.render import render_report

    if args.json:
        _print_json(report.to_json())
    else:
        render_report(report, _console(), show_rows=args.rows)
    for failed in (t for t in report.tables if t.status == "error"):
        print(f"dbconsole: error: {failed.table}: {redact(failed.error or 'failed')}", file=sys.stderr)
    if report.cancelled:
        return 130
    if report.failed:
        return EXIT_FAILED
    return EXIT_DIFFERS if args.exit_code and report.differs else EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from dbconsole.names import split_list
    from dbconsole.pairing import TABLES_ROLES, choose_pair
    from dbconsole.reading import both_sides
    from dbconsole.schema.run import read_side, schema_report

    config = _load(args)
    left_name, right_name = choose_pair(config, args.left, args.right, TABLES_ROLES)
    left, right = _resolve_profile(config, left_name), _resolve_profile(config, right_name)
    if left.is_sqlite or right.is_sqlite:
        from dbconsole.sqlite.sides import schema_with_sqlite

        report = schema_with_sqlite(left, right, tables=split_list(args.tables) if args.tables else (),
                                    exclude=split_list(args.exclude) if args.exclude else ())
        return _schema_outcome(args, report, left.name, right.name)
    with both_sides(left, right, purpose="schema") as (pool, conns):  # one schema query per side, both at once
        left_side, right_side = pool.map(read_side, conns)
    report = schema_report(left_side, right_side, left_name=left.name, right_name=right.name,
                           tables=split_list(args.tables) if args.tables else (),
                           exclude=split_list(args.exclude) if args.exclude else ())
    return _schema_outcome(args, report, left.name, right.name)


def _schema_outcome(args: argparse.Namespace, report: Any, left: str, right: str) -> int:
    from dbconsole.schema.text import report_lines

    if args.json:
        _print_json(report.to_json(left, right))
        return EXIT_OK
    for line in report_lines(report, left, right):
        print(line)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    for module in DEMO_MODULES:
        try:
            __import__(module)
        except ImportError:
            raise UsageError("the demo needs the demo extra: pip install 'dbconsole[demo]'") from None
    from dbconsole.demo import run_demo

    return run_demo(no_tui=args.no_tui)


def cmd_tui(args: argparse.Namespace) -> int:
    try:
        from dbconsole.tui.app import run_app
    except ImportError as exc:  # the TUI is optional for headless installs
        raise UsageError(f"the console is not available: {exc}") from None
    return run_app(config_path=args.config)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "profiles": cmd_profiles,
    "check": cmd_check,
    "tables": cmd_tables,
    "health": cmd_health,
    "sync": cmd_sync,
    "history": cmd_history,
    "undo": cmd_undo,
    "diff": cmd_diff,
    "schema": cmd_schema,
    "demo": cmd_demo,
    "tui": cmd_tui,
}
