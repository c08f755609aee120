"""``sync --jobs N`` against one stream and against pgcopydb, on one big table and on many tables.

Two cases, each on a throwaway "source" cluster and an empty twin "target" (same keys):

* **big**: one table of ``--rows`` rows (default 1M; ~120 bytes a row), split into key ranges
  (``[sync] split_rows`` = rows / 4; pgcopydb: ``--split-tables-larger-than`` a quarter of its size);
* **many**: ``--tables`` tables (default 16) of ``--table-rows`` rows (default 100k) each.

For each: the single-stream **floor** (``psql | psql`` binary COPY, table after table), then the
real CLI (``python -m dbconsole sync --jobs N --json``, start-up included) for N = 1, 2, 4, and,
where Debian's ``pgcopydb`` is installed, ``pgcopydb copy table-data --table-jobs N`` on the same
data in the same run (the target emptied before every timed step). Every step runs ``--repeat``
times; the median counts and all runs are printed. The goal (issue 16): ``--jobs 2`` at least
as fast as pgcopydb with 2 table jobs on the many-table case. The core count is printed beside
the figures: with 2 cores, 4 jobs share them with both servers.

    python bench/bench_jobs.py                       # 1M rows + 16 x 100k, 3 runs each: ~10 min
    python bench/bench_jobs.py --rows 200000 --table-rows 20000 --repeat 1   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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
sys.path.insert(0, str(ROOT / "bench"))

from bench_sync import timed_cli  # noqa: E402

from dbconsole.jobs import usable_cores  # noqa: E402
from dbconsole.sandbox.cluster import SUPERUSER, PgCluster  # noqa: E402

TABLE_DDL = """CREATE TABLE {name} (
    id         bigint PRIMARY KEY,
    label      text NOT NULL,
    amount     numeric(14, 2) NOT NULL,
    attrs      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
)"""
ROWS_SQL = """INSERT INTO {name}
SELECT g, 'item-' || md5(g::text), (g % 100000) / 7.0,
       jsonb_build_object('kind', g % 7, 'tag', 't' || (g % 13)),
       timestamptz '2024-01-01' + (g % 86400) * interval '1 second'
  FROM generate_series(1, {rows}) g"""
JOBS = (1, 2, 4)
PGCOPYDB_SPLITS = False  # set by main(): whether this pgcopydb's `copy table-data` splits a table


def pgcopydb_splits() -> bool:
    proc = subprocess.run(["pgcopydb", "copy", "table-data", "--help"], capture_output=True, text=True)
    return "--split-tables-larger-than" in proc.stdout + proc.stderr


class Case:
    """One database on each cluster holding the case's tables (the target's empty)."""

    def __init__(self, name: str, tables: dict[str, int], source: PgCluster, target: PgCluster) -> None:
        self.name, self.tables, self.source, self.target = name, tables, source, target
        for cluster in (source, target):
            cluster.create_database(name)
            with cluster.connect(name) as conn:
                for table in tables:
                    conn.execute(TABLE_DDL.format(name=table))
        with source.connect(name) as conn:
            for table, rows in tables.items():
                conn.execute(ROWS_SQL.format(name=table, rows=rows))
            conn.execute("VACUUM ANALYZE")
            self.source_bytes = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def empty_target(self) -> None:
        with self.target.admin_connect(self.name) as conn:
            conn.execute("TRUNCATE " + ", ".join(self.tables))
            conn.execute("DROP SCHEMA IF EXISTS _dbconsole CASCADE")
            conn.execute("DROP SCHEMA IF EXISTS pgcopydb CASCADE")
            conn.execute("CHECKPOINT")

    def target_rows(self) -> int:
        with self.target.admin_connect(self.name) as conn:
            return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in self.tables)  # noqa: S608


def floor(case: Case) -> float:
    """One stream: psql | psql, binary COPY, one table after another."""
    psql = case.source.bindir / "psql"
    src, dst = shlex.quote(case.source.url(case.name)), shlex.quote(case.target.url(case.name))
    steps = [f"{psql} -X -q {src} -c {shlex.quote(f'COPY {t} TO STDOUT (FORMAT binary)')} | "
             f"{psql} -X -q {dst} -c {shlex.quote(f'COPY {t} FROM STDIN (FORMAT binary)')}" for t in case.tables]
    started = time.perf_counter()
    subprocess.run(["bash", "-o", "pipefail", "-c", " && ".join(steps)], check=True)
    return time.perf_counter() - started


PEAK_RSS_MB: dict[tuple[str, int], float] = {}  # (case, jobs) -> the CLI's largest peak RSS over the runs


def dbconsole_sync(case: Case, config: Path, jobs: int) -> float:
    seconds, mb, out = timed_cli("--config", str(config), "sync", "--from", f"{case.name}_source",
                                 "--to", f"{case.name}_target", "--tables", ",".join(case.tables), "--strategy", "copy",
                                 "--jobs", str(jobs), "--json", what="sync")
    PEAK_RSS_MB[(case.name, jobs)] = max(PEAK_RSS_MB.get((case.name, jobs), 0.0), mb)
    done = [json.loads(line) for line in out.splitlines() if '"event": "done"' in line]
    assert done and done[-1]["inserted"] == case.rows, done
    return seconds


def pgcopydb_copy(case: Case, jobs: int, workdir: Path) -> float:
    folder = workdir / f"pgcopydb-{case.name}-{jobs}"
    shutil.rmtree(folder, ignore_errors=True)
    command = ["pgcopydb", "copy", "table-data", "--source", case.source.url(case.name, user=SUPERUSER),
               "--target", case.target.url(case.name, user=SUPERUSER), "--table-jobs", str(jobs), "--dir", str(folder)]
    if len(case.tables) == 1 and PGCOPYDB_SPLITS:  # the same-table split, as ours (pgcopydb >= 0.11 in copy)
        command += ["--split-tables-larger-than", str(max(1, case.source_bytes // 4))]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pgcopydb failed: {proc.stderr.strip()[-2000:]}")
    assert case.target_rows() == case.rows
    return seconds


def median(repeat: int, case: Case, measure) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        case.empty_target()
        times.append(measure())
    return statistics.median(times), times


def write_config(workdir: Path, cases: list[Case], split_rows: int) -> Path:
    profiles = {}
    for case in cases:
        profiles[f"{case.name}_source"] = {"url": case.source.url(case.name), "read_only": True}
        profiles[f"{case.name}_target"] = {"url": case.target.url(case.name)}
    path = workdir / "dbconsole.toml"
    path.write_text(tomli_w.dumps({"profiles": profiles, "sync": {"split_rows": split_rows}}))
    return path


def pgcopydb_version() -> str | None:
    if shutil.which("pgcopydb") is None:
        return None
    proc = subprocess.run(["pgcopydb", "--version"], capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).splitlines()
    return next((line.strip() for line in lines if "pgcopydb version" in line), "installed") if proc.returncode == 0 else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the big table")
    parser.add_argument("--tables", type=int, default=16, help="tables of the many-table case")
    parser.add_argument("--table-rows", type=int, default=100_000, help="rows of each of them")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", default="big,many", help="which cases to run (big, many)")
    parser.add_argument("--jobs", default=",".join(map(str, JOBS)), help="job counts to time (default 1,2,4)")
    args = parser.parse_args()

    cores = usable_cores()
    pgcopydb = pgcopydb_version()
    global PGCOPYDB_SPLITS
    PGCOPYDB_SPLITS = bool(pgcopydb) and pgcopydb_splits()
    print(f"cores usable: {cores} (os.cpu_count {os.cpu_count()}); load average {os.getloadavg()[0]:.1f}")
    print(f"pgcopydb: {pgcopydb or 'not installed (apt-get install pgcopydb); its columns are skipped'}"
          + ("" if not pgcopydb or PGCOPYDB_SPLITS else "; its `copy table-data` cannot split a table (table jobs only)"))
    workdir = Path(tempfile.mkdtemp(prefix="dbconsole-bench-jobs-"))
    source, target = PgCluster("source"), PgCluster("target")
    results: list[tuple[str, str, float, list[float]]] = []
    try:
        for cluster in (source, target):
            cluster.start()
        started = time.perf_counter()
        wanted = args.cases.split(",")
        jobs = [int(n) for n in args.jobs.split(",")]
        cases = ([Case("big", {"big": args.rows}, source, target)] if "big" in wanted else []) + \
                ([Case("many", {f"t{i:02d}": args.table_rows for i in range(args.tables)}, source, target)]
                 if "many" in wanted else [])
        print(f"set-up: {', '.join(f'{c.name}: {c.rows:,} rows in {len(c.tables)} table(s)' for c in cases)}, "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        config = write_config(workdir, cases, split_rows=max(1, args.rows // 4))
        for case in cases:
            steps = [("floor (psql | psql, one stream)", lambda c=case: floor(c))]
            steps += [(f"dbconsole --jobs {n}", lambda c=case, n=n: dbconsole_sync(c, config, n)) for n in jobs]
            if pgcopydb:
                steps += [(f"pgcopydb --table-jobs {n}", lambda c=case, n=n: pgcopydb_copy(c, n, workdir))
                          for n in jobs]
            for label, measure in steps:
                seconds, runs = median(args.repeat, case, measure)
                results.append((case.name, label, seconds, runs))
                print(f"{case.name:>4}  {label:<34} {seconds:7.2f} s  runs {', '.join(f'{r:.2f}' for r in runs)}",
                      flush=True)
    finally:
        for cluster in (source, target):
            cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nfigures (median of {args.repeat}; {cores} usable cores, both servers on this machine)")
    print("case  step                               seconds  x floor  x --jobs 1 (x floor without a --jobs 1 run)")
    for name in [c.name for c in cases]:
        rows = {label: seconds for case, label, seconds, _ in results if case == name}
        base = rows["floor (psql | psql, one stream)"]
        one = rows.get("dbconsole --jobs 1", base)
        for label, seconds in rows.items():
            print(f"{name:>4}  {label:<34} {seconds:7.2f}  {seconds / base:7.2f}  {seconds / one:10.2f}")
    print("peak RSS of the CLI: " + ", ".join(f"{c} --jobs {n}: {mb:.0f} MB" for (c, n), mb in PEAK_RSS_MB.items()))
    many = {label: seconds for case, label, seconds, _ in results if case == "many"}
    if "pgcopydb --table-jobs 2" in many and "dbconsole --jobs 2" in many:
        ratio = many["dbconsole --jobs 2"] / many["pgcopydb --table-jobs 2"]
        verdict = "met" if ratio <= 1.0 else "NOT met"
        print(f"\ngoal, many tables: dbconsole --jobs 2 / pgcopydb --table-jobs 2 = {ratio:.2f} (<= 1: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
