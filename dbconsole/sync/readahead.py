"""The source side of a table's batches, read one batch ahead on a thread of its own.

Batch after batch on one thread, the source link idles at every boundary: the target ends its
COPY, applies the stage, saves the checkpoint and commits (tens of milliseconds locally, far
more for a big apply), and only then is the next ``COPY`` sent, one round trip before its first
byte arrives. Here a reader thread owns the source connection for the table: as soon as a
batch's rows are all read it looks up the next boundary and starts the next batch's ``COPY``,
whose chunks wait in a bounded queue until the target is ready for them. The target side (the
caller) is unchanged: one transaction per batch, committed with its checkpoint, so a kill
resumes exactly after the last commit; what was read ahead is simply read again.

Memory stays bounded: at most two batches' queues hold chunks (the one the target drains and
the next one), each at most ``READ_AHEAD_CHUNKS`` chunks of ~128 KiB; a full queue stops the
reader, and TCP stops the source. A failure on either side stops both: a source error is
raised where the target waits for rows (same exception, so the engine's retry sees the same
thing), and a target error stops the reader (its ``COPY`` cancelled and drained) before it
travels on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from queue import Empty, Full, Queue
from typing import Any

from psycopg import sql

from dbconsole.errors import Cancelled
from dbconsole.sync import fanout
from dbconsole.sync import statements as q
from dbconsole.sync.context import RunContext
from dbconsole.sync.copying import source_chunks, upper_bound
from dbconsole.sync.plan import TablePlan

READ_AHEAD_CHUNKS = 64  # per batch queue, ~128 KiB each: ~8 MiB, ~0.8 s of an 80 Mbit/s link
POLL_SECONDS = 0.25
STOP_WAIT_SECONDS = 60.0  # a stopped reader cancels and drains its COPY: a slow link takes a while
_END = object()


@dataclass
class Batch:
    """Source rows with keys in ``(lower, upper]``; ``upper`` None: the table's last batch."""

    lower: list[str] | None
    upper: list[str] | None
    chunks: Queue[Any] = field(default_factory=lambda: Queue(maxsize=READ_AHEAD_CHUNKS))


class _Stopped:
    """Either the run was cancelled or the target side gave up: what the reader polls."""

    def __init__(self, *events: threading.Event) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


class BatchReader:
    """Iterate the table's batches; iterate each batch's :meth:`rows` to stream it."""

    def __init__(self, ctx: RunContext, plan: TablePlan, row_filter: sql.Composable | None,
                 start_after: list[str] | None, size: int) -> None:
        self._ctx, self._plan, self._filter, self._size = ctx, plan, row_filter, size
        self._start_after = start_after
        self._batches: Queue[Batch] = Queue(maxsize=1)
        self._quit = threading.Event()
        self._stopped = _Stopped(self._quit, ctx.cancel)
        self._failure: BaseException | None = None
        self._seat = fanout.this_threads_seat()
        self._thread = threading.Thread(target=self._read, name=f"dbconsole read-ahead {plan.name}", daemon=True)

    def __enter__(self) -> BatchReader:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the reader (it may be a batch ahead) and wait until it has let go of the source."""
        self._quit.set()
        self._thread.join(STOP_WAIT_SECONDS)

    def __iter__(self) -> Iterator[Batch]:
        while True:
            batch = self._take(self._batches)
            yield batch
            if batch.upper is None:
                return

    def rows(self, batch: Batch) -> Iterator[bytes | memoryview]:
        """The batch's COPY data as it arrives (or as it was read ahead)."""
        while (chunk := self._take(batch.chunks)) is not _END:
            yield chunk

    # -- the consumer's side ------------------------------------------------------------

    def _take(self, queue: Queue[Any]) -> Any:
        while True:
            try:
                return queue.get(timeout=POLL_SECONDS)
            except Empty:
                if self._failure is not None:
                    raise self._failure from None
                self._ctx.check_cancel()
                if not self._thread.is_alive():  # never: the reader ends on its last batch or a failure
                    raise RuntimeError(f"the source reader of {self._plan.name} stopped early")

    # -- the reader thread --------------------------------------------------------------

    def _read(self) -> None:
        ctx, plan = self._ctx, self._plan
        fanout.take_seat(self._seat)  # sync --to A,B: this target's batches meet the others' here
        try:
            lower = self._start_after
            upper = upper_bound(ctx, plan, self._filter, lower, self._size)
            while True:
                batch = Batch(lower, upper)
                self._give(self._batches, batch)
                select = q.source_select(plan, self._filter, lower, upper)
                with source_chunks(ctx, q.copy_out(select, plan.copy_format), cancel=self._stopped) as chunks:
                    for chunk in chunks:
                        self._give(batch.chunks, chunk)
                self._give(batch.chunks, _END)
                if upper is None:
                    return
                # The next boundary and the next COPY while the target still digests this batch.
                lower, upper = upper, upper_bound(ctx, plan, self._filter, upper, self._size)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._failure = exc

    def _give(self, queue: Queue[Any], item: Any) -> None:
        while True:
            if self._stopped.is_set():
                raise Cancelled("cancelled")
            try:
                queue.put(item, timeout=POLL_SECONDS)
                return
            except Full:
                continue
