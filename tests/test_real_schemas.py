"""A real application's schema, synced end to end through the CLI: partitions with FKs on each
partition, ``last_update`` triggers everywhere, sequences without OWNED BY, and the rest."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from dbconsole.catalog import read_catalog
from dbconsole.compare import compare_tables
from tests.cli_checks import database_state, run_cli, sync_events
from tests.profiles import write_config
from tests.real_schemas import REAL_SEQUENCES, REAL_TABLES, build_real_schemas
from tests.sync_checks import qualified, table_checksum


def checksums(cluster, db) -> dict[str, tuple[int, str]]:
    with cluster.connect(db) as conn:
        return {t: table_checksum(conn, t) for t in REAL_TABLES}


def sync(capsys, config, *args: str) -> tuple[int, list[dict], str]:
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--json", *args)
    return code, sync_events(out), err


def done_counts(events: list[dict]) -> dict[str, tuple[int, int, int]]:
    return {e["table"]: (e["inserted"], e["updated"], e["deleted"]) for e in events if e["event"] == "table_done"}


def user_triggers(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return conn.execute("SELECT tgrelid::regclass::text, tgname, tgenabled::text FROM pg_trigger "
                        "WHERE NOT tgisinternal ORDER BY 1, 2").fetchall()


@pytest.fixture
def real(empty_dbs, tmp_path):
    build_real_schemas(empty_dbs)
    return empty_dbs, str(write_config(tmp_path, empty_dbs))


def test_catalog_folds_partitions_into_their_table_with_keys_fks_and_triggers(real) -> None:
    dbs, _ = real
    with dbs.server.connect(dbs.server_db) as conn:
        tables = {str(t.qualified): t for t in read_catalog(conn)}
    assert sorted(tables) == REAL_TABLES  # partitions are not tables of their own
    payment = tables["public.payment"]
    assert [str(p.qualified) for p in payment.partitions] == [
        "public.payment_p2022_01", "public.payment_p2022_02", "public.payment_p2022_03", "public.payment_p2022_04"]
    assert payment.primary_key == ("payment_date", "payment_id")
    assert {(fk.name, str(fk.parent), str(fk.declared_on)) for fk in payment.foreign_keys} >= {
        ("payment_p2022_01_customer_id_fkey", "public.customer", "public.payment_p2022_01"),
        ("payment_p2022_03_staff_id_fkey", "public.staff", "public.payment_p2022_03")}
    assert payment.estimated_rows == 900 and payment.size_bytes >= sum(p.size_bytes for p in payment.partitions)
    assert {str(t) for t in payment.triggers} >= {"public.payment.last_updated",
                                                  "public.payment_p2022_01.p2022_01_stamp"}
    assert payment.sequences == {"payment_id": "payment_id_seq"}  # DEFAULT nextval, no OWNED BY
    assert tables["public.staff"].sequences == {"staff_id": "shared_id_seq"}
    assert tables["public.store"].sequences == {"store_id": "shared_id_seq"}
    assert [str(m) for m in payment.matviews] == ["public.customer_totals"]
    film = tables["public.inventory"].foreign_keys
    assert any(fk.parent_columns == ("code",) for fk in film)  # FK to a UNIQUE constraint


def test_real_schema_full_sync_is_exact_idempotent_and_replace_ends_identical(real, capsys) -> None:
    dbs, config = real
    local_before = database_state_of(dbs)

    # The dry run predicts the sync, says which triggers it will disable, and writes nothing.
    code, preview, err = sync(capsys, config, "--dry-run")
    assert code == 0, err
    assert database_state_of(dbs) == local_before
    plan = preview[0]
    payment_plan = next(t for t in plan["tables"] if t["table"] == "public.payment")
    assert "public.payment_p2022_01.p2022_01_stamp" in payment_plan["triggers_disabled"]
    assert any("payment_p2022_04 exists only on server_direct" in w for w in payment_plan["warnings"])
    order = [t["table"] for t in plan["tables"]]
    assert order.index("public.customer") < order.index("public.payment") > order.index("public.staff")
    assert plan["matviews"] == ["public.customer_totals"]
    assert not [e for e in preview if e["event"] == "notice" and e["kind"] == "warning"
                and "lacks" in e["message"]]

    notices = [e["message"] for e in preview if e["event"] == "notice"]
    assert any(n.startswith("would disable user triggers public.customer.last_updated") for n in notices), notices

    code, events, err = sync(capsys, config, "--yes")
    assert code == 0, err
    assert any(e["event"] == "notice" and e["table"] == "public.payment" and "disabling user triggers" in e["message"]
               and "public.payment_p2022_01.p2022_01_stamp" in e["message"] for e in events)
    assert done_counts(events) == {t: (i, u, 0) for t, (i, u, _) in done_counts(preview).items()}
    assert done_counts(events)["public.payment"][0] == 400  # the rows the local copy lacked
    assert checksums(dbs.local, dbs.local_db) == checksums(dbs.server, dbs.server_db)
    with dbs.local.connect(dbs.local_db) as local:
        assert all(state == "O" for _, _, state in user_triggers(local))  # back on after the sync
        for sequence, tables in REAL_SEQUENCES.items():
            highest = max(local.execute(sql.SQL("SELECT max({}) FROM {}").format(
                sql.Identifier(_id_column(local, t)), qualified(t).ident)).fetchone()[0] for t in tables)
            assert local.execute("SELECT nextval(%s)", (sequence,)).fetchone()[0] > highest, sequence

    code, again, err = sync(capsys, config, "--yes")
    assert code == 0, err
    assert all(i == u == 0 for i, u, _ in done_counts(again).values()), done_counts(again)

    # replace: local edits and local-only rows are undone, the target ends identical.
    with dbs.local.connect(dbs.local_db) as local:
        local.execute("UPDATE customer SET email = 'changed@example.com' WHERE customer_id <= 5")
        local.execute("INSERT INTO payment (customer_id, staff_id, amount, payment_date) "
                      "VALUES (1, (SELECT min(staff_id) FROM staff), 1, '2022-01-15')")
        local.execute("DELETE FROM payment WHERE payment_id % 50 = 0")
    code, events, err = sync(capsys, config, "--yes", "--mode", "replace", "--refresh-matviews")
    assert code == 0, err
    assert checksums(dbs.local, dbs.local_db) == checksums(dbs.server, dbs.server_db)
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        totals = "SELECT customer_id, total, payments FROM customer_totals ORDER BY 1"
        assert local.execute(totals).fetchall() == server.execute(totals).fetchall()


def database_state_of(dbs) -> dict:
    with dbs.local.connect(dbs.local_db) as conn:
        return database_state(conn)


def _id_column(conn: psycopg.Connection, table: str) -> str:
    return {"public.customer": "customer_id", "public.payment": "payment_id", "public.staff": "staff_id",
            "public.store": "store_id"}[table]


def test_naming_a_partition_syncs_its_table_with_a_notice(real, capsys) -> None:
    dbs, config = real
    code, events, err = sync(capsys, config, "--tables", "payment_p2022_02", "--with-parents")
    assert code == 0, err
    notices = [e["message"] for e in events if e["event"] == "notice"]
    assert any("public.payment_p2022_02 is a partition of public.payment" in n for n in notices), notices
    assert "public.payment" in done_counts(events)
    with dbs.local.connect(dbs.local_db) as local, dbs.server.connect(dbs.server_db) as server:
        assert table_checksum(local, "public.payment") == table_checksum(server, "public.payment")


def test_tables_json_lists_partitions_and_stays_one_catalog_query_with_100_partitions(empty_dbs, tmp_path,
                                                                                      capsys) -> None:
    for cluster, db in ((empty_dbs.local, empty_dbs.local_db), (empty_dbs.server, empty_dbs.server_db)):
        with cluster.connect(db) as conn:
            for t in range(3):
                conn.execute(sql.SQL("CREATE TABLE {} (id int, k int, PRIMARY KEY (k, id)) PARTITION BY LIST (k)")
                             .format(sql.Identifier(f"big{t}")))
                for p in range(100):
                    conn.execute(sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES IN ({})").format(
                        sql.Identifier(f"big{t}_p{p}"), sql.Identifier(f"big{t}"), sql.Literal(p)))
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.cursor_factory = CountingCursor
        CountingCursor.statements = 0
        tables = read_catalog(conn)
        assert CountingCursor.statements == 1  # one statement, whatever the number of partitions
    assert [len(t.partitions) for t in tables] == [100, 100, 100]
    config = str(write_config(tmp_path, empty_dbs))
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "local", "--right", "server_direct",
                             "--json")
    assert code == 0, err
    rows = json.loads(out)["tables"]
    assert [r["table"] for r in rows] == ["public.big0", "public.big1", "public.big2"]
    assert len(rows[0]["partitions"]) == 100 and rows[0]["partitions"][0]["table"] == "public.big0_p0"
    assert compare_tables(tables, tables)[0].partitions[0].right_rows == 0


class CountingCursor(psycopg.Cursor):
    """A real cursor that counts the statements it sends."""

    statements = 0

    def execute(self, *args, **kwargs):
        CountingCursor.statements += 1
        return super().execute(*args, **kwargs)
