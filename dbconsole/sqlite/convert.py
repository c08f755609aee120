"""SQLite's values into the PostgreSQL column's type, or a clear refusal.

SQLite stores whatever it is given: Django writes booleans as 0/1, datetimes as ISO text,
decimals as text or REAL, JSON as text, UUIDs as 32 hex digits, durations as microseconds.
PostgreSQL's columns (made by the app's migrations) are typed, so each value is converted
here, in Python, to a value of the target column's type, before COPY sends it. A value that
does not fit raises :class:`Unconvertible` with the value's *type* and the reason, never the
value itself (it may be personal data, or masked).

Converters are chosen once per column (:func:`converter_for`), so a million rows cost one
function call per value, not a type dispatch.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from dbconsole.sync.column_types import base_type

Converter = Callable[[Any], Any]
_TRUE = {"1", "t", "true", "y", "yes", "on"}
_FALSE = {"0", "f", "false", "n", "no", "off"}
_INT_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_LENGTH = re.compile(r"\((\d+)\)")


class Unconvertible(ValueError):
    """A value that does not fit its target column: ``kind`` is the SQLite value's type."""

    def __init__(self, value: Any, reason: str) -> None:
        self.kind = sqlite_kind(value)
        self.reason = reason
        article = "an" if self.kind[0] in "aeiou" else "a"
        super().__init__(f"{article} {self.kind} value {reason}")


def sqlite_kind(value: Any) -> str:
    """SQLite's storage class of a value as Python's sqlite3 returns it."""
    if value is None:
        return "null"
    if isinstance(value, bool | int):
        return "integer"
    if isinstance(value, float):
        return "real"
    if isinstance(value, bytes | memoryview):
        return "blob"
    return "text"


def converter_for(target_type: str) -> Converter:
    """The function that turns a SQLite value into a value for a column of ``target_type``
    (``format_type()`` text: ``boolean``, ``numeric(10,2)``, ``timestamp with time zone``...)."""
    base = base_type(target_type)
    if base.endswith("[]"):
        return _array
    if base == "boolean":
        return _boolean
    if base in _INT_RANGES:
        limit = _INT_RANGES[base]
        return lambda value: _integer(value, limit)
    if base in ("numeric", "decimal"):
        return _numeric
    if base in ("real", "double precision"):
        return _float
    if base == "timestamp with time zone":
        return lambda value: _timestamp(value, aware=True)
    if base == "timestamp without time zone":
        return lambda value: _timestamp(value, aware=False)
    if base == "date":
        return _date
    if base in ("time without time zone", "time with time zone"):
        return _time
    if base in ("json", "jsonb"):
        return _json
    if base == "bytea":
        return _bytea
    if base == "uuid":
        return _uuid
    if base == "interval":
        return _interval
    if base in ("character varying", "character", "text", "citext", "name"):
        match = _LENGTH.search(target_type)
        return _text_of(int(match.group(1)) if match and base != "text" else None)
    return _as_text  # inet, enums, money...: PostgreSQL parses the text form itself


class ColumnUnconvertible(Unconvertible):
    """:class:`Unconvertible`, and which column of the row it was (``index``)."""

    def __init__(self, index: int, cause: Unconvertible) -> None:
        ValueError.__init__(self, str(cause))
        self.index, self.kind, self.reason = index, cause.kind, cause.reason


def row_converter(target_types: Sequence[str], masks: Sequence[str | None]) -> Callable[[Sequence[Any]], list[Any]]:
    """One function for a whole row: each column masked (when a rule says so), then converted;
    NULL stays NULL for every type (NOT NULL is the target's to enforce). The common case is one
    list comprehension; only a row that fails is walked again to say which column failed."""
    steps = [_masked(converter_for(t), rule) if rule else converter_for(t)
             for t, rule in zip(target_types, masks, strict=True)]

    def convert_row(row: Sequence[Any]) -> list[Any]:
        try:
            return [None if value is None else step(value) for value, step in zip(row, steps)]
        except Unconvertible:
            for index, (value, step) in enumerate(zip(row, steps)):
                try:
                    None if value is None else step(value)
                except Unconvertible as exc:
                    raise ColumnUnconvertible(index, exc) from None
            raise

    return convert_row


def _masked(convert: Converter, rule: str) -> Converter:
    def step(value: Any) -> Any:
        masked = mask_value(value, rule)
        return None if masked is None else convert(masked)
    return step


def _boolean(value: Any) -> bool:
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise Unconvertible(value, "is not a boolean (0/1, true/false)")


def _integer(value: Any, limit: int) -> int:
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        number = int(value)
    if number is None:
        raise Unconvertible(value, "is not a whole number")
    if not -limit <= number < limit:
        raise Unconvertible(value, "is out of the column's integer range")
    return number


def _numeric(value: Any) -> Decimal:
    if isinstance(value, bytes | memoryview):
        raise Unconvertible(value, "is not a number")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise Unconvertible(value, "is not a decimal number") from None
    if not number.is_finite():
        raise Unconvertible(value, "is not a finite number")
    return number


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Unconvertible(value, "is not a number") from None
    if math.isnan(number) and not isinstance(value, float):
        raise Unconvertible(value, "is not a number")
    return number


def _timestamp(value: Any, *, aware: bool) -> datetime:
    """ISO text (``2024-05-01 10:00:00[.ffffff][+00:00|Z]``, Django's form) or Unix seconds.

    A value without an offset is taken as UTC (Django stores UTC when ``USE_TZ``); for a column
    without time zone an aware value is moved to UTC and its offset dropped.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, tz=timezone.utc)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise Unconvertible(value, "is not an ISO-8601 timestamp") from None
    else:
        raise Unconvertible(value, "is not a timestamp")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment if aware else moment.astimezone(timezone.utc).replace(tzinfo=None)


def _date(value: Any) -> date:
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Unconvertible(value, "is not an ISO-8601 date (YYYY-MM-DD)")


def _time(value: Any) -> time:
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Unconvertible(value, "is not an ISO-8601 time")


def _json(value: Any) -> str:
    """JSON text as it is (PostgreSQL keeps json's text, normalizes jsonb); a number becomes JSON."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            raise Unconvertible(value, "is not valid JSON") from None
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    raise Unconvertible(value, "is not JSON text")


def _bytea(value: Any) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    raise Unconvertible(value, "is not a blob")


def _uuid(value: Any) -> uuid.UUID:
    try:
        if isinstance(value, bytes | memoryview) and len(value) == 16:
            return uuid.UUID(bytes=bytes(value))
        if isinstance(value, str):
            return uuid.UUID(value.strip())  # Django's 32 hex digits, or the dashed form
    except ValueError:
        pass
    raise Unconvertible(value, "is not a UUID")


def _interval(value: Any) -> timedelta:
    """Django's DurationField on SQLite: a whole number of microseconds."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(microseconds=value)
    raise Unconvertible(value, "is not a duration in microseconds")


def _text_of(length: int | None) -> Converter:
    def text(value: Any) -> str:
        if isinstance(value, bytes | memoryview):
            raise Unconvertible(value, "is not text")
        result = value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)
        if length is not None and len(result) > length:
            raise Unconvertible(value, f"is longer than the column's {length} characters")
        return result
    return text


def _as_text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        raise Unconvertible(value, "is a blob, and the column does not take bytes")
    return value if isinstance(value, str) else str(value)


def _array(value: Any) -> str:
    """An array column from SQLite is JSON text (a list) or PostgreSQL's own ``{...}`` text."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            return text
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list) and all(not isinstance(i, list | dict) for i in items):
            return "{" + ",".join("NULL" if i is None else '"' + str(i).replace("\\", "\\\\").replace('"', '\\"') + '"'
                                  for i in items) + "}"
    raise Unconvertible(value, "is not an array (JSON list)")


# --------------------------------------------------------------------------- masks


def mask_value(value: Any, rule: str) -> Any:
    """``[sync.tables] mask`` rules applied in Python (the SQL rules of :mod:`dbconsole.sync.masks`,
    computed on the value's text): the raw value never reaches the target."""
    if value is None or rule == "null":
        return None
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if rule == "mask_email":
        return hashlib.md5(text.encode()).hexdigest()[:20] + "@masked.invalid"
    if rule == "hash":
        return hashlib.md5(text.encode()).hexdigest()
    if rule == "redact":
        return "*" * min(len(text), 8)
    if rule.startswith("fixed:"):
        return rule[len("fixed:"):]
    raise ValueError(f"unknown mask rule {rule!r}")
