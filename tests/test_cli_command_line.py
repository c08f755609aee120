"""The command line for a new user (issue 10, item 13) against the real servers: help, did-you-mean,
profile pairs from the config, URLs as profiles, globs / --exclude / --where TABLE:EXPR, output
piped into a log, a ts on every JSON event, and the demo without its extra."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg import sql

from dbconsole.cli import build_parser
from dbconsole.connect import tunnels
from tests.cli_checks import assert_one_line, run_cli, sync_events
from tests.profiles import isolate_from_machine, write_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


# --------------------------------------------------------------------------- help and typos


COMMANDS = ("demo", "profiles", "check", "tables", "sync", "diff", "schema", "health")


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_has_a_help_line_and_every_command_an_example(capsys, command) -> None:
    parser = build_parser()
    sub = next(a for a in parser._subparsers._group_actions).choices[command]  # type: ignore[union-attr]
    for action in sub._actions:
        assert action.help and action.help != "==SUPPRESS==", (command, action.option_strings or action.dest)
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    assert f"example:\n  dbconsole {command}" in out
    assert "SPEC" not in out
    assert "$DBCONSOLE_CONFIG" in out and "./dbconsole.toml" in out


def test_top_level_help_writes_out_the_config_discovery_order(capsys) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "SPEC" not in out
    order = ["--config PATH", "$DBCONSOLE_CONFIG", "./dbconsole.toml", "$XDG_CONFIG_HOME/dbconsole/dbconsole.toml",
             "$DATABASE_URL", "$SERVER_DATABASE_URL", ".env"]
    positions = [out.index(item, out.index("config file (the first that exists)")) for item in order]
    assert positions == sorted(positions)
    for action in build_parser()._actions:
        assert action.help, action.option_strings


@pytest.mark.parametrize("typed, meant", [("tabels", "tables"), ("snyc", "sync"), ("profile", "profiles")])
def test_a_misspelt_command_gets_did_you_mean_in_a_real_process(typed, meant) -> None:
    result = subprocess.run([sys.executable, "-m", "dbconsole", typed], capture_output=True, text=True, timeout=60)
    assert_one_line(result.returncode, result.stderr, 2, f"invalid choice: '{typed}'", f"(did you mean '{meant}'?)")


# --------------------------------------------------------------------------- which two profiles


def test_tables_and_sync_default_to_this_machine_and_the_other_profile(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))  # local (default_profile) and server_direct
    code, out, err = run_cli(capsys, "--config", config, "tables", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["left"], data["right"]) == ("local", "server_direct")
    code, out, err = run_cli(capsys, "--config", config, "sync", "--tables", "users", "--dry-run", "--json")
    assert code == 0, err
    plan = sync_events(out)[0]
    assert (plan["source"], plan["target"]) == ("server_direct", "local")
    code, out, err = run_cli(capsys, "--config", config, "tables", "--right", "local", "--json")
    assert code == 0 and json.loads(out)["left"] == "server_direct", err


def test_an_ambiguous_pair_is_one_line_naming_the_choices(tmp_path, dbs, sshd, capsys) -> None:
    config = str(write_config(tmp_path, dbs, sshd))  # local, server_direct and server
    code, out, err = run_cli(capsys, "--config", config, "sync", "--tables", "users", "--dry-run")
    assert_one_line(code, err, 2, "--from", "choose one of server_direct, server")
    code, out, err = run_cli(capsys, "--config", config, "tables")
    assert_one_line(code, err, 2, "--right", "choose one of server_direct, server")
    assert out == ""


# --------------------------------------------------------------------------- a URL where a profile goes


def test_a_url_is_an_ad_hoc_profile_read_only_unless_local_and_never_shows_its_password(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    server_url = dbs.server_url
    password = dbs.server.password
    assert password in server_url
    code, out, err = run_cli(capsys, "--config", config, "check", server_url, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["ok"] is True and info["read_only"] is False  # the server lets us write...
    assert password not in out + err and "***" in info["profile"]
    # ...but an ad-hoc profile for a non-local host is read-only: refused as a sync target.
    server_like = server_url.replace("127.0.0.1", "localhost.localdomain.invalid")
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "local", "--to", server_like, "--yes")
    line = assert_one_line(code, err, 2, "read-only")
    assert password not in line

    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", server_url, "--json")
    assert code == 0 and password not in out + err, err
    assert json.loads(out)["right"].endswith(f"@127.0.0.1:{dbs.server.port}/{dbs.server_db}")

    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", server_url, "--to", "local",
                             "--tables", "stocks", "--dry-run", "--json")
    assert code == 0 and password not in out + err, err
    wrong = server_url.replace(password, "Wr0ng-Pa55word-42")
    code, out, err = run_cli(capsys, "--config", config, "check", wrong)
    assert_one_line(code, err, 1, "password authentication failed")
    assert "Wr0ng-Pa55word-42" not in out + err


# --------------------------------------------------------------------------- table selections and filters


def test_sync_globs_and_exclude_pick_the_tables(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", "public.*", "--exclude", "scan_*,WatchList", "--dry-run", "--json")
    assert code == 0, err
    planned = {t["table"] for t in sync_events(out)[0]["tables"]}
    assert {"public.users", "public.stocks", "public.scanner_settings", "public.price_history"} <= planned
    assert not {"public.scan_rank", 'public."WatchList"', "analytics.daily_summary", "public.audit_log"} & planned
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "stock", "--dry-run")
    assert_one_line(code, err, 2, "no table 'stock' on server_direct (did you mean public.stocks?)")
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "stonks*", "--dry-run")
    line = assert_one_line(code, err, 2, "no table matches 'stonks*' on server_direct")
    assert "did you mean" not in line


def test_where_table_expr_filters_only_its_table(tmp_path, dbs, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    with dbs.local_admin() as local:
        local.execute("UPDATE public.users SET display_name = 'local ' || id")
        local.execute("UPDATE public.stocks SET name = 'local ' || symbol")
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", "users,stocks", "--where", "users:id <= 20", "--json")
    assert code == 0, err
    events = sync_events(out)
    assert {t["table"]: t["where"] for t in events[0]["tables"]} == {"public.users": "id <= 20", "public.stocks": None}
    assert all("ts" in event for event in events)
    with dbs.local_admin() as local, dbs.server_admin() as server:
        kept = local.execute("SELECT count(*) FROM public.users WHERE display_name LIKE 'local %'").fetchone()[0]
        filtered = local.execute("SELECT count(*) FROM public.users WHERE id <= 20 AND display_name LIKE 'local %'")
        assert filtered.fetchone()[0] == 0 and kept > 0  # only users 1..20 came from the server
        symbols = [r[0] for r in server.execute("SELECT symbol FROM public.stocks")]
        untouched = local.execute("SELECT count(*) FROM public.stocks WHERE name LIKE 'local %%' "
                                  "AND symbol = ANY(%s)", (symbols,)).fetchone()[0]
        assert untouched == 0  # stocks: unfiltered, every server row arrived


@pytest.mark.parametrize("argv, fragments", [
    (["--tables", "users,stocks", "--where", "id < 5"], ["a bare --where filters exactly one table",
                                                         "--where TABLE:EXPR"]),
    (["--tables", "public.*", "--where", "id < 5"], ["a bare --where filters exactly one table"]),
    (["--where", "id < 5"], ["--where needs --tables"]),
    (["--tables", "users", "--where", "stocks:symbol < 'B'"], ["public.stocks is not among the tables being synced"]),
    (["--tables", "users", "--where", "usrs:id < 5"], ["no table 'usrs'", "did you mean public.users?"]),
    (["--tables", "users", "--where", "id < 5", "--where", "id > 2"], ["several bare --where filters"]),
])
def test_where_that_could_mean_several_tables_is_refused(tmp_path, dbs, capsys, argv, fragments) -> None:
    config = str(write_config(tmp_path, dbs))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--dry-run", *argv)
    assert_one_line(code, err, 2, *fragments)


# --------------------------------------------------------------------------- piped into a log


LONG_SCHEMA = "reporting_" + "s" * 50
LONG_TABLE = "quarterly_" + "t" * 50


def test_piped_output_is_never_hard_wrapped(tmp_path, dbs, capsys) -> None:
    for cluster, db in ((dbs.local, dbs.local_db), (dbs.server, dbs.server_db)):
        with cluster.connect(db) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(LONG_SCHEMA)))
            conn.execute(sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, note text)").format(
                sql.Identifier(LONG_SCHEMA, LONG_TABLE)))
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'n' || g FROM generate_series(1, 50) g").format(
            sql.Identifier(LONG_SCHEMA, LONG_TABLE)))
    config = str(write_config(tmp_path, dbs))
    full_name = f"{LONG_SCHEMA}.{LONG_TABLE}"
    code, out, err = run_cli(capsys, "--config", config, "tables")
    assert code == 0, err
    line = next(line for line in out.splitlines() if full_name in line)
    assert len(line) > 150 and line.rstrip().endswith("yes")
    code, out, err = run_cli(capsys, "--config", config, "sync", "--tables", f"{LONG_SCHEMA}.*")
    assert code == 0, err
    done = next(line for line in out.splitlines() if full_name in line and "insert" in line)
    assert "insert 50" in done and len(done) > 130
    assert "\x1b[" not in out and "\r" not in out


# --------------------------------------------------------------------------- the demo without its extra


def test_demo_without_the_demo_extra_says_what_to_install() -> None:
    code = ("import sys; sys.modules['asyncssh'] = None\n"
            "from dbconsole.cli import main\n"
            "sys.exit(main(['demo', '--no-tui']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    line = assert_one_line(result.returncode, result.stderr, 2)
    assert line == "dbconsole: error: the demo needs the demo extra: pip install 'dbconsole[demo]'"
    assert result.stdout == ""
