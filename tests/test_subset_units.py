"""The subset walk as pure logic (issue 15, item 1): down into selected tables, up across all,
to a fixed point through cycles and self-references; ``--subset`` text and ``{1}`` arguments."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dbconsole.config import SubsetRules
from dbconsole.errors import UsageError
from dbconsole.names import TableName
from dbconsole.sync.subset import Edge, Key, close_subset, fill_arguments, parse_subset


def t(name: str) -> TableName:
    return TableName("public", name)


class Rows:
    """A tiny in-memory database: table -> {key: {column: value}}, answering the walk's steps."""

    def __init__(self, tables: dict[str, dict[str, dict[str, object]]]) -> None:
        self.tables = {t(n): rows for n, rows in tables.items()}
        self.calls: list[tuple[str, str, int]] = []

    def expand(self, edge: Edge, direction: str, keys: Sequence[Key]) -> list[Key]:
        self.calls.append((edge.name, direction, len(keys)))
        wanted = {k[0] for k in keys}
        if direction == "down":
            values = {self.tables[edge.parent][k][edge.parent_columns[0]] for k in wanted}
            return [(k,) for k, row in self.tables[edge.child].items() if row[edge.columns[0]] in values]
        values = {self.tables[edge.child][k][edge.columns[0]] for k in wanted}
        return [(k,) for k, row in self.tables[edge.parent].items() if row[edge.parent_columns[0]] in values]


def edge(child: str, column: str, parent: str, parent_column: str = "id") -> Edge:
    return Edge(f"{child}.{column}", t(child), (column,), t(parent), (parent_column,))


def keys(result: dict[TableName, set[Key]], name: str) -> set[str]:
    return {k[0] for k in result.get(t(name), set())}


def test_down_then_up_but_a_parent_reached_going_up_is_not_followed_down() -> None:
    db = Rows({
        "country": {"kr": {"id": "kr"}, "jp": {"id": "jp"}, "us": {"id": "us"}},
        "users": {"1": {"id": "1", "country": "kr"}, "2": {"id": "2", "country": "kr"}, "3": {"id": "3", "country": "jp"}},
        "orders": {"10": {"id": "10", "user_id": "1", "country": "us"}, "11": {"id": "11", "user_id": "3", "country": "jp"}},
    })
    edges = [edge("users", "country", "country"), edge("orders", "user_id", "users"),
             edge("orders", "country", "country")]
    result = close_subset({t("users"): [("1",)]}, edges, {t("users"), t("orders"), t("country")}, db.expand)
    assert keys(result, "users") == {"1"}  # user 2 shares kr, but kr was reached going up
    assert keys(result, "orders") == {"10"}
    assert keys(result, "country") == {"kr", "us"}


def test_a_self_reference_goes_down_to_referred_users_and_up_to_the_referrer_chain() -> None:
    db = Rows({"users": {
        "1": {"id": "1", "referred_by": None}, "2": {"id": "2", "referred_by": "1"},
        "3": {"id": "3", "referred_by": "2"}, "4": {"id": "4", "referred_by": "3"},
        "5": {"id": "5", "referred_by": "4"}, "6": {"id": "6", "referred_by": "1"},
    }})
    result = close_subset({t("users"): [("3",)]}, [edge("users", "referred_by", "users")], {t("users")}, db.expand)
    # down: 4 (refers to 3), 5 (refers to 4); up: 2 and 1; 6 is only a sibling reached through 1 going up
    assert keys(result, "users") == {"1", "2", "3", "4", "5"}


def test_a_cycle_of_two_tables_reaches_its_fixed_point_and_stops() -> None:
    db = Rows({
        "team": {"t1": {"id": "t1", "lead": "m1"}, "t2": {"id": "t2", "lead": "m3"}, "t3": {"id": "t3", "lead": "m4"}},
        "member": {"m1": {"id": "m1", "team": "t1"}, "m2": {"id": "m2", "team": "t1"},
                   "m3": {"id": "m3", "team": "t2"}, "m4": {"id": "m4", "team": "t3"}},
    })
    # t2 is led by m3, a member of t2: the cycle member.team -> team.lead -> member closes on itself.
    edges = [edge("member", "team", "team"), edge("team", "lead", "member")]
    result = close_subset({t("team"): [("t1",)]}, edges, {t("team"), t("member")}, db.expand)
    assert keys(result, "team") == {"t1"}
    assert keys(result, "member") == {"m1", "m2"}
    assert len(db.calls) < 20


def test_down_stays_within_the_scope_while_up_crosses_every_table() -> None:
    db = Rows({
        "users": {"1": {"id": "1", "org": "o1"}},
        "org": {"o1": {"id": "o1"}},
        "notes": {"n1": {"id": "n1", "user_id": "1"}},
    })
    edges = [edge("users", "org", "org"), edge("notes", "user_id", "users")]
    result = close_subset({t("users"): [("1",)]}, edges, {t("users")}, db.expand)
    assert keys(result, "org") == {"o1"}
    assert keys(result, "notes") == set()


def test_keys_are_sent_in_pages() -> None:
    db = Rows({"users": {str(i): {"id": str(i), "referred_by": None} for i in range(25)},
               "orders": {f"o{i}": {"id": f"o{i}", "user_id": str(i)} for i in range(25)}})
    result = close_subset({t("users"): [(str(i),) for i in range(25)]}, [edge("orders", "user_id", "users")],
                          {t("users"), t("orders")}, db.expand, page=10)
    assert len(keys(result, "orders")) == 25
    assert max(n for _, _, n in db.calls) == 10


def test_subset_text_a_named_subset_wins_over_a_table_of_that_name() -> None:
    named = {"users": SubsetRules(root="public.users", where="email = {1}")}
    spec = parse_subset("users:a@b.c", named)
    assert (spec.root, spec.where) == ("public.users", "email = 'a@b.c'")
    plain = parse_subset("users: id = 42", {})
    assert (plain.root, plain.where) == ("users", "id = 42")


def test_arguments_become_string_literals_never_sql() -> None:
    assert fill_arguments("id = {1} AND name = {2}", ["42", "O'Brien"], "s") == "id = '42' AND name = 'O''Brien'"
    with pytest.raises(UsageError, match=r"uses \{2\}"):
        fill_arguments("a = {1} AND b = {2}", ["1"], "s")
    with pytest.raises(UsageError, match="2 argument"):
        fill_arguments("a = {1}", ["1", "2"], "s")
    with pytest.raises(UsageError, match="TABLE: FILTER"):
        parse_subset("id = 42", {})


def test_named_subsets_are_read_from_the_config_and_typos_are_named() -> None:
    from pathlib import Path

    from dbconsole.config import VirtualRelation
    from dbconsole.config.validation import parse_config
    from dbconsole.errors import ConfigError

    base = {"profiles": {"local": {"url": "postgresql://localhost/x"}}}
    subset = {"root": "public.users", "where": "id = {1}", "exclude": ["public.audit_log"],
              "relations": [{"from": "public.audit_log.user_ref", "to": "public.users.id"}],
              "limits": {"public.scan_rank": "scan_date > now() - interval '30 days'"}}
    config = parse_config({**base, "sync": {"subsets": {"customer": subset}}}, path=Path("c.toml"), environ={})
    rules = config.sync.subsets["customer"]
    assert rules.relations == (VirtualRelation("public.audit_log.user_ref", "public.users.id"),)
    assert rules.exclude == ("public.audit_log",) and "public.scan_rank" in rules.limits
    for broken, words in [({**subset, "wher": "x"}, "wher"), ({"where": "id = 1"}, "root"),
                          ({**subset, "relations": [{"from": "nodot"}]}, "relations[0]"),
                          ({**subset, "exclude": "public.audit_log"}, "exclude")]:
        with pytest.raises(ConfigError, match=r"c\.toml") as raised:
            parse_config({**base, "sync": {"subsets": {"customer": broken}}}, path=Path("c.toml"), environ={})
        assert words in str(raised.value)
