"""Move COPY data from one server to another without looking at it.

The source sends one protocol message per row. Iterating psycopg's ``Copy`` object costs a
generator round trip per message, which for a million rows is seconds of pure overhead; here
the bytes are pulled straight from libpq (``get_copy_data``) in a tight loop, joined into
chunks of ~128 KiB (a row bigger than that goes on as it came: joining would copy it twice),
and handed to the target's COPY, whose writes run in psycopg's writer thread. While waiting
for the network the loop wakes twice a second, so a cancel is honoured promptly; every arrival
of data is reported through ``on_data`` (the run's heartbeat, see :mod:`.watchdog`).
"""

from __future__ import annotations

import select
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import psycopg
from psycopg import errors as e
from psycopg import pq

from dbconsole.errors import Cancelled

CHUNK_SIZE = 128 * 1024  # psycopg's largest single COPY write: bigger ones get split again
POLL_SECONDS = 0.5


class Flag(Protocol):
    """What a cancel is read from: a ``threading.Event``, or several at once."""

    def is_set(self) -> bool: ...


def copy_out_chunks(conn: psycopg.Connection[Any], *, cancel: Flag | None = None,
                    on_data: Callable[[], None] = lambda: None,
                    chunk_size: int = CHUNK_SIZE) -> Iterator[bytes | memoryview]:
    """Yield the running COPY TO STDOUT's data in chunks; the COPY is finished when this ends.

    Call it inside ``cursor.copy(...)`` (which started the COPY); on a normal end the final
    result has been read, so the connection is ready for the next statement.
    """
    pgconn = conn.pgconn
    pending = bytearray()
    while True:
        nbytes, data = pgconn.get_copy_data(1)
        if nbytes > 0:
            if nbytes >= chunk_size:  # one big row: hand it on as it came, not copied twice more
                on_data()
                if pending:
                    yield bytes(pending)
                    pending.clear()
                yield data
                continue
            pending += data
            if len(pending) >= chunk_size:
                on_data()
                yield bytes(pending)
                pending.clear()
            continue
        if nbytes == -1:
            break
        if nbytes == 0:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            readable, _, _ = select.select([pgconn.socket], [], [], POLL_SECONDS)
            if readable:
                pgconn.consume_input()
            continue
        raise e.OperationalError(pgconn.get_error_message())
    if pending:
        yield bytes(pending)
    _finish(pgconn)


def _finish(pgconn: Any) -> None:
    """Read the COPY's closing result(s) and raise the server's error, if it sent one."""
    failure = None
    while True:
        while pgconn.is_busy():  # never block inside libpq while holding the interpreter
            select.select([pgconn.socket], [], [], POLL_SECONDS)
            pgconn.consume_input()
        if (result := pgconn.get_result()) is None:
            break
        if result.status != pq.ExecStatus.COMMAND_OK and failure is None:
            failure = e.error_from_result(result, encoding=pgconn._encoding)
    if failure is not None:
        raise failure
