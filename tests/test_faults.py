"""Faults a sync must survive: servers and tunnels dying mid-run, interrupted replaces, stalls,
concurrent config writers. Nothing lost, nothing duplicated, nothing half-applied."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dbconsole.config import SyncSettings, load_config, save_config, with_profile
from dbconsole.errors import ConnectError, SyncError
from dbconsole.sandbox.seed import SEED_TABLES
from dbconsole.sandbox.sshd import spawn_sshd_process
from dbconsole.sync import SyncRequest
from dbconsole.sync.engine import run_sync
from dbconsole.sync.events import Notice, Progress
from tests.conftest import TEMPLATE_DB
from tests.netproxy import StallableProxy
from tests.profiles import PASSWORD_VAR, load, write_config
from tests.sync_checks import assert_target_holds_source, table_checksum

PRICE_TABLES = ["public.stocks", "public.price_history"]


def price_sync(config, source: str = "server_direct", **kwargs) -> SyncRequest:
    kwargs.setdefault("settings", config.sync)
    return SyncRequest(source=config.profile(source), target=config.profile("local"), tables=("price_history",),
                       with_parents=True, batch_size=kwargs.pop("batch_size", 100), **kwargs)


def run_with_fault(request: SyncRequest, fault) -> list:
    """Run a sync; call ``fault()`` once, at its first price_history batch; return the events.

    Prints how long the run took from the fault to its end, and how many retries it needed."""
    events, fired = [], threading.Event()
    fault_at: list[float] = []

    def on_event(event):
        events.append(event)
        if isinstance(event, Progress) and event.table == "public.price_history" and not fired.is_set():
            fired.set()
            fault_at.append(time.monotonic())
            fault()

    try:
        run_sync(request, on_event=on_event)
    finally:
        if fault_at:
            retries = sum(1 for e in events if isinstance(e, Notice) and e.kind == "retry")
            print(f"\nfault -> end of run: {time.monotonic() - fault_at[0]:.2f} s, {retries} retries")
    assert fired.is_set()
    return events


def test_target_server_restarted_mid_batch(dbs, tmp_path, pg_local) -> None:
    config = load(write_config(tmp_path, dbs))
    events = run_with_fault(price_sync(config), pg_local.restart)
    assert any(isinstance(e, Notice) and e.kind == "retry" for e in events)
    assert_target_holds_source(dbs, PRICE_TABLES)


def test_source_server_crashed_and_restarted(dbs, tmp_path, pg_server) -> None:
    config = load(write_config(tmp_path, dbs))

    def crash_then_come_back():
        pg_server.kill()  # SIGKILL: crash recovery on the next start
        threading.Timer(1.0, pg_server.start).start()

    events = run_with_fault(price_sync(config), crash_then_come_back)
    assert any(isinstance(e, Notice) and e.kind == "retry" for e in events)
    assert_target_holds_source(dbs, PRICE_TABLES)


@pytest.mark.parametrize("transport", ["openssh", "paramiko"])
def test_ssh_server_killed_mid_sync_and_restarted_tunnel_is_rebuilt(dbs, tmp_path, pg_server, transport) -> None:
    workdir = tmp_path / "sshd"
    proc, port = spawn_sshd_process(workdir, [(pg_server.host, pg_server.port)])
    restarted: list = []
    try:
        path = write_config(tmp_path, dbs, extra={"profiles": {"tunnelled": {
            "url": f"postgresql://{pg_server.user}:${{{PASSWORD_VAR}}}@{pg_server.host}:{pg_server.port}/{dbs.server_db}",
            "ssh": {"host": "127.0.0.1", "port": port, "user": "tunnel", "key": str(workdir / "client_ed25519_key"),
                    "known_hosts": str(workdir / "known_hosts"), "transport": transport}}}})
        config = load(path)

        def kill_ssh_server():
            proc.kill()
            proc.wait(10)

            def bring_back():
                restarted.append(spawn_sshd_process(workdir, [(pg_server.host, pg_server.port)], port=port)[0])

            threading.Timer(1.5, bring_back).start()

        events = run_with_fault(price_sync(config, source="tunnelled"), kill_ssh_server)
        assert any(isinstance(e, Notice) and e.kind == "retry" for e in events)
        assert_target_holds_source(dbs, PRICE_TABLES)
    finally:
        for process in [proc, *restarted]:
            if process.poll() is None:
                process.terminate()
                process.wait(10)


def test_source_that_stalls_mid_copy_gives_up_within_its_timeout(dbs, tmp_path) -> None:
    proxy = StallableProxy(dbs.server.host, dbs.server.port)
    try:
        path = write_config(tmp_path, dbs, extra={
            "sync": {"stall_timeout": 2, "retries": 1},
            "profiles": {"stalling": {"url": f"postgresql://{dbs.server.user}:${{{PASSWORD_VAR}}}@127.0.0.1:"
                                             f"{proxy.port}/{dbs.server_db}", "read_only": True, "connect_timeout": 3}}})
        config = load(path)
        with dbs.local_admin() as local:
            before = table_checksum(local, "public.price_history")
        started = time.monotonic()
        with pytest.raises((SyncError, ConnectError)) as info:
            run_with_fault(price_sync(config, source="stalling"), proxy.stall)
        assert time.monotonic() - started < 60
        assert "nothing moved for 2 s" in str(info.value) or "timeout" in str(info.value).lower()
        with dbs.local_admin() as local:  # committed batches are whole; the one in flight rolled back
            after = local.execute("SELECT count(*) FROM public.price_history").fetchone()[0]
            assert after >= before[0]
    finally:
        proxy.close()


def test_database_port_that_accepts_but_never_answers(tmp_path, dbs, capsys) -> None:
    from dbconsole.cli import main

    proxy = StallableProxy(dbs.server.host, dbs.server.port)
    proxy.stall()
    try:
        path = write_config(tmp_path, dbs, extra={"profiles": {"silent": {
            "url": f"postgresql://app:x@127.0.0.1:{proxy.port}/db", "connect_timeout": 2}}})
        started = time.monotonic()
        code = main(["--config", str(path), "check", "silent"])
        err = capsys.readouterr().err
        assert code == 1 and time.monotonic() - started < 20
        assert "timeout" in err.lower() and err.count("\n") == 1
    finally:
        proxy.close()


# --------------------------------------------------------------------------- replace is atomic


def replace_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "dbconsole", "--config", str(config), "sync", "--from", "server_direct",
            "--to", "local", "--mode", "replace", "--yes", "--json"]


def checksums(dbs) -> dict:
    with dbs.local_admin() as local:
        return {t: table_checksum(local, t) for t in SEED_TABLES}


def kill_at_event(proc: subprocess.Popen, events: int) -> bool:
    """SIGKILL ``proc`` as soon as it has printed ``events`` JSON progress lines (mid-transaction for a
    replace, whose tables commit together at the end); False when it finished first."""
    seen = 0
    for line in proc.stdout:
        if '"event": "progress"' in line:
            seen += 1
            if seen >= events:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return True
    proc.wait()
    return False


def run_replace_kill_trials(dbs, tmp_path: Path, trials: int, seed: int) -> dict[str, int]:
    """Odd trials: SIGKILL after a random delay. Even trials: SIGKILL right after the k-th table was
    copied (k random, in the first half), inside the run's one transaction. Old or new, never half."""
    config = write_config(tmp_path, dbs)
    old = checksums(dbs)
    with dbs.server_admin() as server:
        new = {t: table_checksum(server, t) for t in SEED_TABLES}
    rng = random.Random(seed)
    seen = {"old": 0, "new": 0, "killed_mid_transaction": 0}
    for trial in range(trials):
        proc = subprocess.Popen(replace_command(config), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, start_new_session=True)
        if trial % 2 == 0:
            seen["killed_mid_transaction"] += kill_at_event(proc, rng.randint(1, len(SEED_TABLES) // 2))
        else:
            try:
                proc.communicate(timeout=rng.uniform(0.1, 1.0))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        now = checksums(dbs)
        assert now in (old, new), "replace left the target half-applied"
        seen["old" if now == old else "new"] += 1
        if now == new:  # put the old state back for the next trial
            dbs.local.drop_database(dbs.local_db)
            dbs.local.create_database(dbs.local_db, template=TEMPLATE_DB)
    print(f"\nreplace kill trials (seed {seed}): {seen}")
    return seen


def test_replace_killed_at_random_moments_is_all_or_nothing(dbs, tmp_path) -> None:
    seen = run_replace_kill_trials(dbs, tmp_path, trials=6, seed=11)
    assert seen["old"] >= 1 and seen["killed_mid_transaction"] >= 1, seen


@pytest.mark.slow
def test_replace_killed_twenty_times(dbs, tmp_path) -> None:
    seen = run_replace_kill_trials(dbs, tmp_path, trials=20, seed=5)
    assert seen["old"] >= 5


# --------------------------------------------------------------------------- config writers


def test_config_saved_while_another_process_reads_it(tmp_path, dbs) -> None:
    path = write_config(tmp_path, dbs)
    reader = subprocess.Popen([sys.executable, "-c", READER, str(path)], stdout=subprocess.PIPE, text=True)
    config = load_config(path, environ={}, cwd=tmp_path)
    for i in range(150):
        config = with_profile(config, f"extra{i % 5}", {"url": f"postgresql://localhost/db{i}", "description": "x" * i})
        save_config(config)
    reader.send_signal(signal.SIGTERM)
    out, _ = reader.communicate(timeout=30)
    reads, failures = map(int, out.split())
    assert reads > 50 and failures == 0


READER = """
import signal, sys, tomllib
path = sys.argv[1]
reads = failures = 0
stop = False
def handler(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, handler)
while not stop:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
        assert "profiles" in data
        reads += 1
    except Exception:
        failures += 1
print(reads, failures)
"""

WRITER = """
import sys
from pathlib import Path
from dbconsole.config import load_config, save_config, with_profile
path = Path(sys.argv[1])
config = load_config(path, environ={"TEST_SERVER_DB_PASSWORD": "x"}, cwd=path.parent)
i = 0
print("ready", flush=True)
while True:
    i += 1
    save_config(with_profile(config, "writer", {"url": "postgresql://localhost/db", "description": "y" * (i % 5000)}))
"""


def test_crash_during_save_never_leaves_a_truncated_file(tmp_path, dbs) -> None:
    path = write_config(tmp_path, dbs)
    rng = random.Random(3)
    for _ in range(8):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.4))
        writer.kill()
        writer.wait()
        config = load_config(path, environ={PASSWORD_VAR: "x"}, cwd=tmp_path)
        assert {"local", "server_direct"} <= set(config.profiles)
        assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_sync_while_counts_are_being_taken(dbs, tmp_path) -> None:
    """A compare browser counting rows (read-only sessions) never blocks or breaks a sync."""
    from dbconsole.catalog import exact_counts, read_catalog
    from dbconsole.connect import connect

    config = load(write_config(tmp_path, dbs))
    stop = threading.Event()
    counted = []

    def keep_counting():
        while not stop.is_set():
            with connect(config.profile("local"), read_only=True) as conn:
                tables = [t.qualified for t in read_catalog(conn)]
                counted.append(exact_counts(conn, tables))

    counter = threading.Thread(target=keep_counting)
    counter.start()
    try:
        run_sync(price_sync(config, settings=SyncSettings()))
    finally:
        stop.set()
        counter.join(30)
    assert counted and all(r.error is None for c in counted for r in c.values())
    assert_target_holds_source(dbs, PRICE_TABLES)
