"""Helpers for tests that drive the command line and prove what was (not) written."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from psycopg import sql

from dbconsole.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``dbconsole ARGS`` in this process; argparse's own exits count as return codes."""
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, expected_code: int, *fragments: str) -> str:
    assert code == expected_code, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("dbconsole: error: "), lines[0]
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def user_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def database_state(conn: psycopg.Connection) -> dict[str, Any]:
    """Every table's (rows, checksum), the dbconsole state schema included: equal states, nothing written."""
    state: dict[str, Any] = {}
    for name in user_tables(conn):
        count, digest = conn.execute(sql.SQL(
            "SELECT count(*), md5(coalesce(string_agg(md5(t::text), '' ORDER BY t::text), '')) FROM {} t").format(
            sql.SQL(name))).fetchone()
        state[name] = (count, digest)
    return state


def sync_events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]
