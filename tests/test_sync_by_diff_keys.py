"""The diff-driven sync fetches differing rows by key through the key's index, text keys too.

The ranges compare text keys in the "C" collation (so a range holds the same rows on both ends),
but a key list only needs equality, which a deterministic collation decides byte by byte: so it
compares in the column's own collation and the primary key's index serves it, where a
``COLLATE "C"`` comparison made the server scan the table once per batch of keys.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from dbconsole.catalog import read_catalog
from dbconsole.diff.columns import pair_table
from dbconsole.sync.by_diff import _key_conditions, side_sql
from tests.diff_checks import on_both, on_local, on_server


def plan_nodes(plan: dict[str, Any]) -> list[str]:
    return [plan["Node Type"], *[n for child in plan.get("Plans", []) for n in plan_nodes(child)]]


def other_collation(dbs) -> str:
    with dbs.server.connect(dbs.server_db) as conn:
        row = conn.execute("SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'und-x-icu', "
                           "'en_US.utf8', 'en_US') ORDER BY collname LIMIT 1").fetchone()
    return row[0] if row else "C"


def test_key_lists_on_text_keys_use_the_index_and_name_exactly_their_rows(empty_dbs) -> None:
    collation = other_collation(empty_dbs)
    for name, key in (("one", "(code)"), ("two", "(region, code)")):
        on_both(empty_dbs, f'CREATE TABLE {name} (region text COLLATE "{collation}" NOT NULL, '
                           f'code text COLLATE "{collation}" NOT NULL, v text, PRIMARY KEY {key})')
        on_server(empty_dbs, f"INSERT INTO {name} SELECT (ARRAY['Ärger', 'busan', 'Zeta'])[1 + g % 3], "
                             f"'k-' || g || (ARRAY['', 'É', 'e'])[1 + g % 3], md5(g::text) "
                             f"FROM generate_series(1, 30000) g", f"ANALYZE {name}")
    on_local(empty_dbs, "SELECT 1")
    with empty_dbs.server_admin() as server:
        tables = {t.qualified.name: t for t in read_catalog(server)}
        for name in ("one", "two"):
            table = tables[name]
            pair = pair_table(table, table, left_name="target", right_name="source", masks={}, masked_side="right")
            assert all(c.collate_c for k, c in pair.right_columns.items() if k in pair.key)  # ranges stay in "C"
            columns = ", ".join(pair.key)
            wanted = server.execute(sql.SQL("SELECT {} FROM {} WHERE v < 'a' ORDER BY 1, 2 LIMIT 40").format(
                sql.SQL(", ").join(sql.Identifier(k) for k in pair.key) if len(pair.key) > 1 else
                sql.SQL("{}, 1").format(sql.Identifier(pair.key[0])), table.qualified.ident)).fetchall()
            keys = [tuple(row[:len(pair.key)]) for row in wanted]
            (condition,) = list(_key_conditions(keys, side_sql(pair, "right"), 5_000))
            statement = sql.SQL("SELECT {} FROM {} WHERE {}").format(sql.SQL(columns), table.qualified.ident,
                                                                     condition)
            (plan,) = server.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + statement).fetchone()[0]
            nodes = plan_nodes((plan if isinstance(plan, dict) else json.loads(plan))["Plan"])
            assert any("Index" in n for n in nodes) and "Seq Scan" not in nodes, (name, nodes)
            assert sorted(tuple(r) for r in server.execute(statement).fetchall()) == sorted(keys), name
