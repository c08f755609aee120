"""How long ``dbconsole schema`` takes on 1,000 tables, one side behind a real SSH tunnel.

Builds the same 1,000-table schema (columns of several types, a primary key, a foreign key to
the previous table, an index, an enum column) on a throwaway "local" and "server" cluster,
plants a few differences, puts an SSH server in front of "server", then times:

- the real CLI (``python -m dbconsole schema --left local --right server_ssh --json``) in a
  subprocess, start-up and tunnel included (target: under 2 s);
- ``dbconsole check server_ssh`` the same way: the floor (start-up, tunnel, a few queries);
- ``read_schema`` alone through the tunnel, and how many statements it sent (one).

    python bench/bench_schema.py               # 1,000 tables, 3 repeats
    python bench/bench_schema.py --tables 200 --repeat 1
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

import psycopg
import tomli_w

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dbconsole.sandbox.cluster import PgCluster  # noqa: E402
from dbconsole.sandbox.sshd import spawn_sshd_process  # noqa: E402

BUILD = """
CREATE TYPE level AS ENUM ('low', 'mid', 'high');
DO $$
BEGIN
  FOR i IN 1..%(tables)s LOOP
    EXECUTE format('CREATE TABLE t%%s (id bigserial PRIMARY KEY, parent_id bigint %%s, name text NOT NULL,
                    amount numeric(12,2) DEFAULT 0, tags text[], lvl level, at timestamptz DEFAULT now())',
                   i, CASE WHEN i > 1 THEN format('REFERENCES t%%s (id)', i - 1) ELSE '' END);
    EXECUTE format('CREATE INDEX t%%s_name ON t%%s (name)', i, i);
  END LOOP;
END $$;
"""
PLANT = ["ALTER TABLE t10 ADD COLUMN extra text", "DROP INDEX t20_name", "ALTER TYPE level ADD VALUE 'top'"]


class CountingCursor(psycopg.Cursor):
    executed = 0

    def execute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        CountingCursor.executed += 1
        return super().execute(*args, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dbconsole-bench-schema-"))
    local, server = PgCluster("local"), PgCluster("server")
    sshd = None
    try:
        for cluster in (local, server):
            cluster.start()
            cluster.create_database("app")
            with cluster.connect("app") as conn:
                conn.execute(BUILD % {"tables": args.tables})
        with server.connect("app") as conn:
            for statement in PLANT:
                conn.execute(statement)
        sshd, port = spawn_sshd_process(workdir / "sshd", [(server.host, server.port)])
        config = workdir / "dbconsole.toml"
        config.write_text(tomli_w.dumps({"profiles": {
            "local": {"url": local.url("app")},
            "server_ssh": {"url": server.url("app"), "ssh": {
                "host": "127.0.0.1", "port": port, "user": "tunnel", "key": str(workdir / "sshd" / "client_ed25519_key"),
                "known_hosts": str(workdir / "sshd" / "known_hosts")}}}}))
        command = [sys.executable, "-m", "dbconsole", "--config", str(config), "schema", "--left", "local",
                   "--right", "server_ssh", "--json"]
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            times.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"schema failed: {done.stderr}")
        floor = []  # the same process start and tunnel, with one trivial query: what schema adds is the rest
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "dbconsole", "--config", str(config), "check", "server_ssh",
                            "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
            floor.append(time.perf_counter() - started)
        report = json.loads(done.stdout)
        found = sorted((t, d["kind"], d["name"]) for t, ds in report["tables"].items() for d in ds)
        print(f"differences found: {found} + types {[d['name'] for d in report['types']]}")

        from dbconsole.config import load_config
        from dbconsole.connect import connect, tunnels
        from dbconsole.schema.read import read_schema

        profile = load_config(config).profile("server_ssh")
        with connect(profile, read_only=True) as conn:
            conn.cursor_factory = CountingCursor
            read_schema(conn)  # warm the tunnel
            CountingCursor.executed = 0
            started = time.perf_counter()
            schema = read_schema(conn)
            read_seconds = time.perf_counter() - started
        tunnels.close_all()
        print(f"{args.tables} tables per side ({len(schema.relations)} relations read through the tunnel)")
        print(f"dbconsole schema (CLI, subprocess, tunnel): median {statistics.median(times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)}); target < 2 s")
        print(f"floor: dbconsole check server_ssh (start-up + tunnel + a query): median {statistics.median(floor):.2f} s")
        print(f"read_schema through the tunnel: {read_seconds:.3f} s, {CountingCursor.executed} statement(s)")
        return 0
    finally:
        if sshd is not None:
            sshd.terminate()
            sshd.wait(10)
        for cluster in (local, server):
            cluster.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
