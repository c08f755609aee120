"""A SQLite file into PostgreSQL (issue 18): the sync against loading the same typed rows directly.

Uses the Django-shaped tables of ``tests/django_sqlite.py`` (booleans 0/1, datetimes as text,
JSON text, decimals, UUIDs, blobs, an FK), scaled up. The **floor** is the fastest way to load
those rows from Python: the typed values, already in memory, through ``COPY ... write_row``
into an empty migrated database. The **sync** is the real CLI in a subprocess (start-up, catalog
reads, SQLite reads, conversion, checkpoints included) into another empty migrated database.

    python bench/bench_sqlite.py                       # 300k orders, 100k customers
    python bench/bench_sqlite.py --orders 50000 --customers 10000
"""

from __future__ import annotations

import argparse
import json
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
    finally:
        cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
