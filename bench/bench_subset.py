"""How fast is a subset, as a ratio to a full sync of the same tables (issue 15).

Builds a database of ~1,000,000 rows on a throwaway "source" cluster: a lookup ``region``
(10 rows, referenced from every level), ``account`` (20), ``customer`` (20,000),
``orders`` (400,000) and ``order_line`` (580,000), FK columns indexed as an application has
them, and an empty twin on a throwaway "target". One account's closure is ~50,000 rows
(its customers, their orders and lines, and the regions they point at).

Figures (each the median of ``--repeat`` runs of the real CLI in a subprocess, target emptied
between runs): a full sync of the five tables, and ``--subset "account: id = 1"`` over the
same tables, planned and copied. The ratio is printed; the goal is < 0.1.

    python bench/bench_subset.py              # ~1M rows, 3 runs each
    python bench/bench_subset.py --scale 0.2  # a quick look
    python bench/bench_subset.py --mirror     # also: the subset's mirror against its upsert

``--mirror``: on a target that already holds account 1's subset plus 500 target-only order
lines of that account's orders (planted before each run), ``--subset --mode mirror`` (which also
walks the subset on the target and deletes those lines) against ``--subset`` (upsert).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbconsole.sandbox.cluster import PgCluster  # noqa: E402

DDL = """
CREATE TABLE region (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE account (id int PRIMARY KEY, region_id int NOT NULL REFERENCES region, name text NOT NULL);
CREATE TABLE customer (id int PRIMARY KEY, account_id int NOT NULL REFERENCES account,
                       region_id int NOT NULL REFERENCES region, email text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customer,
                     region_id int REFERENCES region, placed_at timestamptz NOT NULL, total numeric(12, 2) NOT NULL);
CREATE TABLE order_line (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders,
                         sku text NOT NULL, quantity int NOT NULL, price numeric(12, 2) NOT NULL);
CREATE INDEX ON customer (account_id);
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON order_line (order_id);
"""
TABLES = "region,account,customer,orders,order_line"


def fill(conn, scale: float) -> int:  # type: ignore[no-untyped-def]
    customers, orders, lines = int(20_000 * scale), int(400_000 * scale), int(580_000 * scale)
    conn.execute("INSERT INTO region SELECT g, 'region ' || g FROM generate_series(1, 10) g")
    conn.execute("INSERT INTO account SELECT g, g % 10 + 1, 'account ' || g FROM generate_series(1, 20) g")
    conn.execute("INSERT INTO customer SELECT g, g %% 20 + 1, g %% 7 + 1, 'c' || g || '@example.com' "
                 "FROM generate_series(1, %s) g", (customers,))
    conn.execute("INSERT INTO orders SELECT g, g %% %s + 1, CASE WHEN g %% 3 = 0 THEN g %% 10 + 1 END, "
                 "timestamptz '2025-01-01' + g * interval '1 minute', (g %% 1000) / 3.0 "
                 "FROM generate_series(1, %s) g" % (customers, orders))
    conn.execute("INSERT INTO order_line SELECT g, g %% %s + 1, 'sku-' || (g %% 5000), g %% 9 + 1, (g %% 700) / 7.0 "
                 "FROM generate_series(1, %s) g" % (orders, lines))
    conn.execute("VACUUM ANALYZE")
    return 30 + customers + orders + lines


def run_sync(config: Path, *extra: str) -> tuple[float, float, dict[str, int]]:
    """CLI wall time, the engine's own time (the ``done`` event: connect, plan, subset, copy), rows per table."""
    command = [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "source", "--to",
               "target", "--tables", TABLES, "--yes", "--json", *extra]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"sync failed: {proc.stderr.decode(errors='replace')}")
    events = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
    engine = next(e["seconds"] for e in events if e["event"] == "done")
    return seconds, engine, {e["table"]: e["inserted"] for e in events if e["event"] == "table_done"}


PLANT = ("INSERT INTO order_line SELECT 100000000 + row_number() OVER (ORDER BY o.id), o.id, 'local', 1, 1 "
         "FROM orders o JOIN customer c ON c.id = o.customer_id WHERE c.account_id = 1 ORDER BY o.id LIMIT 500 "
         "ON CONFLICT DO NOTHING")


def mirror_against_upsert(config: Path, target: PgCluster, repeat: int) -> None:
    """The subset's mirror (walk on the target, then deletes) against its upsert, on a target
    that holds the subset and 500 planted target-only lines of it."""
    subset = ("--subset", "account: id = 1")
    with target.admin_connect("bench") as conn:
        conn.execute("TRUNCATE region, account, customer, orders, order_line")
        conn.execute("DROP SCHEMA IF EXISTS _dbconsole CASCADE")
    run_sync(config, *subset)
    figures: dict[str, list[float]] = {"upsert": [], "mirror": []}
    deleted = 0
    for mode in ("upsert", "mirror"):
        for _ in range(repeat):
            with target.admin_connect("bench") as conn:
                conn.execute(PLANT)
            command = [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "source", "--to",
                       "target", "--tables", TABLES, "--yes", "--json", *subset, "--mode", mode]
            proc = subprocess.run(command, capture_output=True, cwd=ROOT, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"sync failed: {proc.stderr.decode(errors='replace')}")
            events = [json.loads(line) for line in proc.stdout.decode().splitlines() if line.strip()]
            figures[mode].append(next(e["seconds"] for e in events if e["event"] == "done"))
            deleted = sum(e["deleted"] for e in events if e["event"] == "table_done")
    upsert, mirror = statistics.median(figures["upsert"]), statistics.median(figures["mirror"])
    print(f"subset upsert on a target holding it: {upsert:.2f} s engine time "
          f"(runs {', '.join(f'{t:.2f}' for t in figures['upsert'])})")
    print(f"subset mirror, same target + 500 target-only lines: {mirror:.2f} s engine time "
          f"(runs {', '.join(f'{t:.2f}' for t in figures['mirror'])}), {deleted:,} rows deleted; "
          f"ratio mirror / upsert {mirror / upsert:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: ~1M rows, a ~50k-row closure")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mirror", action="store_true", help="also time --subset --mode mirror against its upsert")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dbconsole-bench-subset-"))
    source, target = PgCluster("source"), PgCluster("target")
    try:
        for cluster in (source, target):
            cluster.start()
            cluster.create_database("bench")
            with cluster.connect("bench") as conn:
                conn.execute(DDL)
        with source.connect("bench") as conn:
            conn.autocommit = True
            total = fill(conn, args.scale)
        config = workdir / "dbconsole.toml"
        config.write_text(tomli_w.dumps({"profiles": {"source": {"url": source.url("bench"), "read_only": True},
                                                      "target": {"url": target.url("bench")}}}))

        def empty_target() -> None:
            with target.admin_connect("bench") as conn:
                conn.execute("TRUNCATE region, account, customer, orders, order_line")
                conn.execute("DROP SCHEMA IF EXISTS _dbconsole CASCADE")

        def median(*extra: str) -> tuple[float, list[float], float, dict[str, int]]:
            times, engine_times, rows = [], [], {}
            for _ in range(args.repeat):
                empty_target()
                seconds, engine, rows = run_sync(config, *extra)
                times.append(seconds)
                engine_times.append(engine)
            return statistics.median(times), times, statistics.median(engine_times), rows

        full, full_runs, full_engine, full_rows = median()
        subset, subset_runs, subset_engine, subset_rows = median("--subset", "account: id = 1")
        closure = sum(subset_rows.values())
        print(f"database: {total:,} rows in 5 tables; closure of account 1: {closure:,} rows "
              f"({', '.join(f'{t} {n:,}' for t, n in subset_rows.items())})")
        print(f"full sync of the same tables: {full:.2f} s (runs {', '.join(f'{t:.2f}' for t in full_runs)}), "
              f"{sum(full_rows.values()):,} rows")
        print(f"subset, planned and copied:  {subset:.2f} s (runs {', '.join(f'{t:.2f}' for t in subset_runs)})")
        ratio = subset / full
        print(f"ratio subset / full, CLI wall time: {ratio:.3f} (goal < 0.1): {'met' if ratio < 0.1 else 'NOT met'}")
        print(f"ratio subset / full, engine time (no interpreter start-up): {subset_engine / full_engine:.3f} "
              f"({subset_engine:.2f} s / {full_engine:.2f} s)")
        if args.mirror:
            mirror_against_upsert(config, target, args.repeat)
        return 0
    finally:
        for cluster in (source, target):
            cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
