"""What undo bookkeeping costs: an upsert of 10% changed rows with pre-images kept, and without.

Reuses the sync bench's clusters and table (``bench_sync.Bench``: 1M rows of bigint key, FK,
text, numeric, jsonb, timestamptz). Before each timed run the target gets a full copy of the
source (``psql | psql``, binary COPY) and then 10% of its rows changed (every tenth key), so
the upsert updates 100,000 rows and leaves 900,000 unchanged. The same sync runs with
``[sync] undo_keep_runs = 3`` (the default: pre-images kept) and ``= 0`` (off), alternating,
through the real CLI; the ratio on/off is the figure (goal <= 1.3x). Both strategies are
measured: ``copy`` (every row staged, the pre-images picked by the same join as the update)
and ``diff`` (only differing rows cross). Then the space the run's undo store takes, and how
long ``dbconsole undo`` takes to put the 100,000 rows back.

    python bench/bench_undo.py                       # 1M rows, 3 runs each: ~8 min
    python bench/bench_undo.py --rows 200000 --repeat 1   # a quick look
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import tomli_w  # noqa: E402

from bench_sync import ROOT, Bench, Run, fmt  # noqa: E402


class UndoBench(Bench):
    """The sync bench with a second config whose undo is off."""

    def write_config(self) -> None:
        super().write_config()
        import tomllib

        document = tomllib.loads(self.config.read_text())
        document.setdefault("sync", {})["undo_keep_runs"] = 0
        self.config_off = self.workdir / "dbconsole-undo-off.toml"
        self.config_off.write_text(tomli_w.dumps(document))

    def ten_percent_changed(self) -> None:
        self.empty_target()
        self.floor()
        self.target_sql("UPDATE bench SET label = label || '~' WHERE id % 10 = 0", "VACUUM ANALYZE bench", "CHECKPOINT")

    def sync_with(self, keep: bool, strategy: str) -> Run:
        if keep:
            return self.sync("--strategy", strategy)
        saved, self.config = self.config, self.config_off
        try:
            return self.sync("--strategy", strategy)
        finally:
            self.config = saved

    def undo_store_bytes(self) -> tuple[int, int]:
        """(bytes, rows) of the newest run's undo stores."""
        run_id = self.last_run_id()
        size = self.target_sql("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '_dbconsole' "
                               f"AND c.relname LIKE 'undo\\_{run_id}\\_%'")[0][0][0]
        rows = self.target_sql(f"SELECT coalesce(sum(inserted + updated + deleted), 0) FROM _dbconsole.run_table "
                               f"WHERE run_id = {run_id}")[0][0][0]
        return int(size), int(rows)

    def last_run_id(self) -> int:
        return self.target_sql("SELECT max(id) FROM _dbconsole.run")[0][0][0]

    def undo(self, run_id: int) -> float:
        command = [sys.executable, "-m", "dbconsole", "--config", str(self.config), "undo", str(run_id),
                   "--profile", "target", "--yes", "--json"]
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--strategies", default="copy,diff", help="comma-separated: copy, diff")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))

    bench = UndoBench(args.rows, args.repeat, None)
    report: list[str] = []
    try:
        t0 = time.perf_counter()
        bench.start()
        size = bench.source.connect("bench").execute("SELECT pg_relation_size('bench')").fetchone()[0]
        print(f"set-up: {args.rows:,} rows ({size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s", flush=True)
        for strategy in args.strategies.split(","):
            times: dict[bool, list[float]] = {True: [], False: []}
            store = (0, 0)
            undo_seconds: list[float] = []
            for _ in range(args.repeat):
                for keep in (True, False):
                    bench.ten_percent_changed()
                    run = bench.sync_with(keep, strategy)
                    times[keep].append(run.seconds)
                    done = run.done
                    if keep:
                        store = bench.undo_store_bytes()
                        undo_seconds.append(bench.undo(bench.last_run_id()))
                    print(f"{strategy} undo {'on ' if keep else 'off'}: {run.seconds:.2f} s  updated "
                          f"{done.get('updated', 0):,} unchanged {done.get('unchanged', 0):,}", flush=True)
            on, off = statistics.median(times[True]), statistics.median(times[False])
            pairs = statistics.median(a / b for a, b in zip(times[True], times[False]))  # each pair ran back to back
            report.append(f"{strategy:<5} upsert, 10% changed: undo on {on:7.2f} s {fmt(times[True])}, off {off:7.2f} s "
                          f"{fmt(times[False])}: {on / off:.3f}x; median of the pairs' ratios {pairs:.3f}x "
                          "(goal <= 1.3x)")
            report.append(f"      undo store: {store[0] / 2**20:.1f} MiB for ~{store[1]:,} rows "
                          f"({store[0] / max(size, 1):.1%} of the table); undo of the run: "
                          f"{statistics.median(undo_seconds):.2f} s {fmt(undo_seconds)}")
        print("\n" + "\n".join(report))
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
