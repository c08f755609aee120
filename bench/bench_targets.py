"""``sync --to A,B`` against two single-target syncs one after the other.

Reuses the sync bench's table (``bench_sync.DDL``): a source cluster with N rows, and a target
cluster with two empty databases of the same schema. Timed through the real CLI:

* **sequential**: ``sync --to t1`` then ``sync --to t2`` (the source is read twice);
* **fan-out**: ``sync --to t1,t2`` (one snapshot, shared batch reads).

Besides wall time, the source's own statistics say how many rows it read
(``pg_stat_user_tables``: sequential plus index tuples), so "read once" is measured, not
assumed. Every figure is a median of ``--repeat`` runs; the ratio is fan-out / sequential.

    python bench/bench_targets.py                     # 1M rows, 3 runs each
    python bench/bench_targets.py --rows 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomli_w

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_sync import DDL, ROWS_SQL  # noqa: E402

from dbconsole.sandbox.cluster import PgCluster  # noqa: E402

TARGETS = ("t1", "t2")
SOURCE_READS = ("SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) FROM pg_stat_user_tables "
                "WHERE relname = 'bench'")


class TargetsBench:
    def __init__(self, rows: int, batch_size: int | None) -> None:
        self.rows = rows
        self.batch_size = batch_size
        self.workdir = Path(tempfile.mkdtemp(prefix="dbconsole-bench-targets-"))
        self.source = PgCluster("source")
        self.target = PgCluster("targets")
        self.config = self.workdir / "dbconsole.toml"

    def start(self) -> None:
        self.source.start()
        self.target.start()
        self.source.create_database("bench")
        for name in TARGETS:
            self.target.create_database(name)
        for cluster, db in [(self.source, "bench")] + [(self.target, name) for name in TARGETS]:
            with cluster.connect(db) as conn:
                conn.execute(DDL)
                conn.execute("INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 1000) g")
        with self.source.connect("bench") as conn:
            for first in range(1, self.rows + 1, 1_000_000):
                conn.execute(ROWS_SQL, {"first": first, "last": min(first + 999_999, self.rows)})
            conn.execute("VACUUM ANALYZE bench")
        profiles = {"source": {"url": self.source.url("bench"), "read_only": True}}
        profiles.update({name: {"url": self.target.url(name)} for name in TARGETS})
        document: dict = {"profiles": profiles}
        if self.batch_size:
            document["sync"] = {"batch_size": self.batch_size}
        self.config.write_text(tomli_w.dumps(document))

    def stop(self) -> None:
        for cluster in (self.source, self.target):
            cluster.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def empty_targets(self) -> None:
        for name in TARGETS:
            with self.target.admin_connect(name) as conn:
                conn.execute("TRUNCATE bench")
                conn.execute("DROP SCHEMA IF EXISTS _dbconsole CASCADE")
        with self.target.admin_connect() as conn:
            conn.execute("CHECKPOINT")

    def source_reads(self) -> int:
        time.sleep(1.2)  # sessions flush their statistics when they end; give the last one a moment
        with self.source.admin_connect("bench") as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            return int(conn.execute(SOURCE_READS).fetchone()[0])

    def sync(self, targets: str) -> tuple[float, list[dict]]:
        command = [sys.executable, "-m", "dbconsole", "--config", str(self.config), "sync", "--from", "source",
                   "--to", targets, "--tables", "bench,parent", "--strategy", "copy", "--json"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, cwd=BENCH.parent)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"sync failed: {done.stderr.decode(errors='replace')}")
        return seconds, [json.loads(line) for line in done.stdout.decode().splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    bench = TargetsBench(args.rows, args.batch_size)
    try:
        bench.start()
        figures: dict[str, list[tuple[float, int]]] = {"sequential": [], "fan-out": []}
        shared = ""
        for _ in range(args.repeat):
            for label in ("sequential", "fan-out"):
                bench.empty_targets()
                before = bench.source_reads()
                if label == "sequential":
                    seconds = sum(bench.sync(name)[0] for name in TARGETS)
                else:
                    seconds, events = bench.sync(",".join(TARGETS))
                    final = events[-1]
                    assert final["failed"] == [], final
                    shared = f"shared reads {final['source_reads']['shared']}, alone {final['source_reads']['alone']}"
                read = bench.source_reads() - before
                figures[label].append((seconds, read))
                print(f"{label}: {seconds:.2f} s, source rows read {read:,}", flush=True)
        seq = statistics.median(s for s, _ in figures["sequential"])
        fan = statistics.median(s for s, _ in figures["fan-out"])
        seq_read = statistics.median(r for _, r in figures["sequential"])
        fan_read = statistics.median(r for _, r in figures["fan-out"])
        print(f"\n{args.rows:,} rows into 2 targets (median of {args.repeat}):")
        print(f"  sequential: {seq:.2f} s, source rows read {seq_read:,.0f}")
        print(f"  fan-out:    {fan:.2f} s ({fan / seq:.2f}x), source rows read {fan_read:,.0f} "
              f"({fan_read / max(seq_read, 1):.2f}x); {shared}")
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
