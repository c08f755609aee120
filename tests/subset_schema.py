"""A schema with the shape real ones have, for subset tests (issue 15): a chain of FKs
(org <- team <- member <- project <- task), a many-to-many link (task_tag) with a composite FK
pointing at it (review), a partitioned child (event), a lookup table referenced from everywhere
(country), a self-reference (member.referred_by), a virtual FK (audit.member_ref -> member.id,
not declared) and a cycle through a virtual FK (team.lead_ref -> member.id, member.team_id -> team.id).

:func:`expected_subset` computes the right rows independently, with temporary tables and one
hand-written rule per relationship, on a writable connection: the planner under test runs in a
read-only snapshot and never sees this code.
"""

from __future__ import annotations

from typing import Any

import psycopg

SCHEMA = """
CREATE TABLE country (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE org (id int PRIMARY KEY, name text NOT NULL, country text NOT NULL REFERENCES country);
CREATE TABLE team (id int PRIMARY KEY, org_id int NOT NULL REFERENCES org, country text REFERENCES country,
                   lead_ref int);
CREATE TABLE member (id int PRIMARY KEY, team_id int NOT NULL REFERENCES team, referred_by int REFERENCES member,
                     country text NOT NULL REFERENCES country, email text NOT NULL);
CREATE TABLE project (id int PRIMARY KEY, owner_id int NOT NULL REFERENCES member, title text NOT NULL);
CREATE TABLE task (id int PRIMARY KEY, project_id int NOT NULL REFERENCES project, country text REFERENCES country,
                   due date NOT NULL);
CREATE TABLE tag (id int PRIMARY KEY, label text NOT NULL);
CREATE TABLE task_tag (task_id int NOT NULL REFERENCES task, tag_id int NOT NULL REFERENCES tag,
                       PRIMARY KEY (task_id, tag_id));
CREATE TABLE review (id int PRIMARY KEY, task_id int NOT NULL, tag_id int NOT NULL, verdict text,
                     FOREIGN KEY (task_id, tag_id) REFERENCES task_tag (task_id, tag_id));
CREATE TABLE event (id int NOT NULL, happened date NOT NULL, task_id int NOT NULL REFERENCES task,
                    country text REFERENCES country, PRIMARY KEY (id, happened)) PARTITION BY RANGE (happened);
CREATE TABLE event_2025 PARTITION OF event FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE event_2026 PARTITION OF event FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE audit (id int PRIMARY KEY, member_ref int, note text);
"""

# Deterministic data: 3 orgs, 6 teams, 30 members, referrals crossing orgs, leads in other teams.
DATA = """
INSERT INTO country SELECT c, 'Country ' || c FROM unnest(ARRAY['kr','jp','us','de','fr','br']) c;
INSERT INTO org SELECT i, 'org ' || i, (ARRAY['kr','jp','us'])[i] FROM generate_series(1, 3) i;
INSERT INTO team SELECT i, (i - 1) / 2 + 1, (ARRAY['kr','jp','us','de','fr','br'])[i], NULL FROM generate_series(1, 6) i;
INSERT INTO member SELECT i, (i - 1) / 5 + 1, CASE WHEN i % 7 = 0 THEN i - 6 WHEN i % 11 = 0 THEN 1 END,
       (ARRAY['kr','jp','us','de','fr','br'])[i % 6 + 1], 'm' || i || '@example.com' FROM generate_series(1, 30) i;
UPDATE team SET lead_ref = CASE id WHEN 1 THEN 2 WHEN 2 THEN 8 WHEN 3 THEN 28 WHEN 4 THEN 17 WHEN 5 THEN 22 ELSE 29 END;
INSERT INTO project SELECT i, (i * 7) % 30 + 1, 'project ' || i FROM generate_series(1, 40) i;
INSERT INTO task SELECT i, (i - 1) % 40 + 1, CASE WHEN i % 3 = 0 THEN 'de' END,
       date '2025-06-01' + i FROM generate_series(1, 200) i;
INSERT INTO tag SELECT i, 'tag ' || i FROM generate_series(1, 12) i;
INSERT INTO task_tag SELECT t, g FROM generate_series(1, 200) t, generate_series(1, 12) g WHERE (t + g) % 5 = 0;
INSERT INTO review SELECT row_number() OVER (), task_id, tag_id, 'ok' FROM task_tag WHERE (task_id * tag_id) % 4 = 0;
INSERT INTO event SELECT i, date '2025-01-01' + (i * 7) % 700, (i * 13) % 200 + 1, CASE WHEN i % 4 = 0 THEN 'fr' END
       FROM generate_series(1, 400) i;
INSERT INTO audit SELECT i, CASE WHEN i % 5 = 0 THEN NULL ELSE (i * 3) % 30 + 1 END, 'note ' || i
       FROM generate_series(1, 90) i;
"""

TABLES = ["country", "org", "team", "member", "project", "task", "tag", "task_tag", "review", "event", "audit"]

# child, child columns, parent, parent columns; virtual ones marked.
RELATIONS: list[tuple[str, str, str, str, bool]] = [
    ("org", "country", "country", "code", False),
    ("team", "org_id", "org", "id", False),
    ("team", "country", "country", "code", False),
    ("member", "team_id", "team", "id", False),
    ("member", "referred_by", "member", "id", False),
    ("member", "country", "country", "code", False),
    ("project", "owner_id", "member", "id", False),
    ("task", "project_id", "project", "id", False),
    ("task", "country", "country", "code", False),
    ("task_tag", "task_id", "task", "id", False),
    ("task_tag", "tag_id", "tag", "id", False),
    ("review", "task_id, tag_id", "task_tag", "task_id, tag_id", False),
    ("event", "task_id", "task", "id", False),
    ("event", "country", "country", "code", False),
    ("audit", "member_ref", "member", "id", True),
    ("team", "lead_ref", "member", "id", True),
]

KEYS = {"country": "code", "task_tag": "task_id, tag_id", "event": "id, happened"}


def create(conn: psycopg.Connection[Any], *, data: bool) -> None:
    conn.execute(SCHEMA)
    if data:
        conn.execute(DATA)


def expected_subset(conn: psycopg.Connection[Any], root: str, where: str, *, virtual: bool = True,
                    limits: dict[str, str] | None = None, exclude: set[str] | None = None,
                    shape: tuple[list[str], dict[str, str], list[tuple[str, str, str, str, bool]]] | None = None,
                    down_only: bool = False) -> dict[str, set[str]]:
    """Per table, the row texts the subset must hold; computed with temp tables until nothing changes.

    Down: rows referencing a row reached going down (not into ``exclude``, under ``limits``);
    up: every row referenced by a row reached either way (``down_only``: none, as a subset
    mirror reads the target: the rows that belong to the root there).
    """
    limits = limits or {}
    exclude = exclude or set()
    tables, keys, all_relations = shape or (TABLES, KEYS, RELATIONS)
    relations = [r for r in all_relations if virtual or not r[4]]
    with conn.transaction():
        for number, name in enumerate(tables):
            key = keys.get(name, "id")
            for kind in ("down", "up"):
                conn.execute(f"CREATE TEMP TABLE x_{kind}_{number} ON COMMIT DROP AS SELECT {key} FROM {name} WITH NO DATA")
        n = {name: number for number, name in enumerate(tables)}
        key = keys.get(root, "id")
        conn.execute(f"INSERT INTO x_down_{n[root]} SELECT {key} FROM {root} WHERE {where}")
        changed = True
        while changed:
            changed = False
            for child, cols, parent, pcols, _ in relations:
                ckey, pkey = keys.get(child, "id"), keys.get(parent, "id")
                c, p = n[child], n[parent]
                limit = f" AND ({limits[child]})" if child in limits else ""
                limit += " AND false" if child in exclude else ""
                down = conn.execute(
                    f"INSERT INTO x_down_{c} SELECT {ckey} FROM {child} c WHERE ({cols}) IN "
                    f"(SELECT {pcols} FROM {parent} WHERE ({pkey}) IN (SELECT {pkey} FROM x_down_{p})){limit} "
                    f"AND ({ckey}) NOT IN (SELECT {ckey} FROM x_down_{c})")
                up = conn.execute("SELECT 1 WHERE false") if down_only else conn.execute(
                    f"INSERT INTO x_up_{p} SELECT {pkey} FROM {parent} WHERE ({pcols}) IN "
                    f"(SELECT {cols} FROM {child} WHERE ({ckey}) IN (SELECT {ckey} FROM x_down_{c} "
                    f"UNION SELECT {ckey} FROM x_up_{c})) "
                    f"AND ({pkey}) NOT IN (SELECT {pkey} FROM x_up_{p} UNION SELECT {pkey} FROM x_down_{p})")
                changed = changed or down.rowcount > 0 or up.rowcount > 0
        result = {}
        for number, name in enumerate(tables):
            key = keys.get(name, "id")
            rows = conn.execute(f"SELECT t::text FROM {name} t WHERE ({key}) IN "
                                f"(SELECT {key} FROM x_down_{number} UNION SELECT {key} FROM x_up_{number})").fetchall()
            result[name] = {r[0] for r in rows}
    return result


def table_rows(conn: psycopg.Connection[Any], tables: list[str] | None = None) -> dict[str, set[str]]:
    return {name: {r[0] for r in conn.execute(f"SELECT t::text FROM {name} t").fetchall()} for name in tables or TABLES}


def orphans(conn: psycopg.Connection[Any], relations: list[tuple[str, str, str, str, bool]] | None = None,
            ) -> list[str]:
    """Every FK of the schema (declared and virtual) checked row by row: the broken ones, named."""
    broken = []
    for child, cols, parent, pcols, _ in relations or RELATIONS:
        pairs = list(zip([c.strip() for c in cols.split(",")], [c.strip() for c in pcols.split(",")]))
        not_null = " AND ".join(f"c.{c} IS NOT NULL" for c, _ in pairs)
        match = " AND ".join(f"p.{pc} = c.{c}" for c, pc in pairs)
        count = conn.execute(f"SELECT count(*) FROM {child} c WHERE {not_null} AND NOT EXISTS "
                             f"(SELECT 1 FROM {parent} p WHERE {match})").fetchone()[0]
        if count:
            broken.append(f"{child}({cols}) -> {parent}: {count}")
    return broken


# The demo seed (dbconsole/sandbox/seed.py): its declared FKs.
DEMO_TABLES = ["users", "stocks", "scanner_settings", "scan_rank", "price_history", '"WatchList"']
DEMO_KEYS = {"stocks": "symbol", "scan_rank": "scan_date, symbol", "price_history": "symbol, trade_date"}
DEMO_RELATIONS: list[tuple[str, str, str, str, bool]] = [
    ("users", "referred_by", "users", "id", False),
    ("scanner_settings", "user_id", "users", "id", False),
    ("scan_rank", "symbol", "stocks", "symbol", False),
    ("scan_rank", "setting_id", "scanner_settings", "id", False),
    ("price_history", "symbol", "stocks", "symbol", False),
    ('"WatchList"', "user_id", "users", "id", False),
    ('"WatchList"', "symbol", "stocks", "symbol", False),
]
DEMO = (DEMO_TABLES, DEMO_KEYS, DEMO_RELATIONS)
