"""When a run fails: worth a retry or not, and the one line that tells the user what to do.

Transient or permanent is decided where an error is raised, by the code that knows: connect
and tunnel set :attr:`DbconsoleError.transient`, the engine sets it on a stall; psycopg's own
errors are classified here by their class (SQLSTATE), never by the words of a message.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from dbconsole.catalog import Table
from dbconsole.connect import describe_pg_error
from dbconsole.errors import DbconsoleError, SyncError
from dbconsole.sync.context import RunLedger
from dbconsole.sync.fk_errors import explain_fk_violation
from dbconsole.sync.plan import SyncPlan, SyncRequest


def is_transient(exc: BaseException) -> bool:
    """Worth a retry: the connection or the server went away, not our data, schema or credentials."""
    if isinstance(exc, DbconsoleError):
        return exc.transient
    if isinstance(exc, psycopg.errors.QueryCanceled):  # 57014: a statement_timeout or a cancel, on purpose
        return False
    if isinstance(exc, (psycopg.OperationalError, psycopg.errors.TransactionRollback)):
        return True  # class 08 / 53 / 57 (connection, resources, shutdown), 40 (serialization, deadlock)
    if isinstance(exc, psycopg.InterfaceError):
        return True  # "the connection is lost / closed": raised after the socket broke
    return isinstance(exc, (ConnectionError, TimeoutError))


def reason(exc: BaseException) -> str:
    """A retried failure's cause, for the retry notice."""
    if isinstance(exc, psycopg.Error):
        return describe_pg_error(exc)
    return str(exc) or exc.__class__.__name__


def stalled(ledger: RunLedger, seconds: float) -> SyncError:
    """The watchdog cut a run that sent nothing for ``seconds``: retried like a lost connection."""
    table = ledger.current
    return SyncError(f"{table + ': ' if table else ''}nothing moved for {seconds:g} s: the source, the target or "
                     "the network stopped answering", table=table, transient=True)


def explain(exc: BaseException, *, request: SyncRequest, ledger: RunLedger, plan: SyncPlan | None,
            target_tables: Sequence[Table]) -> SyncError:
    """A permanent failure as one line that names the table and says what to do."""
    table = ledger.current
    target = request.target.name
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, DbconsoleError):
        error = SyncError(str(exc), table=table)
        error.exit_code = exc.exit_code  # bad usage (a table name, --where without --tables) stays exit 2
        return error
    prefix = f"{table}: " if table else ""
    table_plan = next((t for t in plan.tables if str(t.name) == table), None) if plan else None
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        planned = [t.name for t in plan.tables] if plan else []
        message = explain_fk_violation(exc, target_tables, current=table, planned=planned, phase=ledger.phase,
                                       target_name=target)
        if ledger.renewed_snapshot_at is not None:
            message += (f"; the source snapshot was renewed before {ledger.renewed_snapshot_at} (max_snapshot_age), "
                        "so later tables can hold rows newer than the tables read before: run the sync again, "
                        "or raise max_snapshot_age")
        return SyncError(message, table=table)
    if isinstance(exc, psycopg.errors.CheckViolation) and not exc.diag.constraint_name:
        # The one check violation without a constraint: a row that no partition's bounds accept.
        return SyncError(f"{prefix}a source row fits no partition of {exc.diag.table_name or table} on "
                         f"{target} ({describe_pg_error(exc)}); create the missing partition "
                         "there first (the plan lists partitions that exist on one side only)", table=table)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege) and "owner" in describe_pg_error(exc):
        if table_plan is not None and table_plan.disable_triggers:
            return SyncError(f"{prefix}{target} does not let this role disable the table's "
                             f"triggers ({describe_pg_error(exc)}); use --triggers keep to let them fire",
                             table=table)
    if isinstance(exc, psycopg.errors.UniqueViolation):
        constraint = exc.diag.constraint_name or "a unique constraint"
        return SyncError(f"{prefix}a source row collides with a different target row on {constraint} "
                         "(same value, other key); fix or remove that target row", table=table)
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        # The target was proved writable when the run began (see the engine's open), so with a
        # filter it is the source's read-only transaction refusing what the --where asked for.
        if table_plan is not None and table_plan.where:
            return SyncError(f"{prefix}bad --where {table_plan.where!r}: {describe_pg_error(exc)} (the source is "
                             "read in a read-only transaction; a filter may only read)", table=table)
        return SyncError(f"{prefix}{target} refuses writes (read-only server or standby)", table=table)
    if isinstance(exc, psycopg.Error):
        return SyncError(prefix + describe_pg_error(exc), table=table)
    return SyncError(f"{prefix}{exc.__class__.__name__}: {exc}", table=table)
