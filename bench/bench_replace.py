"""``--mode replace`` on the single stream, beside upsert, the COPY floor and pgcopydb.

The sync bench's clusters and 1M-row table (``bench_sync.Bench``). Each figure starts from the
same target state and runs the real CLI in a subprocess; ratios are to the ``psql | psql``
binary COPY floor measured in the same run:

* replace into an empty table: this tree (``TRUNCATE`` + ``COPY`` in one transaction) and, with
  ``--before TREE``, an older tree (for instance ``git archive`` of the commit before, whose
  replace staged every row in a temp table first);
* replace into a target that already holds the same rows (the old rows are hashed for the
  counts, then truncated);
* upsert into an empty table (the batched fast path);
* ``pgcopydb copy table-data`` (Debian's ``pgcopydb``), when it is on PATH;
* the load itself, in SQL, three ways inside one transaction: ``TRUNCATE`` + ``COPY`` with the
  secondary index in place, with ``COPY ... FREEZE``, and with the index dropped before and
  built after the data (what pgcopydb and ``pg_restore`` do): it decides whether replace
  should rebuild indexes.

    python bench/bench_replace.py --before /tmp/base     # 1M rows, repeat 3
    python bench/bench_replace.py --rows 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import ROOT, Bench, Run, fmt, median_of  # noqa: E402

from dbconsole.sync.pump import copy_out_chunks  # noqa: E402

SECONDARY_INDEX = "CREATE INDEX bench_updated_at_idx ON public.bench USING btree (updated_at)"


class TooSlow(Exception):
    """A run stopped at the time limit: reported as "more than" the limit."""


def sync_in(bench: Bench, tree: Path, *extra: str, limit: float | None = None) -> Run:
    """The CLI of ``tree`` (its own ``dbconsole`` package, found first from its folder)."""
    command = [sys.executable, "-m", "dbconsole", "--config", str(bench.config), "sync", "--from", "source",
               "--to", "target", "--tables", "bench", "--json", "--yes", *extra]
    started = time.perf_counter()
    try:
        result = subprocess.run(command, capture_output=True, cwd=tree, timeout=limit)
    except subprocess.TimeoutExpired:
        # The killed client's statement goes on in its backend (nothing reads from the client
        # during a long UPDATE or DELETE) and holds its locks: end it, or the next step waits.
        bench.target_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'bench' "
                         "AND application_name LIKE 'dbconsole/%'")
        raise TooSlow() from None
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"sync failed in {tree}: {result.stderr.decode(errors='replace')}")
    return Run(seconds)


def pgcopydb(bench: Bench) -> float:
    work = bench.workdir / "pgcopydb"
    shutil.rmtree(work, ignore_errors=True)
    command = ["pgcopydb", "copy", "table-data", "--source", bench.source.url("bench"),
               "--target", bench.target.url("bench"), "--dir", str(work), "--table-jobs", "1"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pgcopydb failed: {result.stderr.decode(errors='replace')[-2000:]}")
    return seconds


def sql_load(bench: Bench, how: str) -> float:
    """TRUNCATE + COPY of the whole table in one target transaction, the index kept, frozen, or rebuilt."""
    freeze = ", FREEZE" if how == "freeze" else ""
    with bench.source.connect("bench", autocommit=False) as src, bench.target.connect("bench", autocommit=False) as tgt:
        started = time.perf_counter()
        tgt.execute("TRUNCATE bench")
        if how == "rebuild":
            tgt.execute("DROP INDEX bench_updated_at_idx")
        with src.cursor() as out, tgt.cursor() as into:
            with into.copy(f"COPY bench FROM STDIN (FORMAT binary{freeze})") as sink:
                with out.copy("COPY (SELECT * FROM bench) TO STDOUT (FORMAT binary)"):
                    for chunk in copy_out_chunks(src):
                        sink.write(chunk)
        if how == "rebuild":
            tgt.execute(SECONDARY_INDEX)
        tgt.commit()
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an older source tree to time its replace beside this one")
    parser.add_argument("--limit", type=float, default=150.0, help="seconds an older tree's run may take")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    bench = Bench(args.rows, args.repeat, None)
    report: list[tuple[str, float, list[float]]] = []

    def figure(name: str, prepare, measure) -> float:
        try:
            seconds, runs, _ = median_of(args.repeat, prepare, measure)
        except TooSlow:
            seconds, runs = float("inf"), []
            name = f"{name} [stopped after {args.limit:g} s]"
        report.append((name, seconds, runs))
        print(f"{name:<58} {seconds:7.2f} s  runs {fmt(runs)}", flush=True)
        return seconds

    def full_target() -> None:
        bench.empty_target()
        bench.floor()
        bench.target_sql("VACUUM ANALYZE bench", "CHECKPOINT")

    try:
        bench.start()
        print(f"set-up: {args.rows:,} rows", flush=True)
        figure("floor: psql | psql, binary COPY", bench.empty_target, bench.floor)
        for how in ("kept", "freeze", "rebuild"):
            figure(f"SQL load: TRUNCATE + COPY, secondary index {how}", bench.empty_target, lambda: sql_load(bench, how))
        figure("replace into an empty table (this tree)", bench.empty_target, lambda: sync_in(bench, ROOT, "--mode", "replace"))
        if args.before:
            figure("replace into an empty table (before)", bench.empty_target,
                   lambda: sync_in(bench, args.before, "--mode", "replace", limit=args.limit))
        figure("upsert into an empty table (this tree)", bench.empty_target, lambda: sync_in(bench, ROOT))
        figure("replace over the same rows (this tree)", full_target, lambda: sync_in(bench, ROOT, "--mode", "replace"))
        if args.before:
            figure("replace over the same rows (before)", full_target,
                   lambda: sync_in(bench, args.before, "--mode", "replace", limit=args.limit))
        if shutil.which("pgcopydb"):
            figure("pgcopydb copy table-data --table-jobs 1", bench.empty_target, lambda: pgcopydb(bench))
        else:
            print("pgcopydb: not installed (apt-get install pgcopydb); skipped", flush=True)
        floor = report[0][1]
        print("\nfigure                                                     seconds   ratio to floor")
        for name, seconds, runs in report:
            print(f"{name:<58} {seconds:7.2f}   {seconds / floor:.2f}x   runs {fmt(runs)}")
    finally:
        bench.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
