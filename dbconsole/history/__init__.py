"""Sync history and undo, read from (and undone on) a target's ``_dbconsole`` schema.

The write side lives with the sync (:mod:`dbconsole.sync.journal`); this package is what the
CLI (``history``, ``undo``) and the console's history view call.
"""

from dbconsole.history.runs import DEFAULT_LIMIT, RunRecord, RunTable, load_history, read_runs
from dbconsole.history.undo import UndoRefused, UndoResult, undo_run

__all__ = ["DEFAULT_LIMIT", "RunRecord", "RunTable", "UndoRefused", "UndoResult", "load_history", "read_runs",
           "undo_run"]
