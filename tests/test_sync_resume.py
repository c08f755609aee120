"""A sync process killed with SIGKILL at random moments, then run again, ends exactly like the source."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbconsole.sandbox.seed import LOCAL_ONLY_SYMBOL
from tests.profiles import write_config
from tests.sync_checks import rows_by_key, shared_columns

TABLES = ["public.stocks", "public.price_history"]


def sync_command(config: Path, *extra: str) -> list[str]:
    # The copy path's checkpoints are what these trials prove (the target holds most rows, so
    # auto would diff; the diff path's kills are in test_sync_strategy.py).
    return [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
            "--to", "local", "--tables", "price_history", "--with-parents", "--batch-size", "40", "--strategy", "copy", "--json", *extra]


def kill_at_random(config: Path, rng: random.Random, max_delay: float, at_batch: int | None = None) -> tuple[str, str]:
    """Start a sync, SIGKILL it after a random delay, or right after its ``at_batch``-th committed
    batch (the next one is then in flight), or let it finish; return what happened and its output."""
    proc = subprocess.Popen(sync_command(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    if at_batch is not None:
        lines, batches = [], 0
        for line in proc.stdout:
            lines.append(line)
            if '"event": "progress"' in line and '"public.price_history"' in line:
                batches += 1
                if batches >= at_batch:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return "killed", "".join(lines)
        out, err = "".join(lines), proc.stderr.read()
        proc.wait()
    else:
        try:
            proc.wait(timeout=rng.uniform(0.05, max_delay))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return "killed", out
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["event"] == "done"
    return "finished", out


def resumed_rows(out: str) -> int:
    return sum(json.loads(line)["resume_rows"] for line in out.splitlines() if '"table_start"' in line)


def run_kill_trials(dbs, tmp_path: Path, trials: int, seed: int) -> dict[str, object]:
    config = write_config(tmp_path, dbs)
    rng = random.Random(seed)
    outcomes: dict[str, object] = {"killed": 0, "finished": 0, "killed_after_a_commit": 0,
                                   "killed_before_a_commit": 0}
    recoveries: list[tuple[int, float]] = []  # (rows resumed from the checkpoint, seconds to finish)
    with dbs.local_admin() as local:
        local_only = local.execute("SELECT count(*) FROM public.price_history WHERE symbol = %s",
                                   (LOCAL_ONLY_SYMBOL,)).fetchone()[0]
    committed_before = 0
    previous = "finished"
    for trial in range(trials + 1):
        started = time.monotonic()
        if trial == trials:  # the last run is left to finish: it must complete the job
            final = subprocess.run(sync_command(config), capture_output=True, text=True, timeout=300)
            assert final.returncode == 0, final.stderr
            outcome, out = "finished", final.stdout
        else:
            # Half the trials die at a random instant, half right after a random batch (mid-table).
            outcome, out = kill_at_random(config, rng, max_delay=2.5,
                                          at_batch=rng.randint(1, 40) if trial % 2 else None)
            outcomes[outcome] += 1  # type: ignore[operator]
        if outcome == "finished" and previous == "killed":
            recoveries.append((resumed_rows(out), round(time.monotonic() - started, 2)))
        with dbs.local_admin() as local:
            if trial % 3 == 2:  # between kills, the key is never duplicated
                assert_no_duplicates(local)
            has_state = local.execute("SELECT to_regclass('_dbconsole.checkpoint')").fetchone()[0]
            checkpoint = local.execute("SELECT coalesce(sum(rows_done), 0) FROM _dbconsole.checkpoint"
                                       ).fetchone()[0] if has_state else 0
        if outcome == "killed" and trial < trials:  # where it died: after batches of its own, or before any
            key = "killed_after_a_commit" if checkpoint > committed_before else "killed_before_a_commit"
            outcomes[key] += 1  # type: ignore[operator]
        committed_before, previous = checkpoint, outcome
    outcomes["recoveries"] = recoveries
    print(f"\nSIGKILL trials (seed {seed}): {outcomes}")
    with dbs.server_admin() as server, dbs.local_admin() as local:
        for table in TABLES:
            columns = shared_columns(server, local, table)
            source, target = rows_by_key(server, table, columns), rows_by_key(local, table, columns)
            assert {k: v for k, v in target.items() if k in source} == source, table
        assert_no_duplicates(local)
        assert local.execute("SELECT count(*) FROM public.price_history WHERE symbol = %s",
                             (LOCAL_ONLY_SYMBOL,)).fetchone()[0] == local_only, "local-only rows untouched"
        assert local.execute("SELECT count(*) FROM _dbconsole.checkpoint").fetchone()[0] == 0
    return outcomes


def assert_no_duplicates(conn) -> None:
    dupes = conn.execute("SELECT count(*) FROM (SELECT symbol, trade_date FROM public.price_history "
                         "GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()[0]
    assert dupes == 0


def test_sigkill_at_random_moments_then_rerun_matches_the_source(dbs, tmp_path) -> None:
    started = time.monotonic()
    outcomes = run_kill_trials(dbs, tmp_path, trials=5, seed=20261122)
    assert outcomes["killed_after_a_commit"] >= 1, outcomes
    assert time.monotonic() - started < 120


@pytest.mark.slow
def test_sigkill_twenty_trials(dbs, tmp_path) -> None:
    outcomes = run_kill_trials(dbs, tmp_path, trials=24, seed=7)
    assert outcomes["killed"] >= 10, outcomes


# --------------------------------------------------------------------------- the fast path, killed

BIG_ROWS = 200_000


def create_big_table(empty_dbs) -> None:
    ddl = "CREATE TABLE public.big (id bigint PRIMARY KEY, payload text NOT NULL, n numeric)"
    for cluster, db in ((empty_dbs.server, empty_dbs.server_db), (empty_dbs.local, empty_dbs.local_db)):
        with cluster.connect(db) as conn:
            conn.execute(ddl)
    with empty_dbs.server.connect(empty_dbs.server_db) as conn:
        conn.execute("INSERT INTO public.big SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, %s) g", (BIG_ROWS,))
        conn.execute("ANALYZE public.big")


def big_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
            "--to", "local", "--tables", "big", "--batch-size", "20000", "--json"]


def run_fast_path_kill_trials(empty_dbs, tmp_path: Path, trials: int, seed: int) -> dict[str, object]:
    """An empty target is loaded by COPY straight into the table (no staging), batch by batch; a
    SIGKILL at any point, and a row the application writes meanwhile, must not cost a row or
    duplicate one. After the first kill, a local row appears beyond the copied keys: the resumed
    run must notice and switch to staged upserts, keeping that row."""
    create_big_table(empty_dbs)
    config = write_config(tmp_path, empty_dbs)
    rng = random.Random(seed)
    outcomes: dict[str, object] = {"killed": 0, "finished": 0}
    local_row_added = False
    for trial in range(trials):
        proc = subprocess.Popen(big_command(config), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                start_new_session=True)
        at_batch, batches, killed = rng.randint(1, 9), 0, False
        for line in proc.stdout:
            if '"event": "progress"' in line:
                batches += 1
                if batches >= at_batch:
                    os.killpg(proc.pid, signal.SIGKILL)
                    killed = True
                    break
        proc.wait()
        outcomes["killed" if killed else "finished"] += 1  # type: ignore[operator]
        if killed and not local_row_added:
            with empty_dbs.local.connect(empty_dbs.local_db) as conn:
                conn.execute("INSERT INTO public.big VALUES (%s, 'local only', NULL)", (BIG_ROWS + 1,))
            local_row_added = True
    started = time.monotonic()
    final = subprocess.run(big_command(config), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    outcomes["final_run_seconds"] = round(time.monotonic() - started, 2)
    outcomes["final_run_resumed_rows"] = resumed_rows(final.stdout)
    print(f"\nfast-path SIGKILL trials (seed {seed}): {outcomes}")
    with empty_dbs.local.connect(empty_dbs.local_db) as local, empty_dbs.server.connect(empty_dbs.server_db) as server:
        digest = "SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY id)) FROM public.big t WHERE id <= %s"
        assert local.execute(digest, (BIG_ROWS,)).fetchone() == server.execute(digest, (BIG_ROWS,)).fetchone()
        extra = local.execute("SELECT count(*) FROM public.big WHERE id > %s", (BIG_ROWS,)).fetchone()[0]
        assert extra == (1 if local_row_added else 0)
        assert local.execute("SELECT count(*) FROM _dbconsole.checkpoint").fetchone()[0] == 0
    return outcomes


def test_sigkill_while_copying_into_an_empty_table_then_rerun(empty_dbs, tmp_path) -> None:
    outcomes = run_fast_path_kill_trials(empty_dbs, tmp_path, trials=3, seed=3)
    assert outcomes["killed"] >= 1, outcomes


@pytest.mark.slow
def test_sigkill_while_copying_into_an_empty_table_twenty_trials(empty_dbs, tmp_path) -> None:
    outcomes = run_fast_path_kill_trials(empty_dbs, tmp_path, trials=20, seed=17)
    assert outcomes["killed"] >= 5, outcomes
