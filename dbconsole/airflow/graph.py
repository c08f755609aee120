"""Which tables a DAG syncs and which must wait for which: the FK graph, read once or from a file.

Why a value of its own: :func:`~dbconsole.airflow.factory.sync_dag` runs at every parse of the
DAG file (the scheduler's DAG processor every few minutes, and each task's worker before it
runs), and reading the catalogs is a round trip to both databases, through the tunnel. A
deployment that wants no database traffic at parse time saves the graph once
(:func:`read_table_graph` then :meth:`TableGraph.save`) and hands the file to the factory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbconsole.errors import ConfigError
from dbconsole.names import TableName, parse_name
from dbconsole.sync.engine import plan_sync
from dbconsole.sync.plan import SyncRequest

GRAPH_VERSION = 1


@dataclass(frozen=True)
class TableGraph:
    """Tables in FK order (parents first) and, for each, its FK parents among them."""

    tables: tuple[TableName, ...]
    parents: Mapping[TableName, tuple[TableName, ...]] = field(default_factory=dict)

    @classmethod
    def in_order(cls, names: Sequence[str]) -> TableGraph:
        """A list the caller already put in FK order, with no catalog to say more: each table
        waits for the one before it (safe whatever the FKs are; nothing runs side by side)."""
        tables = tuple(_table_name(n) for n in names)
        return cls(tables, {t: (tables[i - 1],) for i, t in enumerate(tables) if i})

    def groups(self) -> list[tuple[TableName, ...]]:
        """The FK-connected groups (tables linked by foreign keys either way), each in FK order,
        ordered by their first table."""
        linked: dict[TableName, set[TableName]] = {t: set() for t in self.tables}
        for child, parents in self.parents.items():
            for parent in parents:
                linked[child].add(parent)
                linked[parent].add(child)
        placed: set[TableName] = set()
        groups: list[tuple[TableName, ...]] = []
        for table in self.tables:
            if table in placed:
                continue
            members: set[TableName] = set()
            reach = [table]
            while reach:
                current = reach.pop()
                if current not in members:
                    members.add(current)
                    reach.extend(linked[current] - members)
            placed |= members
            groups.append(tuple(t for t in self.tables if t in members))
        return groups

    def to_json(self) -> dict[str, Any]:
        return {"version": GRAPH_VERSION, "tables": [
            {"schema": t.schema, "name": t.name,
             "parents": [[p.schema, p.name] for p in self.parents.get(t, ())]} for t in self.tables]}

    @classmethod
    def from_json(cls, data: Any, *, where: str = "graph") -> TableGraph:
        try:
            if data.get("version") != GRAPH_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {GRAPH_VERSION}")
            tables = tuple(TableName(str(t["schema"]), str(t["name"])) for t in data["tables"])
            parents = {TableName(str(t["schema"]), str(t["name"])): tuple(TableName(str(s), str(n))
                                                                          for s, n in t.get("parents", ()))
                       for t in data["tables"]}
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: not a dbconsole table graph ({exc})") from None
        known = set(tables)
        for child, its_parents in parents.items():
            for parent in its_parents:
                if parent not in known:
                    raise ConfigError(f"{where}: {child} waits for {parent}, which is not in the graph")
        return cls(tables, {t: p for t, p in parents.items() if p})

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TableGraph:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the table graph {path}: {exc.__class__.__name__}") from None
        return cls.from_json(data, where=str(path))


def read_table_graph(request: SyncRequest) -> TableGraph:
    """The graph of exactly the tables ``request`` would sync, in the order the engine would take.

    The engine's own plan (read-only sessions on both ends, one catalog query each, and the
    ``--where`` filters proven), so the selection rules (globs, ``--exclude``, tables without a
    key, ``--with-parents``) and the FK order (:mod:`dbconsole.sync.fk_order`) are the CLI's.
    """
    plan = plan_sync(request)
    names = [t.name for t in plan.tables]
    chosen = set(names)
    parents = {t.name: tuple(sorted({fk.parent for fk in t.source.foreign_keys
                                     if fk.parent in chosen and fk.parent != t.name}))
               for t in plan.tables}
    return TableGraph(tuple(names), {t: p for t, p in parents.items() if p})


def _table_name(text: str) -> TableName:
    """``users`` -> public.users, ``public."WatchList"`` -> (public, WatchList), as the catalog stores them."""
    schema, name = parse_name(text)
    fold = (lambda part: part[0] if part[1] else part[0].lower())
    return TableName(fold(schema) if schema else "public", fold(name))
