"""A diff-driven sync killed at any instant, then run again: exact, and the work already
committed is not read again (the re-run's diff finds those rows equal).

``dbconsole/sync/by_diff.py`` keeps no checkpoint of its own; these tests are why that is
enough. The kills land at random wall-clock instants (during the connections, the diff, the
key-list copies or the mirror deletes), not only between batches.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time

from tests.diff_checks import on_local, on_server
from tests.profiles import write_config
from tests.sync_checks import table_checksum
from tests.test_sync_strategy import create_big, diff_sync_command

CHANGED = 8_000  # id % 5 = 0 of 40,000
EXTRA = 2_000  # target-only rows the mirror deletes


def plant(dbs) -> None:
    create_big(dbs, 40_000)
    on_local(dbs, "INSERT INTO public.big SELECT g, md5(g::text), g / 7.0, "
                  "'2026-01-01'::timestamptz + g * interval '1 min' FROM generate_series(1, 40000) g")
    on_server(dbs, "UPDATE public.big SET payload = 'new' WHERE id % 5 = 0")
    on_local(dbs, "INSERT INTO public.big SELECT g, 'gone', 0, now() FROM generate_series(50001, 52000) g")
    # Estimates as autovacuum would leave them, so the diff's first level has several ranges
    # whatever autovacuum's timing (without, an unanalyzed table is one range that never compares equal).
    on_server(dbs, "ANALYZE public.big")
    on_local(dbs, "ANALYZE public.big")


def last_run(config) -> dict:
    final = subprocess.run(diff_sync_command(config), capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr
    events = [json.loads(line) for line in final.stdout.splitlines() if line.strip()]
    return next(e for e in events if e["event"] == "table_done")


def test_killed_at_random_instants_then_rerun_is_exact(empty_dbs, tmp_path) -> None:
    plant(empty_dbs)
    config = write_config(tmp_path, empty_dbs)
    rng = random.Random(1201)
    for _trial in range(5):
        proc = subprocess.Popen(diff_sync_command(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.2, 2.5))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = last_run(config)
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        assert table_checksum(local, "public.big") == table_checksum(server, "public.big")
    assert done["rows_read"] <= CHANGED and done["deleted"] <= EXTRA, done


def test_work_committed_before_a_kill_is_not_read_again(empty_dbs, tmp_path) -> None:
    plant(empty_dbs)
    config = write_config(tmp_path, empty_dbs)
    proc = subprocess.Popen(diff_sync_command(config), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    progress = 0
    for line in proc.stdout:  # type: ignore[union-attr]
        if '"event": "progress"' in line:
            progress += 1
            # eight 500-row batches committed at least: ids up to ~20,000, so the first of the four
            # first-level ranges (~10,000 keys each, cut from a page sample) is wholly committed
            if progress >= 8:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]
    assert progress >= 8
    done = last_run(config)
    with empty_dbs.server_admin() as server, empty_dbs.local_admin() as local:
        assert table_checksum(local, "public.big") == table_checksum(server, "public.big")
    assert done["rows_read"] <= CHANGED - 8 * 500, done  # the committed batches compared equal
    assert done["ranges_skipped"] >= 1, done
