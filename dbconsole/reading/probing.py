"""The profile test (``t`` in the pane, Test in the form, ``dbconsole check``): reach the server,
and say what it allows.

Why apart from the other reads: "connected" is not the whole answer for a writable profile. A
sync into it needs to write, and a standby, a login kept read-only by the server, or a role
without privileges on the tables all connect fine and then fail mid-run; the test asks the
server (one catalog query, no write) and says so up front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from dbconsole.config import Profile
from dbconsole.connect import Purpose, ServerInfo, connect, server_info


@dataclass(frozen=True)
class WriteAccess:
    """What a writable profile's login may actually write (asked, never tried)."""

    in_recovery: bool  # a standby: nothing can be written
    session_read_only: bool  # default_transaction_read_only is on for this login
    temp_tables: bool  # TEMP privilege on the database
    schema: str | None
    create_in_schema: bool  # CREATE on the current schema
    tables: int  # tables in the current schema
    writable_tables: int  # of which INSERT, UPDATE and DELETE are granted

    @property
    def problems(self) -> list[str]:
        found = []
        if self.in_recovery:
            found.append("a standby (in recovery): nothing can be written")
        if self.session_read_only:
            found.append("the server makes this login's sessions read-only")
        if self.schema is None:
            found.append("no schema on the search_path")
        elif self.tables and self.writable_tables < self.tables:
            found.append(f"may write {self.writable_tables} of {self.tables} tables in {self.schema}")
        elif not self.tables and not self.create_in_schema:
            found.append(f"no CREATE on schema {self.schema}")
        return found


@dataclass(frozen=True)
class ProbeResult:
    info: ServerInfo
    write_access: WriteAccess | None  # asked only for a writable profile
    migrations: Any = None  # dbconsole.schema.migrations' reading, when asked (``check``)


_WRITE_ACCESS_SQL = """
SELECT pg_is_in_recovery(),
       current_setting('default_transaction_read_only') = 'on',
       has_database_privilege(current_database(), 'TEMP'),
       current_schema(),
       current_schema() IS NOT NULL AND has_schema_privilege(current_schema(), 'CREATE'),
       (SELECT count(*) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
           AND c.relkind IN ('r', 'p')),
       (SELECT count(*) FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace
           AND c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, 'INSERT')
           AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE'))
"""


def write_access(conn: psycopg.Connection[Any]) -> WriteAccess:
    """One catalog query: standby? read-only login? may it create temp tables and write its tables?"""
    with conn.cursor() as cur:
        cur.execute(_WRITE_ACCESS_SQL)
        row = cur.fetchone()
    if not conn.autocommit:
        conn.rollback()
    assert row is not None
    in_recovery, read_only, temp, schema, create, tables, writable = row
    return WriteAccess(bool(in_recovery), bool(read_only), bool(temp), schema, bool(create), int(tables or 0),
                       int(writable or 0))


def probe(profile: Profile, *, purpose: Purpose = "test", ask_write_access: bool = True,
          ask_migrations: bool = False) -> ProbeResult:
    """Connect and describe the server (the profile "test" key, the form's Test, ``check``).

    A read-only profile gets a read-only session. A writable one gets the session a sync would
    get (so a login the server keeps read-only shows as such), and the test asks the server what
    this login could write, which is what "writable" has to mean; it only ever runs SELECTs.
    ``check`` reports the server's facts only and passes ``ask_write_access=False``.
    """
    conn = connect(profile, purpose=purpose)
    try:
        info = server_info(profile, conn)
        asked = ask_write_access and not profile.read_only
        migrations = None
        if ask_migrations:  # on the same connection: over a tunnel every new session costs round trips
            from dbconsole.schema.migrations import read_migrations
            migrations = read_migrations(conn)
        return ProbeResult(info, write_access(conn) if asked else None, migrations)
    finally:
        conn.close()


def describe_probe(profile: Profile, result: ProbeResult) -> str:
    info = result.info
    parts = [info.version, f"{info.latency_ms:.1f} ms", f"db {info.database} as {info.user}"]
    access = result.write_access
    if profile.read_only:
        parts.append("read-only profile")
    elif access is not None:
        problems = access.problems
        if problems:
            parts.append("NOT fully writable: " + "; ".join(problems))
        else:
            where = f" in {access.schema}" if access.schema else ""
            parts.append(f"writable (may write the tables{where}"
                         + (", create temp tables" if access.temp_tables else "") + ")")
    if info.tunnel:
        parts.append("via SSH")
    if info.ssl:
        parts.append("SSL")
    return " · ".join(parts)
