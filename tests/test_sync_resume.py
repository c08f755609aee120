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
    return [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
            "--to", "local", "--tables", "price_history", "--with-parents", "--batch-size", "40", "--json", *extra]


def kill_at_random(config: Path, rng: random.Random, max_delay: float) -> str:
    """Start a sync, SIGKILL it after a random delay (or let it finish); return what happened."""
    proc = subprocess.Popen(sync_command(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    delay = rng.uniform(0.05, max_delay)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return "killed"
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["event"] == "done"
    return "finished"


def run_kill_trials(dbs, tmp_path: Path, trials: int, seed: int) -> dict[str, int]:
    config = write_config(tmp_path, dbs)
    rng = random.Random(seed)
    outcomes = {"killed": 0, "finished": 0}
    with dbs.local_admin() as local:
        local_only = local.execute("SELECT count(*) FROM public.price_history WHERE symbol = %s",
                                   (LOCAL_ONLY_SYMBOL,)).fetchone()[0]
    for trial in range(trials):
        outcomes[kill_at_random(config, rng, max_delay=2.5)] += 1
        if trial % 3 == 2:  # between kills, the key is never duplicated
            with dbs.local_admin() as local:
                assert_no_duplicates(local)
    final = subprocess.run(sync_command(config), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
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
    assert outcomes["killed"] >= 1, outcomes
    assert time.monotonic() - started < 120


@pytest.mark.slow
def test_sigkill_twenty_trials(dbs, tmp_path) -> None:
    outcomes = run_kill_trials(dbs, tmp_path, trials=24, seed=7)
    assert outcomes["killed"] >= 10, outcomes
