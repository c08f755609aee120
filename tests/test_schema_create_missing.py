"""``sync --create-missing`` against real clusters: an application schema that exists only on the
server is created on an empty local database in dependency order, the rows then match, a second
run changes nothing, and an existing table only ever gains (never loses or retypes) columns."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.cli_checks import assert_one_line, database_state, run_cli, sync_events, user_tables
from tests.profiles import write_config
from tests.schema_samples import SAMPLE_TABLES, build_sample_schema
from tests.sync_checks import table_checksum


def _checksums(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    return {t: table_checksum(conn, t) for t in SAMPLE_TABLES}


def _sync(capsys, config, *args: str):
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                             "--create-missing", "--yes", "--json", *args)
    return code, sync_events(out), err


def test_create_missing_builds_the_whole_schema_and_the_rows_match(empty_dbs, tmp_path, capsys) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    config = write_config(tmp_path, empty_dbs)

    code, events, err = _sync(capsys, config)
    assert code == 0, err
    created = next(e for e in events if e["event"] == "create_missing")
    assert created["applied"] and not created["conflicts"]
    assert sorted(created["created_tables"]) == sorted(['"Sales"."Order Lines"', "public.accounts", "public.articles",
                                                        "public.events", "public.projects", "public.tasks"])
    assert any("triggers are not created" in note for note in created["notes"])
    with empty_dbs.local_admin() as local, empty_dbs.server_admin() as server:
        assert _checksums(local) == _checksums(server)
        # The partitions, with their bounds, exist and hold the rows where the server has them.
        parts = "SELECT c.relname, count(*) OVER () FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid ORDER BY 1"
        assert local.execute(parts).fetchall() == server.execute(parts).fetchall()
        assert local.execute("SELECT count(*) FROM events_2024_click").fetchone() == \
            server.execute("SELECT count(*) FROM events_2024_click").fetchone()
        # Types, the FK chain with its actions, identity and generated columns came along.
        assert local.execute("SELECT enum_range(NULL::status)::text").fetchone()[0] == "{todo,doing,done}"
        fks = ("SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
               "WHERE contype = 'f' ORDER BY 1, 2")
        assert local.execute(fks).fetchall() == server.execute(fks).fetchall()
        idx = "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c " \
              "ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace " \
              "WHERE n.nspname IN ('public', 'Sales') ORDER BY 1"
        assert local.execute(idx).fetchall() == server.execute(idx).fetchall()
        ident = ("SELECT attrelid::regclass::text, attname, attidentity, attgenerated FROM pg_attribute "
                 "WHERE (attidentity <> '' OR attgenerated <> '') ORDER BY 1, 2")
        assert local.execute(ident).fetchall() == server.execute(ident).fetchall()
        # Sequences moved past the synced maximum: the next insert does not collide.
        local.execute("INSERT INTO projects (account_id, title) VALUES (1, 'new')")
        local.execute("INSERT INTO accounts (email) VALUES ('new@example.com')")
        before = database_state(local)

    code, events, err = _sync(capsys, config)
    assert code == 0, err
    again = next(e for e in events if e["event"] == "create_missing")
    assert again["statements"] == [] and not again["applied"]
    done = [e for e in events if e["event"] == "done"][0]
    with empty_dbs.local_admin() as local:
        after = database_state(local)
    # Only the two rows inserted above differ from the server; the sync wrote nothing else.
    assert done["inserted"] == 0 and done["deleted"] == 0
    assert {k: v for k, v in after.items() if not k.startswith("_dbconsole.")} == \
        {k: v for k, v in before.items() if not k.startswith("_dbconsole.")}


def test_dry_run_prints_the_ddl_and_writes_nothing(empty_dbs, tmp_path, capsys) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    config = write_config(tmp_path, empty_dbs)
    with empty_dbs.local_admin() as local:
        before = user_tables(local)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                             "--create-missing", "--dry-run")
    assert code == 0, err
    assert 'CREATE TYPE "public"."status" AS ENUM' in out
    assert 'CREATE TABLE "public"."events_2024" PARTITION OF "public"."events"' in out
    # Foreign keys come after every table they join.
    assert out.index('CREATE TABLE "Sales"."Order Lines"') < out.index("FOREIGN KEY") 
    with empty_dbs.local_admin() as local:
        assert user_tables(local) == before
        assert local.execute("SELECT to_regtype('public.status')").fetchone()[0] is None


def _both_sample(empty_dbs) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        build_sample_schema(local, data=False)


def test_a_server_column_appears_locally_and_a_local_one_is_untouched(empty_dbs, tmp_path, capsys) -> None:
    _both_sample(empty_dbs)
    with empty_dbs.server_admin() as server:
        server.execute("ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free'")
        server.execute("UPDATE accounts SET plan = 'pro' WHERE id % 2 = 0")
        server.execute("ALTER TABLE projects ADD COLUMN archived_at timestamptz")
        server.execute("ALTER TYPE status ADD VALUE 'blocked' AFTER 'doing'")
    with empty_dbs.local_admin() as local:
        local.execute("ALTER TABLE accounts ADD COLUMN local_note text DEFAULT 'mine'")
    config = write_config(tmp_path, empty_dbs)
    code, events, err = _sync(capsys, config, "--tables", "accounts,projects")
    assert code == 0, err
    created = next(e for e in events if e["event"] == "create_missing")
    assert created["created_tables"] == []
    with empty_dbs.local_admin() as local:
        columns = [r[0] for r in local.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0 "
            "AND NOT attisdropped ORDER BY attnum")]
        assert columns[-2:] == ["local_note", "plan"]
        assert local.execute("SELECT count(*) FILTER (WHERE plan = 'pro'), count(*) FILTER (WHERE local_note = 'mine') "
                             "FROM accounts").fetchone() == (20, 40)
        assert local.execute("SELECT is_nullable FROM information_schema.columns "
                             "WHERE table_name = 'projects' AND column_name = 'archived_at'").fetchone() == ("YES",)
        assert local.execute("SELECT enum_range(NULL::status)::text").fetchone()[0] == "{todo,doing,blocked,done}"


def test_a_type_conflict_skips_the_table_naming_column_and_both_types(empty_dbs, tmp_path, capsys) -> None:
    _both_sample(empty_dbs)
    with empty_dbs.server_admin() as server:
        server.execute('ALTER TABLE "Sales"."Order Lines" ADD COLUMN "Extra" text')
    with empty_dbs.local_admin() as local:
        local.execute('ALTER TABLE "Sales"."Order Lines" ALTER COLUMN "Note" TYPE integer USING 0')
        before = local.execute('SELECT count(*) FROM "Sales"."Order Lines"').fetchone()
    config = write_config(tmp_path, empty_dbs)
    code, events, err = _sync(capsys, config, "--tables", 'accounts,projects,tasks,"Sales"."Order Lines"')
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert '"Sales"."Order Lines"."Note"' in lines[0], lines[0]
    assert "server_direct has character varying(40), local has integer" in lines[0], lines[0]
    with empty_dbs.local_admin() as local:
        # The conflicting table is left exactly as it was: no column added, no rows synced.
        assert local.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = '\"Sales\".\"Order Lines\"'::regclass "
                             "AND attname = 'Extra'").fetchone()[0] == 0
        assert local.execute('SELECT count(*) FROM "Sales"."Order Lines"').fetchone() == before
        assert local.execute("SELECT count(*) FROM tasks").fetchone()[0] == 300
    done = [e for e in events if e["event"] == "table_done"]
    assert {e["table"] for e in done} == {"public.accounts", "public.projects", "public.tasks"}


def test_a_column_the_sync_can_load_is_no_conflict(empty_dbs, tmp_path, capsys) -> None:
    """The sync's own type rule decides: integer on the server into bigint on local loads fine."""
    _both_sample(empty_dbs)
    with empty_dbs.local_admin() as local:
        local.execute("ALTER TABLE articles ALTER COLUMN id TYPE bigint")
    code, events, err = _sync(capsys, write_config(tmp_path, empty_dbs), "--tables", "articles")
    assert code == 0, err
    assert next(e for e in events if e["event"] == "create_missing")["conflicts"] == []


def test_create_missing_json_names_what_it_would_create(empty_dbs, tmp_path, capsys) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    config = write_config(tmp_path, empty_dbs)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                             "--create-missing", "--dry-run", "--json", "--tables", "tasks,events_2024_click")
    assert code == 0, err
    event = json.loads(out.splitlines()[0])
    # A partition named means its partitioned table, created with every partition.
    assert event["event"] == "create_missing" and event["created_tables"] == ["public.tasks", "public.events"]
    assert sum("PARTITION OF" in s for s in event["statements"]) == 4
    # tasks' parent (projects) is not selected and not on local: its FK is named as not created.
    assert any("tasks_project_id_fkey" in note for note in event["notes"])
    assert any("CREATE DOMAIN \"public\".\"positive_int\"" in s for s in event["statements"])


def test_a_feature_the_older_target_lacks_is_refused_and_nothing_is_created(empty_dbs, tmp_path, capsys) -> None:
    """Server PG 16 -> local PG 15 (run with DBCONSOLE_TEST_SERVER_BIN=pgserver): ``IS JSON`` (new in
    16) in a check constraint cannot be created on 15; the whole DDL step is refused, in one line."""
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        server_version = server.info.server_version // 10000
        local_version = local.info.server_version // 10000
    if server_version < 16 or local_version >= 16:
        pytest.skip(f"needs a PG 16+ server and an older local (have {server_version} -> {local_version})")
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server, data=False)
        server.execute("CREATE TABLE docs (id int PRIMARY KEY, body text CHECK (body IS JSON OBJECT))")
    config = write_config(tmp_path, empty_dbs)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "server_direct", "--to", "local",
                             "--create-missing", "--yes")
    assert_one_line(code, err, 1, "local refused to create constraint docs_body_check on public.docs",
                           "PostgreSQL 16", "local is 15", "nothing was created")
    with empty_dbs.local_admin() as local:
        assert user_tables(local) == []


def test_the_real_schema_is_created_from_nothing_with_its_partition_fks(empty_dbs, tmp_path, capsys) -> None:
    """Issue 9's schema (FKs declared on each partition, a sequence shared by two tables without
    OWNED BY, an FK to a UNIQUE key, two schemas with the same table name) into an empty local."""
    from tests.real_schemas import REAL_TABLES, build_real_schema

    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_real_schema(server, older=False)
    config = write_config(tmp_path, empty_dbs)
    code, events, err = _sync(capsys, config)
    assert code == 0, err
    created = next(e for e in events if e["event"] == "create_missing")
    assert sorted(created["created_tables"]) == sorted(REAL_TABLES)
    with empty_dbs.local_admin() as local, empty_dbs.server_admin() as server:
        for table in REAL_TABLES:
            assert table_checksum(local, table) == table_checksum(server, table), table
        fks = ("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
               "WHERE contype = 'f' AND conparentid = 0 ORDER BY 1, 2")
        assert local.execute(fks).fetchall() == server.execute(fks).fetchall()
        # The shared sequence is one sequence on local too, past both tables' maximum.
        assert local.execute("SELECT nextval('shared_id_seq') > (SELECT max(staff_id) FROM staff) "
                             "AND currval('shared_id_seq') > (SELECT max(store_id) FROM store)").fetchone()[0]


def test_with_parents_creates_the_parents_too(empty_dbs, tmp_path, capsys) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    config = write_config(tmp_path, empty_dbs)
    code, events, err = _sync(capsys, config, "--tables", "tasks", "--with-parents")
    assert code == 0, err
    created = next(e for e in events if e["event"] == "create_missing")
    assert sorted(created["created_tables"]) == ["public.accounts", "public.projects", "public.tasks"]
    assert not created["notes"]
    with empty_dbs.local_admin() as local, empty_dbs.server_admin() as server:
        for table in ("public.accounts", "public.projects", "public.tasks"):
            assert table_checksum(local, table) == table_checksum(server, table), table
