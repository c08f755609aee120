"""What the console shows of a SQLite profile: the file, its size, its tables and their exact counts.

A SQLite profile has no server to connect to, no version to ask and no estimates to read:
the console's "connection" to it is opening the file read-only (:func:`~.source.open_sqlite`)
and reading its catalog with exact counts (``count(*)`` on a local file is cheap). Blocking
file I/O, so the console calls this from a thread worker.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from dbconsole.catalog import CountResult, Table
from dbconsole.config import Profile
from dbconsole.format import format_bytes
from dbconsole.sqlite.source import file_path, open_sqlite, read_catalog


@dataclass(frozen=True)
class SqliteFileInfo:
    """The file behind a SQLite profile, as the profiles pane describes it."""

    path: Path
    size_bytes: int
    table_count: int
    version: str  # "SQLite 3.40.1": the library that reads it (a file has no server version)

    @property
    def summary(self) -> str:
        """``read-only file · 3 tables · 3.1 MiB``"""
        noun = "table" if self.table_count == 1 else "tables"
        return f"read-only file · {self.table_count} {noun} · {format_bytes(self.size_bytes)}"

    @property
    def tested(self) -> str:
        """What testing the profile says: ``SQLite 3.40.1, read-only file · 3 tables · 3.1 MB``."""
        return f"{self.version}, {self.summary}"


@dataclass(frozen=True)
class SqliteSnapshot:
    """One read of the file: what it is, and its tables with their exact counts."""

    info: SqliteFileInfo
    tables: list[Table]

    @property
    def counts(self) -> list[CountResult]:
        return [CountResult(t.qualified, t.estimated_rows) for t in self.tables]


def read_sqlite_file(profile: Profile) -> SqliteSnapshot:
    """The profile's file opened read-only, its catalog and exact counts read, the file closed.
    A missing or unreadable file raises :class:`~dbconsole.errors.ConnectError` (one line)."""
    conn = open_sqlite(profile)
    try:
        tables = read_catalog(conn, counts=True)
    finally:
        conn.close()
    path = file_path(profile)
    info = SqliteFileInfo(path, path.stat().st_size, len(tables), f"SQLite {sqlite3.sqlite_version}")
    return SqliteSnapshot(info, tables)
