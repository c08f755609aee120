"""Subset syncs against the real clusters (issue 15): the rows a root needs and nothing else,
FKs holding on the target, dry-run counts equal to the rows written, cycles, self-references,
virtual FKs, limits, and the refusals (a root matching nothing, a bad filter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbconsole.connect import tunnels
from tests import subset_schema
from tests.cli_checks import assert_one_line, database_state, run_cli, sync_events
from tests.profiles import isolate_from_machine, write_config


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_from_machine(tmp_path, monkeypatch)
    yield
    tunnels.close_all()


RELATIONS = [{"from": "public.audit.member_ref", "to": "public.member.id"},
             {"from": "public.team.lead_ref", "to": "public.member.id"}]


@pytest.fixture
def shaped(empty_dbs, tmp_path):  # type: ignore[no-untyped-def]
    """The shaped schema on both sides, the data only on the server; a config with a named subset."""
    with empty_dbs.server.connect(empty_dbs.server_db) as server:  # as app, which then owns the tables
        subset_schema.create(server, data=True)
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        subset_schema.create(local, data=False)
    extra = {"sync": {"subsets": {
        "org": {"root": "public.org", "where": "id = {1}", "relations": RELATIONS},
        "recent": {"root": "public.member", "where": "id = {1}", "relations": RELATIONS,
                   "limits": {"public.event": "happened >= '2026-01-01'"}, "exclude": ["public.audit"]},
    }}}
    return empty_dbs, str(write_config(tmp_path, empty_dbs, extra=extra))


def sync(capsys, config: str, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    return run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local", "--yes",
                   "--json", *args)


def written_per_table(out: str, *, dry_run: bool) -> dict[str, int]:
    done = [e for e in sync_events(out) if e["event"] == "table_done"]
    assert all(e["dry_run"] is dry_run for e in done)
    return {e["table"].removeprefix("public."): e["inserted"] + e["updated"] + e["unchanged"] for e in done}


def test_a_subset_rooted_at_one_org_brings_exactly_what_it_needs(shaped, capsys) -> None:
    dbs, config = shaped
    with dbs.server_admin() as server:
        expected = subset_schema.expected_subset(server, "org", "id = 2")
    with dbs.server_admin() as server:
        everything = subset_schema.table_rows(server)
    assert 0 < sum(map(len, expected.values())) < sum(map(len, everything.values())) / 2
    code, out, err = sync(capsys, config, "--subset", "org:2", "--dry-run")
    assert code == 0, err
    preview = written_per_table(out, dry_run=True)
    code, out, err = sync(capsys, config, "--subset", "org:2")
    assert code == 0, err
    written = written_per_table(out, dry_run=False)
    with dbs.local_admin() as local:
        got = subset_schema.table_rows(local)
        assert subset_schema.orphans(local) == []
    assert got == expected
    assert {t: n for t, n in written.items() if n} == {t: len(r) for t, r in expected.items() if r}
    assert preview == written
    assert expected["audit"] and expected["event"] and expected["review"] and expected["task_tag"]


def test_a_table_filter_subset_without_virtual_fks_and_a_limit_going_down(shaped, capsys) -> None:
    dbs, config = shaped
    limits = {"event": "happened >= '2026-01-01'"}
    code, out, err = sync(capsys, config, "--subset", "recent:7")
    assert code == 0, err
    with dbs.local_admin() as local:
        got = subset_schema.table_rows(local)
    # "recent" excludes audit and limits events: the virtual lead_ref relation still applies.
    with dbs.server_admin() as server:
        expected = subset_schema.expected_subset(server, "member", "id = 7", limits=limits, exclude={"audit"})
    assert got == expected
    assert got["event"] and all(r.split(",")[1] >= "2026" for r in got["event"])
    assert not got["audit"]
    with dbs.local_admin() as local:
        assert subset_schema.orphans(local) == []


def test_without_relations_only_declared_fks_are_followed(shaped, capsys) -> None:
    dbs, config = shaped
    with dbs.server_admin() as server:
        expected = subset_schema.expected_subset(server, "member", "id = 7", virtual=False)
    code, out, err = sync(capsys, config, "--subset", "member: id = 7", "--dry-run")
    assert code == 0, err
    preview = written_per_table(out, dry_run=True)
    code, out, err = sync(capsys, config, "--subset", "member: id = 7")
    assert code == 0, err
    with dbs.local_admin() as local:
        assert subset_schema.table_rows(local) == expected
        assert subset_schema.orphans(local, [r for r in subset_schema.RELATIONS if not r[4]]) == []
    assert not expected["audit"]
    assert preview == written_per_table(out, dry_run=False)


def test_on_the_demo_data_a_user_brings_their_referrals_settings_scans_and_watchlist(dbs, tmp_path, capsys) -> None:
    """users.referred_by is a self-reference: down to whom they referred, up to who referred them."""
    config = str(write_config(tmp_path, dbs))
    with dbs.server_admin() as server:
        root = server.execute("SELECT u.id FROM users u WHERE u.referred_by IS NOT NULL "
                              "AND EXISTS (SELECT 1 FROM users r WHERE r.referred_by = u.id) "
                              "AND EXISTS (SELECT 1 FROM scanner_settings s WHERE s.user_id = u.id) "
                              "ORDER BY u.id LIMIT 1").fetchone()[0]
        expected = subset_schema.expected_subset(server, "users", f"id = {root}", shape=subset_schema.DEMO)
        everything = subset_schema.table_rows(server, subset_schema.DEMO_TABLES)
    with dbs.local_admin() as local:
        local.execute("TRUNCATE users, stocks, scanner_settings, scan_rank, price_history, \"WatchList\" CASCADE")
    code, out, err = sync(capsys, config, "--subset", f"users: id = {root}", "--dry-run")
    assert code == 0, err
    preview = written_per_table(out, dry_run=True)
    code, out, err = sync(capsys, config, "--subset", f"users: id = {root}")
    assert code == 0, err
    with dbs.local_admin() as local:
        got = subset_schema.table_rows(local, subset_schema.DEMO_TABLES)
        assert subset_schema.orphans(local, subset_schema.DEMO_RELATIONS) == []
    assert got == expected
    assert len(expected["users"]) >= 3 and expected["stocks"] and expected['"WatchList"']
    assert len(expected["users"]) < len(everything["users"])
    assert not expected["price_history"]  # stocks were reached going up: their price history is not needed
    assert preview == written_per_table(out, dry_run=False)


def test_a_root_filter_matching_nothing_says_so_and_writes_nothing(shaped, capsys) -> None:
    dbs, config = shaped
    with dbs.local_admin() as local:
        before = database_state(local)
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--subset", "member: id = 4242")
    assert_one_line(code, err, 1, "member", "no row", "id = 4242")
    with dbs.local_admin() as local:
        assert {t: v for t, v in database_state(local).items() if not t.startswith("_dbconsole")} == \
            {t: v for t, v in before.items() if not t.startswith("_dbconsole")}


@pytest.mark.parametrize("subset", ["member: no_such_column = 1", "member: id = 1); DELETE FROM member; --",
                                    "recent:1,2"])
def test_a_bad_subset_is_one_line_naming_the_table_and_nothing_is_written(shaped, capsys, subset) -> None:
    dbs, config = shaped
    with dbs.local_admin() as local:
        before = database_state(local)
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--subset", subset)
    line = assert_one_line(code, err, 2 if subset.startswith("recent") else 1)
    assert ("member" in line) or ("recent" in line)
    with dbs.local_admin() as local:
        after = database_state(local)
    assert {t: v for t, v in after.items() if not t.startswith("_dbconsole")} == \
        {t: v for t, v in before.items() if not t.startswith("_dbconsole")}
    with dbs.server_admin() as server:
        assert server.execute("SELECT count(*) FROM member").fetchone()[0] == 30


def test_a_subset_refuses_modes_other_than_upsert(shaped, capsys) -> None:
    dbs, config = shaped
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--subset", "member: id = 1", "--mode", "replace")
    assert_one_line(code, err, 2, "--subset", "upsert")


def test_a_subset_is_masked_like_any_sync_and_the_human_dry_run_counts_rows_per_table(empty_dbs, tmp_path,
                                                                                        capsys) -> None:
    with empty_dbs.server.connect(empty_dbs.server_db) as server:
        subset_schema.create(server, data=True)
    with empty_dbs.local.connect(empty_dbs.local_db) as local:
        subset_schema.create(local, data=False)
    config = str(write_config(tmp_path, empty_dbs, extra={
        "sync": {"tables": {"public.member": {"mask": {"email": "mask_email"}}}}}))
    with empty_dbs.server_admin() as server:
        expected = subset_schema.expected_subset(server, "project", "id = 3", virtual=False)
    code, out, err = run_cli(capsys, "--config", config, "sync", "--from", "server_direct", "--to", "local",
                             "--yes", "--dry-run", "--subset", "project: id = 3")
    assert code == 0, err
    assert "subset 'project: id = 3'" in out
    for table in ("project", "task", "member"):
        assert f"public.{table}: would insert {len(expected[table]):,}," in out, out
    code, out, err = sync(capsys, config, "--subset", "project: id = 3")
    assert code == 0, err
    with empty_dbs.local_admin() as local:
        emails = [r[0] for r in local.execute("SELECT email FROM member").fetchall()]
        assert subset_schema.orphans(local, [r for r in subset_schema.RELATIONS if not r[4]]) == []
    assert len(emails) == len(expected["member"]) > 0
    assert not any(e.startswith("m") and e.endswith("@example.com") and e[1:-12].isdigit() for e in emails)


def test_subset_is_repeatable_and_the_rows_are_the_union_of_both(shaped, capsys) -> None:
    dbs, config = shaped
    with dbs.server_admin() as server:
        first = subset_schema.expected_subset(server, "member", "id = 7", virtual=False)
        second = subset_schema.expected_subset(server, "tag", "id = 4", virtual=False)
    code, out, err = sync(capsys, config, "--subset", "member: id = 7", "--subset", "tag: id = 4")
    assert code == 0, err
    with dbs.local_admin() as local:
        got = subset_schema.table_rows(local)
    assert got == {t: first[t] | second[t] for t in subset_schema.TABLES}
    assert second["task_tag"] - first["task_tag"]


def test_down_stays_within_the_tables_named_and_up_brings_their_parents_from_any_table(shaped, capsys) -> None:
    dbs, config = shaped
    others = set(subset_schema.TABLES) - {"member", "project"}
    with dbs.server_admin() as server:
        expected = subset_schema.expected_subset(server, "member", "id = 7", virtual=False, exclude=others)
    code, out, err = sync(capsys, config, "--tables", "member,project", "--subset", "member: id = 7")
    assert code == 0, err
    with dbs.local_admin() as local:
        got = subset_schema.table_rows(local)
    assert got == expected
    assert got["project"] and got["team"] and got["org"] and got["country"]  # parents from tables not named
    assert not got["task"] and not got["event"]
