"""dbconsole for Airflow (extra ``airflow``): scheduled and distributed runs of the same engine.

* :class:`DbconsoleHook` / :func:`profile_from_connection` (:mod:`.hook`): a profile from an
  Airflow postgres connection (its SSH hop from an ssh connection or the extras), or from a
  dbconsole config file;
* :class:`DbconsoleSyncOperator` (:mod:`.operator`): one sync as one task, JSON events in the
  task log, the summary as XCom, Airflow's retries resuming from the engine's checkpoints;
* :func:`sync_dag` (:mod:`.factory`) with :class:`TableGraph` (:mod:`.graph`): one task per
  FK-connected group or per table, in FK order, so the deployment's executor spreads them.

Like the CLI, this package drives the engine only through its public entry points
(``run_sync``, ``plan_sync``, ``build_request``); the headless core never imports it
(import-linter contracts in pyproject.toml).
"""

from dbconsole.airflow.factory import graph_file_for, sync_dag
from dbconsole.airflow.graph import TableGraph, read_table_graph
from dbconsole.airflow.hook import DbconsoleHook, profile_from_connection
from dbconsole.airflow.operator import DbconsoleSyncOperator

__all__ = ["DbconsoleHook", "DbconsoleSyncOperator", "TableGraph", "graph_file_for", "profile_from_connection",
           "read_table_graph", "sync_dag"]
