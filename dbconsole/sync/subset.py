"""Subsets: "these root rows and everything they need" (SPEC "Subsets"), as pure logic.

A subset is a graph walk over foreign keys. From the root rows it goes **down** (rows that
reference selected rows, transitively, only into the tables being synced and not excluded,
each under that table's ``limits`` filter) and **up** (every parent row a selected row points
at, transitively, across all tables and without limits, so the target's FKs hold). A row reached
only going up is not followed down again: a lookup table referenced from everywhere would
otherwise pull the whole database in. Each table's seen keys are kept, so cycles and
self-references stop at their fixed point.

This module holds what a subset is (:class:`SubsetSpec`, from ``--subset`` or
``[sync.subsets.NAME]``), the edges (:func:`subset_edges`: declared FKs, partitions' folded
into their root by the catalog, plus virtual ``relations``) and the walk (:func:`close_subset`),
which asks a caller-given ``expand`` for the neighbours of a page of keys. The SQL behind
``expand`` lives in :mod:`.subset_reads`; it runs on the source in the sync's snapshot.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from psycopg import sql

from dbconsole.catalog import Table
from dbconsole.config import SubsetRules, VirtualRelation
from dbconsole.errors import UsageError
from dbconsole.names import TableName, resolve_name, split_where

Direction = Literal["down", "up"]
Key = tuple[str, ...]  # a row's key values as text, in key-column order
Expand = Callable[["Edge", Direction, Sequence[Key]], Iterable[Key]]
KEY_PAGE = 10_000  # keys sent to the source per neighbour query: memory and statement size stay bounded


@dataclass(frozen=True)
class SubsetSpec:
    """One ``--subset``: a root table and its filter, plus what a named subset adds."""

    label: str  # as the user gave it ("users: id = 42", "customer:42"): messages name it
    root: str  # the root table as written
    where: str  # which root rows, SQL over the root table
    relations: tuple[VirtualRelation, ...] = ()
    exclude: tuple[str, ...] = ()  # tables the walk never goes down into
    limits: Mapping[str, str] = field(default_factory=dict)  # table -> SQL, applied going down


@dataclass(frozen=True)
class Edge:
    """``child(columns) -> parent(parent_columns)``: a declared or virtual foreign key."""

    name: str
    child: TableName
    columns: tuple[str, ...]
    parent: TableName
    parent_columns: tuple[str, ...]


@dataclass(frozen=True)
class SubsetRows:
    """A planned table's share of the subset: the filter its reads get, and a digest of the keys
    (part of the table's fingerprint, so a checkpoint only resumes the same selection)."""

    filter: sql.Composable
    digest: str
    rows: int
    # --mode mirror: the target's keys of this table that belong to the subset there and not on
    # the source (:mod:`.subset_target`), deleted after every table's upserts (:mod:`.subset_deletes`)
    deletes: tuple[Key, ...] = ()


def parse_subset(text: str, named: Mapping[str, SubsetRules]) -> SubsetSpec:
    """``--subset`` text: ``NAME``, ``NAME:ARG1,ARG2`` (a configured subset, which wins over a
    table of that name) or ``TABLE: FILTER``."""
    name, _, args = text.partition(":")
    if name.strip() in named:
        spec = named[name.strip()]
        values = [a.strip() for a in args.split(",")] if args.strip() else []
        return SubsetSpec(label=text, root=spec.root, where=fill_arguments(spec.where, values, name.strip()),
                          relations=spec.relations, exclude=spec.exclude, limits=spec.limits)
    table, where = split_where(text)
    if table is None:
        known = ", ".join(named) or "none configured"
        raise UsageError(f"--subset {text!r}: give TABLE: FILTER (e.g. 'users: id = 42') or a subset name "
                         f"from [sync.subsets] ({known})")
    return SubsetSpec(label=text, root=table, where=where)


_ARGUMENT = re.compile(r"\{(\d+)\}")


def fill_arguments(where: str, values: Sequence[str], name: str) -> str:
    """``id = {1}`` with ``["42"]`` -> ``id = '42'``: arguments go in as SQL string literals
    (PostgreSQL casts an untyped literal to the column's type), never as raw SQL text."""
    def value(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if not 1 <= index <= len(values):
            raise UsageError(f"--subset {name}: its filter uses {{{index}}} but {len(values)} argument(s) were "
                             f"given (--subset {name}:ARG1,ARG2...)")
        return "'" + values[index - 1].replace("'", "''") + "'"
    filled = _ARGUMENT.sub(value, where)
    if len(values) > len(set(_ARGUMENT.findall(where))):
        raise UsageError(f"--subset {name}: {len(values)} argument(s) given, its filter uses "
                         f"{len(set(_ARGUMENT.findall(where)))}")
    return filled


def subset_edges(tables: Mapping[TableName, Table], relations: Iterable[VirtualRelation],
                 within: set[TableName] | None = None) -> list[Edge]:
    """The source's FKs between tables ``within`` the sync (a partition's count as its root's:
    a table not written needs no parents) and every virtual one the user declared."""
    inside = set(tables) if within is None else within
    edges = [Edge(fk.name, name, fk.columns, fk.parent, fk.parent_columns)
             for name, table in tables.items() if name in inside
             for fk in table.foreign_keys if fk.parent in tables and fk.parent in inside]
    for relation in relations:
        child, column = _column_ref(relation.source, tables, "from")
        parent, parent_column = _column_ref(relation.target, tables, "to")
        edges.append(Edge(f"relation {relation.source} -> {relation.target}", child, (column,), parent,
                          (parent_column,)))
    return edges


def _column_ref(text: str, tables: Mapping[TableName, Table], side: str) -> tuple[TableName, str]:
    table_text, dot, column = text.rpartition(".")
    if not dot or not table_text:
        raise UsageError(f"subset relation {side} = {text!r}: write it as schema.table.column")
    name = resolve_name(table_text, tables)
    if tables[name].column(column) is None:
        raise UsageError(f"subset relation {side} = {text!r}: {name} has no column {column}")
    return name, column


def close_subset(roots: Mapping[TableName, Iterable[Key]], edges: Sequence[Edge], down_scope: set[TableName],
                 expand: Expand, *, page: int = KEY_PAGE) -> dict[TableName, set[Key]]:
    """The fixed point of the walk: every table's selected keys (see :func:`close_subset_parts`)."""
    down, up = close_subset_parts(roots, edges, down_scope, expand, page=page)
    return {t: down.get(t, set()) | up.get(t, set()) for t in {*down, *up}}


def close_subset_parts(roots: Mapping[TableName, Iterable[Key]], edges: Sequence[Edge], down_scope: set[TableName],
                       expand: Expand, *, page: int = KEY_PAGE) -> tuple[dict[TableName, set[Key]],
                                                                         dict[TableName, set[Key]]]:
    """The fixed point of the walk, as (keys reached going down, keys reached only going up).

    ``expand(edge, "down", parent_keys)`` gives the keys of child rows referencing those
    parents (under the child's limit); ``expand(edge, "up", child_keys)`` the keys of the
    parent rows they reference. Each call gets at most ``page`` keys; only keys not seen before
    are walked on, so the walk ends on cycles and self-references. The two parts are kept apart
    because a subset mirror seeds its walk on the target with the rows reached going down.
    """
    down: dict[TableName, set[Key]] = {}
    up: dict[TableName, set[Key]] = {}
    # (table, direction, keys, the edge they were reached down by: going up it again finds nothing new)
    work: deque[tuple[TableName, Direction, list[Key], Edge | None]] = deque()
    for table, keys in roots.items():
        fresh = set(keys) - down.setdefault(table, set())
        down[table] |= fresh
        if fresh:
            work.append((table, "down", sorted(fresh), None))
    children = [e for e in edges if e.child in down_scope]
    while work:
        table, direction, keys, came_by = work.popleft()
        for chunk in (keys[i:i + page] for i in range(0, len(keys), page)):
            if direction == "down":
                for edge in (e for e in children if e.parent == table):
                    fresh = set(expand(edge, "down", chunk)) - down.setdefault(edge.child, set())
                    if fresh:
                        down[edge.child] |= fresh
                        work.append((edge.child, "down", sorted(fresh), edge))
            for edge in (e for e in edges if e.child == table and e != came_by):
                seen = up.setdefault(edge.parent, set())
                fresh = set(expand(edge, "up", chunk)) - down.get(edge.parent, set()) - seen
                if fresh:
                    seen |= fresh
                    work.append((edge.parent, "up", sorted(fresh), None))
    return down, {t: keys - down.get(t, set()) for t, keys in up.items()}
