"""Whether a source column's values load into the target column, and masks that fit the column.

Pure rules over two catalog columns: :mod:`.plan` refuses a table whose types do not load
before anything is written; :mod:`.statements` and :mod:`.sequences` read :func:`base_type`.
"""

from __future__ import annotations

import re

from dbconsole.catalog import Column
from dbconsole.errors import SyncError
from dbconsole.names import TableName

# Loading a source value's text form into a target of another type is safe for these pairs
# (target can represent every source value); anything else is a schema error up front.
_WIDENINGS = {
    ("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"),
    ("smallint", "numeric"), ("integer", "numeric"), ("bigint", "numeric"),
    ("real", "double precision"), ("character varying", "text"), ("character", "text"),
    ("character", "character varying"), ("text", "character varying"), ("json", "jsonb"),
    ("jsonb", "json"), ("uuid", "text"), ("date", "timestamp with time zone"),
}
_TEXT_TYPES = {"text", "character varying", "character", "citext", "name"}


def base_type(type_text: str) -> str:
    """``numeric(12,4)`` -> ``numeric``; ``character varying(20)[]`` -> ``character varying[]``."""
    return re.sub(r"\([^)]*\)", "", type_text).strip()


def types_compatible(source: Column, target: Column) -> tuple[bool, str | None]:
    """Whether source values load into the target column, and a note when it is not exact."""
    if source.type == target.type:
        return True, None
    src, tgt = base_type(source.type), base_type(target.type)
    if src == tgt:
        return True, f"{source.type} -> {target.type}: longer values will be refused by the target"
    if (src, tgt) in _WIDENINGS or tgt == "text":
        return True, f"{source.type} -> {target.type}: copied as text"
    if src.endswith("[]") and tgt.endswith("[]") and (src[:-2], tgt[:-2]) in _WIDENINGS:
        return True, f"{source.type} -> {target.type}: copied as text"
    return False, None


def check_mask(name: TableName, column: Column, rule: str) -> None:
    """Masks must fit the column: text rules need a text column, ``null`` a nullable one."""
    text_like = base_type(column.type) in _TEXT_TYPES
    if rule in ("mask_email", "hash", "redact") and not text_like:
        raise SyncError(f"{name}: mask {rule} needs a text column, but {column.name} is {column.type}; "
                        "use null or fixed:VALUE", table=str(name))
    if rule == "null" and column.not_null:
        raise SyncError(f"{name}: mask null on {column.name}, which is NOT NULL on the target; "
                        "use fixed:VALUE", table=str(name))
