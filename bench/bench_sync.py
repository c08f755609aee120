"""How fast is a sync, as ratios to the fastest copy PostgreSQL itself can do.

Builds a table of ``--rows`` rows (~150 bytes each: bigint key, FK, text, numeric, jsonb,
timestamptz) on a throwaway "source" cluster and an empty twin on a throwaway "target", then
measures, in one run, each figure against the *floor*: two ``psql`` processes piping
``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` into ``COPY ... FROM STDIN (FORMAT binary)``,
same rows, same target table. Machines are noisy, so only ratios measured minutes apart in
the same script mean anything; every timed step runs ``--repeat`` times and the median counts.

    python bench/bench_sync.py                 # 1M rows, 5M-row memory check, SSH tunnel
    python bench/bench_sync.py --rows 200000 --no-5m --no-tunnel   # a quick look

The syncs run the real CLI (``python -m dbconsole sync``) in a subprocess, so start-up,
connections and memory are what a user gets; peak RSS comes from ``wait4``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbconsole.sandbox.cluster import PgCluster  # noqa: E402
from dbconsole.sandbox.sshd import spawn_sshd_process  # noqa: E402

DDL = """
CREATE TABLE parent (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE bench (
    id         bigint PRIMARY KEY,
    parent_id  bigint NOT NULL REFERENCES parent (id),
    label      text NOT NULL,
    amount     numeric(14, 2) NOT NULL,
    attrs      jsonb NOT NULL,
    updated_at timestamptz NOT NULL
);
-- What an app that syncs incrementally has: its cursor column indexed.
CREATE INDEX bench_updated_at_idx ON bench (updated_at);
"""
ROWS_SQL = """
INSERT INTO bench
SELECT g, 1 + g %% 1000, 'item-' || md5(g::text), (g %% 100000) / 7.0,
       jsonb_build_object('kind', g %% 7, 'tag', 't' || (g %% 13), 'score', g %% 1000),
       timestamptz '2024-01-01' + (g %% 86400) * interval '1 second'
  FROM generate_series(%(first)s::bigint, %(last)s::bigint) g
"""
UPSERT_SQL = """
INSERT INTO bench (id, parent_id, label, amount, attrs, updated_at) VALUES (%s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET parent_id = EXCLUDED.parent_id, label = EXCLUDED.label, amount = EXCLUDED.amount,
    attrs = EXCLUDED.attrs, updated_at = EXCLUDED.updated_at
"""


@dataclass
class Run:
    seconds: float
    rss_mb: float = 0.0
    events: list[dict] = field(default_factory=list)

    @property
    def done(self) -> dict:
        return next((e for e in reversed(self.events) if e.get("event") == "done"), {})


class PeakMemory:
    """The child's peak RSS (VmHWM), sampled while it runs.

    Not ``wait4``'s ``ru_maxrss``: that one survives ``exec`` and so reports the *parent's*
    size at fork time whenever the parent is the bigger of the two.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.mb = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            try:
                with open(f"/proc/{self.pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            self.mb = max(self.mb, int(line.split()[1]) / 1024)
            except OSError:
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def timed_cli(*args: str, what: str = "dbconsole") -> tuple[float, float, str]:
    """``python -m dbconsole ARGS`` as a user runs it: (wall seconds, peak RSS in MB, stdout).
    A failure stops the bench with the command's own error line."""
    command = [sys.executable, "-m", "dbconsole", *args]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peak = PeakMemory(proc.pid)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    peak.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed: {err.strip()}")
    return seconds, peak.mb, out


class Bench:
    """Two clusters, a config, and the commands to time."""

    def __init__(self, rows: int, repeat: int, batch_size: int | None) -> None:
        self.rows = rows
        self.repeat = repeat
        self.batch_size = batch_size
        self.workdir = Path(tempfile.mkdtemp(prefix="dbconsole-bench-"))
        self.source = PgCluster("source")
        self.target = PgCluster("target")
        self.sshd_proc: subprocess.Popen | None = None
        self.ssh_port: int | None = None
        self.config = self.workdir / "dbconsole.toml"

    # -- set-up --------------------------------------------------------------------------

    def start(self) -> None:
        for cluster in (self.source, self.target):
            cluster.start()
            cluster.create_database("bench")
            with cluster.connect("bench") as conn:
                conn.execute(DDL)
                conn.execute("INSERT INTO parent SELECT g, 'parent ' || g FROM generate_series(1, 1000) g")
        self.grow_source(self.rows)
        self.write_config()

    def grow_source(self, rows: int) -> None:
        with self.source.connect("bench") as conn:
            have = conn.execute("SELECT coalesce(max(id), 0) FROM bench").fetchone()[0]
            step = 1_000_000
            for first in range(have + 1, rows + 1, step):
                conn.execute(ROWS_SQL, {"first": first, "last": min(first + step - 1, rows)})
            conn.execute("VACUUM ANALYZE bench")

    def write_config(self) -> None:
        profiles = {
            "source": {"url": self.source.url("bench"), "read_only": True},
            "target": {"url": self.target.url("bench")},
        }
        if self.ssh_port:
            profiles["source_ssh"] = {
                "url": self.source.url("bench"),
                "ssh": {"host": "127.0.0.1", "port": self.ssh_port, "user": "tunnel",
                        "key": str(self.workdir / "sshd" / "client_ed25519_key"),
                        "known_hosts": str(self.workdir / "sshd" / "known_hosts")}}
        document: dict = {"profiles": profiles}
        if self.batch_size:
            document["sync"] = {"batch_size": self.batch_size}
        self.config.write_text(tomli_w.dumps(document))

    def start_tunnel_server(self) -> None:
        self.sshd_proc, self.ssh_port = spawn_sshd_process(self.workdir / "sshd", [(self.source.host, self.source.port)])
        self.write_config()

    def stop(self) -> None:
        if self.sshd_proc is not None:
            self.sshd_proc.terminate()
            self.sshd_proc.wait(10)
        for cluster in (self.source, self.target):
            cluster.cleanup()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- target states --------------------------------------------------------------------

    def target_sql(self, *statements: str) -> list:
        results = []
        with self.target.admin_connect("bench") as conn:
            for statement in statements:
                cur = conn.execute(statement)
                results.append(cur.fetchall() if cur.description else None)
        return results

    def empty_target(self) -> None:
        self.target_sql("TRUNCATE bench", "DROP SCHEMA IF EXISTS _dbconsole CASCADE", "CHECKPOINT")

    # -- timed things ----------------------------------------------------------------------

    def floor(self, source_port: int | None = None, where: str = "") -> float:
        """psql | psql, binary COPY, into the same target table."""
        src_url = self.source.url("bench")
        if source_port is not None:
            src_url = src_url.replace(f":{self.source.port}/", f":{source_port}/")
        psql = self.source.bindir / "psql"
        out_sql = f"COPY (SELECT * FROM bench {where}) TO STDOUT (FORMAT binary)"
        pipeline = (f"{psql} -X -q {shlex.quote(src_url)} -c {shlex.quote(out_sql)} | "
                    f"{psql} -X -q {shlex.quote(self.target.url('bench'))} -c 'COPY bench FROM STDIN (FORMAT binary)'")
        started = time.perf_counter()
        subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], check=True)
        return time.perf_counter() - started

    def sync(self, *extra: str, source: str = "source") -> Run:
        """The real CLI in a subprocess; wall time and peak RSS of that process."""
        seconds, mb, out = timed_cli("--config", str(self.config), "sync", "--from", source, "--to", "target",
                                     "--tables", "bench", "--json", *extra, what="sync")
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        return Run(seconds, mb, events)

    def rows_rewritten_since(self, xid: int) -> int:
        return self.target_sql(f"SELECT count(*) FROM bench WHERE xmin::text::bigint > {xid}")[0][0][0]

    def current_xid(self) -> int:
        return self.target_sql("SELECT pg_current_xact_id()::text::bigint")[0][0][0]


def median_of(repeat: int, prepare, measure) -> tuple[float, list[float], object]:
    times, last = [], None
    for _ in range(repeat):
        prepare()
        result = measure()
        seconds = result.seconds if isinstance(result, Run) else result
        times.append(seconds)
        last = result
    return statistics.median(times), times, last


def loop_baselines(bench: Bench, rows: int) -> tuple[float, float]:
    """What teams run today: fetch, then one execute() per row / a pipelined executemany()."""
    with bench.source.connect("bench") as src:
        data = src.execute("SELECT * FROM bench WHERE id <= %s ORDER BY id", (rows,)).fetchall()
    results = []
    for use_executemany in (False, True):
        bench.empty_target()
        with psycopg.connect(bench.target.url("bench")) as conn:
            started = time.perf_counter()
            with conn.cursor() as cur:
                if use_executemany:
                    cur.executemany(UPSERT_SQL, [(*r[:4], json.dumps(r[4]), r[5]) for r in data])
                else:
                    for r in data:
                        cur.execute(UPSERT_SQL, (*r[:4], json.dumps(r[4]), r[5]))
            conn.commit()
            results.append(time.perf_counter() - started)
    return results[0], results[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--loop-rows", type=int, default=100_000)
    parser.add_argument("--no-5m", action="store_true", help="skip the 5M-row memory check")
    parser.add_argument("--no-tunnel", action="store_true", help="skip the SSH tunnel figures")
    parser.add_argument("--only-full", action="store_true", help="just the floor and the full sync")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # clean up the clusters

    bench = Bench(args.rows, args.repeat, args.batch_size)
    report: list[tuple[str, float, float | None, str]] = []
    try:
        t0 = time.perf_counter()
        bench.start()
        print(f"set-up: {args.rows:,} rows in {time.perf_counter() - t0:.1f} s "
              f"(source PG{bench.source.version}, target PG{bench.target.version})", flush=True)
        size = bench.source.connect("bench").execute("SELECT pg_relation_size('bench')").fetchone()[0]
        print(f"table: {size / args.rows:.0f} bytes/row on disk, {size / 2**20:.0f} MiB", flush=True)

        floor, floor_runs, _ = median_of(args.repeat, bench.empty_target, bench.floor)
        print(f"floor (psql | psql, binary COPY): {floor:.2f} s  runs {fmt(floor_runs)}", flush=True)

        full, full_runs, full_run = median_of(args.repeat, bench.empty_target, bench.sync)
        report.append(("full sync into an empty table", full, full / floor, "<= 1.3x floor"))
        print(f"full sync: {full:.2f} s  runs {fmt(full_runs)}  peak RSS {full_run.rss_mb:.0f} MB", flush=True)
        rss_1m = full_run.rss_mb
        if args.only_full:
            print(f"ratio: {full / floor:.3f}x floor")
            return 0

        def half_changed() -> None:
            bench.empty_target()
            bench.floor(where=f"WHERE id <= {args.rows // 2}")
            bench.target_sql(f"UPDATE bench SET label = label || '~' WHERE id <= {args.rows // 2} AND id % 10 = 0",
                             "VACUUM ANALYZE bench")

        upsert, upsert_runs, upsert_run = median_of(args.repeat, half_changed, bench.sync)
        d = upsert_run.done
        report.append(("upsert: target holds half, 10% of it changed", upsert, upsert / floor, "<= 2.5x floor"))
        print(f"upsert half/10%: {upsert:.2f} s  runs {fmt(upsert_runs)}  inserted {d.get('inserted'):,} "
              f"updated {d.get('updated'):,} unchanged {d.get('unchanged'):,}", flush=True)

        xids: list[int] = []
        rerun, rerun_runs, rerun_run = median_of(args.repeat, lambda: xids.append(bench.current_xid()), bench.sync)
        rewritten = bench.rows_rewritten_since(xids[0])
        report.append(("re-run, nothing changed", rerun, rerun / floor, "<= 2x floor, 0 rows rewritten"))
        print(f"re-run unchanged: {rerun:.2f} s  runs {fmt(rerun_runs)}  unchanged {rerun_run.done.get('unchanged'):,}"
              f"  rows rewritten on target: {rewritten}", flush=True)

        bench.sync("--mode", "incremental")  # first incremental run: sets the watermark

        def change_one_percent() -> None:
            with bench.source.connect("bench") as conn:
                conn.execute("UPDATE bench SET label = label || '+', updated_at = now() WHERE id % 100 = 0")
            time.sleep(0.1)

        incr, incr_runs, incr_run = median_of(args.repeat, change_one_percent,
                                              lambda: bench.sync("--mode", "incremental"))
        report.append(("incremental after 1% changed (vs full sync)", incr, incr / full, "<= 0.05x full sync"))
        engine_full, engine_incr = full_run.done.get("seconds", 0.0), incr_run.done.get("seconds", 0.0)
        if engine_full:
            report.append(("  same, engine time only (no interpreter start-up)", engine_incr, engine_incr / engine_full,
                           "<= 0.05x full sync"))
        print(f"incremental 1%: {incr:.2f} s  runs {fmt(incr_runs)}  updated {incr_run.done.get('updated'):,}",
              flush=True)

        per_row, many = loop_baselines(bench, args.loop_rows)
        scale = args.rows / args.loop_rows
        report.append(("per-row execute() UPSERT loop (scaled)", per_row * scale, per_row * scale / full,
                       ">= 10x our full sync"))
        report.append(("pipelined executemany() UPSERT (scaled)", many * scale, many * scale / full,
                       ">= 2x our full sync"))
        print(f"baselines on {args.loop_rows:,} rows: execute loop {per_row:.2f} s, executemany {many:.2f} s",
              flush=True)

        if not args.no_tunnel:
            bench.start_tunnel_server()
            tunnel_floor, tunnel_floor_runs = tunnel_floor_times(bench, args.repeat)
            tunnel_sync, tunnel_runs, _ = median_of(args.repeat, bench.empty_target,
                                                    lambda: bench.sync(source="source_ssh"))
            report.append(("floor through the SSH tunnel", tunnel_floor, tunnel_floor / floor, "(reference)"))
            report.append(("full sync through the SSH tunnel (vs tunnel floor)", tunnel_sync, tunnel_sync / tunnel_floor,
                           "beside the tunnel floor"))
            print(f"tunnel floor {tunnel_floor:.2f} s runs {fmt(tunnel_floor_runs)}; tunnel sync {tunnel_sync:.2f} s "
                  f"runs {fmt(tunnel_runs)}", flush=True)

        rss_line = f"peak RSS at {args.rows:,} rows: {rss_1m:.0f} MB"
        if not args.no_5m:
            bench.grow_source(5 * args.rows)
            bench.empty_target()
            big = bench.sync()
            rss_line += f"; at {5 * args.rows:,} rows: {big.rss_mb:.0f} MB ({big.seconds:.1f} s)"
        print(rss_line, flush=True)

        print("\nfigure                                               seconds   ratio    goal")
        for name, seconds, ratio, goal in report:
            print(f"{name:<52} {seconds:>7.2f}  {ratio:>6.3f}x  {goal}")
        print(rss_line + " (goal: < 150 MB, flat)")
    finally:
        bench.stop()
    return 0


def tunnel_floor_times(bench: Bench, repeat: int) -> tuple[float, list[float]]:
    """The floor through the same kind of tunnel the sync uses (the pool's, opened here)."""
    from dbconsole.config import load_config
    from dbconsole.connect import _conninfo_params, tunnels

    profile = load_config(bench.config, environ={}).profile("source_ssh")
    tunnel = tunnels.get(profile, bench.source.host, bench.source.port, 10)
    _conninfo_params(profile)
    try:
        median, runs, _ = median_of(repeat, bench.empty_target, lambda: bench.floor(source_port=tunnel.local_port))
    finally:
        tunnels.close_all()
    return median, runs


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    raise SystemExit(main())
