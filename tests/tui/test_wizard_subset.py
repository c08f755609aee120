"""Subsets in the console (issue 15 item 3): the wizard takes a subset, shows its rows per table
in the dry run and runs it; the inspector starts one from a highlighted row ("copy this row and
what it needs"). The rows written are exactly the subset the test computes in SQL."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.screens.inspector import Inspector
from dbconsole.tui.screens.wizard import SyncWizard
from tests import subset_schema

from .helpers import wait_counts, wait_for


def clear_local(dbs) -> None:
    with dbs.local_admin() as local:
        local.execute('TRUNCATE users, stocks, scanner_settings, scan_rank, price_history, "WatchList" CASCADE')


async def through_preview(pilot, wizard: SyncWizard) -> None:
    await pilot.press("ctrl+n")  # direction: server -> local
    await pilot.press("ctrl+n")  # tables
    assert wizard.step == "options"
    await wait_for(pilot, lambda: wizard.plan is not None or wizard.plan_error, "the plan")
    assert wizard.plan is not None, wizard.plan_error
    await pilot.press("ctrl+n")
    assert wizard.step == "preview"
    await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run", timeout=60)
    assert wizard.preview_done, wizard.preview_error


def preview_counts(wizard: SyncWizard) -> dict[str, int]:
    """Rows per table the dry run says the subset holds (the "in subset" column)."""
    grid = wizard.query_one("#preview-table", DataTable)
    labels = [str(getattr(c.label, "plain", c.label)).strip() for c in grid.columns.values()]
    assert "in subset" in labels, labels
    at = labels.index("in subset")
    rows = [[getattr(c, "plain", str(c)) for c in grid.get_row_at(i)] for i in range(grid.row_count)]
    return {row[0]: int(row[at].replace(",", "")) for row in rows}


async def test_inspector_row_starts_a_subset_that_copies_it_and_what_it_needs(tui_config, dbs):
    with dbs.server_admin() as server:
        first = server.execute("SELECT min(id) FROM users").fetchone()[0]
        expected = subset_schema.expected_subset(server, "users", f"id = {first}", shape=subset_schema.DEMO)
        everything = subset_schema.table_rows(server, subset_schema.DEMO_TABLES)
    clear_local(dbs)
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        app.browser.set_filter("public.users")
        await pilot.pause()
        app.action_inspect()
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "the inspector")
        await wait_for(pilot, lambda: "right" in inspector.previews, "the server's rows")
        inspector.query_one("#rows-right", DataTable).focus()
        await pilot.pause()
        await pilot.press("ctrl+s")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None,
                                "the wizard")
        await pilot.pause()
        assert wizard.options.query_one("#opt-subset", Input).value == f"public.users: id = {first}"
        await through_preview(pilot, wizard)
        counts = preview_counts(wizard)
        assert counts["public.users"] == len(expected["users"])
        assert counts['public."WatchList"'] == len(expected['"WatchList"'])
        assert sum(counts.values()) < sum(len(v) for v in everything.values())
        notes = " ".join(n.message for n in wizard.previewer.notes)
        assert "subset 'public.users: id =" in notes
        await pilot.press("ctrl+n")  # confirm
        await pilot.press("ctrl+n")  # run
        await wait_for(pilot, lambda: wizard.step == "summary", "the run", timeout=60)
        assert wizard.run_error is None, wizard.run_error
    with dbs.local_admin() as local:
        got = subset_schema.table_rows(local, subset_schema.DEMO_TABLES)
        assert subset_schema.orphans(local, subset_schema.DEMO_RELATIONS) == []
    assert got == expected
    table_of = {"public.users": "users", "public.stocks": "stocks", "public.scanner_settings": "scanner_settings",
                "public.scan_rank": "scan_rank", "public.price_history": "price_history",
                'public."WatchList"': '"WatchList"'}
    assert {table_of[t]: n for t, n in counts.items() if t in table_of} == {t: len(r) for t, r in expected.items()}


async def test_a_bad_subset_or_a_deleting_mode_is_one_line_before_anything_runs(tui_config, dbs):
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        app.open_subset_wizard(None, "no colon here")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None,
                                "the wizard")
        await pilot.press("ctrl+n", "ctrl+n")
        assert wizard.step == "options"
        await wait_for(pilot, lambda: wizard.plan_error, "the refusal")
        assert "give TABLE: FILTER" in wizard.plan_error
        wizard.options.query_one("#opt-subset", Input).value = "public.users: id = 1"
        wizard.options.query_one("#opt-mode").value = "replace"
        await wait_for(pilot, lambda: wizard.plan_error and "upsert or mirror" in wizard.plan_error, "the mode refusal")
        wizard.options.query_one("#opt-mode").value = "upsert"
        await wait_for(pilot, lambda: wizard.plan is not None, "the plan")


async def test_a_named_subset_from_the_config_is_taken_with_its_argument(tmp_path, dbs):
    from dbconsole.config import load_config

    from .conftest import write_config

    path = write_config(tmp_path, dbs.local_url, dbs.server_url,
                        extra='\n[sync.subsets.customer]\nroot = "public.users"\nwhere = "id = {1}"\n')
    config = load_config(path, environ={}, cwd=path.parent)
    with dbs.server_admin() as server:
        expected = subset_schema.expected_subset(server, "users", "id = 3", shape=subset_schema.DEMO)
    clear_local(dbs)
    app = DbconsoleApp(config=config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        app.open_subset_wizard(None, "customer:3")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None,
                                "the wizard")
        await pilot.pause()
        assert "customer" in wizard.options.query_one("#opt-subset", Input).placeholder
        await through_preview(pilot, wizard)
        counts = preview_counts(wizard)
        assert counts["public.users"] == len(expected["users"])
        assert counts["public.scanner_settings"] == len(expected["scanner_settings"])


def preview_column(wizard: SyncWizard, label: str) -> dict[str, int]:
    grid = wizard.query_one("#preview-table", DataTable)
    labels = [str(getattr(c.label, "plain", c.label)).strip() for c in grid.columns.values()]
    assert label in labels, labels
    at = labels.index(label)
    rows = [[getattr(c, "plain", str(c)) for c in grid.get_row_at(i)] for i in range(grid.row_count)]
    return {row[0]: int(row[at].replace(",", "")) for row in rows}


async def test_a_subset_with_mode_mirror_dry_runs_its_deletes_and_runs_them(tui_config, dbs):
    """A local-only settings row moved under the root user belongs to the subset locally, not on
    the server: the mirror's dry run counts it under "would delete", and the run deletes it."""
    from dbconsole.sandbox.seed import LOCAL_ONLY_ID_BASE

    with dbs.server_admin() as server:  # not user 1: the local-only users were referred by user 1 locally
        root = server.execute("SELECT min(id) FROM users WHERE id > 1").fetchone()[0]
        expected = subset_schema.expected_subset(server, "users", f"id = {root}", shape=subset_schema.DEMO)
    moved = LOCAL_ONLY_ID_BASE + 1
    with dbs.local_admin() as local:
        assert local.execute("SELECT count(*) FROM users WHERE id = %s", (root,)).fetchone()[0] == 1
        local.execute("UPDATE scanner_settings SET user_id = %s WHERE id = %s", (root, moved))
        on_target = subset_schema.expected_subset(local, "users", f"id = {root}", shape=subset_schema.DEMO,
                                                  down_only=True)
        assert not any(r.startswith(f"({LOCAL_ONLY_ID_BASE + 1},") for r in on_target["users"])
        other = local.execute('SELECT count(*) FROM "WatchList" WHERE user_id = %s',
                              (LOCAL_ONLY_ID_BASE + 1,)).fetchone()[0]
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        app.open_subset_wizard(None, f"public.users: id = {root}")
        wizard = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, SyncWizard) else None,
                                "the wizard")
        await pilot.press("ctrl+n", "ctrl+n")
        wizard.options.query_one("#opt-mode").value = "mirror"
        await wait_for(pilot, lambda: wizard.plan is not None and "mirror" in {t.mode for t in wizard.plan.tables},
                       "the mirror plan")
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.preview_done or wizard.preview_error, "the dry run", timeout=60)
        assert wizard.preview_done, wizard.preview_error
        deletes = preview_column(wizard, "would delete")
        assert deletes["public.scanner_settings"] >= 1
        assert preview_column(wizard, "in subset")["public.users"] == len(expected["users"])
        await pilot.press("ctrl+n")
        assert wizard.step == "confirm"  # mirror deletes: the target's name is typed
        wizard.query_one("#confirm-input", Input).value = "local"
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: wizard.step == "summary", "the run", timeout=60)
        assert wizard.run_error is None, wizard.run_error
        done = {t.table: t.counts.deleted for t in wizard.summary.tables}
    assert {t: n for t, n in done.items() if n} == {t: n for t, n in deletes.items() if n}
    with dbs.local_admin() as local:
        assert local.execute("SELECT count(*) FROM scanner_settings WHERE id = %s", (moved,)).fetchone()[0] == 0
        assert local.execute('SELECT count(*) FROM "WatchList" WHERE user_id = %s',
                             (LOCAL_ONLY_ID_BASE + 1,)).fetchone()[0] == other  # another user's rows stay
        assert subset_schema.orphans(local, subset_schema.DEMO_RELATIONS) == []
