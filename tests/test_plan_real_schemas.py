"""Planning real schemas as pure logic: partitions as units, pulled parents under replace, trigger
policy, enums, key collations (no server)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dbconsole.catalog import Partition, Table, Trigger
from dbconsole.config import ConfigError, SyncSettings
from dbconsole.errors import SyncError, UsageError
from dbconsole.names import TableName
from dbconsole.sync.checks import keys_collate_differently
from dbconsole.sync.plan import build_plan
from tests.test_plan import col, request, table

CUSTOMER = table("customer", col("id", not_null=True))
PAYMENT = replace(
    table("payment", col("id", not_null=True), col("customer_id"), fks=(("payment_p1_customer_fkey", "customer_id",
                                                                          "customer"),)),
    kind="p", partitions=(Partition("public", "payment_p1", True, "FOR VALUES IN (1)", 5, 8192),),
    triggers=(Trigger(TableName("public", "payment_p1"), "stamp", "O"),
              Trigger(TableName("public", "payment_p1"), "old", "D")))


def test_naming_a_partition_means_its_table_with_a_notice_but_not_under_replace() -> None:
    plan = build_plan(request(tables=("payment_p1",), with_parents=True), [CUSTOMER, PAYMENT], [CUSTOMER, PAYMENT])
    assert [str(t.name) for t in plan.tables] == ["public.customer", "public.payment"]
    assert plan.notices == [(PAYMENT.qualified, "public.payment_p1 is a partition of public.payment: "
                                                "public.payment is the sync unit, so all its partitions are synced")]
    with pytest.raises(UsageError, match="replace works on public.payment as a whole"):
        build_plan(request(tables=("payment_p1",), mode="replace"), [PAYMENT], [PAYMENT])
    with pytest.raises(UsageError, match="no table 'payment_p9'"):
        build_plan(request(tables=("payment_p9",)), [PAYMENT], [PAYMENT])


def test_parents_pulled_under_replace_are_upserted_unless_selected() -> None:
    plan = build_plan(request(tables=("payment",), with_parents=True, mode="replace"),
                      [CUSTOMER, PAYMENT], [CUSTOMER, PAYMENT])
    assert {str(t.name): t.mode for t in plan.tables} == {"public.customer": "upsert", "public.payment": "replace"}
    plan = build_plan(request(tables=("payment", "customer"), with_parents=True, mode="replace"),
                      [CUSTOMER, PAYMENT], [CUSTOMER, PAYMENT])
    assert {t.mode for t in plan.tables} == {"replace"}


def test_enabled_triggers_are_disabled_unless_kept_and_a_table_not_owned_is_refused() -> None:
    plan = build_plan(request(tables=("payment",)), [PAYMENT], [PAYMENT])
    assert [str(t) for t in plan.tables[0].disable_triggers] == ["public.payment_p1.stamp"]  # "old" stays off
    kept = build_plan(request(tables=("payment",), settings=SyncSettings(triggers="keep")), [PAYMENT], [PAYMENT])
    assert kept.tables[0].disable_triggers == ()
    not_owned = replace(PAYMENT, owned=False)
    with pytest.raises(SyncError, match="use --triggers keep"):
        build_plan(request(tables=("payment",)), [PAYMENT], [not_owned])
    assert build_plan(request(tables=("payment",), triggers="keep"), [PAYMENT], [not_owned]).tables


def test_enum_labels_the_target_lacks_are_refused_and_order_does_not_matter() -> None:
    def person(*labels: str) -> Table:
        feeling = replace(col("feeling", "mood", builtin=False), enum_labels=labels)
        return table("person", col("id", not_null=True), feeling)
    assert build_plan(request(), [person("sad", "ok")], [person("ok", "sad", "happy")]).tables
    with pytest.raises(SyncError, match="labels 'ecstatic' exist only on server"):
        build_plan(request(), [person("sad", "ecstatic")], [person("sad")])


def test_key_collations_that_order_differently_are_noticed() -> None:
    def word(collation: str) -> Table:
        return table("word", replace(col("w", "text", not_null=True), collation=collation), pk=("w",))
    assert keys_collate_differently(word("C"), word("und-x-icu"), ("w",))
    assert not keys_collate_differently(word("C"), word("default:C"), ("w",))
    assert not keys_collate_differently(word("default:POSIX"), word("C"), ("w",))


def test_sync_triggers_in_the_config_must_be_disable_or_keep(tmp_path) -> None:
    from tests.profiles import load
    path = tmp_path / "dbconsole.toml"
    path.write_text('[profiles.local]\nurl = "postgresql://localhost/app"\n[sync]\ntriggers = "off"\n')
    with pytest.raises(ConfigError, match="sync.triggers must be one of disable, keep"):
        load(path)
