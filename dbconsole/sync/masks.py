"""Data rules: sensitive columns rewritten inside the source's SELECT.

The rewrite happens on the server, in the query that feeds COPY, so raw values never leave it
and COPY stays a byte passthrough. Every rule is deterministic, so a re-run finds masked rows
unchanged, and ``mask_email`` keeps distinct emails distinct (80 bits of their MD5), so unique
constraints on the target still hold. Each expression is cast back to the column's type, which
keeps binary COPY possible.
"""

from __future__ import annotations

from psycopg import sql

RULES = ("mask_email", "null", "hash", "fixed:VALUE", "redact")


def mask_expression(column: str, column_type: str, rule: str) -> sql.Composable:
    """The SQL expression that replaces ``column`` in the source SELECT."""
    col = sql.Identifier(column)
    cast = sql.SQL(column_type)  # format_type() output from the catalog, not user input
    if rule == "mask_email":
        expr = sql.SQL("CASE WHEN {c} IS NULL THEN NULL ELSE left(md5({c}::text), 20) || '@masked.invalid' END").format(c=col)
    elif rule == "hash":
        expr = sql.SQL("md5({c}::text)").format(c=col)
    elif rule == "redact":
        expr = sql.SQL("CASE WHEN {c} IS NULL THEN NULL ELSE repeat('*', least(char_length({c}::text), 8)) END").format(c=col)
    elif rule == "null":
        expr = sql.SQL("NULL")
    elif rule.startswith("fixed:"):
        expr = sql.Literal(rule[len("fixed:"):])
    else:  # config validation refuses unknown rules before we get here
        raise ValueError(f"unknown mask rule {rule!r}")
    return sql.SQL("({})::{}").format(expr, cast)
