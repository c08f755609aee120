"""Compare two schemas by name; every difference is a value ``{"kind", "name", "left", "right"}``.

Per table: columns missing or extra and their type / nullability / default / identity /
generated / collation, keys, foreign keys, checks, indexes, partitions (a partition only on one
side is listed under its parent). Beside the tables: enums (labels in order), domains,
sequences (their definition, never their current value) and views (listed, not compared).
``None`` on a side means "not there".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from dbconsole.names import TableName
from dbconsole.schema.model import KIND_WORDS, Relation, Schema, UserType

DiffKind = Literal[
    "table", "kind", "partition", "partition_key", "bound", "column", "type", "nullable", "default",
    "identity", "generated", "collation", "primary_key", "unique", "foreign_key", "check", "exclusion",
    "index", "enum", "domain", "sequence", "view",
]
_CONSTRAINT_KINDS: dict[str, DiffKind] = {"p": "primary_key", "u": "unique", "f": "foreign_key", "c": "check",
                                          "x": "exclusion"}
_IDENTITY_WORDS = {"": None, "a": "always", "d": "by default"}


@dataclass(frozen=True)
class Difference:
    kind: DiffKind
    name: str
    left: Any
    right: Any

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "left": self.left, "right": self.right}


@dataclass
class SchemaDiff:
    """Differences grouped as people read them: per table, then the database-wide objects."""

    tables: dict[TableName, list[Difference]] = field(default_factory=dict)
    types: list[Difference] = field(default_factory=list)
    sequences: list[Difference] = field(default_factory=list)
    views: list[Difference] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.tables or self.types or self.sequences or self.views)

    def to_json(self) -> dict[str, Any]:
        return {"tables": {str(name): [d.to_json() for d in diffs] for name, diffs in self.tables.items()},
                "types": [d.to_json() for d in self.types],
                "sequences": [d.to_json() for d in self.sequences],
                "views": [d.to_json() for d in self.views]}


def compare_schemas(left: Schema, right: Schema, *, tables: Collection[TableName] | None = None) -> SchemaDiff:
    """What differs between ``left`` and ``right``; ``tables`` limits the table part (roots, whose
    partitions come along) and then the types and sequences to the ones those tables use."""
    diff = SchemaDiff()
    roots = sorted({r.qualified for s in (left, right) for r in s.root_tables()})
    chosen = [name for name in roots if tables is None or name in tables]
    for name in chosen:
        found = _compare_unit(left, right, name)
        diff.tables.update(found)
    used_types = _used(left, right, chosen, "types") if tables is not None else None
    used_sequences = _used(left, right, chosen, "sequences") if tables is not None else None
    diff.types = _compare_types(left, right, used_types)
    diff.sequences = _compare_objects(
        "sequence", left.sequences, right.sequences, lambda s: s.definition(), used_sequences)
    if tables is None:
        diff.views = _compare_objects("view", _views(left), _views(right), lambda word: word, None)
    return diff


def _views(schema: Schema) -> dict[TableName, str]:
    return {r.qualified: KIND_WORDS[r.kind] for r in schema.relations.values() if not r.is_table}


def _compare_unit(left: Schema, right: Schema, name: TableName) -> dict[TableName, list[Difference]]:
    """A root table and, when it is on both sides, its partitions (each under its own name)."""
    l_rel, r_rel = left.relations.get(name), right.relations.get(name)
    out: dict[TableName, list[Difference]] = {}
    if l_rel is None or r_rel is None or not (l_rel.is_table and r_rel.is_table):
        out[name] = [Difference("table", str(name), _word(l_rel), _word(r_rel))]
        return out
    pending = [(l_rel, r_rel)]
    while pending:
        a, b = pending.pop(0)
        found = _compare_relation(a, b)
        l_parts = {p.qualified: p for p in left.partitions_of(a.qualified)}
        r_parts = {p.qualified: p for p in right.partitions_of(b.qualified)}
        for part in sorted(l_parts.keys() | r_parts.keys()):
            lp, rp = l_parts.get(part), r_parts.get(part)
            if lp is None or rp is None:
                found.append(Difference("partition", str(part), lp and lp.bound, rp and rp.bound))
            else:
                pending.append((lp, rp))
        if found:
            out[a.qualified] = found
    return out


def _word(relation: Relation | None) -> str | None:
    return KIND_WORDS[relation.kind] if relation else None


def _compare_relation(a: Relation, b: Relation) -> list[Difference]:
    found: list[Difference] = []
    if a.kind != b.kind:
        found.append(Difference("kind", str(a.qualified), KIND_WORDS[a.kind], KIND_WORDS[b.kind]))
    if a.partition_key != b.partition_key:
        found.append(Difference("partition_key", str(a.qualified), a.partition_key, b.partition_key))
    if a.bound != b.bound:
        found.append(Difference("bound", str(a.qualified), a.bound, b.bound))
    found += _compare_columns(a, b)
    for kind in _CONSTRAINT_KINDS:
        found += _compare_named(_CONSTRAINT_KINDS[kind],
                                {c.name: c.definition for c in a.constraints if c.kind == kind},
                                {c.name: c.definition for c in b.constraints if c.kind == kind})
    found += _compare_named("index", {i.name: i.definition for i in a.indexes},
                            {i.name: i.definition for i in b.indexes})
    return found


def _compare_columns(a: Relation, b: Relation) -> list[Difference]:
    """Columns by name. A partition's inherited columns are its parent's business."""
    left = {c.name: c for c in a.columns if c.local or a.parent is None}
    right = {c.name: c for c in b.columns if c.local or b.parent is None}
    found: list[Difference] = []
    for name in list(left) + [n for n in right if n not in left]:
        lc, rc = left.get(name), right.get(name)
        if lc is None or rc is None:
            found.append(Difference("column", name, lc and lc.type, rc and rc.type))
            continue
        for kind, value in (("type", lambda c: c.type), ("nullable", lambda c: not c.not_null),
                            ("default", lambda c: c.default), ("identity", lambda c: _IDENTITY_WORDS[c.identity]),
                            ("generated", lambda c: c.generated), ("collation", lambda c: c.collation)):
            if value(lc) != value(rc):
                found.append(Difference(kind, name, value(lc), value(rc)))  # type: ignore[arg-type]
    return found


def _compare_named(kind: DiffKind, left: dict[str, str], right: dict[str, str]) -> list[Difference]:
    return [Difference(kind, name, left.get(name), right.get(name))
            for name in sorted(left.keys() | right.keys()) if left.get(name) != right.get(name)]


def _type_shape(t: UserType) -> Any:
    """What two types of one name must share: an enum's labels in order, a domain's definition."""
    if t.kind == "e":
        return list(t.labels)
    return {"base": t.base, "not_null": t.not_null, "default": t.default, "checks": list(t.checks)}


def _compare_types(left: Schema, right: Schema, used: set[TableName] | None) -> list[Difference]:
    """Enums and domains. An extension's types are the extension's business; composite, range and
    base types are not compared."""
    found = []
    for name in sorted(left.types.keys() | right.types.keys()):
        sides = [t for t in (left.types.get(name), right.types.get(name)) if t is not None]
        if (used is not None and name not in used) or any(t.extension or t.kind not in ("e", "d") for t in sides):
            continue
        kind: DiffKind = "enum" if sides[0].kind == "e" else "domain"
        l_shape, r_shape = (_type_shape(t) if t else None for t in (left.types.get(name), right.types.get(name)))
        if l_shape != r_shape:
            found.append(Difference(kind, str(name), l_shape, r_shape))
    return found


def _compare_objects(kind: DiffKind, left: dict[TableName, Any], right: dict[TableName, Any],
                     shape: Callable[[Any], Any], used: set[TableName] | None) -> list[Difference]:
    found = []
    for name in sorted(left.keys() | right.keys()):
        if used is not None and name not in used:
            continue
        l_shape = shape(left[name]) if name in left else None
        r_shape = shape(right[name]) if name in right else None
        if l_shape != r_shape:
            found.append(Difference(kind, str(name), l_shape, r_shape))
    return found


def _used(left: Schema, right: Schema, roots: Iterable[TableName], what: str) -> set[TableName]:
    """Types (with domains' base types) or sequences the chosen tables' columns use, on either side."""
    used: set[TableName] = set()
    for schema in (left, right):
        for root in roots:
            relations = [schema.relations[root]] if root in schema.relations else []
            for relation in relations:
                for column in relation.columns:
                    if what == "sequences":
                        used.update(column.sequences)
                    else:
                        used.add(column.type_ref)
        if what == "types":
            pending = list(used)
            while pending:
                t = schema.types.get(pending.pop())
                if t and t.base_ref and t.base_ref not in used:
                    used.add(t.base_ref)
                    pending.append(t.base_ref)
    return used


def differing_tables(left: Schema, right: Schema, diff: SchemaDiff) -> dict[TableName, list[Difference]]:
    """The tables on both sides whose schema differs, keyed by sync unit (a partition's
    differences count as its root's): what the console marks. Tables on one side only are
    left out (the browser already says "only left/right")."""
    found: dict[TableName, list[Difference]] = {}
    for name, diffs in diff.tables.items():
        if any(d.kind == "table" for d in diffs):
            continue
        found.setdefault(_root_of(left, right, name), []).extend(diffs)
    return found


def _root_of(left: Schema, right: Schema, name: TableName) -> TableName:
    for schema in (left, right):
        while name in schema.relations and schema.relations[name].parent is not None:
            name = schema.relations[name].parent  # type: ignore[assignment]
    return name
