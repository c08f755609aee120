"""The catalog queries behind ``dbconsole health``: one statement per panel.

Kept apart from :mod:`dbconsole.health` because they are long and read on their own (as
pg_activity and pgcenter do: one time-boxed catalog query per panel). Every statement reads
statistics views only, so it takes no lock a migration could be stuck behind, except the size
panel, whose ``pg_total_relation_size`` takes ``AccessShareLock`` per table: the health session's
``lock_timeout`` makes a table locked by a migration fail that panel instead of hanging it.

The columns a PostgreSQL version lacks are left out by :func:`session_columns` and
:func:`vacuum_sql`, which are composed with :mod:`psycopg.sql` for the server's
``server_version_num`` (13 to 17 are supported).
"""

from __future__ import annotations

from psycopg import sql

QUERY_CHARS = 300  # of each session's query text: enough to recognise it, never a whole batch

QUERY_ID_FROM = 140000  # pg_stat_activity.query_id
VACUUM_INDEXES_FROM = 170000  # pg_stat_progress_vacuum.indexes_total / indexes_processed

_SESSION_COLUMNS = [
    "a.pid", "a.usename", "a.datname", "a.application_name", "a.state", "a.backend_type",
    "extract(epoch FROM now() - a.query_start)::float8",
    "extract(epoch FROM now() - a.xact_start)::float8",
    "a.wait_event_type", "a.wait_event", "left(a.query, %(query_chars)s)", "age(a.backend_xmin)",
    "a.pid = pg_backend_pid()",
]


def session_columns(version_num: int) -> sql.Composable:
    """The pg_stat_activity columns every session list reads, in :class:`dbconsole.health.Session` order."""
    columns = [*_SESSION_COLUMNS, "a.query_id" if version_num >= QUERY_ID_FROM else "NULL::bigint"]
    return sql.SQL(", ").join(sql.SQL(column) for column in columns)


SIZE_SQL = """
SELECT pg_database_size(current_database()),
       (SELECT coalesce(json_agg(json_build_object('schema', t.nspname, 'name', t.relname, 'bytes', t.bytes)
                                 ORDER BY t.bytes DESC), '[]')
          FROM (SELECT n.nspname, c.relname, pg_total_relation_size(c.oid) AS bytes
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_toast%%'
                 ORDER BY 3 DESC LIMIT %(top)s) t),
       (SELECT coalesce(json_agg(json_build_object('schema', i.nspname, 'name', i.relname, 'table', i.tablename,
                                                   'bytes', i.bytes) ORDER BY i.bytes DESC), '[]')
          FROM (SELECT n.nspname, c.relname, tc.relname AS tablename, pg_relation_size(c.oid) AS bytes
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  JOIN pg_index x ON x.indexrelid = c.oid JOIN pg_class tc ON tc.oid = x.indrelid
                 WHERE c.relkind = 'i' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                   AND n.nspname NOT LIKE 'pg\\_toast%%'
                 ORDER BY 4 DESC LIMIT %(top)s) i)
"""

# Client sessions counted by state and by application in one pass (GROUPING SETS), with the limit.
CONNECTIONS_SQL = """
SELECT GROUPING(coalesce(a.state, 'unknown')) = 0, coalesce(a.state, 'unknown'),
       coalesce(nullif(a.application_name, ''), '(none)'), count(*)::int,
       current_setting('max_connections')::int
  FROM pg_stat_activity a
 WHERE a.backend_type = 'client backend'
 GROUP BY GROUPING SETS ((coalesce(a.state, 'unknown')), (coalesce(nullif(a.application_name, ''), '(none)')))
 ORDER BY 1 DESC, 4 DESC, 2, 3
"""

LONG_QUERIES_SQL = """
SELECT {columns} FROM pg_stat_activity a
 WHERE a.state = 'active' AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
   AND a.query_start < now() - make_interval(secs => %(threshold)s)
 ORDER BY a.query_start
 LIMIT %(top)s
"""

# Every session that waits on another's lock, and every session another waits on.
LOCKS_SQL = """
WITH blocked AS (
    SELECT a.pid, pg_blocking_pids(a.pid) AS blockers FROM pg_stat_activity a
     WHERE a.wait_event_type = 'Lock' AND cardinality(pg_blocking_pids(a.pid)) > 0)
SELECT {columns}, coalesce(b.blockers, '{{}}'::int[]), a.pid IN (SELECT unnest(blockers) FROM blocked)
  FROM pg_stat_activity a LEFT JOIN blocked b ON b.pid = a.pid
 WHERE b.pid IS NOT NULL OR a.pid IN (SELECT unnest(blockers) FROM blocked)
 ORDER BY a.xact_start NULLS LAST, a.pid
"""

REPLICATION_PRIMARY_SQL = """
SELECT r.application_name, r.client_addr::text, r.state, r.sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn)::float8,
       extract(epoch FROM r.write_lag)::float8, extract(epoch FROM r.flush_lag)::float8,
       extract(epoch FROM r.replay_lag)::float8
  FROM pg_stat_replication r
 ORDER BY r.application_name
"""

REPLICATION_SLOTS_SQL = """
SELECT s.slot_name, s.slot_type, s.active, age(s.xmin), age(s.catalog_xmin),
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), s.restart_lsn)::float8 END
  FROM pg_replication_slots s
 ORDER BY s.slot_name
"""

REPLICATION_STANDBY_SQL = """
SELECT extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8,
       pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8,
       (SELECT w.status FROM pg_stat_wal_receiver w LIMIT 1),
       (SELECT w.sender_host FROM pg_stat_wal_receiver w LIMIT 1)
"""

WRAPAROUND_SQL = """
SELECT d.datname, age(d.datfrozenxid), mxid_age(d.datminmxid),
       current_setting('autovacuum_freeze_max_age')::int
  FROM pg_database d
 WHERE d.datallowconn OR d.datname = current_database()
 ORDER BY 2 DESC
"""

OLDEST_TRANSACTIONS_SQL = """
SELECT {columns} FROM pg_stat_activity a
 WHERE a.xact_start IS NOT NULL AND a.pid <> pg_backend_pid()
 ORDER BY a.xact_start
 LIMIT %(top)s
"""

PREPARED_SQL = """
SELECT p.gid, extract(epoch FROM now() - p.prepared)::float8, age(p.transaction), p.database
  FROM pg_prepared_xacts p
 ORDER BY p.prepared
"""

_VACUUM_SQL = """
SELECT p.pid, p.datname,
       CASE WHEN p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())
            THEN p.relid::regclass::text ELSE p.relid::text END,
       p.phase, p.heap_blks_total, p.heap_blks_scanned, p.heap_blks_vacuumed, p.index_vacuum_count,
       coalesce(a.backend_type = 'autovacuum worker', false),
       extract(epoch FROM now() - a.xact_start)::float8, {indexes}
  FROM pg_stat_progress_vacuum p LEFT JOIN pg_stat_activity a ON a.pid = p.pid
 ORDER BY p.pid
"""

# The counters alone, for when no vacuum runs (the query above then returns no row).
VACUUM_WORKERS_SQL = """
SELECT current_setting('autovacuum_max_workers')::int,
       (SELECT count(*)::int FROM pg_stat_activity w WHERE w.backend_type = 'autovacuum worker'),
       current_setting('autovacuum') = 'on'
"""


def vacuum_sql(version_num: int) -> sql.Composable:
    indexes = "p.indexes_total, p.indexes_processed" if version_num >= VACUUM_INDEXES_FROM else "NULL::bigint, NULL::bigint"
    return sql.SQL(_VACUUM_SQL).format(indexes=sql.SQL(indexes))


OWN_SESSIONS_SQL = """
SELECT {columns} FROM pg_stat_activity a
 WHERE a.application_name = 'dbconsole' OR a.application_name LIKE 'dbconsole/%%'
 ORDER BY a.pid = pg_backend_pid(), a.backend_start
"""


def with_session_columns(template: str, version_num: int) -> sql.Composable:
    """``template`` with ``{columns}`` filled in for this server version."""
    return sql.SQL(template).format(columns=session_columns(version_num))
