"""One source COPY feeding several target writers (``sync --to A,B``).

Each target runs its own sync (:mod:`.targets`), all in one exported source snapshot. When
their batches line up, which they do for a plain run (same plan, same keyset bounds), the
targets' reads of a batch are the same statement in the same snapshot: so they meet here, one
reader session runs that COPY once, and every waiting target gets the same chunks, which its
own COPY writer sends on. A target that does not show up in time (a resume point of its own,
a per-target diff, a slow apply) is not waited for beyond :data:`MEET_SECONDS` (less and less
once reads keep missing each other): the ones waiting start without it, and a read nobody
shares is made by its target on its own session, in the same snapshot, so meeting is only
ever a saving, never a condition for correct rows, and a drifted target never queues behind
the shared reader.

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
    alone: bool = False  # nobody shared the read: the target reads it on its own session


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
        self._waiting: dict[str, tuple[list[_Subscriber], sql.Composable]] = {}
        self._reads: queue.Queue[Any] = queue.Queue()
        self._conn: psycopg.Connection[Any] | None = None
        self._reader = threading.Thread(target=self._serve, name="dbconsole-shared-read", daemon=True)
        self.reads_shared = 0  # batch reads that fed several targets from one COPY (bench and tests read these)
        self.reads_alone = 0  # batch reads nobody else asked for in time: read by their target alone

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
               on_data: Any) -> Iterator[Iterator[bytes] | None]:
        """The COPY data of ``statement``, read once for every target that asks for it together
        (``key`` is its text: the same for every target reading the same batch); None when no
        other target came, and the caller reads it on its own session (same snapshot), so a
        target that has drifted apart never queues behind the shared reader."""
        participant: _Participant = _local.shared[1]
        seat = _Subscriber()
        alone = self._meet(key, statement, seat, participant.patience)
        participant.misses = participant.misses + 1 if alone else 0
        if alone:
            yield None
            return
        try:
            yield self._drain(seat, cancel, on_data)
        finally:
            seat.left.set()  # whatever happened, the reader stops feeding this seat

    def _meet(self, key: str, statement: sql.Composable, seat: _Subscriber, patience: float) -> bool:
        """Wait for the other targets to ask for the same read; whether this seat reads alone."""
        deadline = time.monotonic() + patience
        with self._cond:
            group = self._waiting.setdefault(key, ([], statement))[0]
            group.append(seat)
            while not seat.started:
                waiting = sum(len(g) for g, _ in self._waiting.values())
                if waiting >= len(self._live):  # nobody else can come: every read asked for starts now
                    for other in list(self._waiting):
                        self._start(other)
                elif len(group) >= len(self._live) or time.monotonic() >= deadline:
                    self._start(key)
                else:
                    self._cond.wait(max(deadline - time.monotonic(), 0.01))
            return seat.alone

    def _start(self, key: str) -> None:
        """Start the read of ``key`` for its group (under the lock): shared, or the lone seat's own."""
        group, statement = self._waiting.pop(key)
        for member in group:
            member.started = True
            member.alone = len(group) == 1
        if len(group) == 1:
            self.reads_alone += 1
        else:
            self.reads_shared += 1
            self._reads.put((statement, group))
        self._cond.notify_all()

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


def this_threads_seat() -> Any:
    """The calling thread's place in the shared reads (None outside ``sync --to A,B``), for a
    helper thread of the same target run (its read-ahead) to take with :func:`take_seat`."""
    return getattr(_local, "shared", None)


def take_seat(seat: Any) -> None:
    """Read on this thread for the target run whose :func:`this_threads_seat` this is."""
    _local.shared = seat


def current() -> SharedReads | None:
    """The shared reads of the calling target's run, or None for an ordinary single-target run."""
    shared = getattr(_local, "shared", None)
    return shared[0] if shared else None
