"""The sync engine: server rows into local tables, fast, resumable, never where it must not.

Headless by design (no textual import anywhere below this package): the CLI and the TUI's sync
wizard are two faces over :func:`run_sync` and the events of :mod:`dbconsole.sync.events`.

* :mod:`.plan`     – what will happen: table selection, modes, columns (pure logic; with
  :mod:`.column_types`, :mod:`.fk_order` and :mod:`.checks`)
* :mod:`.engine`   – the story of a run: retries, connect, snapshot, plan, the runner, done
* :mod:`.context`  – what every level shares (:class:`~.context.RunContext`), and the Runner protocol
* :mod:`.writing` / :mod:`.preview` – the two runners: a real run, or a dry run that counts
* :mod:`.table_run` – one table of upsert / incremental / xmin, batch by batch with checkpoints
* :mod:`.replace`  – the replace group in one transaction
* :mod:`.copying`  – one batch: key bounds, the COPY stream, apply or count
* :mod:`.failures` – transient or permanent, and the one line that explains a failure
* :mod:`.state`    – what survives a crash: checkpoints, watermarks, history, advisory locks
* :mod:`.events` / :mod:`.counts` – what the world sees: typed events, :class:`~.counts.RowCounts`
"""

from dbconsole.sync.plan import ParentNeed, SyncPlan, SyncRequest, TablePlan, build_plan

__all__ = ["ParentNeed", "SyncPlan", "SyncRequest", "TablePlan", "build_plan"]
