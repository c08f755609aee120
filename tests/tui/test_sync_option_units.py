"""The wizard's create-missing and subset fields as pure logic (no server)."""

from __future__ import annotations

from types import SimpleNamespace

from dbconsole.config import SubsetRules
from dbconsole.tui.widgets.sync.more_options import added_by_create, parsed_subset, subset_problem


def test_subset_text_is_read_as_the_cli_reads_it() -> None:
    named = {"customer": SubsetRules(root="public.users", where="id = {1}")}
    spec, error = parsed_subset("customer:42", named)
    assert error is None and spec is not None and (spec.root, spec.where) == ("public.users", "id = '42'")
    spec, error = parsed_subset("public.users: id = 7", named)
    assert error is None and (spec.root, spec.where) == ("public.users", "id = 7")
    assert parsed_subset("", named) == (None, None)
    spec, error = parsed_subset("nonsense", named)
    assert spec is None and "give TABLE: FILTER" in error and "customer" in error


def test_a_subset_refuses_replace_and_the_watermark_modes_with_the_reason() -> None:
    assert subset_problem("users: id = 1", {}, None, "upsert") is None
    assert subset_problem("", {}, "mirror", "upsert") is None  # no subset: any mode
    assert subset_problem("users: id = 1", {}, "mirror", "upsert") is None  # mirror limited to the subset
    assert "upsert or mirror" in subset_problem("users: id = 1", {}, None, "replace")
    assert "upsert or mirror" in subset_problem("users: id = 1", {}, "incremental", "upsert")


def test_a_column_warning_is_moot_when_create_missing_adds_the_column() -> None:
    step = SimpleNamespace(outcome=SimpleNamespace(plan=SimpleNamespace(steps=[
        SimpleNamespace(what="column public.stocks.dividend_yield"), SimpleNamespace(what="table public.alerts")])))
    assert added_by_create("public.stocks: column dividend_yield exists only on server: not copied", step)
    assert not added_by_create("public.stocks: column other exists only on server: not copied", step)
    assert not added_by_create("public.stocks: column dividend_yield exists only on server: not copied", None)
