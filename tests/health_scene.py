"""Trouble made on purpose on the test server, for the health tests: a long query, a blocking
lock and a dbconsole session, each in a real session of its own, cleaned up afterwards."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from dbconsole.connect import connect

LONG_QUERY_APP = "health-test/long"
BLOCKER_APP = "health-test/blocker"
WAITER_APP = "health-test/waiter"


@dataclass
class Scene:
    long_query_pid: int
    blocker_pid: int
    waiter_pid: int
    own_pid: int


def _session(url: str, application: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, application_name=application)


def _in_thread(conn: psycopg.Connection, statement: str) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(psycopg.Error):
            conn.execute(statement)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _wait_for(admin: psycopg.Connection, query: str, params: tuple, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        if admin.execute(query, params).fetchone()[0]:
            return
        time.sleep(0.1)
    raise AssertionError(f"never true: {query} {params}")


@contextlib.contextmanager
def trouble(server_url: str, admin: psycopg.Connection, own_profile, *, long_for: float = 1.0,
            long_query: str = "SELECT pg_sleep(60)") -> Iterator[Scene]:
    """A ``pg_sleep`` running for over ``long_for`` seconds, a row lock that another UPDATE waits
    on, and a dbconsole session (``dbconsole/browser``) on ``own_profile`` sitting idle."""
    sleeper = _session(server_url, LONG_QUERY_APP)
    blocker = _session(server_url, BLOCKER_APP)
    waiter = _session(server_url, WAITER_APP)
    own = connect(own_profile, read_only=True, autocommit=True, purpose="browser")
    threads = []
    try:
        blocker.execute("BEGIN")
        blocker.execute("UPDATE public.users SET display_name = display_name WHERE id = (SELECT min(id) FROM public.users)")
        threads.append(_in_thread(sleeper, long_query))
        threads.append(_in_thread(waiter, "UPDATE public.users SET display_name = display_name WHERE id = (SELECT min(id) FROM public.users)"))
        pids = [c.info.backend_pid for c in (sleeper, blocker, waiter, own)]
        _wait_for(admin, "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                  (pids[2],))
        _wait_for(admin, "SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = %s AND state = 'active'"
                  " AND query_start < now() - make_interval(secs => %s)", (pids[0], long_for))
        yield Scene(*pids)
    finally:
        for conn in (sleeper, waiter):
            with contextlib.suppress(psycopg.Error):
                conn.cancel_safe(timeout=5)
        with contextlib.suppress(psycopg.Error):
            blocker.execute("ROLLBACK")
        for thread in threads:
            thread.join(timeout=10)
        for conn in (sleeper, blocker, waiter, own):
            conn.close()
