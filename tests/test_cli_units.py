"""Pure pieces of the command line: profile pairs, the count policy, did-you-mean, non-TTY progress, ts."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from dbconsole.cli_parser import build_parser, did_you_mean_choice, did_you_mean_option
from dbconsole.config import parse_config
from dbconsole.errors import UsageError
from dbconsole.live import count_kind, gets_exact_live_counts
from dbconsole.pairing import SYNC_ROLES, TABLES_ROLES, choose_pair
from dbconsole.progress import JsonLinesPrinter, LivePrinter
from dbconsole.sync.counts import RowCounts
from dbconsole.sync.events import Done, Progress, TableDone, TableStart


def config(profiles: dict, **top):  # type: ignore[no-untyped-def]
    return parse_config({"profiles": profiles, **top}, path=None, environ={})


LOCAL = {"url": "postgresql://me@localhost/app"}
SERVER = {"url": "postgresql://me@db.example.com/app"}


def test_pairs_default_to_this_machine_and_the_one_other_profile() -> None:
    two = config({"local": LOCAL, "server": SERVER}, default_profile="local")
    assert choose_pair(two, None, None, TABLES_ROLES) == ("local", "server")
    assert choose_pair(two, None, None, SYNC_ROLES) == ("local", "server")  # to local, from server
    assert choose_pair(two, None, "server", SYNC_ROLES) == ("local", "server")
    assert choose_pair(two, None, "local", SYNC_ROLES) == ("server", "local")  # --from local: into the other
    assert choose_pair(two, "server", None, TABLES_ROLES) == ("server", "local")
    assert choose_pair(two, "a", "b", TABLES_ROLES) == ("a", "b")  # both given: taken as typed


def test_an_ambiguous_pair_names_the_choices() -> None:
    three = config({"local": LOCAL, "staging": SERVER, "prod": SERVER}, default_profile="local")
    with pytest.raises(UsageError) as info:
        choose_pair(three, None, None, SYNC_ROLES)
    assert str(info.value) == ("the following arguments are required: --from (the config does not say which; "
                               "choose one of staging, prod)")
    assert choose_pair(three, None, "prod", SYNC_ROLES) == ("local", "prod")
    with pytest.raises(UsageError, match="--left .*no other profile"):
        choose_pair(config({}), None, None, TABLES_ROLES)


def test_exact_live_counts_only_for_an_opted_in_local_writable_profile() -> None:
    profiles = config({
        "opted": {**LOCAL, "live_exact_counts": True},
        "plain": LOCAL,
        "opted_read_only": {**LOCAL, "live_exact_counts": True, "read_only": True},
        "opted_remote": {**SERVER, "live_exact_counts": True, "read_only": False},
        "opted_tunnel": {**LOCAL, "live_exact_counts": True, "read_only": False, "ssh": {"host": "bastion"}},
    }).profiles
    assert [n for n, p in profiles.items() if gets_exact_live_counts(p)] == ["opted"]
    assert count_kind(profiles["plain"], asked_exact=False) == "estimate"
    assert count_kind(profiles["opted_tunnel"], asked_exact=True) == "exact"
    with pytest.raises(Exception, match="live_exact_counts must be true or false"):
        config({"a": {**LOCAL, "live_exact_counts": "yes"}})


@pytest.mark.parametrize("message, hint", [
    ("argument COMMAND: invalid choice: 'tabels' (choose from 'demo', 'profiles', 'check', 'tables', 'sync')",
     " (did you mean 'tables'?)"),
    ("argument COMMAND: invalid choice: 'snyc' (choose from demo, profiles, check, tables, sync)",
     " (did you mean 'sync'?)"),
    ("argument COMMAND: invalid choice: 'xyzzy' (choose from 'demo', 'tables')", ""),
    ("unrecognized arguments: --tabels", ""),
])
def test_did_you_mean_for_a_misspelt_choice(message: str, hint: str) -> None:
    assert did_you_mean_choice(message) == hint


def test_did_you_mean_for_a_misspelt_option_of_any_subcommand() -> None:
    options = build_parser()._every_option()  # type: ignore[attr-defined]
    assert {"--tables", "--exclude", "--exact", "--where", "--no-tui"} <= set(options)
    assert did_you_mean_option("unrecognized arguments: --tabels users", options) == " (did you mean '--tables'?)"
    assert did_you_mean_option("unrecognized arguments: --exlude x", options) == " (did you mean '--exclude'?)"
    assert did_you_mean_option("unrecognized arguments: --bogus", options) == ""


def test_json_events_carry_an_iso_utc_timestamp() -> None:
    stream = io.StringIO()
    printer = JsonLinesPrinter(stream)
    before = datetime.now(timezone.utc)
    printer(Progress(table="public.users", rows=10, rows_per_s=5.0))
    printer(Done(RowCounts(inserted=1), seconds=0.1))
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == ["progress", "done"]
    for event in events:
        assert event["ts"].endswith("Z")
        stamp = datetime.fromisoformat(event["ts"].replace("Z", "+00:00"))
        assert abs((stamp - before).total_seconds()) < 5


def test_non_tty_progress_is_a_line_every_interval_not_a_redraw(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    printer = LivePrinter(progress_interval=5.0, clock=lambda: now[0])
    assert printer.live is False  # capsys is not a terminal
    printer(TableStart(table="public.users", mode="upsert", estimated_rows=1000))
    for second in range(1, 13):
        now[0] = float(second)
        printer(Progress(table="public.users", rows=second * 50, rows_per_s=50.0, estimated_rows=1000))
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "rows," in line]
    assert lines == ["  public.users: 250 of ~1,000 rows, 50 rows/s", "  public.users: 500 of ~1,000 rows, 50 rows/s",
                     ], out
    assert "\x1b[" not in out and "\r" not in out


def test_non_tty_progress_names_the_other_tables_running_with_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    now = [0.0]
    printer = LivePrinter(progress_interval=5.0, clock=lambda: now[0])
    for table in ("public.a", "public.b", "public.c"):
        printer(TableStart(table=table, mode="upsert", estimated_rows=100))
    printer(TableDone("public.c", RowCounts(inserted=100), 0.5))
    now[0] = 6.0
    printer(Progress(table="public.a", rows=50, rows_per_s=10.0, estimated_rows=100))
    lines = [line for line in capsys.readouterr().out.splitlines() if "rows," in line]
    assert lines == ["  public.a: 50 of ~100 rows, 10 rows/s (also running: public.b)"]


def test_the_new_core_modules_never_import_textual_or_the_cli() -> None:
    import subprocess
    import sys

    code = ("import sys; sys.modules['textual'] = None\n"
            "import dbconsole.live, dbconsole.pairing, dbconsole.names, dbconsole.compare\n"
            "assert 'dbconsole.cli' not in sys.modules and 'dbconsole.cli_parser' not in sys.modules\n"
            "import dbconsole.cli, dbconsole.progress\n")
    subprocess.run([sys.executable, "-c", code], check=True)
