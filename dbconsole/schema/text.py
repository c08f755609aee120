"""A schema report as lines for people: grouped by table, then types, sequences, views, migrations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from dbconsole.schema.compare import Difference
from dbconsole.schema.run import SchemaReport

_LABELS = {"table": "table", "kind": "kind", "partition": "partition", "partition_key": "partition key",
           "bound": "partition bound", "column": "column", "type": "type", "nullable": "nullable",
           "default": "default", "identity": "identity", "generated": "generated", "collation": "collation",
           "primary_key": "primary key", "unique": "unique", "foreign_key": "foreign key", "check": "check",
           "exclusion": "exclusion", "index": "index", "enum": "enum", "domain": "domain", "sequence": "sequence",
           "view": "view"}


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def difference_line(d: Difference, left: str, right: str) -> str:
    if d.left is None:
        return f"{_LABELS[d.kind]} {d.name}: only on {right} ({_value(d.right)})"
    if d.right is None:
        return f"{_LABELS[d.kind]} {d.name}: only on {left} ({_value(d.left)})"
    return f"{_LABELS[d.kind]} {d.name}: {left} {_value(d.left)} | {right} {_value(d.right)}"


def report_lines(report: SchemaReport, left: str, right: str) -> Iterator[str]:
    diff = report.diff
    for table, diffs in diff.tables.items():
        if len(diffs) == 1 and diffs[0].kind == "table":  # only on one side: one line says it all
            only = diffs[0]
            side, word = (right, only.right) if only.left is None else (left, only.left)
            yield f"{table}: only on {side} ({word})" if only.left is None or only.right is None \
                else f"{table}: {left} {only.left} | {right} {only.right}"
            continue
        yield str(table)
        for d in diffs:
            yield "  " + difference_line(d, left, right)
    for title, diffs in (("types", diff.types), ("sequences", diff.sequences), ("views", diff.views)):
        if diffs:
            yield title
            for d in diffs:
                yield "  " + difference_line(d, left, right)
    if diff.empty:
        yield f"no schema differences between {left} and {right}"
    sides = ((left, report.left.migrations), (right, report.right.migrations))
    if any(history for _, history in sides):
        yield "migrations"
        for name, history in sides:
            if history is None:
                yield f"  {name}: no migration table"
            elif history.error:
                yield f"  {name}: {history.tool} ({history.table}) unreadable: {history.error}"
            else:
                count = f", {len(history.applied)} applied" if history.applied is not None else ""
                yield f"  {name}: {history.tool} ({history.table}) at {history.current or '-'}{count}"
        if report.migrations:
            yield f"  {report.migrations.summary}"
