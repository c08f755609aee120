"""One source COPY feeding several target writers (``sync --to A,B``).

Each target runs its own sync (:mod:`.targets`), all in one exported source snapshot. When
their batches line up, which they do for a plain run (same plan, same keyset bounds), the
targets' reads of a batch are the same statement in the same snapshot: so they meet here, one
reader session runs that COPY once, and every waiting target gets the same chunks, which its
own COPY writer sends on. A target that does not show up in time (a resume point of its own,
a per-target diff, a slow apply) is not waited for beyond :data:`MEET_SECONDS`: the ones
waiting start without it, and it later reads alone, from the same snapshot, so meeting is
only ever a saving, never a condition for correct rows.

A target whose writer fails leaves its read at once (the reader skips it from then on), so a
stopped target server never stalls the others; a failing source read reaches every target of
that read as the error it is, and each target's retry policy decides.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from dbconsole.config import Profile
from dbconsole.connect import connect
from dbconsole.sync.pump import copy_out_chunks

MEET_SECONDS = 3.0  # how long the first target of a batch waits for the others
MIN_MEET_SECONDS = 0.02  # after many reads nobody joined (per-target diff ranges): hardly wait
CHUNKS_IN_FLIGHT = 32  # per target (~4 MiB): the slowest writer paces the shared read
_END = object()
_local = threading.local()


@dataclass(eq=False)
class _Subscriber:
    """One target's seat in one shared read: a bounded queue of chunks, or its end / error."""

    chunks: queue.Queue[Any] = field(default_factory=lambda: queue.Queue(maxsize=CHUNKS_IN_FLIGHT))
    left: threading.Event = field(default_factory=threading.Event)  # its writer failed or it stopped
    started: bool = False


@dataclass
class _Participant:
    misses: int = 0  # reads in a row nobody shared: the targets have drifted apart, so wait less

    @property
    def patience(self) -> float:
        return max(MEET_SECONDS / (1 + 10 * self.misses), MIN_MEET_SECONDS)


class SharedReads:
    """The meeting point of the targets' batch reads, and the one reader session that serves them."""

    def __init__(self, source: Profile, snapshot: str) -> None:
        self.source = source
        self.snapshot = snapshot
        self._cond = threading.Condition()
        self._live: set[int] = set()  # participants still running (a finished or failed one leaves)
        self._waiting: dict[str, list[_Subscriber]] = {}
        self._reads: queue.Queue[Any] = queue.Queue()
        self._conn: psycopg.Connection[Any] | None = None
        self._reader = threading.Thread(target=self._serve, name="dbconsole-shared-read", daemon=True)
        self.reads_started = 0  # COPY reads run on the shared session (bench and tests read these)
        self.reads_shared = 0  # of which more than one target was fed

    def __enter__(self) -> SharedReads:
        self._reader.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._reads.put(None)
        self._reader.join(timeout=30)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()

    @contextlib.contextmanager
    def participant(self) -> Iterator[None]:
        """The calling thread is one target's run for as long as this lasts."""
        me = threading.get_ident()
        with self._cond:
            self._live.add(me)
        _local.shared = (self, _Participant())
        try:
            yield
        finally:
            _local.shared = None
            with self._cond:
                self._live.discard(me)
                self._cond.notify_all()  # those waiting for it to arrive stop waiting

    # -- a target's side -------------------------------------------------------

    @contextlib.contextmanager
    def chunks(self, key: str, statement: sql.Composable, cancel: threading.Event,
               on_data: Any) -> Iterator[Iterator[bytes]]:
        """The COPY data of ``statement`` (read once for every target that asks for it together);
        ``key`` is its text, which is the same for every target reading the same batch."""
        participant: _Participant = _local.shared[1]
        seat = _Subscriber()
        self._meet(key, statement, seat, participant.patience)
        try:
            yield self._drain(seat, cancel, on_data)
        finally:
            seat.left.set()  # whatever happened, the reader stops feeding this seat

    def _meet(self, key: str, statement: sql.Composable, seat: _Subscriber, patience: float) -> None:
        deadline = time.monotonic() + patience
        with self._cond:
            group = self._waiting.setdefault(key, [])
            group.append(seat)
            while not seat.started:
                waiting = sum(len(g) for g in self._waiting.values())
                if len(group) >= len(self._live) or time.monotonic() >= deadline or waiting >= len(self._live):
                    # Everyone is here, time is up, or everyone waits on some read: start this one.
                    del self._waiting[key]
                    for member in group:
                        member.started = True
                    self._reads.put((statement, group))
                    self._cond.notify_all()
                    break
                self._cond.wait(max(deadline - time.monotonic(), 0.01))
            shared = len(group) > 1
        participant: _Participant = _local.shared[1]
        participant.misses = 0 if shared else participant.misses + 1

    def _drain(self, seat: _Subscriber, cancel: threading.Event, on_data: Any) -> Iterator[bytes]:
        while True:
            try:
                item = seat.chunks.get(timeout=0.5)
            except queue.Empty:
                if cancel.is_set():
                    from dbconsole.errors import Cancelled

                    raise Cancelled("cancelled") from None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            on_data()
            yield item

    # -- the reader's side -----------------------------------------------------

    def _serve(self) -> None:
        while (job := self._reads.get()) is not None:
            statement, group = job
            self.reads_started += 1
            self.reads_shared += len(group) > 1
            try:
                conn = self._session()
                with conn.cursor() as cur, cur.copy(statement):
                    for chunk in copy_out_chunks(conn):
                        if all(seat.left.is_set() for seat in group):
                            raise _Abandoned
                        for seat in group:
                            _offer(seat, bytes(chunk))
                for seat in group:
                    _offer(seat, _END)
            except _Abandoned:
                self._drop_session()  # the COPY was left half read: this session cannot go on
            except Exception as exc:  # noqa: BLE001 - handed to every target of this read
                self._drop_session()
                for seat in group:
                    _offer(seat, exc)

    def _session(self) -> psycopg.Connection[Any]:
        """The reader's session, in the shared snapshot (reopened after a failed read)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            from dbconsole.sync.engine import SESSION_OPTIONS  # imported late: the engine imports copying

            conn = connect(self.source, read_only=True, options=SESSION_OPTIONS, purpose="sync source")
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.snapshot)))
            self._conn = conn
        return self._conn

    def _drop_session(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None


class _Abandoned(Exception):
    """Every target of a read left it (their writers failed): stop reading."""


def _offer(seat: _Subscriber, item: Any) -> None:
    """Hand ``item`` to a seat, waiting while its queue is full, unless its target left."""
    while not seat.left.is_set():
        try:
            seat.chunks.put(item, timeout=0.2)
            return
        except queue.Full:
            continue


def current() -> SharedReads | None:
    """The shared reads of the calling target's run, or None for an ordinary single-target run."""
    shared = getattr(_local, "shared", None)
    return shared[0] if shared else None
