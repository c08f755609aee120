"""What a database declares, as plain values: the input of the comparison and of the DDL builder.

Every expression is kept as the server rendered it with ``search_path = ''`` (schema-qualified),
so equal text on two servers means the same object, and the text replays as DDL on the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dbconsole.names import TableName

RelationKind = Literal["r", "p", "v", "m"]  # table, partitioned table, view, materialized view
ConstraintKind = Literal["p", "u", "f", "c", "x"]  # primary, unique, foreign, check, exclusion
TypeKind = Literal["e", "d", "b", "c", "r", "m"]  # enum, domain, base, composite, range, multirange
IdentityKind = Literal["", "a", "d"]  # none, ALWAYS, BY DEFAULT

KIND_WORDS = {"r": "table", "p": "partitioned table", "v": "view", "m": "materialized view"}
TYPE_WORDS = {"e": "enum", "d": "domain", "b": "base type", "c": "composite type", "r": "range type",
              "m": "multirange type"}


@dataclass(frozen=True)
class SchemaColumn:
    name: str
    type: str  # format_type(), qualified for user types: "public.mpaa_rating[]", "numeric(5,2)"
    type_ref: TableName  # the element type's (schema, name): what must exist for ``type`` to exist
    type_kind: TypeKind
    builtin: bool
    not_null: bool
    default: str | None
    generated: str | None  # the expression of GENERATED ALWAYS AS (...) STORED
    identity: IdentityKind
    collation: str | None  # only when not the type's own collation
    sequences: tuple[TableName, ...] = ()  # sequences its default calls
    local: bool = True  # False: inherited from a partitioned parent


@dataclass(frozen=True)
class Constraint:
    name: str
    kind: ConstraintKind
    definition: str  # pg_get_constraintdef(): "FOREIGN KEY (a) REFERENCES public.t(id) DEFERRABLE"
    references: TableName | None = None


@dataclass(frozen=True)
class Index:
    name: str
    definition: str  # pg_get_indexdef()


@dataclass(frozen=True)
class Relation:
    """A table, partitioned table, partition, view or materialized view."""

    schema: str
    name: str
    kind: RelationKind
    columns: tuple[SchemaColumn, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    indexes: tuple[Index, ...] = ()
    triggers: tuple[str, ...] = ()
    parent: TableName | None = None  # set on a partition
    bound: str | None = None  # "FOR VALUES FROM (...) TO (...)", on a partition
    partition_key: str | None = None  # "RANGE (payment_date)", on a partitioned table

    @property
    def qualified(self) -> TableName:
        return TableName(self.schema, self.name)

    @property
    def is_table(self) -> bool:
        return self.kind in ("r", "p")

    def column(self, name: str) -> SchemaColumn | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class UserType:
    schema: str
    name: str
    kind: TypeKind
    extension: str | None = None
    labels: tuple[str, ...] = ()  # an enum's labels in sort order
    base: str | None = None  # a domain's base type, rendered
    base_ref: TableName | None = None
    not_null: bool = False
    default: str | None = None
    checks: tuple[str, ...] = ()

    @property
    def qualified(self) -> TableName:
        return TableName(self.schema, self.name)


@dataclass(frozen=True)
class Sequence:
    schema: str
    name: str
    type: str
    start: int
    increment: int
    min: int
    max: int
    cache: int
    cycle: bool
    owned_by: tuple[str, str, str] | None = None  # (schema, table, column)

    @property
    def qualified(self) -> TableName:
        return TableName(self.schema, self.name)

    def definition(self) -> dict[str, object]:
        """What two sequences must share to count as the same (never their current value)."""
        return {"type": self.type, "start": self.start, "increment": self.increment, "min": self.min,
                "max": self.max, "cache": self.cache, "cycle": self.cycle}


@dataclass(frozen=True)
class Schema:
    """One database's declared schema."""

    version_num: int
    schemas: tuple[str, ...]
    relations: dict[TableName, Relation] = field(default_factory=dict)
    types: dict[TableName, UserType] = field(default_factory=dict)
    sequences: dict[TableName, Sequence] = field(default_factory=dict)
    migration_tables: tuple[TableName, ...] = ()  # known migration tables on the search path

    def partitions_of(self, parent: TableName) -> list[Relation]:
        return [r for r in self.relations.values() if r.parent == parent]

    def root_tables(self) -> list[Relation]:
        """Tables and partitioned tables that are not partitions: the sync units."""
        return [r for r in self.relations.values() if r.is_table and r.parent is None]
