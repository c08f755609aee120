"""The command line's grammar and its help: every option explained in one line, an example per command.

Kept apart from :mod:`dbconsole.cli` (which runs the commands) so the help text reads as one
page. Usage errors are one line and exit 2 like every other error, and a misspelt command or
choice gets a "did you mean".
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import NoReturn

from dbconsole import __version__
from dbconsole.jobs import JOBS_HELP, JobsSetting, parse_jobs
from dbconsole.modes import STRATEGIES, SYNC_MODES

EXIT_USAGE = 2

CONFIG_DISCOVERY = """\
config file (the first that exists):
  1. --config PATH
  2. $DBCONSOLE_CONFIG
  3. ./dbconsole.toml (the working directory)
  4. $XDG_CONFIG_HOME/dbconsole/dbconsole.toml (default ~/.config/dbconsole/dbconsole.toml)
  with no file at all: profile 'local' from $DATABASE_URL (else $POSTGRES_DSN, else $DB_URL)
  and profile 'server' from $SERVER_DATABASE_URL (read-only).
${VAR} in the config comes from the environment, or from a .env beside the config file or in
the working directory (real environment variables win).

a PROFILE may also be a postgresql:// URL (read-only unless it is a local database).
exit codes: 0 ok, 1 the operation failed, 2 bad usage or configuration."""

PROFILE_HELP = "profile name or postgresql:// URL"

EXAMPLES = {
    "demo": "dbconsole demo\n  dbconsole demo --no-tui",
    "profiles": "dbconsole profiles\n  dbconsole profiles --json | jq '.[].name'",
    "check": "dbconsole check server\n  dbconsole check postgresql://me@localhost/app --json",
    "tables": ("dbconsole tables                       # this machine's profile vs the other one\n"
               "  dbconsole tables --left local --right server --exact --timeout 10"),
    "health": "dbconsole health server\n  dbconsole health server --threshold 5 --json | jq '.locks.blocked'",
    "sync": ("dbconsole sync --from server --to local --tables 'public.*' --exclude audit_log --dry-run\n"
             "  dbconsole sync --tables users,stocks --where 'users:id < 1000' --where \"stocks:symbol < 'B'\" --yes\n"
             "  dbconsole sync --tables users --where 'id < 1000' --json > sync.jsonl\n"
             "  dbconsole sync --from server --to local --create-missing --dry-run   # print the DDL\n"
             "  dbconsole sync --subset 'users: id = 42' --dry-run"),
    "diff": ("dbconsole diff                         # every table: same, or which rows differ\n"
             "  dbconsole diff --tables users --rows --limit 20\n"
             "  dbconsole diff --left local --right server --exit-code --json > diff.json"),
"history": "dbconsole history\n  dbconsole history --profile staging --limit 5 --json",
    "undo": "dbconsole undo 42 --profile local\n  dbconsole undo 42 --profile staging --yes",
    "schema": ("dbconsole schema                       # this machine's profile vs the other one\n"
               "  dbconsole schema --left local --right server --tables 'public.*' --json"),
}


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit code 2), like every other error."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        hint = did_you_mean_choice(message) or did_you_mean_option(message, self._every_option())
        self.exit(EXIT_USAGE, f"dbconsole: error: {message}{hint} (see '{self.prog} --help')\n")

    def _every_option(self) -> list[str]:
        """Option strings of this parser and its subcommands (argparse reports a subcommand's
        unknown option from the top-level parser)."""
        options = [o for action in self._actions for o in action.option_strings]
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    options += [o for a in sub._actions for o in a.option_strings]
        return list(dict.fromkeys(options))


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)")


def did_you_mean_choice(message: str) -> str:
    """`` (did you mean 'tables'?)`` for argparse's "invalid choice" message, else nothing."""
    match = _INVALID_CHOICE.search(message)
    if match is None:
        return ""
    choices = [c.strip().strip("'\"") for c in match.group("choices").split(",")]
    close = difflib.get_close_matches(match.group("given"), choices, n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<first>--[\w-]+)")


def did_you_mean_option(message: str, options: list[str]) -> str:
    """`` (did you mean '--tables'?)`` for argparse's "unrecognized arguments: --tabels", else nothing."""
    match = _UNRECOGNIZED.search(message)
    if match is None:
        return ""
    close = difflib.get_close_matches(match.group("first"), options, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dbconsole", epilog=CONFIG_DISCOVERY, description=(
        "Compare and sync a local and a server PostgreSQL from the terminal. "
        "With no command, opens the full-screen console."))
    parser.add_argument("--version", action="version", version=f"dbconsole {__version__}",
                        help="print the version and exit")
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser,
                                help="what to do (no command: the full-screen console)")

    demo = _command(sub, "demo", "throwaway local + server databases, seeded, then the console")
    demo.add_argument("--no-tui", action="store_true", help="print the config and example commands; stay up until Ctrl+C")

    profiles = _command(sub, "profiles", "list profiles (secrets masked), and which cannot be used yet")
    _add_json(profiles)

    check = _command(sub, "check", "connect to a profile: version, latency, read-only, SSL")
    check.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    _add_json(check)

    tables = _command(sub, "tables", "per-table row counts on both sides and the difference")
    tables.add_argument("--left", metavar="PROFILE",
                        help=f"{PROFILE_HELP} (default: this machine's profile)")
    tables.add_argument("--right", metavar="PROFILE",
                        help=f"{PROFILE_HELP} (default: the one other profile)")
    tables.add_argument("--tables", metavar="T1,T2", help="only these tables; globs allowed ('public.*', 'scan_*')")
    tables.add_argument("--exclude", metavar="T1,T2", help="leave these tables out (names or globs)")
    tables.add_argument("--exact", action="store_true",
                        help="count(*) each table, one at a time, instead of the catalog's estimates (~)")
    tables.add_argument("--timeout", type=positive_float, default=30.0, metavar="SECONDS",
                        help="statement timeout per exact count; a table over it shows as timed out (default 30)")
    _add_json(tables)

    health = _command(sub, "health", "how a server is doing: size, connections, long queries, locks, "
                               "replication, wraparound, vacuum, dbconsole's own sessions (read-only)")
    health.add_argument("profile", metavar="PROFILE", help=PROFILE_HELP)
    health.add_argument("--threshold", type=positive_float, default=30.0, metavar="SECONDS",
                        help="a query running longer than this is a long query (default 30)")
    _add_json(health, what="machine-readable output (fields in the README)")

    sync = _command(sub, "sync", "copy tables from one profile into another (UPSERT by default)")
    sync.add_argument("--from", dest="source", metavar="PROFILE",
                      help=f"{PROFILE_HELP} to read from (default: the one profile that is not this machine's)")
    sync.add_argument("--to", dest="target", metavar="PROFILE",
                      help=f"{PROFILE_HELP} to write into (default: this machine's profile)")
    sync.add_argument("--tables", metavar="T1,T2",
                      help="tables to sync, globs allowed (default: every table on both sides)")
    sync.add_argument("--exclude", metavar="T1,T2", help="leave these tables out (names or globs)")
    sync.add_argument("--mode", choices=SYNC_MODES, default=None,
                      help="upsert (default: insert and update, never delete), replace (target = source rows), "
                           "mirror (target = source rows, writing only the rows that differ), "
                           "incremental or xmin (changed rows only)")
    sync.add_argument("--strategy", choices=STRATEGIES, default=None,
                      help="how rows are read: copy (every row), diff (only key ranges whose checksums differ), "
                           "auto (default, per table: diff when the target already holds most rows)")
    sync.add_argument("--where", metavar="[TABLE:]SQL", action="append", default=[],
                      help="source filter for one table: TABLE:EXPR (repeatable), or a bare EXPR with exactly one table")
    sync.add_argument("--with-parents", action="store_true", help="also sync FK parents of the selected tables")
    sync.add_argument("--subset", metavar="'TABLE: SQL' | NAME[:ARGS]", action="append", default=[],
                      help="only these root rows and every row that references them or that they need "
                           "(repeatable; NAME is a [sync.subsets.NAME] of the config); with --mode mirror, also delete "
                           "the target's rows of the subset that the source's lacks")
    sync.add_argument("--batch-size", type=batch_size, metavar="N", help="rows per committed batch")
    sync.add_argument("--jobs", type=jobs_setting, metavar="N|auto", default=None,
                      help="workers copying tables (and key ranges of large tables) in parallel, all in one "
                           "source snapshot (default 1, from [sync] jobs; auto: the usable cores, at most 8)")
    sync.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    sync.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    sync.add_argument("--triggers", choices=("disable", "keep"), default=None,
                      help="target user triggers during the apply: disable (default, from [sync] triggers) or keep")
    sync.add_argument("--refresh-matviews", action="store_true",
                      help="refresh materialized views that read the synced tables, after the sync")
    sync.add_argument("--create-missing", action="store_true",
                      help="first create on the target the tables, types, sequences, keys and columns it lacks "
                           "(additive only; no --tables: every source table)")
    _add_json(sync, what="one JSON event per line (JSON Lines), each with an ISO-8601 UTC 'ts'")

    history = _command(sub, "history", "the sync runs recorded on a target: when, from where, how, counts, outcome, undo")
    history.add_argument("--profile", metavar="PROFILE",
                         help=f"{PROFILE_HELP} of the target (default: this machine's profile)")
    history.add_argument("--limit", type=batch_size, default=20, metavar="N", help="newest N runs (default 20)")
    _add_json(history, what="one JSON object: the runs, newest first, each with its tables and counts")

    undo = _command(sub, "undo", "undo a sync run: put back the rows it overwrote or deleted, remove the rows "
                             "it inserted (one transaction; sequences are not rewound)")
    undo.add_argument("run_id", type=batch_size, metavar="RUN_ID", help="the run's id (dbconsole history lists them)")
    undo.add_argument("--profile", metavar="PROFILE", required=True, help=f"{PROFILE_HELP} of the run's target")
    undo.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_json(undo, what="one JSON object: rows restored and removed per table")

    diff = _command(sub, "diff", "which rows differ, by checksums computed on each server")
    diff.add_argument("--left", metavar="PROFILE", help=f"{PROFILE_HELP} (default: this machine's profile)")
    diff.add_argument("--right", metavar="PROFILE", help=f"{PROFILE_HELP} (default: the one other profile)")
    diff.add_argument("--tables", metavar="T1,T2", help="tables to compare (default: every table on either side)")
    diff.add_argument("--where", metavar="SQL", help="compare only these rows (both sides) of the named tables")
    diff.add_argument("--rows", action="store_true", help="list the keys of differing rows")
    diff.add_argument("--limit", type=batch_size, default=100, metavar="N", help="keys listed per table (default 100)")
    diff.add_argument("--exit-code", action="store_true", help="exit 3 when any table differs")
    diff.add_argument("--timeout", type=positive_float, default=300.0, metavar="SECONDS",
                      help="statement timeout on each server (default 300)")
    _add_json(diff, what="one JSON object: every table's status, counts and (with --rows) keys")

    schema = _command(sub, "schema", "tables, columns, types, keys, indexes, enums and migrations that differ")
    schema.add_argument("--left", metavar="PROFILE", help=f"{PROFILE_HELP} (default: this machine's profile)")
    schema.add_argument("--right", metavar="PROFILE", help=f"{PROFILE_HELP} (default: the one other profile)")
    schema.add_argument("--tables", metavar="T1,T2", help="only these tables; globs allowed ('public.*', 'scan_*')")
    schema.add_argument("--exclude", metavar="T1,T2", help="leave these tables out (names or globs)")
    _add_json(schema, what="one JSON object: differences per table as {kind, name, left, right}, and migrations")
    return parser


def _command(sub: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    command = sub.add_parser(name, help=summary, description=summary,
                             epilog=f"example:\n  {EXAMPLES[name]}\n\n{CONFIG_DISCOVERY}")
    _add_common(command)
    return command


def _add_common(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--config", metavar="PATH", default=default,
                        help="config file (default: the discovery order below)")
    parser.add_argument("--debug", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show tracebacks")


def _add_json(parser: argparse.ArgumentParser, *, what: str = "machine-readable output") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def jobs_setting(text: str) -> JobsSetting:
    value = parse_jobs(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"must be {JOBS_HELP} (got {text!r})")
    return value


def batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0 (got {value})")
    return value
