"""``dbconsole schema`` against real clusters: every planted difference is listed, and nothing else."""

from __future__ import annotations

import json

import psycopg

from tests.cli_checks import run_cli
from tests.profiles import write_config
from tests.schema_samples import build_sample_schema

PLANT_ON_SERVER = """
ALTER TABLE accounts ADD COLUMN plan text;
ALTER TABLE projects ALTER COLUMN budget TYPE numeric(14, 2);
ALTER TYPE status ADD VALUE 'blocked' AFTER 'doing';
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2027-01-01 00:00+00');
CREATE TABLE audit (id bigserial PRIMARY KEY, what text);
CREATE VIEW v_accounts AS SELECT id FROM accounts;
"""
PLANT_ON_LOCAL = """
ALTER TABLE tasks ALTER COLUMN state SET DEFAULT 'doing';
ALTER TABLE articles ALTER COLUMN title DROP NOT NULL;
DROP INDEX articles_tsv_idx;
ALTER TABLE tasks DROP CONSTRAINT tasks_project_id_fkey;
ALTER TABLE tasks ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (project_id) REFERENCES projects (id) ON DELETE CASCADE;
ALTER TABLE accounts DROP CONSTRAINT accounts_email_key;
ALTER TABLE projects DROP CONSTRAINT projects_budget_check;
CREATE SEQUENCE local_seq;
"""


def _planted(empty_dbs) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
        server.execute(PLANT_ON_SERVER)
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        build_sample_schema(local, data=False)
        local.execute(PLANT_ON_LOCAL)


def _schema(capsys, config, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--config", str(config), "schema", "--left", "local", "--right", "server_direct", *args)


def test_schema_json_lists_every_planted_difference_and_nothing_else(empty_dbs, tmp_path, capsys) -> None:
    _planted(empty_dbs)
    code, out, err = _schema(capsys, write_config(tmp_path, empty_dbs), "--json")
    assert code == 0, err
    report = json.loads(out)
    found = {(table, d["kind"], d["name"]) for table, diffs in report["tables"].items() for d in diffs}
    assert found == {
        ("public.accounts", "column", "plan"),
        ("public.accounts", "unique", "accounts_email_key"),
        ("public.projects", "type", "budget"),
        ("public.projects", "check", "projects_budget_check"),
        ("public.tasks", "default", "state"),
        ("public.tasks", "foreign_key", "tasks_project_id_fkey"),
        ("public.articles", "nullable", "title"),
        ("public.articles", "index", "articles_tsv_idx"),
        ("public.events", "partition", "public.events_2026"),
        ("public.audit", "table", "public.audit"),
    }
    diffs = {(d["kind"], d["name"]): d for diffs in report["tables"].values() for d in diffs}
    assert diffs[("column", "plan")]["left"] is None and diffs[("column", "plan")]["right"] == "text"
    assert (diffs[("type", "budget")]["left"], diffs[("type", "budget")]["right"]) == ("numeric(12,2)", "numeric(14,2)")
    assert diffs[("nullable", "title")]["left"] is True and diffs[("nullable", "title")]["right"] is False
    assert "ON DELETE CASCADE" in diffs[("foreign_key", "tasks_project_id_fkey")]["left"]
    assert diffs[("table", "public.audit")] == {"kind": "table", "name": "public.audit", "left": None, "right": "table"}
    assert report["types"] == [{"kind": "enum", "name": "public.status", "left": ["todo", "doing", "done"],
                                "right": ["todo", "doing", "blocked", "done"]}]
    assert {(d["name"], d["left"] is None) for d in report["sequences"]} == {
        ("public.audit_id_seq", True), ("public.local_seq", False)}
    assert report["views"] == [{"kind": "view", "name": "public.v_accounts", "left": None, "right": "view"}]
    assert report["migrations"] == {"left": None, "right": None, "comparison": None}


def test_schema_human_output_groups_by_table_and_tables_narrows_it(empty_dbs, tmp_path, capsys) -> None:
    _planted(empty_dbs)
    config = write_config(tmp_path, empty_dbs)
    code, out, err = _schema(capsys, config)
    assert code == 0, err
    lines = out.splitlines()
    start = lines.index("public.accounts")
    assert lines[start + 1:start + 3] == ["  column plan: only on server_direct (text)",
                                          "  unique accounts_email_key: only on server_direct (UNIQUE (email))"]
    assert "  enum public.status: local [\"todo\", \"doing\", \"done\"] | server_direct " \
           "[\"todo\", \"doing\", \"blocked\", \"done\"]" in lines

    code, out, err = _schema(capsys, config, "--tables", "tasks", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert list(report["tables"]) == ["public.tasks"]
    assert [d["name"] for d in report["types"]] == ["public.status"]  # tasks uses it
    assert report["views"] == []


def test_identical_schemas_have_no_differences(empty_dbs, tmp_path, capsys) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        build_sample_schema(local, data=False)
    code, out, err = _schema(capsys, write_config(tmp_path, empty_dbs))
    assert code == 0, err
    assert out.strip() == "no schema differences between local and server_direct"


def test_schema_through_the_ssh_tunnel_and_with_the_pair_defaulted(empty_dbs, sshd, tmp_path, capsys) -> None:
    _planted(empty_dbs)
    config = write_config(tmp_path, empty_dbs, sshd)
    code, out, err = run_cli(capsys, "--config", str(config), "schema", "--right", "server", "--json")
    assert code == 0, err
    assert json.loads(out)["right"] == "server" and "public.audit" in json.loads(out)["tables"]
    plain = write_config(tmp_path / "plain", empty_dbs)  # local + server_direct: the pair is unambiguous
    code, out, err = run_cli(capsys, "--config", str(plain), "schema", "--json")
    assert code == 0, err
    assert (json.loads(out)["left"], json.loads(out)["right"]) == ("local", "server_direct")


class _CountingCursor(psycopg.Cursor):
    statements = 0

    def execute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        type(self).statements += 1
        return super().execute(*args, **kwargs)


def test_one_statement_reads_a_whole_schema(empty_dbs) -> None:
    from dbconsole.schema.run import read_side

    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        build_sample_schema(server)
    with empty_dbs.server.connect(empty_dbs.server_db, autocommit=False) as conn:
        conn.cursor_factory = _CountingCursor
        side = read_side(conn)
        assert _CountingCursor.statements == 1
        assert len(side.schema.relations) == 11 and side.migrations is None
        # The session's search path is as it was (the query's SET LOCAL did not leak).
        assert conn.execute("SHOW search_path").fetchone()[0] == '"$user", public'


def test_bad_table_name_is_one_line_and_exit_2(empty_dbs, tmp_path, capsys) -> None:
    from tests.cli_checks import assert_one_line

    code, out, err = _schema(capsys, write_config(tmp_path, empty_dbs), "--tables", "no_such_table")
    assert_one_line(code, err, 2, "no_such_table")
