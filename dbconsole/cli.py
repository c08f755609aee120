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
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

from dbconsole import __version__
from dbconsole.errors import DbconsoleError, UsageError
from dbconsole.redact import redact

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit code 2), like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"dbconsole: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dbconsole", description=(
        "Compare and sync a local and a server PostgreSQL from the terminal. "
        "With no command, opens the full-screen console."))
    parser.add_argument("--version", action="version", version=f"dbconsole {__version__}")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser("demo", help="throwaway local + server databases, seeded, then the console")
    demo.add_argument("--no-tui", action="store_true", help="print the config and example commands; stay up until Ctrl+C")
    _add_common(demo)

    profiles = sub.add_parser("profiles", help="list profiles (secrets masked)")
    _add_json(profiles)
    _add_common(profiles)

    check = sub.add_parser("check", help="connect to a profile: version, latency, read-only, SSL")
    check.add_argument("profile", metavar="PROFILE")
    _add_json(check)
    _add_common(check)

    tables = sub.add_parser("tables", help="per-table row counts on both sides and the difference")
    tables.add_argument("--left", required=True, metavar="PROFILE")
    tables.add_argument("--right", required=True, metavar="PROFILE")
    tables.add_argument("--exact", action="store_true", help="count(*) every table instead of estimates")
    tables.add_argument("--timeout", type=_positive_float, default=30.0, metavar="SECONDS",
                        help="statement timeout per exact count (default 30)")
    _add_json(tables)
    _add_common(tables)

    sync = sub.add_parser("sync", help="copy tables from one profile into another (UPSERT by default)")
    sync.add_argument("--from", dest="source", required=True, metavar="PROFILE")
    sync.add_argument("--to", dest="target", required=True, metavar="PROFILE")
    sync.add_argument("--tables", metavar="T1,T2", help="tables to sync (default: every table on both sides)")
    sync.add_argument("--mode", choices=("upsert", "replace", "incremental", "xmin"), default=None)
    sync.add_argument("--where", metavar="SQL", help="filter applied on the source for the named tables")
    sync.add_argument("--with-parents", action="store_true", help="also sync FK parents of the selected tables")
    sync.add_argument("--batch-size", type=_batch_size, metavar="N")
    sync.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    sync.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_json(sync)
    _add_common(sync)

    diff = sub.add_parser("diff", help="which rows differ, by checksums computed on each server")
    diff.add_argument("--left", required=True, metavar="PROFILE")
    diff.add_argument("--right", required=True, metavar="PROFILE")
    diff.add_argument("--tables", metavar="T1,T2", help="tables to compare (default: every table on either side)")
    diff.add_argument("--where", metavar="SQL", help="compare only these rows (both sides) of the named tables")
    diff.add_argument("--rows", action="store_true", help="list the keys of differing rows")
    diff.add_argument("--limit", type=_batch_size, default=100, metavar="N", help="keys listed per table (default 100)")
    diff.add_argument("--exit-code", action="store_true", help="exit 3 when any table differs")
    diff.add_argument("--timeout", type=_positive_float, default=300.0, metavar="SECONDS",
                      help="statement timeout on each server (default 300)")
    _add_json(diff)
    _add_common(diff)
    return parser


def _add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=default, help="config file (see SPEC discovery order)")
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show tracebacks")


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0 (got {value})")
    return value


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
    """Aligned output for people; piped output is never cut to 80 columns."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 4096)


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
            "read-only" if profile.read_only else "read-write",
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
    }


def cmd_check(args: argparse.Namespace) -> int:
    from dbconsole.connect import connect, server_info

    config = _load(args)
    profile = config.profile(args.profile)
    with connect(profile, purpose="check") as conn:
        info = server_info(profile, conn)
    data = {
        "profile": profile.name, "url": profile.display_url, "ok": True,
        "version": info.version, "version_num": info.version_num, "latency_ms": round(info.latency_ms, 2),
        "read_only": info.read_only, "in_recovery": info.in_recovery, "ssl": info.ssl,
        "tunnel": info.tunnel, "database": info.database, "user": info.user,
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
    return EXIT_OK


def cmd_tables(args: argparse.Namespace) -> int:
    from dbconsole.catalog import exact_counts, read_catalog
    from dbconsole.compare import compare_tables
    from dbconsole.connect import connect

    config = _load(args)
    left, right = config.profile(args.left), config.profile(args.right)
    timeout_ms = int(args.timeout * 1000)

    def inspect(profile: Any) -> tuple[list[Any], dict[Any, Any] | None]:
        with connect(profile, purpose="tables", read_only=True) as conn:
            tables = read_catalog(conn)
            counts = exact_counts(conn, [t.qualified for t in tables], timeout_ms=timeout_ms) if args.exact else None
        return tables, counts

    with ThreadPoolExecutor(max_workers=2) as pool:  # both sides at once: tunnels are slow
        left_future, right_future = pool.submit(inspect, left), pool.submit(inspect, right)
        left_tables, left_counts = left_future.result()
        right_tables, right_counts = right_future.result()
    rows = compare_tables(left_tables, right_tables, left_counts=left_counts, right_counts=right_counts)
    if args.json:
        _print_json({"left": left.name, "right": right.name, "exact": bool(args.exact),
                     "tables": [r.to_json() for r in rows]})
        return EXIT_OK
    _render_comparison(rows, left.name, right.name, exact=bool(args.exact))
    return EXIT_OK


def _render_comparison(rows: list[Any], left: str, right: str, *, exact: bool) -> None:
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
        l_rows = row.left_error or format_count(row.left_rows, missing=row.left is None, exact=exact)
        r_rows = row.right_error or format_count(row.right_rows, missing=row.right is None, exact=exact)
        table.add_row(str(row.name), l_rows, r_rows,
                      f"[{STATUS_STYLES[row.status]}]{format_difference(row)}[/]",
                      format_bytes(row.size_bytes), "yes" if row.has_key else "[red]no[/]")
    console.print(table)
    kind = "exact counts" if exact else "estimates (use --exact for count(*))"
    console.print(f"\n{len(rows)} tables; {kind}; DIFF = {right} - {left}", style="dim")


def cmd_sync(args: argparse.Namespace) -> int:
    from dbconsole.names import split_list
    from dbconsole.progress import JsonLinesPrinter, LivePrinter
    from dbconsole.sync import SyncRequest
    from dbconsole.sync.engine import refuse_read_only_target, run_sync

    config = _load(args)
    source, target = config.profile(args.source), config.profile(args.target)
    refuse_read_only_target(target)  # before the confirmation prompt and before any connection
    request = SyncRequest(
        source=source, target=target, tables=tuple(split_list(args.tables)) if args.tables else (),
        mode=args.mode, where=args.where, with_parents=args.with_parents, batch_size=args.batch_size,
        dry_run=args.dry_run, settings=config.sync)
    if request.needs_confirmation and not args.yes:
        _confirm(request)
    printer = JsonLinesPrinter() if args.json else LivePrinter()
    with _cancel_on_sigint(quiet=args.json) as cancel:
        try:
            summary = run_sync(request, on_event=printer, cancel=cancel)
        finally:
            printer.close()
    return 130 if summary.cancelled else EXIT_OK


def _confirm(request: Any) -> None:
    """``replace`` or a non-local target: the user types the target's name (or passes --yes)."""
    why = "mode replace deletes target rows" if request.mode == "replace" else f"{request.target.name} is not a local database"
    if not sys.stdin.isatty():
        raise UsageError(f"this sync needs --yes ({why})")
    answer = input(f"{why}. Type '{request.target.name}' to sync into it: ")
    if answer.strip() != request.target.name:
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
    from dbconsole.diff.render import render_report
    from dbconsole.names import split_list

    config = _load(args)
    left, right = config.profile(args.left), config.profile(args.right)
    request = DiffRequest(left=left, right=right, tables=tuple(split_list(args.tables)) if args.tables else (),
                          where=args.where, row_limit=args.limit if args.rows else 0,
                          source=default_source(left, right), timeout_ms=int(args.timeout * 1000),
                          settings=config.sync)
    with _cancel_on_sigint(quiet=args.json) as cancel:
        report = diff_tables(request, cancel=cancel)
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


def cmd_demo(args: argparse.Namespace) -> int:
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
    "sync": cmd_sync,
    "diff": cmd_diff,
    "demo": cmd_demo,
    "tui": cmd_tui,
}
