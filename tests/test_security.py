"""Read-only is enforced by the server, whatever is typed or asked for; SQL is never built from strings.

Every write path into a read-only profile is tried against the real servers and must be refused
with the data unchanged: the inspector's SQL box (headless: the :class:`ReadOnlyQuery` runner the
Inspector uses), a sync into a read-only target (refused before a connection is even opened),
and a connection asked to be writable. The SQL box is read-only on writable profiles too.
"""

from __future__ import annotations

import ast
import socket
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbconsole.connect import connect
from dbconsole.errors import DbconsoleError, ReadOnlyError
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import plan_sync, run_sync
from dbconsole.reading import ReadOnlyQuery
from tests.profiles import load, write_config
from tests.cli_checks import assert_one_line, database_state, run_cli

# --------------------------------------------------------------------------- the SQL box

# (statement, what the server or the runner answers); None: it runs, but inside a read-only
# transaction that is always rolled back, so it changes nothing; ANY: either, depending on the
# server's version.
ANY = "any"
ATTACKS: list[tuple[str, str | None]] = [
    ("WITH d AS (DELETE FROM public.users RETURNING 1) SELECT count(*) FROM d", "read-only transaction"),
    ("SELECT * FROM public.users FOR UPDATE", "cannot execute SELECT FOR UPDATE in a read-only transaction"),
    ("SELECT * FROM public.users FOR KEY SHARE SKIP LOCKED", "read-only transaction"),
    ("SET default_transaction_read_only=off; DELETE FROM public.users", "cannot insert multiple commands"),
    ("DELETE FROM public.users", "cannot execute DELETE in a read-only transaction"),
    ("UPDATE public.users SET display_name = 'x'", "read-only transaction"),
    ("INSERT INTO public.audit_log VALUES (1, now(), 'x')", "read-only transaction"),
    ("TRUNCATE public.audit_log", "read-only transaction"),
    ("COPY public.users FROM STDIN", "cannot execute COPY FROM in a read-only transaction"),
    ("COPY public.users FROM '/etc/passwd'", "pg_read_server_files"),
    ("COPY (SELECT 1) TO '/tmp/dbconsole-should-not-exist'", "pg_write_server_files"),
    ("COPY (SELECT * FROM public.users) TO STDOUT", "COPY is not available in the SQL box"),
    ("CREATE TABLE x (a int)", "cannot execute CREATE TABLE in a read-only transaction"),
    ("CREATE TEMP TABLE x (a int)", "read-only transaction"),
    ("CREATE SCHEMA evil", "read-only transaction"),
    ("ALTER ROLE app PASSWORD 'pwned'", "read-only transaction"),
    ("GRANT ALL ON public.users TO PUBLIC", "read-only transaction"),
    ("COMMIT; DELETE FROM public.users", "cannot insert multiple commands"),
    ("COMMIT AND CHAIN", None),  # the chained transaction is READ ONLY as well
    ("ROLLBACK", None),
    ("BEGIN; SET TRANSACTION READ WRITE; DELETE FROM public.users", "cannot insert multiple commands"),
    ("SET TRANSACTION READ WRITE", "transaction read-write mode must be set before any query"),
    ("SET transaction_read_only = off", "transaction read-write mode must be set before any query"),
    ("SELECT set_config('transaction_read_only', 'off', true)", "must be set before any query"),
    ("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", None),  # rolled back: see the next test
    ("SELECT set_config('default_transaction_read_only', 'off', false)", None),  # rolled back too
    ("RESET ALL", None),
    ("CALL public.wipe_audit_log()", "cannot execute DELETE in a read-only transaction"),
    ("CALL public.commit_then_wipe()", "invalid transaction termination"),
    ("DO $$ BEGIN DELETE FROM public.users; END $$", "cannot execute DELETE in a read-only transaction"),
    ("DO $$ BEGIN COMMIT; DELETE FROM public.users; END $$", "invalid transaction termination"),
    ("DO $$ BEGIN PERFORM set_config('transaction_read_only', 'off', true); DELETE FROM public.users; END $$",
     "must be set before any query"),
    ("SELECT nextval('public.users_id_seq')", "cannot execute nextval() in a read-only transaction"),
    ("SELECT setval('public.users_id_seq', 1)", "read-only transaction"),
    ("SELECT lo_create(0)", ANY),  # PostgreSQL 15 allows it in a read-only transaction; rolled back
    ("PREPARE TRANSACTION 'x'", "prepared transactions are disabled"),
    ("VACUUM public.users", "cannot run inside a transaction block"),
    ("DISCARD ALL", "cannot run inside a transaction block"),
    ("NOTIFY dbconsole_test", None),  # queued, then dropped by the rollback
]

PROCEDURES = [
    "CREATE PROCEDURE public.wipe_audit_log() LANGUAGE plpgsql AS $$ BEGIN DELETE FROM public.audit_log; END $$",
    "CREATE PROCEDURE public.commit_then_wipe() LANGUAGE plpgsql AS $$ BEGIN COMMIT; "
    "SET TRANSACTION READ WRITE; DELETE FROM public.audit_log; COMMIT; END $$",
    "GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA public TO app",
]


def server_facts(conn: psycopg.Connection) -> dict[str, Any]:
    """Everything the attacks could have touched, beyond the rows."""
    return {
        "tables": database_state(conn),
        "sequence": conn.execute("SELECT last_value, is_called FROM public.users_id_seq").fetchone(),
        "large_objects": conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0],
        "schemas": conn.execute("SELECT array_agg(nspname ORDER BY nspname) FROM pg_namespace").fetchone()[0],
        "prepared": conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0],
        "app_password": conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'app'").fetchone()[0],
    }


@pytest.fixture
def config(tmp_path: Path, dbs):
    for admin in (dbs.server_admin, dbs.local_admin):
        with admin() as conn:
            for statement in PROCEDURES:
                conn.execute(statement)
    return load(write_config(tmp_path, dbs))


@pytest.mark.parametrize("profile_name", ["server_direct", "local"])
def test_sql_box_refuses_every_write_on_read_only_and_writable_profiles(dbs, config, profile_name) -> None:
    """``server_direct`` is a read-only profile; ``local`` is writable: the box refuses on both."""
    profile = config.profile(profile_name)
    admin = dbs.server_admin if profile_name == "server_direct" else dbs.local_admin
    with admin() as conn:
        before = server_facts(conn)
    runner = ReadOnlyQuery(profile)
    outcomes = {}
    try:
        for statement, refusal in ATTACKS:
            try:
                result = runner.run(statement)
                outcomes[statement] = f"ran: {result.status}"
            except DbconsoleError as exc:
                outcomes[statement] = f"refused: {exc}"
            if refusal is None:
                assert outcomes[statement].startswith("ran"), (statement, outcomes[statement])
            elif refusal is not ANY:
                assert outcomes[statement].startswith("refused") and refusal in outcomes[statement], \
                    (statement, outcomes[statement])
            # Whatever happened, the next statement runs on a sound, read-only session.
            assert runner.run("SHOW transaction_read_only").rows == [("on",)], statement
        # Session characteristics changed in an earlier (rolled back) statement are gone.
        assert runner.run("SHOW default_transaction_read_only").rows == [("on",)]
        with pytest.raises(DbconsoleError, match="read-only transaction"):
            runner.run("DELETE FROM public.users")
    finally:
        runner.close()
    with admin() as conn:
        assert server_facts(conn) == before
    assert not Path("/tmp/dbconsole-should-not-exist").exists()


def test_sql_box_survives_a_killed_session_and_limits_time_and_rows(dbs, config) -> None:
    runner = ReadOnlyQuery(config.profile("server_direct"), limit=100, timeout_ms=300)
    try:
        with pytest.raises(DbconsoleError, match="terminating connection"):
            runner.run("SELECT pg_terminate_backend(pg_backend_pid())")
        assert runner.run("SELECT 1 AS one").rows == [("1",)]  # a fresh session, read-only again
        with pytest.raises(DbconsoleError, match=r"statement timeout \(limit 0.3 s\)"):
            runner.run("SELECT pg_sleep(5)")
        result = runner.run("SELECT g FROM generate_series(1, 100000) g")
        assert len(result.rows) == 100 and result.truncated
        with pytest.raises(DbconsoleError, match="nothing to run"):
            runner.run("  ;  ")
    finally:
        runner.close()


def test_a_lock_taken_in_the_sql_box_ends_with_its_statement(dbs, config) -> None:
    """``LOCK TABLE ... ACCESS EXCLUSIVE`` is refused or allowed depending on the server version,
    but never outlives the statement: the box's transaction is rolled back at once."""
    runner = ReadOnlyQuery(config.profile("server_direct"))
    try:
        try:
            runner.run("LOCK TABLE public.users IN ACCESS EXCLUSIVE MODE")
        except DbconsoleError as exc:
            assert "read-only transaction" in str(exc)
        with dbs.server_admin() as other:
            other.execute("SET lock_timeout = '200ms'")
            assert other.execute("SELECT count(*) FROM public.users").fetchone()[0] > 0
    finally:
        runner.close()


def test_what_the_sql_box_can_still_do_is_limited_to_the_roles_own_sessions(dbs, config) -> None:
    """Read-only is not powerless: PostgreSQL lets a role signal its *own* sessions even in a
    read-only transaction. Documented in docs/RELIABILITY.md; another role's session is safe."""
    runner = ReadOnlyQuery(config.profile("server_direct"))
    with dbs.server.admin_connect(dbs.server_db) as superuser, dbs.server.connect(dbs.server_db) as same_role:
        try:
            with pytest.raises(DbconsoleError, match="superuser"):
                runner.run(f"SELECT pg_terminate_backend({superuser.info.backend_pid})")
            assert superuser.execute("SELECT 1").fetchone() == (1,)
            result = runner.run(f"SELECT pg_terminate_backend({same_role.info.backend_pid})")
            assert result.rows == [("True",)]  # allowed by PostgreSQL: same role
        finally:
            runner.close()


# --------------------------------------------------------------------------- connections


@pytest.mark.parametrize("autocommit", [True, False])
def test_asking_for_a_writable_session_on_a_read_only_profile_still_gets_a_read_only_one(
        dbs, tmp_path, sshd, autocommit) -> None:
    config = load(write_config(tmp_path, dbs, sshd))
    with dbs.server_admin() as admin:
        before = database_state(admin)
    for name in ("server_direct", "server"):  # direct and through the SSH tunnel
        with connect(config.profile(name), read_only=False, autocommit=autocommit) as conn:
            assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("DELETE FROM public.users")
    with dbs.server_admin() as admin:
        assert database_state(admin) == before


def test_read_only_session_is_a_default_the_client_could_lift(dbs, tmp_path) -> None:
    """Why dbconsole's own code never lifts it, and why production should also use a role without
    write privileges: ``default_transaction_read_only`` is enforced by the server for every
    transaction that does not ask otherwise, but a client that *asks* (``SET SESSION ... = off``)
    may. dbconsole never asks (see test_no_product_code_asks_for_a_writable_transaction)."""
    config = load(write_config(tmp_path, dbs))
    with connect(config.profile("server_direct"), autocommit=True) as conn:
        conn.execute("SET SESSION default_transaction_read_only = off")
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("off",)


def listener_counting_accepts() -> tuple[socket.socket, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock, sock.getsockname()[1]


def accepted(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def test_sync_into_a_read_only_target_is_refused_before_any_connection(dbs, tmp_path, capsys) -> None:
    """The read-only target points at a port that counts connections: none is ever made."""
    sock, port = listener_counting_accepts()
    try:
        path = write_config(tmp_path, dbs, extra={"profiles": {
            "prod": {"url": f"postgresql://app:pw@127.0.0.1:{port}/db", "read_only": True, "connect_timeout": 2},
            "prod_rw": {"url": f"postgresql://app:pw@127.0.0.1:{port}/db", "read_only": False, "connect_timeout": 2}},
            "sync": {"retries": 0}})
        config = str(path)
        for extra in ([], ["--dry-run"], ["--mode", "replace", "--yes"], ["--json"]):
            code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "local", "--to", "prod", *extra)
            assert_one_line(code, err, 2, "prod is read-only")
        loaded = load(path)
        with pytest.raises(ReadOnlyError, match="prod is read-only"):
            run_sync(SyncRequest(source=loaded.profile("local"), target=loaded.profile("prod")))
        with pytest.raises(ReadOnlyError):
            run_sync(SyncRequest(source=loaded.profile("local"), target=loaded.profile("prod"), dry_run=True))
        assert accepted(sock) == 0, "a connection was opened to a read-only target"
        # The control: the same port as a writable profile is connected to (and fails there).
        code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "local", "--to", "prod_rw",
                                 "--tables", "users")
        assert code == 1 and accepted(sock) >= 1
    finally:
        sock.close()


def test_planning_a_sync_only_reads_the_target(dbs, tmp_path) -> None:
    config = load(write_config(tmp_path, dbs))
    with dbs.local_admin() as local:
        before = database_state(local)
    plan = plan_sync(SyncRequest(source=config.profile("server_direct"), target=config.profile("local")))
    assert plan.tables
    with dbs.local_admin() as local:
        assert database_state(local) == before
        assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None


# --------------------------------------------------------------------------- SQL built from strings

PACKAGE = Path(__file__).resolve().parents[1] / "dbconsole"
SQL_CALLS = {"execute", "executemany", "copy", "stream", "SQL"}


def _built_from_strings(node: ast.AST) -> str | None:
    if isinstance(node, ast.JoinedStr):
        return "an f-string"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return "% or + on strings"
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, (ast.Constant, ast.JoinedStr))):
        return "str.format"
    return None


def test_no_product_code_builds_sql_from_strings() -> None:
    """Identifiers go through psycopg.sql.Identifier, values through parameters or sql.Literal.

    Every ``execute`` / ``copy`` / ``sql.SQL`` call in the package is checked: its SQL must not
    be an f-string, ``%`` / ``+`` formatting or ``str.format``.
    """
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                kind = _built_from_strings(node.args[0]) if name in SQL_CALLS else None
                if kind:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}() with {kind}")
    assert not found, "\n".join(found)


def test_no_product_code_asks_for_a_writable_transaction() -> None:
    """Nothing in the package lifts a read-only session: no SQL saying READ WRITE or turning
    ``*transaction_read_only`` off, and no ``connection.read_only = False``."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PACKAGE.parent)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Attribute) and t.attr == "read_only" for t in node.targets):
                if isinstance(node.value, ast.Constant) and node.value.value is False:
                    offenders.append(f"{where}: read_only = False")
            if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in SQL_CALLS:
                for part in ast.walk(node.args[0]):
                    if isinstance(part, ast.Constant) and isinstance(part.value, str):
                        text = " ".join(part.value.lower().split())
                        if "read write" in text or "read_only = off" in text or "read_only=off" in text:
                            offenders.append(f"{where}: {part.value!r}")
    assert not offenders, offenders
