"""Session settings that make both ends of a comparison print values the same way.

A sync streams COPY text from one server into another, and a diff hashes each row's text on
each server; both are only right when the two sessions render a value identically. These
settings pin everything that changes how a value prints: dates (``DateStyle``), intervals,
floats (``extra_float_digits=3``: the shortest exact form), ``bytea`` (hex) and, above all,
``TimeZone``, so a ``timestamptz`` read from servers configured for Seoul and for UTC is the
same text. The sync engine keeps its own copy for now (``sync/engine.py``); this module is the
shared place it can point at.
"""

from __future__ import annotations

from typing import Any

import psycopg

from dbconsole.config import Profile
from dbconsole.connect import Purpose, connect

RENDER_SETTINGS = {
    "datestyle": "ISO,MDY", "intervalstyle": "postgres", "extra_float_digits": "3", "timezone": "UTC",
    "bytea_output": "hex",
}
SESSION_OPTIONS = {**RENDER_SETTINGS, "statement_timeout": "0", "idle_in_transaction_session_timeout": "0"}


def open_read_snapshot(profile: Profile, *, purpose: Purpose, statement_timeout_ms: int = 0) -> psycopg.Connection[Any]:
    """A read-only session whose transactions are REPEATABLE READ snapshots, with a statement timeout.

    The server enforces the read-only part (``default_transaction_read_only``, checked by
    :func:`~dbconsole.connect.connect`) and the transaction is declared read-only as well, so
    nothing run in it can write, whatever the profile says.
    """
    options = {**SESSION_OPTIONS, "statement_timeout": str(max(0, int(statement_timeout_ms)))}
    conn = connect(profile, read_only=True, options=options, purpose=purpose)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn
