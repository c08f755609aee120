"""A subset mirror's pure parts (issue 15): the walk's two halves kept apart (the target walk is
seeded with the source's *down* rows), and the order of the deletes: children first along every
edge the walk follows, a cycle (through a virtual FK, or a self-reference) in one transaction."""

from __future__ import annotations

from dbconsole.names import TableName
from dbconsole.sync.subset import close_subset_parts
from dbconsole.sync.subset_deletes import DeleteGroup, delete_groups
from tests.test_subset_units import Rows, edge, t


def test_the_walk_keeps_rows_reached_going_down_apart_from_parents_reached_only_going_up() -> None:
    db = Rows({
        "country": {"kr": {"id": "kr"}, "jp": {"id": "jp"}},
        "users": {"1": {"id": "1", "country": "kr", "referred_by": None},
                  "2": {"id": "2", "country": "jp", "referred_by": "1"}},
        "orders": {"10": {"id": "10", "user_id": "2", "country": "kr"}},
    })
    edges = [edge("users", "country", "country"), edge("users", "referred_by", "users"),
             edge("orders", "user_id", "users"), edge("orders", "country", "country")]
    down, up = close_subset_parts({t("users"): [("1",)]}, edges, {t("users"), t("orders"), t("country")}, db.expand)
    assert {n.name: {k[0] for k in ks} for n, ks in down.items() if ks} == {"users": {"1", "2"}, "orders": {"10"}}
    assert {n.name: {k[0] for k in ks} for n, ks in up.items() if ks} == {"country": {"kr", "jp"}}


def names(groups: list[DeleteGroup]) -> list[tuple[tuple[str, ...], bool]]:
    return [(tuple(n.name for n in g.tables), g.atomic) for g in groups]


def test_deletes_go_children_first_and_leave_out_tables_not_mirrored() -> None:
    order = [t("country"), t("org"), t("team"), t("member"), t("project")]
    edges = [(t("org"), t("country")), (t("team"), t("org")), (t("member"), t("team")), (t("project"), t("member"))]
    groups = delete_groups(order, {t("org"), t("team"), t("member"), t("project")}, edges)
    assert names(groups) == [(("project",), False), (("member",), False), (("team",), False), (("org",), False)]


def test_a_virtual_edge_against_the_declared_order_still_deletes_its_child_first() -> None:
    """audit.member_ref -> member is virtual: audit may come before member in FK order, yet its
    rows are found through member, so they must go first (a kill in between would orphan them)."""
    order = [t("audit"), t("team"), t("member")]
    edges = [(t("member"), t("team")), (t("audit"), t("member"))]
    assert names(delete_groups(order, {t("audit"), t("team"), t("member")}, edges)) == [
        (("audit",), False), (("member",), False), (("team",), False)]


def test_a_cycle_through_a_virtual_fk_and_a_self_reference_are_each_one_transaction() -> None:
    order = [t("org"), t("team"), t("member"), t("project")]
    edges = [(t("team"), t("org")), (t("member"), t("team")), (t("team"), t("member")),  # team.lead_ref: virtual
             (t("member"), t("member")), (t("project"), t("member")), (t("project"), t("project"))]
    groups = names(delete_groups(order, {t("org"), t("team"), t("member"), t("project")}, edges))
    assert groups == [(("project",), True), (("member", "team"), True), (("org",), False)]


def test_a_path_through_a_table_not_mirrored_still_orders_the_deletes() -> None:
    """member (mirror) -> link (upsert, never deleted) -> task (mirror): member's rows are found
    through link's, which are found through task's, so member is deleted before task."""
    order = [t("task"), t("link"), t("member")]
    edges = [(t("link"), t("task")), (t("member"), t("link"))]
    assert names(delete_groups(order, {t("task"), t("member")}, edges)) == [(("member",), False), (("task",), False)]


def test_edges_of_tables_outside_the_order_are_ignored() -> None:
    outside = TableName("other", "x")
    assert names(delete_groups([t("a")], {t("a")}, [(outside, t("a")), (t("a"), outside)])) == [(("a",), False)]
