"""A task whose target session dies mid-table fails, Airflow retries it, and the retry resumes.

The failure is a real one, at a known point: a test session changes a price_history row near
the end of the key order and holds its row lock, so the sync's batch that must rewrite it waits; once the sync's
target session (``dbconsole/sync target``) is seen waiting on that lock, with earlier batches
committed, it is terminated. ``[sync] retries = 0`` leaves the engine no retry of its own, so the
task fails and Airflow's ``retries`` run it again: that try must start from the checkpoint
(``resume_rows`` > 0) and end with every source row on the target.
"""

from __future__ import annotations

import threading
import time

import pytest

from dbconsole.sandbox.seed import LOCAL_ONLY_SYMBOL
from tests.airflow.conftest import AIRFLOW_MISSING, SKIP_REASON, task_states, xcoms
from tests.profiles import isolate_from_machine, write_config
from tests.sync_checks import assert_target_holds_source

pytestmark = [pytest.mark.airflow, pytest.mark.skipif(AIRFLOW_MISSING, reason=SKIP_REASON)]

WAIT_FOR_LOCK_SECONDS = 120.0


class TargetKiller(threading.Thread):
    """Holds a row lock on the target; terminates the sync's target session once it waits on it."""

    def __init__(self, dbs, locked_key: tuple[str, str]) -> None:
        super().__init__(daemon=True)
        self.dbs = dbs
        self.locked_key = locked_key
        self.locked = threading.Event()
        self.killed_after_rows: int | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with self.dbs.local.admin_connect(self.dbs.local_db) as locker, \
                    self.dbs.local.admin_connect(self.dbs.local_db) as watcher:
                # The sync leaves equal rows alone: this one must differ, so its batch has to write it.
                locker.execute("UPDATE public.price_history SET volume = volume + 1 WHERE symbol = %s"
                               " AND trade_date = %s", self.locked_key)
                locker.autocommit = False
                locker.execute("SELECT 1 FROM public.price_history WHERE symbol = %s AND trade_date = %s FOR UPDATE",
                               self.locked_key)
                self.locked.set()
                deadline = time.monotonic() + WAIT_FOR_LOCK_SECONDS
                while time.monotonic() < deadline:
                    row = watcher.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND application_name = 'dbconsole/sync target' AND wait_event_type = 'Lock'").fetchone()
                    if row:
                        self.killed_after_rows = watcher.execute(
                            "SELECT rows_done FROM _dbconsole.checkpoint WHERE schema_name = 'public' AND table_name = 'price_history'"
                        ).fetchone()[0]
                        watcher.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                        break
                    time.sleep(0.02)
                locker.rollback()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.locked.set()


@pytest.mark.parametrize("sshd", ["openssh"], indirect=True)
def test_a_killed_target_session_fails_the_task_and_the_airflow_retry_resumes_from_the_checkpoint(
        airflow_env, dag_file, dbs, sshd, tmp_path, monkeypatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    config_path = write_config(tmp_path / "cfg", dbs, sshd, extra={"sync": {"retries": 0}})
    with dbs.local_admin() as local:
        locked_key = local.execute(
            "SELECT symbol, trade_date::text FROM public.price_history WHERE symbol <> %s"
            " ORDER BY symbol DESC, trade_date DESC LIMIT 1", (LOCAL_ONLY_SYMBOL,)).fetchone()
    module = dag_file(f"""
        from datetime import timedelta
        from dbconsole.airflow import sync_dag

        dag = sync_dag("dbconsole_retry", config_path={str(config_path)!r}, source="server", target="local",
                       graph=["stocks", "price_history"], split="table", strategy="copy", batch_size=200,
                       default_args={{"retries": 2, "retry_delay": timedelta(0)}})
    """)
    killer = TargetKiller(dbs, tuple(locked_key))
    killer.start()
    assert killer.locked.wait(30) and killer.error is None, killer.error

    run = module.dag.test()
    killer.join(10)

    assert killer.error is None, killer.error
    assert killer.killed_after_rows, "the sync's target session was never seen waiting on the lock"
    states = task_states(run)
    assert states["sync_public.stocks"] == ("success", 1)
    assert states["sync_public.price_history"] == ("success", 2), states  # failed once, retried by Airflow
    summary = xcoms(run)["sync_public.price_history"]
    assert summary["resume_rows"]["public.price_history"] >= killer.killed_after_rows > 0
    assert_target_holds_source(dbs, ["public.stocks", "public.price_history"])
