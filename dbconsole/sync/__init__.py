"""The sync engine: server rows into local tables, fast, resumable, never where it must not.

Headless by design (no textual import anywhere below this package): the CLI and the TUI's sync
wizard are two faces over :func:`run_sync` and the events of :mod:`dbconsole.sync.events`.

* :mod:`.plan`   – what will happen: table selection, FK order, columns, modes (pure logic)
* :mod:`.engine` – how it happens: COPY streams, staging, UPSERT / replace / incremental / xmin
* :mod:`.state`  – what survives a crash: checkpoints, watermarks, history, advisory locks
* :mod:`.events` – what the world sees: typed progress events
"""

from dbconsole.sync.plan import ParentNeed, SyncPlan, SyncRequest, TablePlan, build_plan

__all__ = ["ParentNeed", "SyncPlan", "SyncRequest", "TablePlan", "build_plan"]
