"""Read a database's schema with one round trip (:data:`SCHEMA_SQL`)."""

from __future__ import annotations

from typing import Any

import psycopg

from dbconsole.names import TableName
from dbconsole.schema.model import Constraint, Index, Relation, Schema, SchemaColumn, Sequence, UserType
from dbconsole.schema.schema_sql import SCHEMA_SQL


def read_schema(conn: psycopg.Connection[Any]) -> Schema:
    """The schema of ``conn``'s database, in a transaction (or savepoint) rolled back after: its
    ``SET LOCAL search_path`` must not leak into the caller's session."""
    with conn.transaction(force_rollback=True), conn.cursor() as cur:
        cur.execute(SCHEMA_SQL)
        while cur.nextset():
            pass
        version, schemas, relations, types, sequences, migrations = cur.fetchone()
    return Schema(
        version_num=version,
        schemas=tuple(schemas or ()),
        relations={r.qualified: r for r in map(_relation, relations or ())},
        types={t.qualified: t for t in map(_type, types or ())},
        sequences={s.qualified: s for s in map(_sequence, sequences or ())},
        migration_tables=tuple(TableName(*pair) for pair in migrations or ()),
    )


def _name(pair: list[str] | None) -> TableName | None:
    return TableName(*pair) if pair else None


def _relation(row: dict[str, Any]) -> Relation:
    return Relation(
        schema=row["schema"], name=row["name"], kind=row["kind"],
        columns=tuple(SchemaColumn(
            name=c["name"], type=c["type"], type_ref=TableName(c["type_schema"], c["type_name"]),
            type_kind=c["type_kind"], builtin=c["builtin"], not_null=c["not_null"], default=c["default"],
            generated=c["generated"], identity=c["identity"], collation=c["collation"],
            sequences=tuple(TableName(*s) for s in c["sequences"] or ()), local=c["local"])
            for c in row["columns"] or ()),
        constraints=tuple(Constraint(name=c["name"], kind=c["kind"], definition=c["definition"],
                                     references=_name(c["references"])) for c in row["constraints"] or ()),
        indexes=tuple(Index(name=i["name"], definition=i["definition"]) for i in row["indexes"] or ()),
        triggers=tuple(row["triggers"] or ()),
        parent=_name(row["parent"]), bound=row["bound"], partition_key=row["partition_key"],
    )


def _type(row: dict[str, Any]) -> UserType:
    return UserType(schema=row["schema"], name=row["name"], kind=row["kind"], extension=row["extension"],
                    labels=tuple(row["labels"] or ()), base=row["base"], base_ref=_name(row["base_type"]),
                    not_null=row["not_null"], default=row["default"], checks=tuple(row["checks"] or ()))


def _sequence(row: dict[str, Any]) -> Sequence:
    owned = row["owned_by"]
    return Sequence(schema=row["schema"], name=row["name"], type=row["type"], start=row["start"],
                    increment=row["increment"], min=row["min"], max=row["max"], cache=row["cache"],
                    cycle=row["cycle"], owned_by=tuple(owned) if owned else None)
