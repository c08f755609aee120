"""Helpers for diff tests: build the same table on both clusters, then plant differences."""

from __future__ import annotations

from typing import Any

from dbconsole.diff import DiffRequest, diff_tables
from dbconsole.diff.strategy import Tuning

# Small ranges, so tables of a few thousand rows already take several levels.
SMALL = Tuning(rows_per_range=500, fanout=4, leaf_rows=40, stream_rows=5_000)


def on_both(dbs: Any, *statements: str) -> None:
    for cluster, db in ((dbs.server, dbs.server_db), (dbs.local, dbs.local_db)):
        with cluster.connect(db) as conn:
            for statement in statements:
                conn.execute(statement)


def on_local(dbs: Any, *statements: str) -> None:
    with dbs.local.connect(dbs.local_db) as conn:
        for statement in statements:
            conn.execute(statement)


def on_server(dbs: Any, *statements: str) -> None:
    with dbs.server.connect(dbs.server_db) as conn:
        for statement in statements:
            conn.execute(statement)


def run_diff(config: Any, *, left: str = "local", right: str = "server_direct", **kwargs: Any):
    kwargs.setdefault("settings", config.sync)
    kwargs.setdefault("tuning", SMALL)
    kwargs.setdefault("row_limit", None)
    request = DiffRequest(left=config.profile(left), right=config.profile(right), **kwargs)
    events: list[Any] = []
    report = diff_tables(request, on_event=events.append)
    return report, events


def found(table_diff: Any) -> set[tuple[Any, ...]]:
    """The differences as (kind, key values...) tuples."""
    return {(row.kind, *row.key.values()) for row in table_diff.rows}
