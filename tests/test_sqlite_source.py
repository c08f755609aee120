"""A real SQLite file shaped like a Django project, synced into PostgreSQL tables of Django's DDL.

``empty_dbs.local`` gets the migrated (empty) schema and is the sync's target;
``empty_dbs.server`` holds the reference: the same rows, typed, written straight into
PostgreSQL. After the sync every row's checksum on the target equals the reference's.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from tests.cli_checks import assert_one_line, run_cli, sync_events
from tests.django_sqlite import TABLES, create_postgres_schema, make_rows, row_checksums, write_reference, write_sqlite
from tests.profiles import PASSWORD_VAR


@pytest.fixture
def project(empty_dbs, tmp_path: Path) -> dict[str, Any]:
    rows = make_rows()
    path = tmp_path / "db.sqlite3"
    write_sqlite(path, rows)
    with empty_dbs.local_admin() as local:
        create_postgres_schema(local)
        local.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {empty_dbs.local.user}")
        local.execute(f"ALTER TABLE shop_customer OWNER TO {empty_dbs.local.user}")
        local.execute(f"ALTER TABLE shop_order OWNER TO {empty_dbs.local.user}")
        local.execute(f"ALTER TABLE django_migrations OWNER TO {empty_dbs.local.user}")
    with empty_dbs.server_admin() as server:
        write_reference(server, rows)
        server.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {empty_dbs.server.user}")
    server = empty_dbs.server
    config = tmp_path / "dbconsole.toml"
    config.write_text(tomli_w.dumps({"default_profile": "local", "profiles": {
        "lite": {"url": f"sqlite:///{path}"},
        "local": {"url": empty_dbs.local_url},
        "reference": {"url": f"postgresql://{server.user}:${{{PASSWORD_VAR}}}@{server.host}:{server.port}/"
                             f"{empty_dbs.server_db}", "read_only": True},
    }}), encoding="utf-8")
    (tmp_path / ".env").write_text(f"{PASSWORD_VAR}='{server.password}'\n", encoding="utf-8")
    return {"rows": rows, "path": path, "config": str(config), "dbs": empty_dbs}


def sync(capsys, project, *extra: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", project["config"], "sync", "--from", "lite", "--to", "local", "--json",
                   "--batch-size", "64", *extra)


def test_django_sqlite_syncs_into_migrated_postgres_exactly(project, capsys):
    code, out, err = sync(capsys, project)
    assert code == 0, err
    events = sync_events(out)
    done = {e["table"]: e for e in events if e["event"] == "table_done"}
    assert set(done) == set(TABLES)
    assert done["public.shop_order"]["inserted"] == 1000 and done["public.shop_customer"]["inserted"] == 300
    order = [e["table"] for e in events if e["event"] == "table_start"]
    assert order.index("public.shop_customer") < order.index("public.shop_order")  # FK parents first
    dbs = project["dbs"]
    with dbs.local_admin() as local, dbs.server_admin() as reference:
        for table in TABLES:
            synced, expected = row_checksums(local, table), row_checksums(reference, table)
            assert len(synced) == len(expected) == len(project["rows"][table.split(".")[1]])
            assert synced == expected, [k for k in expected if synced.get(k) != expected[k]][:5]
        # Sequences moved past the maximum: the app's next insert does not collide.
        new_id = local.execute(
            "INSERT INTO shop_order (placed_at, paid, total, customer_id) VALUES (now(), true, 1, 1) RETURNING id"
        ).fetchone()[0]
        assert new_id > 2000
    # A second run finds nothing to change.
    code, out, err = sync(capsys, project)
    assert code == 0, err
    again = [e for e in sync_events(out) if e["event"] == "table_done"]
    assert all(e["inserted"] == 0 and e["updated"] == 0 for e in again), again


def test_a_bad_value_stops_the_table_with_one_line_naming_key_column_and_type(project, capsys):
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_customer SET is_active = 'maybe' WHERE id = 200")
    code, out, err = sync(capsys, project, "--tables", "shop_customer")
    line = assert_one_line(code, err, 1, "public.shop_customer", "key (id)=(200)", "column is_active", "text value",
                           "boolean")
    assert "maybe" not in line and "maybe" not in out
    with project["dbs"].local_admin() as local:
        written = local.execute("SELECT count(*) FROM shop_customer").fetchone()[0]
    assert written == 192  # the three batches before the bad row's batch, committed; none of its batch
    # Fixed at the source, the run resumes after the committed batches.
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_customer SET is_active = 1 WHERE id = 200")
    code, out, err = sync(capsys, project, "--tables", "shop_customer")
    assert code == 0, err
    start = next(e for e in sync_events(out) if e["event"] == "table_start")
    assert start["resume_rows"] == 192


def test_a_value_postgres_refuses_names_the_key_not_the_value(project, capsys):
    """A decimal too wide for numeric(12, 2) converts in Python; PostgreSQL refuses it."""
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_customer SET balance = '987654321098765.25' WHERE id = 70")
    code, _, err = sync(capsys, project, "--tables", "shop_customer")
    line = assert_one_line(code, err, 1, "public.shop_customer", "key (id)=(70)", "column balance",
                           "PostgreSQL refused the value")
    assert "987654321098765" not in line


def test_tables_schema_and_diff_against_the_sqlite_profile(project, capsys):
    config = project["config"]
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "lite", "--right", "reference", "--json",
                             "--exact")
    assert code == 0, err
    listing = {t["table"]: t for t in json.loads(out)["tables"]}
    assert listing["public.shop_order"]["estimated"]["left"] is False  # SQLite counts are exact
    assert listing["public.shop_order"]["left_rows"] == listing["public.shop_order"]["right_rows"] == 1000

    code, out, err = run_cli(capsys, "--config", config, "schema", "--left", "lite", "--right", "reference", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["tables"] == {}, report["tables"]  # Django's two DDLs line up: names, keys, FKs, nullability
    assert report["migrations"]["left"]["tool"] == report["migrations"]["right"]["tool"] == "django"
    assert report["migrations"]["left"]["current"] == "shop.0002_order_note"
    assert report["migrations"]["comparison"]["behind"] is None

    code, out, err = run_cli(capsys, "--config", config, "diff", "--left", "lite", "--right", "reference", "--json")
    assert code == 0, err
    diff = {t["table"]: t for t in json.loads(out)["tables"]}
    assert all(t["status"] == "same" for t in diff.values()), diff

    # Against the empty migrated target: every row only on the SQLite side.
    code, out, err = run_cli(capsys, "--config", config, "diff", "--left", "lite", "--right", "local", "--json")
    assert code == 0, err
    diff = {t["table"]: t for t in json.loads(out)["tables"]}
    assert diff["public.shop_order"]["only_left"] == 1000 and diff["public.shop_order"]["status"] == "differ"

    # One changed value in SQLite is one changed row, by key.
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_order SET paid = 1 - paid WHERE id = 42")
    code, out, err = run_cli(capsys, "--config", config, "diff", "--left", "lite", "--right", "reference", "--json",
                             "--rows", "--tables", "shop_order")
    assert code == 0, err
    table = json.loads(out)["tables"][0]
    assert (table["changed"], table["only_left"], table["only_right"]) == (1, 0, 0)
    assert table["rows"] == [{"key": {"id": 42}, "kind": "changed"}]

    # Human output of each, no traceback.
    code, out, err = run_cli(capsys, "--config", config, "tables", "--left", "lite", "--right", "reference")
    assert code == 0 and "public.shop_order" in out, (out, err)
    code, out, err = run_cli(capsys, "--config", config, "schema", "--left", "lite", "--right", "local")
    assert code == 0 and "no schema differences between lite and local" in out, (out, err)
    assert "local is 4 migrations behind" in out, out  # the migrated target has not recorded its migrations


def test_sqlite_is_never_a_target_and_postgres_only_things_refuse(project, capsys, tmp_path):
    config = project["config"]
    code, _, err = run_cli(capsys, "--config", config, "sync", "--from", "local", "--to", "lite", "--yes")
    assert_one_line(code, err, 2, "lite is a SQLite file", "source only")  # as any read-only target
    code, _, err = run_cli(capsys, "--config", config, "health", "lite")
    assert_one_line(code, err, 1, "lite is a SQLite file")
    code, _, err = sync(capsys, project, "--mode", "replace", "--yes")
    assert_one_line(code, err, 2, "upsert only")
    code, _, err = sync(capsys, project, "--where", "shop_order:id < 5")
    assert_one_line(code, err, 2, "--where")
    for extra, fragment in (({"ssh": {"host": "example.com"}}, "cannot go through SSH"),
                            ({"read_only": False}, "always read-only")):
        bad = tmp_path / f"bad{len(fragment)}.toml"
        bad.write_text(tomli_w.dumps({"profiles": {"lite": {"url": "sqlite:////nowhere.sqlite3", **extra}}}))
        code, _, err = run_cli(capsys, "--config", str(bad), "profiles")
        assert_one_line(code, err, 2, fragment)
    missing = tmp_path / "missing.toml"
    missing.write_text(tomli_w.dumps({"profiles": {"lite": {"url": "sqlite:////nowhere/db.sqlite3"},
                                                   "local": {"url": project["dbs"].local_url}}}))
    code, _, err = run_cli(capsys, "--config", str(missing), "tables", "--left", "lite", "--right", "local")
    assert_one_line(code, err, 1, "lite: no SQLite database at /nowhere/db.sqlite3")


def test_the_file_is_opened_read_only(project):
    """``mode=ro``: even a write through dbconsole's own connection is refused by SQLite."""
    from dbconsole.config import load_config
    from dbconsole.sqlite.source import open_sqlite

    profile = load_config(Path(project["config"]), environ={}).profile("lite")
    conn = open_sqlite(profile)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM shop_order")
    finally:
        conn.close()


def test_dry_run_counts_and_writes_nothing(project, capsys):
    code, out, err = sync(capsys, project, "--dry-run")
    assert code == 0, err
    done = {e["table"]: e for e in sync_events(out) if e["event"] == "table_done"}
    assert done["public.shop_order"]["inserted"] == 1000 and done["public.shop_order"]["dry_run"] is True
    with project["dbs"].local_admin() as local:
        assert local.execute("SELECT count(*) FROM shop_order").fetchone()[0] == 0
        assert local.execute("SELECT to_regnamespace('_dbconsole')").fetchone()[0] is None


def test_one_sqlite_file_into_two_postgres_targets(project, capsys):
    dbs = project["dbs"]
    second = dbs.local_db + "_b"
    dbs.local.create_database(second)
    try:
        with dbs.local.admin_connect(second) as conn:
            create_postgres_schema(conn)
            for table in TABLES:
                conn.execute(f"ALTER TABLE {table} OWNER TO {dbs.local.user}")
        config = Path(project["config"])
        text = config.read_text() + f'\n[profiles.second]\nurl = "{dbs.local.url(second)}"\n'
        config.write_text(text)
        code, out, err = run_cli(capsys, "--config", str(config), "sync", "--from", "lite", "--to", "local,second",
                                 "--json", "--batch-size", "100")
        assert code == 0, err
        final = sync_events(out)[-1]
        assert final["failed"] == [] and [t["inserted"] for t in final["targets"]] == [1304, 1304]
        with dbs.local_admin() as local, dbs.local.admin_connect(second) as other:
            for table in TABLES:
                assert row_checksums(local, table) == row_checksums(other, table)
    finally:
        dbs.local.drop_database(second)


def test_a_sqlite_url_on_the_command_line(project, capsys):
    url = f"sqlite:///{project['path']}"
    code, out, err = run_cli(capsys, "--config", project["config"], "tables", "--left", url, "--right", "reference",
                             "--json")
    assert code == 0, err
    assert {t["table"] for t in json.loads(out)["tables"]} >= set(TABLES)
    code, _, err = run_cli(capsys, "--config", project["config"], "sync", "--from", "local", "--to", url, "--yes")
    assert_one_line(code, err, 2, "is a SQLite file")


def test_masks_apply_to_a_sqlite_source_and_the_diff_agrees(project, capsys):
    config = Path(project["config"])
    config.write_text(config.read_text() + '\n[sync.tables."public.shop_customer"]\nmask = { email = "mask_email" }\n')
    code, out, err = sync(capsys, project, "--tables", "shop_customer")
    assert code == 0, err
    with project["dbs"].local_admin() as local:
        emails = [r[0] for r in local.execute("SELECT email FROM shop_customer").fetchall()]
    assert len(emails) == 300 and all(e.endswith("@masked.invalid") for e in emails)
    assert len(set(emails)) == 300  # still unique, as the UNIQUE constraint needs
    code, out, err = run_cli(capsys, "--config", str(config), "diff", "--left", "lite", "--right", "local", "--json",
                             "--tables", "shop_customer")
    assert code == 0, err
    assert json.loads(out)["tables"][0]["status"] == "same"


def test_a_value_that_cannot_convert_makes_the_diff_of_its_table_an_error_line(project, capsys):
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_order SET placed_at = 'last tuesday' WHERE id = 84")
    code, out, err = run_cli(capsys, "--config", project["config"], "diff", "--left", "lite", "--right", "reference",
                             "--json", "--tables", "shop_order")
    assert code == 1
    table = json.loads(out)["tables"][0]
    assert table["status"] == "error" and "key (id)=(84), column placed_at" in table["error"]
    assert "last tuesday" not in table["error"] and "last tuesday" not in err


def test_a_sqlite_run_is_in_the_history_and_a_failed_then_resumed_pair_undoes(project, capsys):
    def runs() -> list[dict]:
        code, out, err = run_cli(capsys, "--config", project["config"], "history", "--profile", "local", "--json")
        assert code == 0, err
        return json.loads(out)["runs"]

    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_customer SET is_active = 'maybe' WHERE id = 200")
    code, _, _ = sync(capsys, project, "--tables", "shop_customer")
    assert code == 1
    [failed] = runs()
    assert failed["outcome"] == "failed" and failed["source"] == "lite" and failed["source_host"].startswith("sqlite:")
    assert failed["tables"][0]["inserted"] == 192 and not failed["tables"][0]["finished"]
    with sqlite3.connect(project["path"]) as conn:
        conn.execute("UPDATE shop_customer SET is_active = 1 WHERE id = 200")
    code, _, err = sync(capsys, project, "--tables", "shop_customer")
    assert code == 0, err
    resumed, _ = runs()
    assert resumed["outcome"] == "ok" and resumed["resumes"] == failed["run"] and resumed["undo"] == "kept"
    assert resumed["tables"][0]["inserted"] == 300 - 192 and resumed["tables"][0]["finished"]  # only its own rows
    # Each run's pre-images name its own rows: undone newest first, the table is as before both.
    for run in (resumed, failed):
        code, _, err = run_cli(capsys, "--config", project["config"], "undo", str(run["run"]), "--profile", "local",
                               "--yes")
        assert code == 0, err
    with project["dbs"].local_admin() as local:
        assert local.execute("SELECT count(*) FROM shop_customer").fetchone()[0] == 0
