"""The content diff against real servers: every kind of difference is found, and nothing else."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from dbconsole.config import SyncSettings, TableRules
from dbconsole.diff import DiffRequest, diff_tables
from dbconsole.diff.strategy import Tuning
from tests.cli_checks import assert_one_line, database_state, run_cli
from tests.diff_checks import SMALL, found, on_both, on_local, on_server, run_diff
from tests.profiles import isolate_from_machine, load, write_config
from tests.sync_checks import columns_of, qualified, rows_by_key

KINDS_DDL = """
CREATE TABLE public."Kinds" (
    region  text NOT NULL,
    "Id"    bigint NOT NULL,
    note    text,
    data    bytea,
    doc     jsonb,
    tags    text[],
    amount  numeric(12, 4),
    at      timestamptz,
    ratio   double precision,
    small   real,
    label   text,
    doubled numeric GENERATED ALWAYS AS (amount * 2) STORED,
    PRIMARY KEY (region, "Id")
);
INSERT INTO public."Kinds" (region, "Id", note, data, doc, tags, amount, at, ratio, small, label)
SELECT (ARRAY['서울', 'busan', 'Zeta', 'alpha', 'Ärger'])[1 + g % 5], g, 'note ' || g, decode(md5(g::text), 'hex'),
       jsonb_build_object('g', g, 'k', 'v'), ARRAY['a' || g, 'b'], g / 7.0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', g / 3.0, g / 4.0,
       CASE WHEN g % 5 = 0 THEN NULL ELSE 'x' END
  FROM generate_series(1, 3000) g;
ANALYZE public."Kinds";
"""


@pytest.fixture
def config(tmp_path: Path, empty_dbs):
    return load(write_config(tmp_path, empty_dbs))


def region_of(dbs, ident: int) -> str:
    with dbs.server.connect(dbs.server_db) as conn:
        return conn.execute('SELECT region FROM public."Kinds" WHERE "Id" = %s', (ident,)).fetchone()[0]


def plant_every_kind(dbs) -> set[tuple]:
    """Differences of every kind on the local side; returns what the diff must find."""
    changes = {
        101: "note = '안녕하세요 세계'", 202: "data = '\\x00ff'::bytea", 303: "doc = doc || '{\"x\": 1}'",
        404: "tags = ARRAY['a404', 'c']", 505: "amount = amount + 0.0001", 606: "at = at + interval '1 microsecond'",
        707: "ratio = ratio + 1e-12", 808: "small = small + 0.5", 910: "label = ''",
    }
    on_local(dbs, *[f'UPDATE public."Kinds" SET {change} WHERE "Id" = {ident}' for ident, change in changes.items()])
    expected = {("changed", region_of(dbs, i), i) for i in changes}
    on_local(dbs, """INSERT INTO public."Kinds" (region, "Id", note) VALUES ('only-here', 5001, 'left only')""",
             'DELETE FROM public."Kinds" WHERE "Id" = 1500',
             'UPDATE public."Kinds" SET "Id" = 7001 WHERE "Id" = 2000')
    expected |= {("only_left", "only-here", 5001), ("only_right", region_of(dbs, 1500), 1500),
                 ("only_right", region_of(dbs, 2000), 2000), ("only_left", region_of(dbs, 2000), 7001)}
    return expected


def test_every_kind_of_difference_is_found_and_nothing_else(empty_dbs, config) -> None:
    on_both(empty_dbs, KINDS_DDL)
    expected = plant_every_kind(empty_dbs)
    never_dense = Tuning(rows_per_range=500, fanout=4, leaf_rows=40, dense_fraction=2.0)  # bisect every range
    report, events = run_diff(config, tables=('"Kinds"',), tuning=never_dense)
    (result,) = report.tables
    assert result.status == "differ", result
    assert found(result) == expected
    assert (result.changed, result.only_left, result.only_right) == (9, 2, 2)
    assert result.rows_compared == 3000 + 2  # every key on either side once
    assert result.steps.get("bisect", 0) >= 6, result.steps  # composite text keys cut by walking the key
    dense, _ = run_diff(config, tables=('"Kinds"',))  # 13 differences in 6 ranges: all differ, so streamed
    assert found(dense.tables[0]) == expected and "bisect" not in dense.tables[0].steps
    with_md5, _ = run_diff(config, tables=('"Kinds"',), hash_kind="md5", tuning=never_dense)
    assert found(with_md5.tables[0]) == expected
    assert not report.same and report.differs
    progress = [e for e in events if e.event == "diff_progress"]
    assert progress and progress[-1].fraction == 1.0


def test_values_that_would_print_alike_if_joined_naively_are_told_apart(empty_dbs, config) -> None:
    """A row's text joins its columns' texts: a value holding the separator or a length prefix,
    NULL against '' or 'null', and content shifted between neighbours must still differ, and
    identical rows of such values must still be the same."""
    on_both(empty_dbs, "CREATE TABLE odd (id int PRIMARY KEY, a text, b varchar(20), n int, j jsonb, t text[], "
                       "c char(3), q money)")
    pairs = {  # id: (server's values, local's values), a literal row tail each
        1: ("E'x\\x1fy', 'z'", "'x', E'y\\x1fz'"),
        2: ("'3:ab', NULL", "'3:', 'ab'"),
        3: ("'', NULL", "NULL, ''"),
        4: ("':', 'a'", "NULL, ':a'"),
        5: ("'a', 'b', NULL, 'null'", "'a', 'b', NULL, NULL"),
        6: ("'a', 'b', 1, NULL, '{}'", "'a', 'b', 1, NULL, NULL"),
        7: ("'a', 'b', 1, NULL, '{\"\"}'", "'a', 'b', 1, NULL, '{}'"),
        8: ("'a', 'b', 12, NULL, NULL, 'ab'", "'a', 'b', 1, NULL, NULL, '2ab'"),
        9: ("E'\\x1f', E'\\x1f'", "E'\\x1f\\x1f', ''"),
        10: ("'it''s', NULL, NULL, NULL, NULL, NULL, 1.5", "'it''s', NULL, NULL, NULL, NULL, NULL, NULL"),
    }
    same = ["E'\\x1f:', '0:'", "NULL, NULL, NULL, 'null', '{NULL}', ' ', 0", "'', '', 0, '\"\"', '{\"\"}', ''"]
    def insert(ident: int, tail: str) -> str:
        columns = ["a", "b", "n", "j", "t", "c", "q"][:tail.count(",") + 1] if tail else []
        return f"INSERT INTO odd (id, {', '.join(columns)}) VALUES ({ident}, {tail})"
    on_server(empty_dbs, *[insert(i, theirs) for i, (theirs, _) in pairs.items()])
    on_local(empty_dbs, *[insert(i, ours) for i, (_, ours) in pairs.items()])
    on_both(empty_dbs, *[insert(100 + i, tail) for i, tail in enumerate(same)])
    report, _ = run_diff(config, tables=("odd",))
    assert found(report.tables[0]) == {("changed", i) for i in pairs}
    assert report.tables[0].rows_compared == len(pairs) + len(same)
    # The last text column goes bare at the end of the row: NULL there against '', a separator
    # in it, and content shifted into it from the column before.
    on_both(empty_dbs, "CREATE TABLE tail (id int PRIMARY KEY, a text, b text)")
    tails = {1: ("'x', NULL", "'x', ''"), 2: ("'x', E'\\x1f'", "'x', ''"), 3: ("E'x\\x1f', 'y'", "'x', E'\\x1fy'"),
             4: ("NULL, 'y'", "'', 'y'"), 5: ("'1:', 'y'", "NULL, '1:y'")}
    on_server(empty_dbs, *[f"INSERT INTO tail VALUES ({i}, {theirs})" for i, (theirs, _) in tails.items()])
    on_local(empty_dbs, *[f"INSERT INTO tail VALUES ({i}, {ours})" for i, (_, ours) in tails.items()])
    on_both(empty_dbs, "INSERT INTO tail VALUES (10, 'x', NULL), (11, 'x', ''), (12, NULL, E'\\x1f')")
    report, _ = run_diff(config, tables=("tail",))
    assert found(report.tables[0]) == {("changed", i) for i in tails}


def test_the_same_data_is_same_and_the_diff_writes_nothing(empty_dbs, config) -> None:
    on_both(empty_dbs, KINDS_DDL)
    with empty_dbs.local_admin() as local, empty_dbs.server_admin() as server:
        before = database_state(local), database_state(server)
    report, _ = run_diff(config)
    assert [(t.table, t.status, t.differences) for t in report.tables] == [('public."Kinds"', "same", 0)]
    assert report.same and report.tables[0].rows_compared == 3000
    with empty_dbs.local_admin() as local, empty_dbs.server_admin() as server:
        assert (database_state(local), database_state(server)) == before


def test_sessions_in_two_time_zones_and_collations_compare_the_same(empty_dbs, config) -> None:
    on_both(empty_dbs, KINDS_DDL)
    on_local(empty_dbs, f"ALTER DATABASE {empty_dbs.local_db} SET timezone = 'Asia/Seoul'",
             f"ALTER DATABASE {empty_dbs.local_db} SET datestyle = 'SQL, DMY'",
             f"ALTER DATABASE {empty_dbs.local_db} SET extra_float_digits = 0")
    on_server(empty_dbs, f"ALTER DATABASE {empty_dbs.server_db} SET timezone = 'America/New_York'",
              f"ALTER DATABASE {empty_dbs.server_db} SET bytea_output = 'escape'")
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        other = conn.execute("SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'und-x-icu', "
                             "'en_US.utf8', 'en_US') ORDER BY collname LIMIT 1").fetchone()
    if other:  # the server sorts the text key another way than the local's "C"
        on_server(empty_dbs, f'ALTER TABLE public."Kinds" ALTER COLUMN region TYPE text COLLATE "{other[0]}"')
    on_local(empty_dbs, 'ALTER TABLE public."Kinds" ALTER COLUMN region TYPE text COLLATE "C"')
    report, _ = run_diff(config)
    assert report.tables[0].status == "same", report.tables[0]
    on_local(empty_dbs, """UPDATE public."Kinds" SET note = 'changed' WHERE "Id" IN (3, 1777, 2999)""")
    report, _ = run_diff(config)
    assert found(report.tables[0]) == {("changed", region_of(empty_dbs, i), i) for i in (3, 1777, 2999)}


def test_evenly_spread_changes_switch_to_streaming_and_are_found_exactly(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE spread (id integer PRIMARY KEY, v text)",
            "INSERT INTO spread SELECT g, md5(g::text) FROM generate_series(1, 20000) g", "ANALYZE spread")
    on_local(empty_dbs, "UPDATE spread SET v = v || '!' WHERE id % 100 = 0")
    report, _ = run_diff(config)
    (result,) = report.tables
    assert found(result) == {("changed", i) for i in range(100, 20001, 100)}
    assert result.changed == 200 and result.only_left == result.only_right == 0
    assert result.steps.get("stream", 0) >= 30 and "bisect" not in result.steps, result.steps  # dense: no bisection


def test_a_few_clustered_changes_bisect_down_to_small_ranges(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE few (id bigint PRIMARY KEY, v text)",
            "INSERT INTO few SELECT g, md5(g::text) FROM generate_series(1, 20000) g", "ANALYZE few")
    on_local(empty_dbs, "UPDATE few SET v = 'x' WHERE id IN (7, 12345)", "DELETE FROM few WHERE id = 19999")
    report, _ = run_diff(config)
    (result,) = report.tables
    assert found(result) == {("changed", 7), ("changed", 12345), ("only_right", 19999)}
    assert result.steps["bisect"] >= 2 and result.steps["stream"] <= 12, result.steps
    assert all(r.depth >= 1 for r in result.differing_ranges)  # a sync would copy only these ranges


def test_one_side_empty_is_settled_by_counts(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE t (id bigint PRIMARY KEY, v text)")
    on_server(empty_dbs, "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 5000) g", "ANALYZE t")
    report, _ = run_diff(config, row_limit=10)
    (result,) = report.tables
    assert (result.status, result.only_right, result.changed, result.only_left) == ("differ", 5000, 0, 0)
    assert len(result.rows) == 10 and all(r.kind == "only_right" for r in result.rows)
    assert "stream" not in result.steps


def test_generated_column_and_cross_type_columns(empty_dbs, config) -> None:
    on_server(empty_dbs, """CREATE TABLE g (id int PRIMARY KEY, name text,
                 shout text GENERATED ALWAYS AS (upper(name)) STORED, price numeric(12,4), ratio double precision,
                 doc jsonb, code varchar(20))""")
    on_local(empty_dbs, """CREATE TABLE g (id bigint PRIMARY KEY, name text,
                 shout text GENERATED ALWAYS AS (upper(name) || CASE WHEN id = 7 THEN '!' ELSE '' END) STORED,
                 price numeric(10,2), ratio real, doc json, code text)""")
    rows = "INSERT INTO g (id, name, price, ratio, doc, code) SELECT g, 'n' || g, g / 4.0, g / 8.0, " \
           "'{\"b\": 1, \"a\": [1, 2]}', 'c' || g FROM generate_series(1, 300) g"
    on_both(empty_dbs, rows)
    on_local(empty_dbs, "UPDATE g SET doc = '{\"a\":[1,2],   \"b\":1}' WHERE id = 3")  # same jsonb value
    on_local(empty_dbs, "UPDATE g SET price = 1.01 WHERE id = 9", "UPDATE g SET ratio = 0.1 WHERE id = 11")
    on_server(empty_dbs, "UPDATE g SET ratio = 0.1 WHERE id = 11")
    report, _ = run_diff(config)
    (result,) = report.tables
    # id 7: only the generated column differs; 9: numeric; 11: 0.1 as real is not 0.1 as double precision.
    assert found(result) == {("changed", 7), ("changed", 9), ("changed", 11)}, result


def test_types_that_cannot_be_compared_are_refused_with_one_line(empty_dbs, config) -> None:
    on_server(empty_dbs, "CREATE TABLE t (id int PRIMARY KEY, at timestamptz)", "CREATE TABLE k (a int UNIQUE NOT NULL, b int PRIMARY KEY)")
    on_local(empty_dbs, "CREATE TABLE t (id int PRIMARY KEY, at timestamp)", "CREATE TABLE k (a int PRIMARY KEY, b int)")
    report, _ = run_diff(config)
    by_table = {t.table: t for t in report.tables}
    assert by_table["public.t"].status == "error"
    assert by_table["public.t"].error == ("column at is timestamp without time zone on local but timestamp with time "
                                          "zone on server_direct; they print differently, so the diff cannot compare "
                                          "them (make the types match)")
    assert by_table["public.k"].status == "error"
    assert by_table["public.k"].error == "the key is (a) on local but (b) on server_direct; rows cannot be matched"


def test_tables_without_key_and_on_one_side_only(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE logs (at timestamptz, line text)", "CREATE TABLE u (email text UNIQUE, n int)")
    on_local(empty_dbs, "CREATE TABLE mine (id int PRIMARY KEY)")
    on_server(empty_dbs, "CREATE TABLE theirs (id int PRIMARY KEY)")
    report, _ = run_diff(config)
    assert {t.table: t.status for t in report.tables} == {
        "public.logs": "no_key", "public.u": "no_key", "public.mine": "only_left", "public.theirs": "only_right"}


def test_a_masked_column_compares_as_its_masked_value(empty_dbs, tmp_path) -> None:
    on_both(empty_dbs, "CREATE TABLE people (id int PRIMARY KEY, email text, name text)")
    on_server(empty_dbs, "INSERT INTO people SELECT g, 'user' || g || '@example.com', 'n' FROM generate_series(1, 100) g")
    on_local(empty_dbs, "INSERT INTO people SELECT g, left(md5('user' || g || '@example.com'), 20) || '@masked.invalid',"
                        " 'n' FROM generate_series(1, 100) g",
             "UPDATE people SET email = 'real@example.com' WHERE id = 5")
    config = load(write_config(tmp_path, empty_dbs, extra={
        "sync": {"tables": {"people": {"mask": {"email": "mask_email"}}}}}))
    report, _ = run_diff(config)
    assert found(report.tables[0]) == {("changed", 5)}
    unmasked, _ = run_diff(config, settings=SyncSettings())
    assert unmasked.tables[0].changed == 100


def test_where_limits_both_sides_and_runs_read_only(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE t (id int PRIMARY KEY, v text)", "CREATE SEQUENCE s",
            "INSERT INTO t SELECT g, 'v' FROM generate_series(1, 1000) g")
    on_local(empty_dbs, "UPDATE t SET v = 'w' WHERE id IN (10, 900)")
    report, _ = run_diff(config, tables=("t",), where="id < 500 AND v LIKE '%'")
    assert found(report.tables[0]) == {("changed", 10)} and report.tables[0].rows_compared == 499
    writing, _ = run_diff(config, tables=("t",), where="nextval('s') > 0")
    assert writing.tables[0].status == "error" and "read-only transaction" in (writing.tables[0].error or "")


def test_a_statement_timeout_is_reported_for_the_table_not_hung(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE slow (id int PRIMARY KEY, v text)",
            "INSERT INTO slow SELECT g, 'v' FROM generate_series(1, 3000) g", "ANALYZE slow",
            "CREATE TABLE fine (id int PRIMARY KEY)")
    started = time.monotonic()
    report, _ = run_diff(config, tables=("slow",), where="pg_sleep(0.002) IS NOT NULL", timeout_ms=300)
    assert time.monotonic() - started < 60
    (result,) = report.tables
    assert result.status == "error" and "timeout" in (result.error or ""), result


def test_cancel_stops_a_running_diff_on_the_servers(empty_dbs, config) -> None:
    on_both(empty_dbs, "CREATE TABLE slow (id int PRIMARY KEY)", "INSERT INTO slow SELECT generate_series(1, 2000)")
    cancel = threading.Event()
    request = DiffRequest(left=config.profile("local"), right=config.profile("server_direct"), tables=("slow",),
                          where="pg_sleep(0.01) IS NOT NULL", tuning=Tuning())
    threading.Timer(0.5, cancel.set).start()
    started = time.monotonic()
    report = diff_tables(request, cancel=cancel)
    assert report.cancelled and time.monotonic() - started < 10


# --------------------------------------------------------------------------- the command line


def test_cli_diff_through_the_tunnel_matches_the_rows_on_both_sides(tmp_path, dbs, sshd, capsys, monkeypatch) -> None:
    """The seeded drifted copy against the server, through SSH: counts equal a row-by-row truth."""
    isolate_from_machine(tmp_path, monkeypatch)
    path = write_config(tmp_path, dbs, sshd)
    code, out, err = run_cli(capsys, "--config", str(path), "diff", "--left", "local", "--right", "server", "--json",
                             "--rows", "--limit", "5")
    assert code == 0, err
    data = json.loads(out)
    assert data["left"] == "local" and data["right"] == "server" and data["same"] is False
    with dbs.local_admin() as local, dbs.server_admin() as server:
        for table in data["tables"]:
            assert set(table) >= {"table", "status", "changed", "only_left", "only_right", "rows_compared", "seconds",
                                  "rows"}
            if table["status"] not in ("same", "differ"):
                continue
            name = qualified(table["table"])
            shared = [c for c in columns_of(server, name) if c in columns_of(local, name)]
            left, right = rows_by_key(local, table["table"], shared), rows_by_key(server, table["table"], shared)
            truth = (sum(1 for k in left if k in right and left[k] != right[k]), len(set(left) - set(right)),
                     len(set(right) - set(left)))
            assert (table["changed"], table["only_left"], table["only_right"]) == truth, table["table"]
            assert len(table["rows"]) == min(5, sum(truth))
            assert table["status"] == ("differ" if sum(truth) else "same")
    assert any(t["status"] == "differ" for t in data["tables"])
    assert any(t["status"] == "no_key" for t in data["tables"])


def test_cli_human_output_rows_and_exit_codes(tmp_path, empty_dbs, capsys, monkeypatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    on_both(empty_dbs, 'CREATE TABLE "Odd Name" (id int PRIMARY KEY, v text)',
            """INSERT INTO "Odd Name" SELECT g, 'v' FROM generate_series(1, 50) g""",
            "CREATE TABLE same_t (id int PRIMARY KEY)")
    on_local(empty_dbs, """UPDATE "Odd Name" SET v = 'w' WHERE id = 3""")
    path = str(write_config(tmp_path, empty_dbs))
    base = ("--config", path, "diff", "--left", "local", "--right", "server_direct")
    code, out, err = run_cli(capsys, *base, "--rows")
    assert code == 0, err
    assert "1 differ (changed 1)" in out and "same" in out and "id=3" in out and '"Odd Name"' in out
    assert run_cli(capsys, *base, "--exit-code")[0] == 3
    assert run_cli(capsys, *base, "--exit-code", "--tables", "same_t")[0] == 0
    code, out, err = run_cli(capsys, *base, "--where", "id > 1")
    assert_one_line(code, err, 2, "--where needs --tables")
    code, out, err = run_cli(capsys, *base, "--tables", "nope")
    assert_one_line(code, err, 2, "no table 'nope'")
    code, out, err = run_cli(capsys, *base, "--tables", '"Odd Name"', "--where", "id >")
    assert_one_line(code, err, 1, "bad --where")
    code, out, err = run_cli(capsys, "--config", path, "diff", "--left", "local", "--right", "missing")
    assert code == 2 and "Traceback" not in err
