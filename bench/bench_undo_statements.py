"""Which way of keeping an upsert's pre-images costs least, statement by statement.

One batch as the sync applies it: 50,000 staged rows (45,000 already on a 1M-row target, every
tenth of them changed, and 5,000 new), the target probed through its key index as the apply
does (hash and merge joins off). Four ways, each run in a transaction that rolls back, in turn,
``--repeat`` times; the median time of each against the plain apply (no undo):

- apply only: ``INSERT ... WHERE NOT EXISTS`` then ``UPDATE ... WHERE IS DISTINCT FROM``;
- pre-select + apply: a ``LEFT JOIN`` of the stage to the target into the store first;
- CTE RETURNING: the insert's keys and the update's old rows (a self-join) from ``RETURNING``;
- delta (what dbconsole does, :class:`dbconsole.sync.undo_sql.Delta`): one probe finds the new
  keys and the changed rows (old and new values) into a temp table; insert, update and store
  are written from it.

The SQL is written out here (the same shapes as the sync's) so that the four can be compared.

    python bench/bench_undo_statements.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dbconsole.sandbox.cluster import PgCluster  # noqa: E402

REPEAT = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 7


def main() -> int:
    c = PgCluster("undo-statements")
    c.start()
    try:
        c.create_database("m")
        with c.connect("m") as conn:
            conn.autocommit = True
            conn.execute("""CREATE TABLE bench (id bigint PRIMARY KEY, parent_id bigint NOT NULL, label text NOT NULL,
                amount numeric(14,2) NOT NULL, attrs jsonb NOT NULL, updated_at timestamptz NOT NULL)""")
            conn.execute("""INSERT INTO bench SELECT g, 1 + g % 1000, 'item-' || md5(g::text), (g % 100000) / 7.0,
                jsonb_build_object('kind', g % 7, 'tag', 't' || (g % 13)), timestamptz '2024-01-01' + (g % 86400) * interval '1 s'
                FROM generate_series(1, 1000000) g""")
            conn.execute("VACUUM ANALYZE bench")
            conn.execute("CREATE TABLE store AS SELECT NULL::\"char\" AS op, * FROM bench WITH NO DATA")
            conn.execute("CREATE TABLE jstore (op \"char\", id bigint, pre jsonb)")
        cols = ["parent_id", "label", "amount", "attrs", "updated_at"]
        differs = " OR ".join(f"t.{c} IS DISTINCT FROM s.{c}" for c in cols)
        sets = ", ".join(f"{c} = s.{c}" for c in cols)
        allc = "id, " + ", ".join(cols)
        insert_new = f"INSERT INTO bench ({allc}) SELECT {', '.join('s.'+c for c in allc.split(', '))} FROM stage s WHERE NOT EXISTS (SELECT 1 FROM bench t WHERE t.id = s.id)"
        update = f"UPDATE bench t SET {sets} FROM stage s WHERE t.id = s.id AND ({differs})"
        capture = (f"INSERT INTO store (op, {allc}) SELECT CASE WHEN t.id IS NULL THEN 'i' ELSE 'u' END, "
                   f"CASE WHEN t.id IS NULL THEN s.id ELSE t.id END, {', '.join('t.'+c for c in cols)} "
                   f"FROM stage s LEFT JOIN bench t ON t.id = s.id WHERE t.id IS NULL OR ({differs})")
        cte_insert = f"WITH ins AS ({insert_new} RETURNING id) INSERT INTO store (op, id) SELECT 'i', id FROM ins"
        cte_update = (f"WITH upd AS (UPDATE bench t SET {sets} FROM stage s JOIN bench o ON o.id = s.id "
                      f"WHERE t.id = s.id AND ({differs}) RETURNING o.*) INSERT INTO store SELECT 'u', * FROM upd")
        oc = ", ".join(f"t.{c} AS o_{c}" for c in cols); nc = ", ".join(f"s.{c} AS n_{c}" for c in cols)
        delta_capture = (f"CREATE TEMP TABLE IF NOT EXISTS delta ON COMMIT DELETE ROWS AS SELECT NULL::\"char\" AS op, s.id, {oc}, {nc} "
                         f"FROM bench t, bench s WITH NO DATA; "
                         f"INSERT INTO delta SELECT CASE WHEN t.id IS NULL THEN 'i' ELSE 'u' END, s.id, {oc}, {nc} "
                         f"FROM stage s LEFT JOIN bench t ON t.id = s.id WHERE t.id IS NULL OR ({differs})")
        delta_insert = f"INSERT INTO bench ({allc}) SELECT id, {', '.join('n_'+c for c in cols)} FROM delta WHERE op = 'i'"
        delta_update = f"UPDATE bench t SET {', '.join(f'{c} = d.n_{c}' for c in cols)} FROM delta d WHERE d.op = 'u' AND t.id = d.id"
        delta_keep = f"INSERT INTO store (op, {allc}) SELECT op, id, {', '.join('o_'+c for c in cols)} FROM delta"
        delta_keep_json = ("INSERT INTO jstore SELECT op, id, CASE WHEN op = 'u' THEN jsonb_build_object("
                           + ", ".join(f"'{c}', o_{c}" for c in cols) + ") END FROM delta")
        variants = {"apply only": [insert_new, update], "pre-select + apply": [capture, insert_new, update],
                    "CTE RETURNING": [cte_insert, cte_update],
                    "delta (one probe)": [delta_capture, delta_insert, delta_update, delta_keep],
                    "delta, jsonb store": [delta_capture, delta_insert, delta_update, delta_keep_json]}
        sizes: dict[str, int] = {}
        times = {k: [] for k in variants}
        with c.connect("m") as conn:
            for rep in range(REPEAT):
                for name, stmts in variants.items():
                    lo = 1 + (rep * 50000) % 900000
                    with conn.transaction(force_rollback=True):
                        conn.execute("SET LOCAL enable_hashjoin = off")
                        conn.execute("SET LOCAL enable_mergejoin = off")
                        conn.execute(f"CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT * FROM bench WHERE id BETWEEN {lo} AND {lo + 44999}")
                        conn.execute("UPDATE stage SET label = label || '~' WHERE id % 10 = 0")
                        conn.execute("INSERT INTO stage SELECT id + 2000000, parent_id, label, amount, attrs, updated_at FROM stage LIMIT 5000")
                        size_sql = "SELECT pg_total_relation_size('store') + pg_total_relation_size('jstore')"
                        before = conn.execute(size_sql).fetchone()[0]
                        t0 = time.perf_counter()
                        for s in stmts:
                            conn.execute(s)
                        times[name].append(time.perf_counter() - t0)
                        after = conn.execute(size_sql).fetchone()[0]
                        kept = conn.execute("SELECT (SELECT count(*) FROM store) + (SELECT count(*) FROM jstore)").fetchone()[0]
                        if kept:
                            sizes[name] = (after - before) // kept
        base = statistics.median(times["apply only"])
        for name, ts in times.items():
            size = f"  {sizes[name]} bytes per kept row" if name in sizes else ""
            print(f"{name:<20} median {statistics.median(ts)*1000:7.1f} ms  ({statistics.median(ts)/base:.2f}x)  "
                  f"runs {[round(t*1000) for t in ts]}{size}")
    finally:
        c.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
