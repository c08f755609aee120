"""Table selections as typed: globs, --exclude, suggestions that make sense, --where TABLE:EXPR (pure logic)."""

from __future__ import annotations

import pytest

from dbconsole.errors import UsageError
from dbconsole.names import (
    TableName, is_pattern, match_pattern, select_tables, split_where, suggest_table)

DEMO = [TableName("public", n) for n in ("users", "stocks", "scanner_settings", "scan_rank", "price_history",
                                          "WatchList", "audit_log", "local_notes")] + [
    TableName("analytics", "daily_summary")]


def names(tables: list[TableName]) -> list[str]:
    return [str(t) for t in tables]


@pytest.mark.parametrize("typed, meant", [
    ("stock", "public.stocks"),
    ("public.stock", "public.stocks"),
    ("scaner_settings", "public.scanner_settings"),
    ("scan_rnk", "public.scan_rank"),
    ("watchlist", 'public."WatchList"'),
    ("daily_summary", "analytics.daily_summary"),  # the same name in another schema first
])
def test_suggestions_compare_names_with_names(typed: str, meant: str) -> None:
    assert str(suggest_table(typed, DEMO)) == meant


def test_a_far_off_name_gets_no_suggestion() -> None:
    assert suggest_table("zzzz", DEMO) is None


def test_unknown_name_says_did_you_mean_stocks() -> None:
    with pytest.raises(UsageError, match=r"^no table 'stock' on server \(did you mean public.stocks\?\)$"):
        select_tables(["stock"], DEMO, where="server")


@pytest.mark.parametrize("text, expected", [
    ("public.*", True), ("scan_*", True), ("scan_?ank", True), ("s[ct]*", True),
    ("users", False), ('"odd*name"', False), ('public."odd*name"', False), ('"odd*"_x*', True),
])
def test_what_counts_as_a_glob(text: str, expected: bool) -> None:
    assert is_pattern(text) is expected


def test_globs_select_in_catalog_order_and_bare_globs_mean_public() -> None:
    assert names(match_pattern("scan_*", DEMO)) == ["public.scan_rank"]
    assert names(match_pattern("public.*", DEMO)) == names(DEMO[:-1])
    assert names(match_pattern("*.daily_*", DEMO)) == ["analytics.daily_summary"]
    assert names(match_pattern("watch*", DEMO)) == ['public."WatchList"']  # unquoted: case folded
    assert match_pattern('"watch*"', DEMO) == []                            # quoted: exact case


def test_a_glob_matching_nothing_is_its_own_error_not_a_did_you_mean() -> None:
    with pytest.raises(UsageError) as info:
        select_tables(["stock*x"], DEMO, where="server")
    assert str(info.value) == "no table matches 'stock*x' on server"


def test_exclude_takes_names_and_globs_and_keeps_the_order_named() -> None:
    chosen = select_tables(["scan_rank", "public.*"], DEMO, exclude=["audit_log", "s*"])
    assert names(chosen) == ["public.users", "public.price_history", 'public."WatchList"', "public.local_notes"]
    assert names(select_tables([], DEMO, exclude=["public.*"])) == ["analytics.daily_summary"]


def test_an_exclude_that_matches_nothing_is_refused() -> None:
    with pytest.raises(UsageError, match=r"^--exclude: no table 'audit_logs' \(did you mean public.audit_log\?\)$"):
        select_tables([], DEMO, exclude=["audit_logs"])
    with pytest.raises(UsageError, match=r"^--exclude: no table matches 'nope_\*'$"):
        select_tables([], DEMO, exclude=["nope_*"])


@pytest.mark.parametrize("text, expected", [
    ("users:id < 5", ("users", "id < 5")),
    ("public.users: id < 5", ("public.users", "id < 5")),
    ('"WatchList":symbol = \'A\'', ('"WatchList"', "symbol = 'A'")),
    ('"my schema"."odd:name":x = 1', ('"my schema"."odd:name"', "x = 1")),
    ("id < 5", (None, "id < 5")),
    ("id::text = '5'", (None, "id::text = '5'")),
    ("created_at > '2026-01-01 10:00'", (None, "created_at > '2026-01-01 10:00'")),
    ("tags[1:2] = '{a}'", (None, "tags[1:2] = '{a}'")),
    ('"a""b,c" % 2 = 0', (None, '"a""b,c" % 2 = 0')),
])
def test_where_table_prefix_only_when_it_is_a_table_name(text: str, expected: tuple[str | None, str]) -> None:
    assert split_where(text) == expected


def test_where_with_a_table_and_no_expression_is_refused() -> None:
    with pytest.raises(UsageError, match="nothing after 'users:'"):
        split_where("users:  ")
