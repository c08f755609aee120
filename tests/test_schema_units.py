"""Pure logic of the schema package: migration comparison and DDL ordering, no server needed."""

from __future__ import annotations

from dbconsole.names import TableName
from dbconsole.schema.create import plan_create_missing
from dbconsole.schema.migrations import MigrationHistory, compare_migrations
from dbconsole.schema.model import Constraint, Relation, Schema, SchemaColumn, Sequence

T = TableName("public", "schema_migrations")


def history(tool, applied, current=None):
    return MigrationHistory(tool, T, current or (applied[-1] if applied else None), tuple(applied) if applied is not None else None)


def test_diverged_histories_say_both_sides_lack_something() -> None:
    result = compare_migrations(history("rails", ["1", "2", "4"]), history("rails", ["1", "2", "3"]), "local", "server")
    assert (result.behind, result.missing_left, result.missing_right) == ("both", ("3",), ("4",))
    assert result.summary == "diverged: local lacks 1, server lacks 1"


def test_the_right_side_behind_and_in_step() -> None:
    ahead, behind = history("knex", ["a.js", "b.js"]), history("knex", ["a.js"])
    assert compare_migrations(ahead, behind, "local", "server").summary == "server is 1 migration behind: b.js"
    assert compare_migrations(ahead, ahead).summary == "in step at b.js"


def test_missing_table_or_other_tool_is_said_not_guessed() -> None:
    assert compare_migrations(None, None) is None
    assert compare_migrations(None, history("django", ["x.1"]), "local", "server").summary == \
        "server has django migrations, local has no migration table"
    assert compare_migrations(history("knex", ["a"]), history("django", ["a"]), "l", "r").summary == "l uses knex, r uses django"


def _column(name, type_="integer", **kw):
    return SchemaColumn(name=name, type=type_, type_ref=TableName("pg_catalog", "int4"), type_kind="b", builtin=True,
                        not_null=kw.get("not_null", False), default=kw.get("default"), generated=None, identity="",
                        collation=None, sequences=kw.get("sequences", ()))


def test_ddl_order_types_sequences_tables_keys_then_foreign_keys_and_ownership() -> None:
    seq = Sequence("public", "child_id_seq", "integer", 1, 1, 1, 2**31 - 1, 1, False, ("public", "child", "id"))
    parent = Relation("public", "parent", "r", (_column("id", not_null=True),),
                      (Constraint("parent_pkey", "p", "PRIMARY KEY (id)"),))
    child = Relation("public", "child", "r",
                     (_column("id", not_null=True, default="nextval('public.child_id_seq'::regclass)",
                              sequences=(seq.qualified,)), _column("parent_id")),
                     (Constraint("child_parent_fkey", "f", "FOREIGN KEY (parent_id) REFERENCES public.parent(id)",
                                 TableName("public", "parent")), Constraint("child_pkey", "p", "PRIMARY KEY (id)")))
    source = Schema(160000, ("public",), {r.qualified: r for r in (parent, child)}, {}, {seq.qualified: seq})
    target = Schema(150000, ("public",))
    plan = plan_create_missing(source, target, [child.qualified, parent.qualified])
    assert [s.what for s in plan.steps] == [
        "sequence public.child_id_seq", "table public.child", "table public.parent",
        "constraint child_pkey on public.child", "constraint parent_pkey on public.parent",
        "foreign key child_parent_fkey on public.child", "sequence public.child_id_seq owner"]
    # The child alone: its FK's parent is neither on the target nor created, so a note says so.
    alone = plan_create_missing(source, target, [child.qualified])
    assert not any(s.what.startswith("foreign key") for s in alone.steps)
    assert alone.notes == ["public.child: foreign key child_parent_fkey not created: its parent public.parent "
                           "is not on target (select it too)"]
