"""The dense step by fine buckets (dbconsole/diff/buckets.py) against the real clusters.

Evenly spread changes make every range differ; the diff then checksums ~16-row buckets picked
by a hash of the key and streams only the differing buckets' rows. These tests prove that the
differences are still found exactly (and nothing else), and that the per-row stream really
shrinks -- which holds only if both servers put every key in the same bucket, whatever their
time zones and collations.
"""

from __future__ import annotations

from dbconsole.diff.strategy import Tuning
from tests.diff_checks import SMALL, found, on_both, on_local, on_server, run_diff
from tests.profiles import load, write_config

ROWS = 20_000


def text_keyed(dbs) -> None:
    on_both(dbs, """CREATE TABLE public."Spread" (region text NOT NULL, "Id" integer NOT NULL, v text,
                                                   PRIMARY KEY (region, "Id"))""",
            """INSERT INTO public."Spread" SELECT (ARRAY['Ärger', 'busan', 'Zeta', '서울'])[1 + g % 4], g, md5(g::text)
                 FROM generate_series(1, 20000) g""", 'ANALYZE public."Spread"')


def test_spread_differences_of_every_kind_are_found_through_fine_buckets(empty_dbs, tmp_path) -> None:
    config = load(write_config(tmp_path, empty_dbs))
    text_keyed(empty_dbs)
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        other = conn.execute("SELECT collname FROM pg_collation WHERE collname IN ('en-x-icu', 'und-x-icu', "
                             "'en_US.utf8', 'en_US') ORDER BY collname LIMIT 1").fetchone()
    if other:  # the two sides order (and would hash, if asked naively) the text key differently
        on_server(empty_dbs, f'ALTER TABLE public."Spread" ALTER COLUMN region TYPE text COLLATE "{other[0]}"')
    on_local(empty_dbs, 'UPDATE public."Spread" SET v = v || \'!\' WHERE "Id" % 100 = 0',
             'DELETE FROM public."Spread" WHERE "Id" % 997 = 0',
             """INSERT INTO public."Spread" SELECT 'extra', g, 'x' FROM generate_series(1, 20000, 1009) g""")
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        region = dict(conn.execute('SELECT "Id", region FROM public."Spread"').fetchall())
    expected = {("changed", region[i], i) for i in range(100, ROWS + 1, 100) if i % 997}
    expected |= {("only_right", region[i], i) for i in range(997, ROWS + 1, 997)}
    expected |= {("only_left", "extra", i) for i in range(1, ROWS + 1, 1009)}
    report, _ = run_diff(config)
    (result,) = report.tables
    assert found(result) == expected
    assert (result.changed, result.only_right, result.only_left) == (
        len([e for e in expected if e[0] == "changed"]), ROWS // 997, len(range(1, ROWS + 1, 1009)))
    assert result.steps.get("buckets", 0) >= 1 and "bisect" not in result.steps, result.steps
    # ~1.6% of keys differ: about a quarter of 16-row buckets, so well under half the rows stream.
    assert result.rows_streamed < 0.4 * 2 * ROWS, result.rows_streamed


def test_timestamptz_keys_land_in_the_same_buckets_in_two_time_zones(empty_dbs, tmp_path) -> None:
    config = load(write_config(tmp_path, empty_dbs))
    on_both(empty_dbs, "CREATE TABLE events (at timestamptz PRIMARY KEY, v text)",
            "INSERT INTO events SELECT timestamptz '2024-01-01 00:00+00' + g * interval '1 minute', md5(g::text)"
            " FROM generate_series(1, 20000) g", "ANALYZE events")
    on_local(empty_dbs, f"ALTER DATABASE {empty_dbs.local_db} SET timezone = 'Asia/Seoul'")
    on_server(empty_dbs, f"ALTER DATABASE {empty_dbs.server_db} SET timezone = 'America/New_York'")
    on_local(empty_dbs, "UPDATE events SET v = 'changed' WHERE extract(epoch FROM at)::bigint / 60 % 100 = 0")
    report, _ = run_diff(config)
    (result,) = report.tables
    assert result.changed == 200 and result.only_left == result.only_right == 0
    assert result.steps.get("buckets", 0) >= 1
    assert result.rows_streamed < 0.4 * 2 * ROWS, result.rows_streamed  # buckets agreed across the zones


def test_when_nearly_every_bucket_differs_the_rest_streams_directly(empty_dbs, tmp_path) -> None:
    config = load(write_config(tmp_path, empty_dbs))
    on_both(empty_dbs, "CREATE TABLE churn (id bigint PRIMARY KEY, v text)",
            "INSERT INTO churn SELECT g, md5(g::text) FROM generate_series(1, 20000) g", "ANALYZE churn")
    on_local(empty_dbs, "UPDATE churn SET v = v || '.' WHERE id % 3 = 0")
    tuning = Tuning(rows_per_range=500, fanout=4, leaf_rows=40, stream_rows=5_000, bucket_batch_rows=2_000,
                    even_split=1)  # 40 first-level ranges of 500 rows: 4 to a batch
    report, _ = run_diff(config, tuning=tuning)
    (result,) = report.tables
    assert found(result) == {("changed", i) for i in range(3, ROWS + 1, 3)}
    assert 1 <= result.steps["buckets"] <= 4, result.steps  # one batch showed it; the rest went direct
    assert result.steps["stream"] >= 30


def test_buckets_off_streams_every_row_and_finds_the_same(empty_dbs, tmp_path) -> None:
    config = load(write_config(tmp_path, empty_dbs))
    on_both(empty_dbs, "CREATE TABLE spread (id integer PRIMARY KEY, v text)",
            "INSERT INTO spread SELECT g, md5(g::text) FROM generate_series(1, 20000) g", "ANALYZE spread")
    on_local(empty_dbs, "UPDATE spread SET v = v || '!' WHERE id % 100 = 0")
    coarse = {**SMALL.__dict__, "even_split": 1}  # 40 first-level ranges: every one holds a change
    by_buckets, _ = run_diff(config, tuning=Tuning(**coarse))
    direct, _ = run_diff(config, tuning=Tuning(**{**coarse, "bucket_rows": 0}))
    assert found(by_buckets.tables[0]) == found(direct.tables[0]) == {("changed", i) for i in range(100, ROWS + 1, 100)}
    assert "buckets" not in direct.tables[0].steps and direct.tables[0].rows_streamed == 2 * ROWS
    assert by_buckets.tables[0].rows_streamed < direct.tables[0].rows_streamed / 3, by_buckets.tables[0].steps
