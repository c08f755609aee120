"""``sync_dag``: a dbconsole config turned into a DAG of sync tasks that Airflow's executor spreads.

Why tasks per FK-connected group by default: each task is one run of the engine, with one source
snapshot. Tables joined by foreign keys read in one snapshot agree with each other (no child row
whose parent row is newer than the parent's copy), exactly as one ``dbconsole sync`` of them
would; unrelated groups share nothing and run side by side on whatever workers the deployment
has (Celery, Kubernetes). ``split="table"`` goes further, one task per table with each child
waiting for its parents' tasks, for a source that does not change during the run (a quiet
window, a snapshot restore): each task reads its own snapshot, so on a source being written to
a child may meet a parent row its parent's task did not see, and that child's task fails naming
the constraint. ``replace`` and ``mirror`` delete target rows, which is only safe with every FK
partner in the same run: they run per group only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from airflow.sdk import DAG

from dbconsole.airflow.graph import TableGraph, read_table_graph
from dbconsole.airflow.operator import DbconsoleSyncOperator
from dbconsole.config import Config, load_config
from dbconsole.errors import UsageError
from dbconsole.modes import DELETING_MODES, Mode, Strategy
from dbconsole.names import TableName, resolve_name, split_where
from dbconsole.sync.confirm import requested_modes
from dbconsole.sync.requests import build_request
from dbconsole.sync.triggers import TriggerPolicy

Split = Literal["group", "table"]
GraphSource = TableGraph | str | os.PathLike[str] | Sequence[str] | None
_TASK_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def sync_dag(dag_id: str, *, config_path: str | os.PathLike[str], source: str, target: str,
             tables: str | Sequence[str] | None = None, exclude: str | Sequence[str] | None = None,
             graph: GraphSource = None, split: Split = "group", mode: Mode | None = None,
             strategy: Strategy | None = None, where: Sequence[str] = (), subsets: Sequence[str] = (),
             with_parents: bool = False, batch_size: int | None = None, triggers: TriggerPolicy | None = None,
             confirm_target: str | None = None, **dag_kwargs: Any) -> DAG:
    """A DAG that syncs ``source`` into ``target`` (profiles of ``config_path``), one task per
    FK-connected group of tables (``split="group"``) or per table (``split="table"``, children
    after their parents' tasks).

    Which tables and in what order comes from ``graph``:

    * ``None`` (default): the engine's own plan of the request (``tables``, ``exclude``,
      ``with_parents``, ``where`` as for ``dbconsole sync``). **This is a database round trip at
      every parse of the DAG file**: both catalogs are read (read-only, through the tunnel if the
      profile has one), by the scheduler's DAG processor and by each worker before its task.
    * a path to a graph file (:meth:`TableGraph.save` of :func:`read_table_graph`, made once, e.g.
      in a deploy step): no database traffic at parse time.
    * a list of table names already in FK order: no catalog read either; each task then waits
      for the one before it, since nothing says which tables are independent.

    ``where`` entries must name their table (``"users:id < 1000"``); each goes to the task that
    syncs that table. With ``subsets`` the whole request is one task (a subset's rows are chosen
    in one snapshot). ``confirm_target`` is passed to every task (see
    :class:`DbconsoleSyncOperator`); other ``dag_kwargs`` go to ``DAG`` (``schedule``,
    ``start_date``, ``default_args={"retries": 3}``...).
    """
    config_path = str(config_path)
    config = load_config(config_path)  # at parse time: a broken config is an import error of the DAG file
    config.profile(source), config.profile(target)  # an unknown name too (secrets are only needed on the workers)
    options = {"mode": mode, "strategy": strategy, "batch_size": batch_size, "triggers": triggers,
               "confirm_target": confirm_target, "config_path": config_path, "source": source, "target": target}
    for entry in where:
        if split_where(entry)[0] is None:
            raise UsageError(f"sync_dag: where {entry!r} must name its table (TABLE:EXPR): tasks sync different tables")
    dag = DAG(dag_id=dag_id, **dag_kwargs)
    if subsets:
        with dag:
            DbconsoleSyncOperator(task_id="sync_subset", tables=tables, exclude=exclude, where=where,
                                  subsets=subsets, with_parents=with_parents, **options)
        return dag
    table_graph = _graph(graph, config=config, source=source, target=target, tables=tables,
                         exclude=exclude, mode=mode, where=where, with_parents=with_parents)
    filters = _filters_by_table(where, table_graph.tables)
    if split == "table" and _deletes(config, source, target, mode):
        raise UsageError("sync_dag: split='table' cannot run a mode that deletes target rows (replace, mirror): "
                         "every FK partner must be in the same run; use split='group'")
    units = [(t,) for t in table_graph.tables] if split == "table" else table_graph.groups()
    task_ids = _task_ids(units)
    with dag:
        tasks = {unit: DbconsoleSyncOperator(
            task_id=task_id, tables=[str(t) for t in unit],
            where=[f"{t}:{filters[t]}" for t in unit if t in filters], **options)
            for unit, task_id in zip(units, task_ids)}
        if split == "table":
            for child, parents in table_graph.parents.items():
                for parent in parents:
                    tasks[(parent,)] >> tasks[(child,)]
    return dag


def _graph(graph: GraphSource, *, config: Config, source: str, target: str, tables: Any, exclude: Any,
           mode: Mode | None, where: Sequence[str], with_parents: bool) -> TableGraph:
    if isinstance(graph, TableGraph):
        return graph
    if isinstance(graph, (str, os.PathLike)):
        return TableGraph.load(Path(graph))
    if graph is not None:
        return TableGraph.in_order(list(graph))
    from dbconsole.connect import tunnels

    request = build_request(config.profile(source).require_usable(), config.profile(target).require_usable(),
                            config.sync, tables=tables, exclude=exclude, mode=mode, where=where,
                            with_parents=with_parents)
    try:
        return read_table_graph(request)
    finally:
        tunnels.close_all()


def _deletes(config: Config, source: str, target: str, mode: Mode | None) -> bool:
    """Whether any table of the run may be synced in a mode that deletes target rows."""
    request = build_request(config.profile(source), config.profile(target), config.sync, mode=mode)
    return bool(set(DELETING_MODES) & requested_modes(request))


def _filters_by_table(where: Sequence[str], tables: Sequence[TableName]) -> dict[TableName, str]:
    filters: dict[TableName, str] = {}
    for entry in where:
        table_text, expression = split_where(entry)
        assert table_text is not None
        table = resolve_name(table_text, tables, where="the DAG's tables")
        if table in filters:
            raise UsageError(f"sync_dag: where names {table} twice; combine the conditions with AND")
        filters[table] = expression
    return filters


def _task_ids(units: Sequence[tuple[TableName, ...]]) -> list[str]:
    """``sync_public.users``, ``sync_public.sectors_and_3_more``: readable, unique, Airflow-safe."""
    ids: list[str] = []
    for unit in units:
        base = "sync_" + _TASK_ID_UNSAFE.sub("_", f"{unit[0].schema}.{unit[0].name}")
        if len(unit) > 1:
            base += f"_and_{len(unit) - 1}_more"
        task_id, n = base, 2
        while task_id in ids:
            task_id, n = f"{base}_{n}", n + 1
        ids.append(task_id)
    return ids


def graph_file_for(config_path: str | os.PathLike[str], source: str, target: str, path: str | os.PathLike[str],
                   **request_options: Any) -> TableGraph:
    """Read the graph once (both catalogs) and save it for ``sync_dag(graph=path)``; returns it."""
    config = load_config(config_path)
    request = build_request(config.profile(source).require_usable(), config.profile(target).require_usable(),
                            config.sync, **request_options)
    from dbconsole.connect import tunnels

    try:
        table_graph = read_table_graph(request)
    finally:
        tunnels.close_all()
    table_graph.save(path)
    return table_graph
