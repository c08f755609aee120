"""SQLite's loose values into PostgreSQL column types (pure logic, no server)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from dbconsole.sqlite.convert import Unconvertible, converter_for, mask_value, sqlite_kind
from dbconsole.sqlite.sides import loads_into, sqlite_affinity
from dbconsole.sqlite.source import keyset_select, quote_ident

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("target", "value", "expected"), [
    ("boolean", 1, True), ("boolean", 0, False), ("boolean", "true", True), ("boolean", "0", False),
    ("integer", 7, 7), ("bigint", 3.0, 3), ("smallint", " -12 ", -12),
    ("numeric(12,2)", "12.50", Decimal("12.50")), ("numeric", 3.25, Decimal("3.25")), ("numeric", 7, Decimal(7)),
    ("double precision", "1.5", 1.5), ("real", 2, 2.0),
    ("timestamp with time zone", "2024-05-01 10:00:00.123456",
     datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)),
    ("timestamp with time zone", "2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2)))),
    ("timestamp with time zone", 0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
    ("timestamp without time zone", "2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10)),
    ("timestamp without time zone", "2024-05-01 10:00:00", datetime(2024, 5, 1, 10)),
    ("date", "1990-05-17", date(1990, 5, 17)), ("time without time zone", "10:11:12", time(10, 11, 12)),
    ("jsonb", '{"a": [1, 2]}', '{"a": [1, 2]}'), ("json", 5, "5"),
    ("bytea", b"\x00\x01", b"\x00\x01"),
    ("uuid", "0" * 31 + "1", uuid.UUID(int=1)), ("uuid", bytes(15) + b"\x02", uuid.UUID(int=2)),
    ("interval", 1_500_000, timedelta(seconds=1.5)),
    ("character varying(5)", "abcde", "abcde"), ("text", 12, "12"), ("text", 1.5, "1.5"),
    ("text[]", '["a", "b\\"c", null]', '{"a","b\\"c",NULL}'), ("inet", "10.0.0.1", "10.0.0.1"),
])
def test_values_convert_to_the_target_type(target, value, expected):
    assert converter_for(target)(value) == expected


@pytest.mark.parametrize(("target", "value", "kind", "reason"), [
    ("boolean", 2, "integer", "not a boolean"), ("boolean", "maybe", "text", "not a boolean"),
    ("integer", 1.5, "real", "whole number"), ("smallint", 40000, "integer", "out of the column's integer range"),
    ("numeric", "12,5", "text", "decimal"), ("numeric", "NaN", "text", "finite"), ("numeric", b"1", "blob", "number"),
    ("timestamp with time zone", "yesterday", "text", "ISO-8601"), ("date", "2024-13-01", "text", "date"),
    ("jsonb", "{not json", "text", "JSON"), ("bytea", "abc", "text", "blob"), ("uuid", "xyz", "text", "UUID"),
    ("interval", "1 day", "text", "microseconds"), ("character varying(3)", "abcd", "text", "longer than"),
    ("text", b"\xff", "blob", "not text"),
])
def test_a_value_that_does_not_fit_is_refused_by_type_never_by_value(target, value, kind, reason):
    with pytest.raises(Unconvertible) as caught:
        converter_for(target)(value)
    assert caught.value.kind == kind and reason in str(caught.value)
    if isinstance(value, str) and len(value) > 2:
        assert value not in str(caught.value)


def test_masks_match_the_sql_rules():
    assert mask_value("a@b.c", "mask_email").endswith("@masked.invalid") and "a@b" not in mask_value("a@b.c", "mask_email")
    assert mask_value("secret", "redact") == "******" and mask_value("x" * 20, "redact") == "********"
    assert mask_value("v", "null") is None and mask_value(None, "hash") is None
    assert mask_value("v", "fixed:0") == "0" and len(mask_value(5, "hash")) == 32


def test_sqlite_kinds_affinities_and_loading():
    assert [sqlite_kind(v) for v in (None, 1, 1.0, b"", "")] == ["null", "integer", "real", "blob", "text"]
    assert [sqlite_affinity(t) for t in ("bigint", "varchar(5)", "BLOB", "double", "bool", "datetime", "decimal")] == \
        ["INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC", "NUMERIC", "NUMERIC"]
    assert loads_into("bool", "boolean") and loads_into("datetime", "timestamp with time zone")
    assert loads_into("BLOB", "bytea") and not loads_into("BLOB", "text") and not loads_into("text", "bytea")


def test_sqlite_statements_quote_every_name():
    assert quote_ident('we"ird name') == '"we""ird name"'
    assert keyset_select("t", ["a", "b"], ["a"], after=False, limit=10) == 'SELECT "a", "b" FROM "t" ORDER BY "a" LIMIT 10'
    assert keyset_select("t", ["a", "b"], ["a", "b"], after=True, limit=5) == \
        'SELECT "a", "b" FROM "t" WHERE ("a", "b") > (?, ?) ORDER BY "a", "b" LIMIT 5'


def test_a_row_converter_names_the_failing_column():
    from dbconsole.sqlite.convert import ColumnUnconvertible, row_converter

    convert_row = row_converter(["integer", "boolean", "text"], [None, None, "redact"])
    assert convert_row((1, 0, "secret")) == [1, False, "******"]
    assert convert_row((None, None, None)) == [None, None, None]
    with pytest.raises(ColumnUnconvertible) as caught:
        convert_row((1, "perhaps", "x"))
    assert caught.value.index == 1 and caught.value.kind == "text"
