"""Partitions beneath their table, in the compare browser's row and in ``tables --json`` (pure logic)."""

from __future__ import annotations

from dataclasses import replace

from dbconsole.catalog import Column, Partition, Table
from dbconsole.compare import compare_tables
from dbconsole.names import TableName
from dbconsole.tui.widgets.browser.rows import PARTITION_LINES, TableRow, name_cell, row_height
from dbconsole.tui.widgets.browser.side import BrowserSide

ID = Column(name="id", type="integer", type_oid=23, not_null=True, has_default=False, generated=False,
            identity="", builtin_type=True)


def partitioned(count: int, *, rows: int = 10) -> Table:
    parts = tuple(Partition("public", f"payment_p{i}", True, f"FOR VALUES IN ({i})", rows, 8192)
                  for i in range(count))
    return Table(schema="public", name="payment", kind="p", estimated_rows=rows * count, size_bytes=8192 * count,
                 columns=(ID,), primary_key=("id",), unique_keys=(), foreign_keys=(), partitions=parts)


def _row(name: TableName, left: Table | None = None, right: Table | None = None) -> TableRow:
    """A browser row over two loaded sides holding these catalogs."""
    sides = {side: BrowserSide(side, stage="loaded", tables={name: table} if table is not None else {})
             for side, table in (("left", left), ("right", right))}
    return TableRow(name, sides)


def test_partitions_are_listed_beneath_their_table_and_one_side_only_is_marked() -> None:
    left = partitioned(3)
    right = replace(left, partitions=left.partitions[:2])
    row = _row(TableName("public", "payment"), left, right)
    text = name_cell(row).plain.splitlines()
    assert text[0].startswith("public.payment") and "3 partitions" in text[0]
    assert text[1:] == ["  └ payment_p0", "  └ payment_p1", "  └ payment_p2 (only left)"]
    assert row_height(row) == 4
    comparison = compare_tables([left], [right])[0].to_json()
    assert [p["table"] for p in comparison["partitions"]] == ["public.payment_p0", "public.payment_p1",
                                                              "public.payment_p2"]
    assert comparison["partitions"][2] == {"table": "public.payment_p2", "left_rows": 10, "right_rows": None,
                                           "on_left": True, "on_right": False}


def test_a_hundred_partitions_take_a_few_lines_not_a_hundred() -> None:
    table = partitioned(100)
    row = _row(TableName("public", "payment"), table, table)
    lines = name_cell(row).plain.splitlines()
    assert len(lines) == row_height(row) == PARTITION_LINES + 2
    assert lines[-1] == f"  └ … {100 - PARTITION_LINES} more"


def test_a_plain_table_is_one_line() -> None:
    table = replace(partitioned(0), kind="r")
    assert row_height(_row(TableName("public", "payment"), table)) == 1
