"""The engine's events, handed from its worker thread to the screen a few times a second.

A fast sync emits thousands of progress events a second; posting each as a message would
flood the event loop and make keys wait. :class:`EventThrottle` keeps the newest progress per
table and flushes on every other event, so each table's start and finish show at once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from dbconsole.sync.events import Progress, SyncEvent

EVENT_FLUSH_SECONDS = 0.1


def lower_thread_priority(niceness: int = 10) -> None:
    """Let the screen win the CPU over the engine thread (and the threads it starts).

    On a small machine the sync's threads and both PostgreSQL backends keep every core busy;
    keys then wait for CPU time. Linux schedules each thread on its own, so the worker thread
    is niced; threads it creates inherit that. Elsewhere this is a no-op.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


class EventThrottle:
    """Collects engine events in the worker thread and hands them over a few times a second.

    Progress events of the same table replace each other while waiting; every other event is
    kept and forces a flush, so the screen sees each table start and finish at once.
    """

    def __init__(self, post: Callable[[list[SyncEvent]], None], interval: float = EVENT_FLUSH_SECONDS) -> None:
        self.post = post
        self.interval = interval
        self.pending: list[SyncEvent] = []
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self, event: SyncEvent) -> None:
        with self.lock:
            match event:
                case Progress(table=table):
                    self.pending = [e for e in self.pending if not (isinstance(e, Progress) and e.table == table)]
                    self.pending.append(event)
                    if time.monotonic() - self.last < self.interval:
                        return
                case _:
                    self.pending.append(event)
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            events, self.pending = self.pending, []
            self.last = time.monotonic()
            self.post(events)

    def flush(self) -> None:
        with self.lock:
            self._flush()
