"""Sync planning as pure logic: names, FK order, cycles, parents, columns, keys (no server)."""

from __future__ import annotations

import pytest

from dbconsole.catalog import Column, ForeignKey, Table
from dbconsole.config import Profile, SyncSettings, TableRules
from dbconsole.errors import SyncError, UsageError
from dbconsole.names import TableName, parse_name, resolve_name, split_list
from dbconsole.sync.plan import SyncRequest, build_plan, fk_order

SERVER = Profile(name="server", url="postgresql://db.example.com/app", read_only=True)
LOCAL = Profile(name="local", url="postgresql://localhost/app", read_only=False)


def col(name: str, type_: str = "bigint", *, not_null: bool = False, generated: bool = False,
        identity: str = "", builtin: bool = True) -> Column:
    return Column(name=name, type=type_, type_oid=20, not_null=not_null, has_default=False, generated=generated,
                  identity=identity, builtin_type=builtin)


def table(name: str, *cols: Column, pk: tuple[str, ...] | None = ("id",), fks: tuple[tuple[str, str, str], ...] = (),
          schema: str = "public", uniques: tuple[tuple[str, ...], ...] = (), deferrable: bool = False) -> Table:
    columns = cols or (col("id", not_null=True),)
    return Table(schema=schema, name=name, kind="r", estimated_rows=10, size_bytes=8192, columns=columns,
                 primary_key=pk, unique_keys=uniques,
                 foreign_keys=tuple(ForeignKey(fk_name, (column,), TableName("public", parent), ("id",), deferrable)
                                    for fk_name, column, parent in fks))


def request(**kwargs) -> SyncRequest:
    return SyncRequest(source=SERVER, target=LOCAL, **kwargs)


USERS = table("users", col("id", not_null=True), col("referred_by"), col("email", "text"),
              fks=(("users_referred_by_fkey", "referred_by", "users"),))
SETTINGS = table("scanner_settings", col("id", not_null=True), col("user_id"),
                 fks=(("scanner_settings_user_id_fkey", "user_id", "users"),))
STOCKS = table("stocks", col("symbol", "text", not_null=True), pk=("symbol",))
RANK = table("scan_rank", col("scan_date", "date", not_null=True), col("symbol", "text", not_null=True),
             col("setting_id"), pk=("scan_date", "symbol"),
             fks=(("scan_rank_symbol_fkey", "symbol", "stocks"), ("scan_rank_setting_id_fkey", "setting_id", "scanner_settings")))
WATCH = table("WatchList", col("id", not_null=True, identity="a"), col("user_id"),
              fks=(("watchlist_user_fkey", "user_id", "users"),))
AUDIT = table("audit_log", col("id"), col("message", "text"), pk=None)
ALL = [USERS, SETTINGS, STOCKS, RANK, WATCH, AUDIT]


def names(plan) -> list[str]:
    return [str(t.name) for t in plan.tables]


def test_parents_come_before_children_and_keyless_tables_are_skipped_when_not_named() -> None:
    plan = build_plan(request(), ALL, ALL)
    order = names(plan)
    assert order.index("public.users") < order.index("public.scanner_settings") < order.index("public.scan_rank")
    assert order.index("public.stocks") < order.index("public.scan_rank")
    assert order.index("public.users") < order.index('public."WatchList"')
    assert (TableName("public", "audit_log"), "no key (use --mode replace)") in plan.skipped
    assert plan.table(TableName("public", "users")).self_referencing


def test_named_keyless_table_in_upsert_is_an_error_but_replace_works() -> None:
    with pytest.raises(SyncError, match="public.audit_log has no primary key"):
        build_plan(request(tables=("audit_log",)), ALL, ALL)
    plan = build_plan(request(tables=("audit_log",), mode="replace"), ALL, ALL)
    assert names(plan) == ["public.audit_log"]


def test_with_parents_pulls_the_whole_ancestry() -> None:
    plan = build_plan(request(tables=("scan_rank",)), ALL, ALL)
    assert names(plan) == ["public.scan_rank"]
    assert {(str(n.parent), n.constraint) for n in plan.missing_parents} == {
        ("public.stocks", "scan_rank_symbol_fkey"), ("public.scanner_settings", "scan_rank_setting_id_fkey")}
    plan = build_plan(request(tables=("scan_rank",), with_parents=True), ALL, ALL)
    assert names(plan) == ["public.stocks", "public.users", "public.scanner_settings", "public.scan_rank"]
    assert plan.missing_parents == []


def test_mixed_case_and_quoted_names_resolve() -> None:
    available = [t.qualified for t in ALL] + [TableName("analytics", "daily_summary"), TableName("public", "Odd.Name")]
    assert resolve_name("WatchList", available) == TableName("public", "WatchList")
    assert resolve_name("watchlist", available) == TableName("public", "WatchList")
    assert resolve_name('public."WatchList"', available) == TableName("public", "WatchList")
    assert resolve_name('"Odd.Name"', available) == TableName("public", "Odd.Name")
    assert resolve_name("analytics.daily_summary", available) == TableName("analytics", "daily_summary")
    with pytest.raises(UsageError, match="did you mean analytics.daily_summary"):
        resolve_name("daily_summary", available)
    with pytest.raises(UsageError, match='no table \'"watchlist"\''):
        resolve_name('"watchlist"', available)
    assert split_list('users,"a,b",  public.x') == ["users", '"a,b"', "public.x"]
    assert parse_name('"my schema"."t"') == (("my schema", True), ("t", True))
    assert str(TableName("public", "WatchList")) == 'public."WatchList"'


def test_cycle_is_refused_with_the_cycle_spelled_out() -> None:
    a = table("a", col("id", not_null=True), col("b_id"), fks=(("a_b_fkey", "b_id", "b"),))
    b = table("b", col("id", not_null=True), col("a_id"), fks=(("b_a_fkey", "a_id", "a"),))
    with pytest.raises(SyncError, match=r"cycle: public.a -> public.b -> public.a \(a_b_fkey, b_a_fkey\)"):
        build_plan(request(), [a, b], [a, b])


def test_cycle_of_deferrable_constraints_is_allowed_in_replace() -> None:
    a = table("a", col("id", not_null=True), col("b_id"), fks=(("a_b_fkey", "b_id", "b"),), deferrable=True)
    b = table("b", col("id", not_null=True), col("a_id"), fks=(("b_a_fkey", "a_id", "a"),), deferrable=True)
    plan = build_plan(request(mode="replace"), [a, b], [a, b])
    assert sorted(names(plan)) == ["public.a", "public.b"]


def test_fk_order_is_stable() -> None:
    tables = {t.qualified: t for t in ALL}
    assert fk_order(tables) == fk_order(dict(reversed(list(tables.items()))))


def test_columns_generated_only_and_type_differences() -> None:
    src = table("t", col("id", not_null=True), col("a", "integer"), col("only_src", "text"), col("g", "text"))
    tgt = table("t", col("id", not_null=True), col("a", "bigint"), col("only_tgt", "text"), col("g", "text", generated=True))
    plan = build_plan(request(tables=("t",)), [src], [tgt]).tables[0]
    assert plan.columns == ["id", "a"] and plan.copy_format == "text"
    assert any("only_src" in w for w in plan.warnings) and any("only_tgt" in w for w in plan.warnings)
    bad = table("t", col("id", not_null=True), col("a", "jsonb"))
    with pytest.raises(SyncError, match="column a is integer on server but jsonb on local"):
        build_plan(request(tables=("t",)), [src], [bad])
    strict = table("t", col("id", not_null=True), col("new", "text", not_null=True))
    with pytest.raises(SyncError, match="NOT NULL without a default"):
        build_plan(request(tables=("t",)), [src], [strict])


def test_same_types_use_binary_copy_and_user_types_use_text() -> None:
    same = table("t", col("id", not_null=True), col("v", "numeric(12,4)"))
    assert build_plan(request(tables=("t",)), [same], [same]).tables[0].copy_format == "binary"
    enum = table("t", col("id", not_null=True), col("mood", "mood", builtin=False))
    assert build_plan(request(tables=("t",)), [enum], [enum]).tables[0].copy_format == "text"


def test_table_rules_and_request_precedence() -> None:
    settings = SyncSettings(batch_size=500, mode="upsert", tables={
        "users": TableRules(mode="replace", preserve_columns=("email",), mask={"email": "mask_email"}, batch_size=7)})
    plan = build_plan(request(tables=("users",), settings=settings), ALL, ALL).tables[0]
    assert (plan.mode, plan.batch_size, plan.preserve, plan.masks) == ("replace", 7, ["email"], {"email": "mask_email"})
    plan = build_plan(request(tables=("users",), settings=settings, mode="upsert", batch_size=99), ALL, ALL).tables[0]
    assert (plan.mode, plan.batch_size) == ("upsert", 99)
    assert "email" not in plan.updatable and "id" not in plan.updatable


def test_masks_must_fit_their_column() -> None:
    settings = SyncSettings(tables={"users": TableRules(mask={"id": "mask_email"})})
    with pytest.raises(SyncError, match="mask mask_email needs a text column"):
        build_plan(request(tables=("users",), settings=settings), ALL, ALL)


def test_where_needs_named_tables_and_incremental_needs_a_cursor() -> None:
    with pytest.raises(UsageError, match="--where needs --tables"):
        build_plan(request(where="id > 5"), ALL, ALL)
    with pytest.raises(SyncError, match="incremental mode needs a cursor column"):
        build_plan(request(tables=("users",), mode="incremental"), ALL, ALL)


def test_table_missing_on_target_is_an_error_when_named() -> None:
    with pytest.raises(SyncError, match="public.stocks does not exist on local"):
        build_plan(request(tables=("stocks",)), ALL, [USERS])
    plan = build_plan(request(), [USERS, STOCKS], [USERS])
    assert (TableName("public", "stocks"), "only on server") in plan.skipped


def test_confirmation_needed_for_replace_or_remote_target() -> None:
    assert not request().needs_confirmation
    assert request(mode="replace").needs_confirmation
    assert not request(mode="replace", dry_run=True).needs_confirmation
    remote = Profile(name="staging", url="postgresql://staging.example.com/app", read_only=False)
    assert SyncRequest(source=SERVER, target=remote).needs_confirmation


def test_globs_and_exclude_select_and_tables_a_glob_picked_are_skipped_not_fatal() -> None:
    """A glob is a selection, not a promise: a table it matches that cannot be synced (no key,
    not on the target) is skipped with its reason; a table named one by one still must work."""
    source = ALL + [table("source_only")]
    plan = build_plan(request(tables=("public.*",), exclude=("users", "scan*")), source, ALL)
    assert set(names(plan)) == {'public."WatchList"', "public.stocks"}
    assert {str(n): why for n, why in plan.skipped} == {
        "public.audit_log": "no key (use --mode replace)", "public.source_only": "only on server"}
    with pytest.raises(SyncError, match="public.audit_log has no primary key"):
        build_plan(request(tables=("audit_log",)), source, ALL)
    with pytest.raises(SyncError, match="public.source_only does not exist on local"):
        build_plan(request(tables=("source_only", "public.*")), source, ALL)
    with pytest.raises(UsageError, match="no table matches 'nope_\\*' on server"):
        build_plan(request(tables=("nope_*",)), source, ALL)


def test_where_by_table_filters_only_its_table() -> None:
    plan = build_plan(request(tables=("users", "stocks"), where_by_table={"users": "id < 5"}), ALL, ALL)
    assert {str(t.name): t.where for t in plan.tables} == {"public.users": "id < 5", "public.stocks": None}
    with pytest.raises(UsageError, match="public.stocks is not among the tables being synced"):
        build_plan(request(tables=("users",), where_by_table={"stocks": "symbol < 'B'"}), ALL, ALL)
