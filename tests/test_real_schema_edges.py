"""The rest of what real schemas hold, each against the real clusters: trigger ownership, FK errors
told by side, enums, extension types, collations, row-level security, inheritance, column order."""

from __future__ import annotations

import psycopg
import pytest

from dbconsole.catalog import read_catalog
from tests.cli_checks import assert_one_line, database_state, run_cli, sync_events
from tests.profiles import write_config
from tests.real_schemas import build_real_schemas
from tests.sync_checks import all_rows, table_checksum


def both(dbs, statements: str, *, local: str | None = None) -> None:
    """Run ``statements`` on the server and (``local`` or the same) on the local side, as ``app``."""
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute(statements)
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute(local if local is not None else statements)


def sync(capsys, config, *args: str) -> tuple[int, list[dict], str]:
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--json", "--yes", *args)
    return code, sync_events(out) if out.strip() else [], err


def local_state(dbs, *, with_state_schema: bool = True) -> dict:
    with dbs.local.admin_connect(dbs.local_db) as conn:
        return {t: v for t, v in database_state(conn).items() if with_state_schema or not t.startswith("_dbconsole.")}


def same(dbs, table: str) -> bool:
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        return table_checksum(local, table) == table_checksum(server, table)


def same_rows(dbs, table: str) -> bool:
    """Row sets equal, whatever order each side's collation sorts them in."""
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        return all_rows(local, table) == all_rows(server, table)


@pytest.fixture
def real(empty_dbs, tmp_path):
    build_real_schemas(empty_dbs)
    return empty_dbs, str(write_config(tmp_path, empty_dbs))


@pytest.fixture
def plain(empty_dbs, tmp_path):
    return empty_dbs, str(write_config(tmp_path, empty_dbs))


# --------------------------------------------------------------------------- triggers


def test_triggers_on_a_table_this_role_does_not_own_are_refused_naming_keep(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE note (id int PRIMARY KEY, body text, stamped timestamptz)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO note SELECT g, 'n' || g, '2020-01-01' FROM generate_series(1, 20) g")
    with dbs.local.admin_connect(dbs.local_db) as conn:  # owned by the superuser, app may only write rows
        conn.execute("ALTER TABLE note OWNER TO postgres")
        conn.execute("GRANT ALL ON note TO app")
        conn.execute("CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS "
                     "$$BEGIN NEW.stamped := now(); RETURN NEW; END$$")
        conn.execute("CREATE TRIGGER stamp BEFORE INSERT OR UPDATE ON note FOR EACH ROW EXECUTE FUNCTION stamp()")
    before = local_state(dbs)
    code, _, err = sync(capsys, config)
    assert_one_line(code, err, 1, "public.note", "stamp", "--triggers keep")
    assert local_state(dbs) == before

    code, _, err = sync(capsys, config, "--triggers", "keep")
    assert code == 0, err
    with dbs.local.connect(dbs.local_db) as conn:  # the trigger fired: every row stamped now
        assert conn.execute("SELECT count(*) FROM note WHERE stamped > '2021-01-01'").fetchone()[0] == 20


def test_triggers_keep_from_the_config_lets_them_fire(real, tmp_path, capsys) -> None:
    dbs, _ = real
    config = str(write_config(tmp_path / "keep", dbs, extra={"sync": {"triggers": "keep"}}))
    code, events, err = sync(capsys, config, "--tables", "film")
    assert code == 0, err
    assert events[0]["tables"][0]["triggers_disabled"] == []
    assert not same(dbs, "public.film")  # last_update was stamped by the trigger on update


# --------------------------------------------------------------------------- foreign keys


def test_insert_side_fk_violation_names_child_constraint_and_parent_and_the_dry_run_predicts_it(real,
                                                                                                  capsys) -> None:
    dbs, config = real
    code, events, err = sync(capsys, config, "--tables", "payment", "--dry-run")
    assert code == 0, err
    warnings = [e["message"] for e in events if e["event"] == "notice" and e["kind"] == "warning"]
    assert any("public.customer rows that local lacks (foreign key payment_p2022_0" in w for w in warnings), warnings
    before = local_state(dbs, with_state_schema=False)
    code, _, err = sync(capsys, config, "--tables", "payment")
    line = assert_one_line(code, err, 1, "public.payment: rows reference public.", "rows that local lacks",
                           "(foreign key payment_p2022_", "on partition public.payment_p2022_", "--with-parents")
    assert "still referenced" not in line
    assert local_state(dbs, with_state_schema=False) == before


def test_delete_side_fk_violation_names_the_child_that_still_references_the_rows(real, capsys) -> None:
    dbs, config = real
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("INSERT INTO customer (customer_id, store_id, email) VALUES (9999, 1, 'x@local')")
        conn.execute("INSERT INTO payment (customer_id, staff_id, amount, payment_date) "
                     "VALUES (9999, 4, 1, '2022-01-10')")
    code, events, err = sync(capsys, config, "--tables", "customer", "--mode", "replace", "--dry-run")
    assert code == 0, err
    warnings = [e["message"] for e in events if e["event"] == "notice" and e["kind"] == "warning"]
    assert ("1 row of public.payment reference public.customer rows this replace deletes "
            "(foreign key payment_p2022_01_customer_id_fkey")\
        in " ".join(warnings), warnings
    before = local_state(dbs, with_state_schema=False)
    code, _, err = sync(capsys, config, "--tables", "customer", "--mode", "replace")
    assert_one_line(code, err, 1, "public.customer: rows the sync deletes are still referenced from public.payment",
                    "customer_id_fkey", "include public.payment in the sync or use upsert")
    assert local_state(dbs, with_state_schema=False) == before  # replace is one transaction: rolled back


def test_with_parents_under_replace_upserts_the_pulled_parents(real, capsys) -> None:
    dbs, config = real
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("INSERT INTO film VALUES (9999, 'LOCAL', 'kept', 'G')")
    code, events, err = sync(capsys, config, "--tables", "inventory", "--with-parents", "--mode", "replace")
    assert code == 0, err
    modes = {t["table"]: t["mode"] for t in events[0]["tables"]}
    assert modes == {"public.film": "upsert", "public.store": "upsert", "public.inventory": "replace"}
    assert same(dbs, "public.inventory")
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute("SELECT title FROM film WHERE film_id = 9999").fetchone() == ("kept",)


def test_a_partition_under_replace_is_refused_and_a_row_for_a_missing_partition_is_explained(real,
                                                                                              capsys) -> None:
    dbs, config = real
    code, _, err = sync(capsys, config, "--tables", "payment_p2022_01", "--mode", "replace")
    assert_one_line(code, err, 2, "public.payment_p2022_01 is a partition of public.payment", "name public.payment")
    with dbs.server.connect(dbs.server_db) as conn:  # the April partition exists on the server only
        conn.execute("INSERT INTO payment (customer_id, staff_id, amount, payment_date) VALUES (1, 4, 1, '2022-04-02')")
    code, _, err = sync(capsys, config, "--tables", "payment", "--with-parents")
    assert_one_line(code, err, 1, "fits no partition of payment on local", "create the missing partition")


# --------------------------------------------------------------------------- types


def test_enum_labels_missing_on_the_target_are_refused_and_other_orders_sync(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic');"
              "CREATE TABLE person (id int PRIMARY KEY, feeling mood)",
         local="CREATE TYPE mood AS ENUM ('happy', 'ok', 'sad');"
               "CREATE TABLE person (id int PRIMARY KEY, feeling mood)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO person SELECT g, (ARRAY['sad','ok','happy','ecstatic'])[1 + g % 4]::mood "
                     "FROM generate_series(1, 12) g")
    before = local_state(dbs)
    code, _, err = sync(capsys, config)
    assert_one_line(code, err, 1, "public.person", "enum mood", "'ecstatic'", "ADD VALUE")
    assert local_state(dbs) == before
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("ALTER TYPE mood ADD VALUE 'ecstatic'")
    code, _, err = sync(capsys, config)
    assert code == 0, err
    assert same(dbs, "public.person")


def test_citext_hstore_and_domain_columns_sync_and_a_missing_extension_is_named(plain, capsys) -> None:
    dbs, config = plain
    for cluster, db in ((dbs.server, dbs.server_db), (dbs.local, dbs.local_db)):
        with cluster.connect(db) as conn:
            available = {r[0] for r in conn.execute(
                "SELECT name FROM pg_available_extensions WHERE name IN ('citext', 'hstore')")}
        if available != {"citext", "hstore"}:
            pytest.skip(f"contrib extensions citext/hstore are not installed for the {cluster.name} cluster's binaries")
    ddl = ("CREATE EXTENSION citext; CREATE EXTENSION hstore;"
           "CREATE DOMAIN positive AS int CHECK (VALUE > 0);"
           "CREATE TABLE account (id int PRIMARY KEY, email citext UNIQUE, attrs hstore, score positive)")
    both(dbs, ddl)
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO account SELECT g, 'User' || g || '@Example.com', "
                     "hstore('k', g::text) || hstore('tag', 'x'), g FROM generate_series(1, 30) g")
    code, _, err = sync(capsys, config)
    assert code == 0, err
    assert same(dbs, "public.account")

    both(dbs, "CREATE TABLE prefs (id int PRIMARY KEY, attrs hstore)",
         local="CREATE TABLE prefs (id int PRIMARY KEY, attrs jsonb)")  # as if hstore were not installed
    before = local_state(dbs)
    code, _, err = sync(capsys, config, "--tables", "prefs")
    assert_one_line(code, err, 1, "public.prefs", "extension hstore", "CREATE EXTENSION hstore")
    assert local_state(dbs) == before


def test_column_order_differing_between_sides_and_inheritance_children(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE wide (id int PRIMARY KEY, a text, b int, c date);"
              "CREATE TABLE event (id int PRIMARY KEY, kind text);"
              "CREATE TABLE click (x int) INHERITS (event)",
         local="CREATE TABLE wide (c date, b int, id int PRIMARY KEY, a text);"
               "CREATE TABLE event (id int PRIMARY KEY, kind text);"
               "CREATE TABLE click (x int) INHERITS (event)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO wide SELECT g, 'a' || g, g * 2, date '2020-01-01' + g FROM generate_series(1, 25) g")
        conn.execute("INSERT INTO event SELECT g, 'view' FROM generate_series(1, 10) g")
        conn.execute("ALTER TABLE click ADD PRIMARY KEY (id)")
        conn.execute("INSERT INTO click SELECT g, 'click', g FROM generate_series(11, 15) g")
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("ALTER TABLE click ADD PRIMARY KEY (id)")
    code, _, err = sync(capsys, config)
    assert code == 0, err
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        order = "SELECT id, a, b, c FROM wide ORDER BY id"
        assert local.execute(order).fetchall() == server.execute(order).fetchall()
        only = "SELECT * FROM ONLY event ORDER BY id"  # the children's rows are theirs, not the parent's
        assert local.execute(only).fetchall() == server.execute(only).fetchall()
        assert all_rows(local, "public.click") == all_rows(server, "public.click")


# --------------------------------------------------------------------------- collations, RLS, sequences


def test_text_keys_under_different_collations_mean_the_same_rows_on_both_ends(plain, capsys) -> None:
    dbs, config = plain
    # "C" sorts 'B' before 'a'; ICU's root collation sorts 'a' before 'B'.
    both(dbs, 'CREATE TABLE word (w text COLLATE "C" PRIMARY KEY, n int)',
         local='CREATE TABLE word (w text COLLATE "und-x-icu" PRIMARY KEY, n int)')
    words = [chr(c) + s for c in list(range(65, 91)) + list(range(97, 123)) for s in ("", "x")]
    with dbs.server.connect(dbs.server_db) as conn:
        conn.cursor().executemany("INSERT INTO word VALUES (%s, %s)", [(w, i) for i, w in enumerate(words)])
    with dbs.local.connect(dbs.local_db) as conn:
        conn.cursor().executemany("INSERT INTO word VALUES (%s, %s)",
                                  [(w, -i) for i, w in enumerate(words) if i % 3 == 0])
        tables = {str(t.qualified): t for t in read_catalog(conn)}
    assert tables["public.word"].column("w").collation == "und-x-icu"
    code, events, err = sync(capsys, config, "--batch-size", "7")
    assert code == 0, err
    assert same_rows(dbs, "public.word")
    code, events, err = sync(capsys, config, "--batch-size", "7")
    assert code == 0, err
    assert (events[-1]["inserted"], events[-1]["updated"]) == (0, 0)
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("INSERT INTO word VALUES ('local only', 0)")
        conn.execute("UPDATE word SET n = 0 WHERE w IN ('a', 'B')")
    code, events, err = sync(capsys, config, "--batch-size", "7", "--mode", "replace")
    assert code == 0, err
    assert same_rows(dbs, "public.word")


def test_row_level_security_on_the_target_is_refused_in_one_line(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE secret (id int PRIMARY KEY, owner text)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO secret SELECT g, 'u' || g FROM generate_series(1, 10) g")
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("INSERT INTO secret VALUES (1, 'mine')")
        conn.execute("ALTER TABLE secret ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE secret FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY only_low ON secret USING (id > 5)")
    before = local_state(dbs)
    code, _, err = sync(capsys, config)
    assert_one_line(code, err, 1, "public.secret has row-level security on local", "BYPASSRLS")
    assert local_state(dbs) == before


def test_sequences_never_move_backwards(real, capsys) -> None:
    dbs, config = real
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("SELECT setval('customer_id_seq', 100000)")
    code, _, err = sync(capsys, config, "--tables", "customer")
    assert code == 0, err
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute("SELECT nextval('customer_id_seq')").fetchone()[0] == 100001


def test_each_trigger_ends_in_the_state_it_had_always_replica_and_disabled_clones_included(real, capsys) -> None:
    dbs, config = real
    states = "SELECT tgrelid::regclass::text, tgname, tgenabled::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("ALTER TABLE payment_p2022_02 DISABLE TRIGGER last_updated")  # a clone of the parent's
        conn.execute("ALTER TABLE customer ENABLE ALWAYS TRIGGER last_updated")
        conn.execute("ALTER TABLE film ENABLE REPLICA TRIGGER last_updated")
        before = conn.execute(states).fetchall()
    assert ("payment_p2022_02", "last_updated", "D") in before
    code, _, err = sync(capsys, config)
    assert code == 0, err
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute(states).fetchall() == before
    assert same(dbs, "public.customer") and same(dbs, "public.payment")


def test_an_interrupted_copy_resumes_right_when_the_sides_sort_keys_differently(plain, tmp_path) -> None:
    """The fast path (COPY straight into an empty target) resumes only if the target holds no row
    past the last copied key; asked in the *target's* order that question means other rows, so with
    other collations the rest goes through the stage: a row added meanwhile ('a', after 'D' in the
    source's "C" order but before it in ICU's) is updated, not a duplicate-key failure."""
    import threading

    from dbconsole.sync import SyncRequest
    from dbconsole.sync.engine import run_sync
    from dbconsole.sync.events import Progress
    from tests.profiles import load

    dbs, config_path = plain
    both(dbs, 'CREATE TABLE word (w text COLLATE "C" PRIMARY KEY, n int)',
         local='CREATE TABLE word (w text COLLATE "und-x-icu" PRIMARY KEY, n int)')
    words = [chr(c) + s for c in list(range(65, 91)) + list(range(97, 123)) for s in ("", "x")]
    with dbs.server.connect(dbs.server_db) as conn:
        conn.cursor().executemany("INSERT INTO word VALUES (%s, %s)", [(w, i) for i, w in enumerate(words)])
    config = load(tmp_path / "dbconsole.toml")
    request = SyncRequest(source=config.profile("server_direct"), target=config.profile("local"),
                          tables=("word",), batch_size=7, settings=config.sync)
    cancel = threading.Event()
    summary = run_sync(request, on_event=lambda e: cancel.set() if isinstance(e, Progress) else None, cancel=cancel)
    assert summary.cancelled
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute("SELECT max(w COLLATE \"C\") FROM word").fetchone() == ("D",)  # one batch: A .. D
        conn.execute("INSERT INTO word VALUES ('a', -1)")
    summary = run_sync(request)
    assert not summary.cancelled
    assert same_rows(dbs, "public.word")


def test_an_initially_deferred_fk_that_fails_at_commit_is_explained_and_nothing_is_written(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE team (id int PRIMARY KEY);"
              "CREATE TABLE member (id int PRIMARY KEY, team_id int "
              "CONSTRAINT member_team_fkey REFERENCES team (id) DEFERRABLE INITIALLY DEFERRED)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO team SELECT generate_series(1, 3)")
        conn.execute("INSERT INTO member SELECT g, 1 + g % 3 FROM generate_series(1, 9) g")
    before = local_state(dbs, with_state_schema=False)
    code, _, err = sync(capsys, config, "--tables", "member")
    assert_one_line(code, err, 1, "public.member: rows reference public.team rows that local lacks",
                    "member_team_fkey", "--with-parents")
    assert local_state(dbs, with_state_schema=False) == before
    code, _, err = sync(capsys, config, "--tables", "member", "--with-parents")
    assert code == 0, err
    assert same(dbs, "public.member")


def test_the_dry_run_of_replace_warns_about_on_delete_cascade_outside_the_run(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE author (id int PRIMARY KEY);"
              "CREATE TABLE book (id int PRIMARY KEY, author_id int REFERENCES author (id) ON DELETE CASCADE)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO author SELECT generate_series(1, 3)")
    with dbs.local.connect(dbs.local_db) as conn:
        conn.execute("INSERT INTO author SELECT generate_series(1, 5)")
        conn.execute("INSERT INTO book SELECT g, g FROM generate_series(1, 5) g")
    code, events, err = sync(capsys, config, "--tables", "author", "--mode", "replace", "--dry-run")
    assert code == 0, err
    warnings = [e["message"] for e in events if e["event"] == "notice" and e["kind"] == "warning"]
    assert any("2 rows of public.book would be deleted too (foreign key" in w
               for w in warnings), warnings


def test_row_level_security_on_the_source_is_a_plan_warning_and_only_visible_rows_move(plain, capsys) -> None:
    dbs, config = plain
    both(dbs, "CREATE TABLE ticket (id int PRIMARY KEY)")
    with dbs.server.connect(dbs.server_db) as conn:
        conn.execute("INSERT INTO ticket SELECT generate_series(1, 10)")
        conn.execute("ALTER TABLE ticket ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE ticket FORCE ROW LEVEL SECURITY")
        conn.execute("CREATE POLICY first_half ON ticket USING (id <= 5)")
    code, events, err = sync(capsys, config)
    assert code == 0, err
    assert any("row-level security on server_direct applies to this role" in w
               for w in events[0]["tables"][0]["warnings"])
    with dbs.local.connect(dbs.local_db) as conn:
        assert conn.execute("SELECT count(*) FROM ticket").fetchone()[0] == 5
