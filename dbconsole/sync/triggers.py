"""Target triggers during the apply: off by default, back as they were before each commit.

A ``BEFORE UPDATE`` trigger that stamps ``last_update = now()`` makes every synced row differ
from the source, so ``replace`` never ends identical and every later run updates the same rows
again. So user triggers of each target table (and of its partitions, which carry their own
trigger rows) are disabled with ``ALTER TABLE ... DISABLE TRIGGER USER`` *inside* the batch's
transaction and put back, each to its own state (``ENABLE``, ``ENABLE REPLICA``, ``ENABLE
ALWAYS``), just before it commits: a crash rolls the ALTER back, so the triggers are never left
disabled. Foreign-key checks are internal triggers, untouched by ``USER``; we never use
``session_replication_role = replica``, which would silence them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import psycopg
from psycopg import sql

from dbconsole.catalog import Table, Trigger
from dbconsole.errors import SyncError

TriggerPolicy = Literal["disable", "keep"]
TRIGGER_POLICIES: tuple[TriggerPolicy, ...] = ("disable", "keep")
DEFAULT_TRIGGER_POLICY: TriggerPolicy = "disable"

_RESTORE = {"O": "ENABLE TRIGGER", "R": "ENABLE REPLICA TRIGGER", "A": "ENABLE ALWAYS TRIGGER",
            "D": "DISABLE TRIGGER"}


def triggers_to_disable(target: Table, policy: TriggerPolicy, *, target_name: str) -> tuple[Trigger, ...]:
    """The enabled user triggers the apply turns off; refuses a table this role may not ALTER."""
    if policy == "keep":
        return ()
    enabled = target.enabled_triggers
    if enabled and not target.owned:
        raise SyncError(f"{target.qualified} has triggers on {target_name} ({', '.join(t.name for t in enabled)}) "
                        "and this role does not own the table, so it may not disable them for the sync; "
                        "use --triggers keep to let them fire", table=str(target.qualified))
    return enabled


def _tables_of(triggers: Sequence[Trigger]) -> list[Any]:
    return list(dict.fromkeys(t.table for t in triggers))


def disable(conn: psycopg.Connection[Any], triggers: Sequence[Trigger]) -> None:
    """Inside the open transaction: every listed table's user triggers off."""
    with conn.cursor() as cur:
        for table in _tables_of(triggers):
            cur.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER USER").format(table.ident))


def restore(conn: psycopg.Connection[Any], triggers: Iterable[Trigger]) -> None:
    """Before the commit: each trigger back to the state it had, the root's first, then the
    partitions' (``ENABLE TRIGGER`` on a partitioned table reaches its partitions' clones too, so a
    clone the user had disabled is disabled again after it). Pass every trigger of the table."""
    with conn.cursor() as cur:
        for trigger in triggers:
            cur.execute(sql.SQL("ALTER TABLE {} {} {}").format(
                trigger.table.ident, sql.SQL(_RESTORE[trigger.enabled]), sql.Identifier(trigger.name)))


def describe(triggers: Sequence[Trigger]) -> str:
    return ", ".join(str(t) for t in triggers)
