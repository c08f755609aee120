"""Bad and awkward input through the CLI, against the real servers: each is one clear line with
exit code 1 or 2 and nothing written (proved with checksums), or it works end to end.

Awkward identifiers, a target table with a missing or incompatible column, a foreign-key cycle,
a 50 MB row (with the process's peak memory measured), nonsense batch sizes, a read replica in
recovery as a target, a bad or hostile ``--where``, and misspelt commands and options.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from psycopg import sql

from tests.cli_checks import assert_one_line, database_state, run_cli, sync_events
from tests.profiles import write_config
from tests.sync_checks import table_checksum


# --------------------------------------------------------------------------- awkward identifiers

WEIRD_SCHEMA = 'odd.schema "x"'
PARENT = sql.Identifier(WEIRD_SCHEMA, 'we"ird.name spaces')
CHILD = sql.Identifier("public", "메모, 칸")
AB_C = sql.Identifier('a"b,c')
# The two names as psql (and dbconsole) print them, which is also what --tables accepts.
WEIRD_TABLES = ['"odd.schema ""x"""."we""ird.name spaces"', 'public."메모, 칸"']
WEIRD_DDL = [
    sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(WEIRD_SCHEMA)),
    sql.SQL("CREATE TABLE {} ("
            ' "ID.키" bigserial PRIMARY KEY, "메모 칸" text, {} integer NOT NULL,'
            ' "Mixed Case" numeric(10, 2), "select" text, " lead space" boolean)').format(PARENT, AB_C),
    sql.SQL('CREATE TABLE {} ("키 1" integer, "키.2" text, {} bigint REFERENCES {} ("ID.키"), "값" jsonb,'
            ' PRIMARY KEY ("키 1", "키.2"))').format(CHILD, sql.Identifier('부모 "id"'), PARENT),
]


def create_weird_tables(empty_dbs) -> None:
    for cluster, db in ((empty_dbs.server, empty_dbs.server_db), (empty_dbs.local, empty_dbs.local_db)):
        with cluster.connect(db) as conn:
            for statement in WEIRD_DDL:
                conn.execute(statement)
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.execute(sql.SQL('INSERT INTO {} ("메모 칸", {}, "Mixed Case", "select", " lead space")'
                             " SELECT '메모 ' || g || ' \"q\" , ''s''', g, g / 7.0, 'sel' || g, g % 2 = 0"
                             " FROM generate_series(1, 40) g").format(PARENT, AB_C))
        conn.execute(sql.SQL("INSERT INTO {} SELECT g % 5, 'k.' || g, g, jsonb_build_object('키', g, 'q\"', 'a,b')"
                             " FROM generate_series(1, 40) g").format(CHILD))


def weird_checksums(cluster, db) -> dict[str, tuple[int, str]]:
    with cluster.connect(db) as conn:
        return {name: table_checksum(conn, name) for name in WEIRD_TABLES}


def test_quotes_spaces_dots_commas_and_unicode_in_every_name_sync_end_to_end(empty_dbs, tmp_path, capsys) -> None:
    create_weird_tables(empty_dbs)
    config = str(write_config(tmp_path, empty_dbs))
    tables = ",".join(WEIRD_TABLES)  # a comma inside a quoted name is not a separator
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", tables, "--batch-size", "3", "--json")
    assert code == 0, err
    events = sync_events(out)
    plan = events[0]
    assert [t["table"] for t in plan["tables"]] == WEIRD_TABLES  # parent first, names as psql shows them
    assert plan["tables"][0]["key"] == ["ID.키"] and plan["tables"][1]["key"] == ["키 1", "키.2"]
    progress = [e["rows"] for e in events if e["event"] == "progress" and e["table"] == WEIRD_TABLES[0]]
    assert progress[:3] == [3, 6, 9], 'keyset batches over a key named "ID.키"'
    assert events[-1]["event"] == "done" and events[-1]["inserted"] == 80
    assert weird_checksums(empty_dbs.local, empty_dbs.local_db) == weird_checksums(empty_dbs.server, empty_dbs.server_db)

    # The sequence owned by "ID.키" moved past the synced maximum on the target.
    with empty_dbs.local.connect(empty_dbs.local_db) as conn:
        new_id = conn.execute(sql.SQL('INSERT INTO {} ({}) VALUES (0) RETURNING "ID.키"').format(
            PARENT, AB_C)).fetchone()[0]
        assert new_id > 40
        conn.execute(sql.SQL('DELETE FROM {} WHERE "ID.키" = %s').format(PARENT), (new_id,))

    # A change, picked by a --where over a quoted column: only the filtered rows are read.
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.execute(sql.SQL("UPDATE {} SET \"메모 칸\" = '바뀜' WHERE {} <= 10").format(PARENT, AB_C))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", WEIRD_TABLES[0], "--where", '"a""b,c" % 2 = 0', "--json")
    assert code == 0, err
    done = sync_events(out)[-1]
    assert (done["updated"], done["inserted"], done["updated"] + done["unchanged"]) == (5, 0, 20)
    with empty_dbs.local.connect(empty_dbs.local_db) as conn:
        changed = conn.execute(sql.SQL("SELECT array_agg({} ORDER BY 1) FROM {} WHERE \"메모 칸\" = '바뀜'").format(
            AB_C, PARENT)).fetchone()[0]
    assert changed == [2, 4, 6, 8, 10]


def test_unbalanced_quote_or_unknown_table_name_is_a_usage_error(empty_dbs, tmp_path, capsys) -> None:
    create_weird_tables(empty_dbs)
    config = str(write_config(tmp_path, empty_dbs))
    before = weird_checksums(empty_dbs.local, empty_dbs.local_db)
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", WEIRD_TABLES[0][:-1])
    assert_one_line(code, err, 2, "unbalanced double quote")
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "we_ird_name_spaces")
    assert_one_line(code, err, 2, "no table 'we_ird_name_spaces'")
    assert weird_checksums(empty_dbs.local, empty_dbs.local_db) == before


# --------------------------------------------------------------------------- schema drift on the target


def test_target_missing_a_column_warns_and_syncs_the_rest(dbs, tmp_path, capsys) -> None:
    with dbs.local_admin() as local:
        local.execute("ALTER TABLE public.stocks DROP COLUMN sector")
    config = str(write_config(tmp_path, dbs))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", "stocks")
    assert code == 0, err
    assert "column sector exists only on server_direct: not copied" in out
    with dbs.server_admin() as server, dbs.local_admin() as local:
        source = server.execute("SELECT symbol, name, market, listed_on FROM public.stocks ORDER BY 1").fetchall()
        target = local.execute("SELECT symbol, name, market, listed_on FROM public.stocks ORDER BY 1").fetchall()
    assert set(source) <= set(target)
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", "stocks", "--json")
    plan = sync_events(out)[0]
    assert any("sector" in w for w in plan["warnings"]) and "sector" not in plan["tables"][0]["columns"]


def test_target_column_of_an_incompatible_type_is_refused_and_nothing_is_written(dbs, tmp_path, capsys) -> None:
    with dbs.local_admin() as local:
        local.execute("ALTER TABLE public.users ALTER COLUMN is_active DROP DEFAULT, "
                      "ALTER COLUMN is_active TYPE integer USING is_active::int")
        before = database_state(local)
    config = str(write_config(tmp_path, dbs))
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "users,stocks")
    assert_one_line(code, err, 1, "public.users", "column is_active is boolean on server_direct but integer on local")
    with dbs.local_admin() as local:
        assert database_state(local) == before  # stocks (also selected) untouched; no state schema either


# --------------------------------------------------------------------------- foreign-key cycle

CYCLE_DDL = """
CREATE TABLE public.team (id int PRIMARY KEY, name text, captain_id int);
CREATE TABLE public.player (id int PRIMARY KEY, name text, team_id int REFERENCES public.team (id) {deferrable});
ALTER TABLE public.team ADD CONSTRAINT team_captain_fkey FOREIGN KEY (captain_id) REFERENCES public.player (id) {deferrable};
"""


def create_cycle(dbs, deferrable: bool = False) -> None:
    ddl = CYCLE_DDL.format(deferrable="DEFERRABLE" if deferrable else "")
    for cluster, db in ((dbs.server, dbs.server_db), (dbs.local, dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute(ddl)
    with dbs.server.connect(dbs.server_db) as conn, conn.transaction():
        conn.execute("INSERT INTO public.team SELECT g, 'team ' || g, NULL FROM generate_series(1, 5) g")
        conn.execute("INSERT INTO public.player SELECT g, 'player ' || g, (g % 5) + 1 FROM generate_series(1, 30) g")
        conn.execute("UPDATE public.team SET captain_id = id * 3")


def test_foreign_key_cycle_is_refused_naming_it_and_nothing_is_written(empty_dbs, tmp_path) -> None:
    create_cycle(empty_dbs)
    config = str(write_config(tmp_path, empty_dbs))
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        before = database_state(local)
    for mode in ("upsert", "replace"):
        # A real process: the message is one line and there is no traceback.
        result = subprocess.run([sys.executable, "-m", "dbconsole", "--config", config, "sync", "--from",
                                 "server_direct", "--to", "local", "--tables", "team,player", "--mode", mode, "--yes"],
                                capture_output=True, text=True, timeout=120)
        line = assert_one_line(result.returncode, result.stderr, 1, "foreign keys form a cycle", "public.team",
                               "public.player", "team_captain_fkey", "player_team_id_fkey", "DEFERRABLE")
        assert " -> " in line
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        assert database_state(local) == before
        assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None, \
            "a refused plan must not even create the state schema"


def test_foreign_key_cycle_of_deferrable_constraints_is_allowed_for_replace(empty_dbs, tmp_path, capsys) -> None:
    create_cycle(empty_dbs, deferrable=True)
    config = str(write_config(tmp_path, empty_dbs))
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--tables", "team,player", "--mode", "replace", "--yes", "--json")
    assert code == 0, err
    for table in ("public.team", "public.player"):
        with empty_dbs.server.connect(empty_dbs.server_db) as server, empty_dbs.local.connect(empty_dbs.local_db) as local:
            assert table_checksum(local, table) == table_checksum(server, table)


# --------------------------------------------------------------------------- one enormous row

BLOB_BYTES = 50 * 1024 * 1024
RSS_BUDGET_MB = 200  # ~40 MB of interpreter and libraries, plus the row about twice (libpq buffer + one copy)


def vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_measuring_peak_rss(command: list[str], timeout: float = 300) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``command``; sample its VmHWM (peak resident set, kB) from /proc while it runs."""
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        peak = 0
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            value = vm_hwm_kb(proc.pid)
            if value:
                peak = max(peak, value)
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("timed out")
            time.sleep(0.01)
        out, err = proc.communicate()
        return subprocess.CompletedProcess(command, proc.returncode, out, err), peak


def test_a_50_mb_row_syncs_intact_with_bounded_memory(empty_dbs, tmp_path) -> None:
    ddl = "CREATE TABLE public.blobs (id int PRIMARY KEY, note text, payload bytea)"
    for cluster, db in ((empty_dbs.server, empty_dbs.server_db), (empty_dbs.local, empty_dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute(ddl)
    payload = os.urandom(BLOB_BYTES)
    expected = hashlib.md5(payload).hexdigest()
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.execute("ALTER TABLE public.blobs ALTER COLUMN payload SET STORAGE EXTERNAL")  # random bytes: no pglz
        conn.execute("INSERT INTO public.blobs VALUES (1, 'small', '\\x00'), (2, 'enormous', %s), (3, 'after', NULL)",
                     (payload,))
    del payload
    config = write_config(tmp_path, empty_dbs)
    command = [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
               "--to", "local", "--tables", "blobs", "--json"]
    started = time.monotonic()
    result, peak_kb = run_measuring_peak_rss(command)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["inserted"] == 3
    with empty_dbs.local.connect(empty_dbs.local_db) as conn:
        got = conn.execute("SELECT md5(payload), length(payload) FROM public.blobs WHERE id = 2").fetchone()
    assert got == (expected, BLOB_BYTES)
    with empty_dbs.server.connect(empty_dbs.server_db) as server, empty_dbs.local.connect(empty_dbs.local_db) as local:
        assert table_checksum(local, "public.blobs") == table_checksum(server, "public.blobs")
    print(f"\n50 MB row: peak RSS (VmHWM) {peak_kb / 1024:.0f} MB, {seconds:.1f} s")
    assert 0 < peak_kb < RSS_BUDGET_MB * 1024, f"peak RSS {peak_kb / 1024:.0f} MB"


# --------------------------------------------------------------------------- nonsense numbers and words


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1e3"])
def test_batch_size_that_is_not_a_positive_whole_number(dbs, tmp_path, capsys, value) -> None:
    config = str(write_config(tmp_path, dbs))
    with dbs.local_admin() as local:
        before = table_checksum(local, "public.users")
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "users", "--batch-size", value)
    assert_one_line(code, err, 2, "--batch-size")
    with dbs.local_admin() as local:
        assert table_checksum(local, "public.users") == before


@pytest.mark.parametrize("argv, fragment", [
    (["snyc", "--from", "a", "--to", "b"], "invalid choice: 'snyc'"),
    (["sync", "--from", "a", "--to", "b", "--tabels", "users"], "unrecognized arguments: --tabels"),
    (["sync", "--from", "a", "--to", "b", "--mode", "upsrt"], "invalid choice: 'upsrt'"),
    (["sync", "--from", "a"], "the following arguments are required: --to"),
    (["tables", "--left", "a", "--right", "b", "--timeout", "0"], "must be > 0"),
    (["check"], "the following arguments are required: PROFILE"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_misspelt_command_or_option_is_one_line_and_exit_2(capsys, argv, fragment) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert_one_line(code, err, 2, fragment)
    assert out == ""


def test_misspelt_command_in_a_real_process_has_no_traceback() -> None:
    result = subprocess.run([sys.executable, "-m", "dbconsole", "tabels", "--left", "a"],
                            capture_output=True, text=True, timeout=60)
    assert_one_line(result.returncode, result.stderr, 2, "invalid choice: 'tabels'")


# --------------------------------------------------------------------------- a replica as target


def test_read_replica_in_recovery_is_refused_as_a_target_and_check_says_so(dbs, tmp_path, capsys) -> None:
    standby = dbs.local.make_standby("replica")
    try:
        # Looks like a local, writable database: only the server can tell it is a standby.
        path = write_config(tmp_path, dbs, extra={"profiles": {"replica": {"url": standby.url(dbs.local_db)}}})
        config = str(path)
        with standby.connect(dbs.local_db) as replica:
            deadline = time.monotonic() + 30
            while replica.execute("SELECT to_regclass('public.users')").fetchone()[0] is None:
                assert time.monotonic() < deadline, "the standby never replayed the test database"
                time.sleep(0.1)
            before = database_state(replica)
        code, out, err = run_cli(capsys, "--config", config, "check", "replica", "--json")
        assert code == 0, err
        info = json.loads(out)
        assert info["in_recovery"] is True and info["read_only"] is True
        code, out, err = run_cli(capsys, "--config", config, "check", "replica")
        assert code == 0 and "standby in recovery" in out
        code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "replica",
                                 "--tables", "users")
        assert_one_line(code, err, 1, "replica is a standby in recovery", "point the profile at the primary")
        with dbs.local_admin() as primary:
            assert primary.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None
        with standby.connect(dbs.local_db) as replica:
            assert database_state(replica) == before
    finally:
        standby.cleanup()


def test_target_server_that_makes_every_session_read_only_is_refused_up_front(dbs, tmp_path, capsys) -> None:
    """A profile not marked read-only whose server is (default_transaction_read_only = on, as some
    managed replicas and maintenance modes do): refused before anything is written."""
    with dbs.local_admin() as local:
        local.execute(sql.SQL("ALTER DATABASE {} SET default_transaction_read_only = on").format(
            sql.Identifier(dbs.local_db)))
        before = database_state(local)
    config = str(write_config(tmp_path, dbs))
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "users")
    assert_one_line(code, err, 1, "local refuses writes", "default_transaction_read_only")
    with dbs.local_admin() as local:
        assert database_state(local) == before
        assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None


# --------------------------------------------------------------------------- --where through the CLI


@pytest.mark.parametrize("where, fragment, refused_up_front", [
    ("id <= ", "syntax error", True),
    ("1=1; DELETE FROM public.users", "syntax error at or near \";\"", True),
    ("1=1) TO STDOUT; DELETE FROM public.users; COPY (SELECT 1", "bad --where", True),
    ("id IN (SELECT id FROM public.users FOR UPDATE)", "SELECT FOR UPDATE in a read-only transaction", True),
    ("(SELECT count(*) FROM (DELETE FROM public.users RETURNING 1) d) > 0", "syntax error", True),
    ("1=1) --", "syntax error", True),  # a comment cannot swallow the closing parenthesis
    ("id < 10 /*", "unterminated /* comment", True),
    ("nosuch = 1", "nosuch", True),
    # Only evaluated row by row, so only the sync itself meets it: still refused by the source's
    # read-only transaction, and the message blames the filter, not the target.
    ("nextval('public.users_id_seq') > 0", "nextval() in a read-only transaction", False),
])
def test_bad_or_hostile_where_through_the_cli(dbs, tmp_path, capsys, where, fragment, refused_up_front) -> None:
    config = str(write_config(tmp_path, dbs))

    def user_data() -> tuple[dict[str, Any], tuple[int, str], int]:
        with dbs.local_admin() as local, dbs.server_admin() as server:
            local_state = {t: v for t, v in database_state(local).items() if not t.startswith("_dbconsole.")}
            sequence = server.execute("SELECT last_value FROM public.users_id_seq").fetchone()[0]
            return local_state, table_checksum(server, "public.users"), sequence

    before = user_data()
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--tables", "users", "--where", where)
    assert_one_line(code, err, 1, "public.users: bad --where", fragment)
    assert user_data() == before
    if refused_up_front:
        with dbs.local_admin() as local:
            assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None


def test_where_without_tables_is_a_usage_error(dbs, tmp_path, capsys) -> None:
    config = str(write_config(tmp_path, dbs))
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                           "--where", "id < 5")
    assert_one_line(code, err, 2, "--where needs --tables")


# --------------------------------------------------------------------------- credentials are not retried


def test_wrong_password_or_ssh_key_fails_at_once_without_retries(dbs, sshd, tmp_path, capsys) -> None:
    """A retry cannot fix a wrong password or an unknown host key; retried, it would only make the
    user wait (0.5 + 1 + 2 + 4 + 8 s with the default five retries) and count as failed logins
    (fail2ban on an SSH bastion bans after about five)."""
    import asyncssh

    path = write_config(tmp_path, dbs, sshd)
    (tmp_path / ".env").write_text("TEST_SERVER_DB_PASSWORD='Wr0ng-Pa55word'\n")
    other_key = tmp_path / "other_key"
    other_key.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    other_key.chmod(0o600)
    empty_known_hosts = tmp_path / "empty_known_hosts"
    empty_known_hosts.write_text("")
    text = path.read_text()
    cases = {
        "password": (str(path), "server_direct", "password authentication failed"),
    }
    for name, old, new in (("key", str(sshd.client_key_path), str(other_key)),
                           ("host_key", str(sshd.known_hosts_path), str(empty_known_hosts))):
        variant = tmp_path / f"{name}.toml"
        variant.write_text(text.replace(old, new))
        cases[name] = (str(variant), "server", "SSH authentication failed" if name == "key" else "host key")
    for name, (config, source, fragment) in cases.items():
        started = time.monotonic()
        code, out, err = run_cli(capsys, "--config", config, "sync", "--from", source, "--to", "local", "--json")
        assert time.monotonic() - started < 5, name
        assert_one_line(code, err, 1, fragment)
        assert not [e for e in sync_events(out) if e["event"] == "notice" and e["kind"] == "retry"], name
