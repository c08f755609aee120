"""A SQLite file into PostgreSQL (issue 18): the sync against loading the same typed rows directly.

Uses the Django-shaped tables of ``tests/django_sqlite.py`` (booleans 0/1, datetimes as text,
JSON text, decimals, UUIDs, blobs, an FK), scaled up. The **floor** is the fastest way to load
those rows from Python: the typed values, already in memory, through ``COPY ... write_row``
into an empty migrated database. The **sync** is the real CLI in a subprocess (start-up, catalog
reads, SQLite reads, conversion, checkpoints included) into another empty migrated database.

    python bench/bench_sqlite.py                       # 300k orders, 100k customers
    python bench/bench_sqlite.py --orders 50000 --customers 10000
    python bench/bench_sqlite.py --undo --repeat 3     # + what keeping undo's pre-images costs

``--undo`` then measures undo's bookkeeping for a SQLite source: two more migrated databases,
one synced with ``[sync] undo_keep_runs = 0``, the other with 3; both loaded from the file
(the straight-in path: the inserted keys kept; emptied and loaded ``--repeat`` times), then
``--repeat`` times 10% of the rows changed in the file and both re-synced (the staged upsert:
the overwritten rows kept), in alternating order. Printed: each figure's seconds, on / off ratios (median), the last run's store size and
how long its ``dbconsole undo`` takes.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from dbconsole.sandbox.cluster import PgCluster  # noqa: E402
from tests.django_sqlite import create_postgres_schema, make_rows, write_reference, write_sqlite  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--undo", action="store_true", help="also measure undo_keep_runs = 3 against 0")
    parser.add_argument("--repeat", type=int, default=3, help="changed-rows re-syncs per setting (--undo)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dbconsole-bench-sqlite-"))
    cluster = PgCluster("sqlite-target")
    try:
        cluster.start()
        rows = make_rows(customers=args.customers, orders=args.orders)
        total = sum(len(v) for v in rows.values())
        path = workdir / "db.sqlite3"
        write_sqlite(path, rows)
        for name in ("floor", "synced"):
            cluster.create_database(name)
        with cluster.connect("floor") as conn:
            started = time.perf_counter()
            write_reference(conn, rows)
            floor = time.perf_counter() - started
        with cluster.connect("synced") as conn:
            create_postgres_schema(conn)
        config = workdir / "dbconsole.toml"
        config.write_text(tomli_w.dumps({"profiles": {"lite": {"url": f"sqlite:///{path}"},
                                                      "pg": {"url": cluster.url("synced")}}}))
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "lite",
                               "--to", "pg", "--json"], capture_output=True, cwd=BENCH.parent)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(done.stderr.decode(errors="replace"))
        final = json.loads(done.stdout.decode().splitlines()[-1])
        print(f"{total:,} rows ({args.customers:,} customers, {args.orders:,} orders), "
              f"{path.stat().st_size / 2**20:.0f} MiB SQLite file")
        print(f"  floor (typed rows in memory -> COPY write_row): {floor:.2f} s, {total / floor:,.0f} rows/s")
        print(f"  sync (CLI, SQLite -> convert -> COPY, batches + checkpoints): {seconds:.2f} s, "
              f"{total / seconds:,.0f} rows/s, {seconds / floor:.2f}x the floor; inserted {final['inserted']:,}")
        if args.undo:
            bench_undo(cluster, workdir, path, args.repeat)
    finally:
        cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _cli(config: Path, *args: str) -> tuple[float, dict]:
    """One real CLI call in a subprocess: its wall time and its last JSON line."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(config), *args, "--json"],
                          capture_output=True, cwd=BENCH.parent)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode(errors="replace"))
    return seconds, json.loads(done.stdout.decode().splitlines()[-1])


def _change_tenth(path: Path, step: int) -> int:
    """10% of each table's rows changed in the file (another tenth at each step)."""
    with sqlite3.connect(path) as conn:
        changed = conn.execute("UPDATE shop_order SET total = total + 1 WHERE (id / 2) % 10 = ?", (step % 10,)).rowcount
        changed += conn.execute("UPDATE shop_customer SET is_active = 1 - is_active WHERE id % 10 = ?",
                                (step % 10,)).rowcount
    return changed


def bench_undo(cluster: PgCluster, workdir: Path, path: Path, repeat: int) -> None:
    configs = {}
    for keep in (0, 3):
        name = f"keep{keep}"
        cluster.create_database(name)
        with cluster.connect(name) as conn:
            create_postgres_schema(conn)
        configs[keep] = workdir / f"{name}.toml"
        configs[keep].write_text(tomli_w.dumps({"sync": {"undo_keep_runs": keep}, "profiles": {
            "lite": {"url": f"sqlite:///{path}"}, "pg": {"url": cluster.url(name)}}}))
    sync = ("sync", "--from", "lite", "--to", "pg")
    loads: dict[int, list[float]] = {0: [], 3: []}
    for step in range(repeat):
        for keep in ((0, 3) if step % 2 == 0 else (3, 0)):
            with cluster.connect(f"keep{keep}") as conn:  # empty again: the straight-in path each time
                conn.execute("TRUNCATE shop_order, shop_customer, django_migrations")
            loads[keep].append(_cli(configs[keep], *sync)[0])
    upserts: dict[int, list[float]] = {0: [], 3: []}
    changed = 0
    for step in range(repeat):
        changed = _change_tenth(path, step)
        for keep in ((0, 3) if step % 2 == 0 else (3, 0)):
            upserts[keep].append(_cli(configs[keep], *sync)[0])
    with cluster.connect("keep3") as conn:
        run_id, store_bytes = conn.execute(
            "SELECT max(run_id), sum(pg_total_relation_size(format('_dbconsole.%I', undo_store)::regclass)) "
            "FROM _dbconsole.run_table WHERE undo_store IS NOT NULL AND run_id = "
            "(SELECT max(run_id) FROM _dbconsole.run_table)").fetchone()
    undo_seconds = _cli(configs[3], "undo", str(run_id), "--profile", "pg", "--yes")[0]
    on, off = statistics.median(upserts[3]), statistics.median(upserts[0])
    print(f"undo bookkeeping (undo_keep_runs = 3 against 0), {changed:,} rows changed per re-sync:")
    print(f"  load into empty tables (inserted keys kept): on {' / '.join(f'{s:.2f}' for s in loads[3])} s, "
          f"off {' / '.join(f'{s:.2f}' for s in loads[0])} s, "
          f"median ratio {statistics.median(loads[3]) / statistics.median(loads[0]):.2f}x")
    print(f"  re-sync, 10% changed (pre-images kept): on {' / '.join(f'{s:.2f}' for s in upserts[3])} s, "
          f"off {' / '.join(f'{s:.2f}' for s in upserts[0])} s, median ratio {on / off:.2f}x")
    print(f"  the last run's undo stores: {store_bytes / 2**20:.1f} MiB; its undo took {undo_seconds:.2f} s")


if __name__ == "__main__":
    raise SystemExit(main())
