"""The console's schema parts (issue 13 item 5): the table's schema differences in the inspector,
and each profile's migration tool and version in the profiles pane, with which side is behind."""

from __future__ import annotations

from dbconsole.schema.compare import compare_schemas, differing_tables
from dbconsole.schema.read import read_schema
from dbconsole.schema.text import difference_line
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.messages import MigrationsRead, SchemaCompared
from dbconsole.tui.screens.inspector import Inspector
from dbconsole.tui.widgets.profiles.pane import behind_line
from tests.test_schema_migrations import LAYOUTS

from .helpers import screen_text, unique, wait_counts, wait_for


def plant_rails_migrations(dbs) -> None:
    """The server has applied three Rails migrations, local (the older copy) only the first; as the
    application's role, which owns its tables, like a real deployment."""
    table, server_rows, local_rows = LAYOUTS["rails"]
    with dbs.server.connect(dbs.server_db) as server, dbs.local.connect(dbs.local_db) as local:
        for conn, rows in ((server, server_rows), (local, local_rows)):
            conn.execute(table)
            conn.execute(rows)


async def test_inspector_lists_the_tables_schema_differences(tui_config, dbs):
    with dbs.server_admin() as server:
        server.execute("ALTER TABLE users ADD COLUMN nickname text")
        server.execute("CREATE INDEX users_nickname_idx ON users (nickname)")
    with dbs.local_admin() as local, dbs.server_admin() as server:
        left, right = read_schema(local), read_schema(server)
    expected = next(diffs for name, diffs in differing_tables(left, right, compare_schemas(left, right)).items()
                    if str(name) == "public.users")
    expected_lines = [difference_line(d, "local", "server") for d in expected]
    assert any("nickname" in line for line in expected_lines)

    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        await wait_for(pilot, lambda: app.browser.schema_compared, "the schema comparison")
        await pilot.press("slash", *"public.users", "enter", "enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "the inspector")
        await pilot.pause()
        note = str(inspector.query_one("#schema-note").render())
        assert f"schema: {len(expected)} difference" in note
        for line in expected_lines:
            assert line in note, (line, note)
        await pilot.press("escape")
        # a table that is the same on both sides says so
        app.browser.set_filter("public.stocks")
        await pilot.pause()
        app.action_inspect()
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "the inspector of stocks")
        await pilot.pause()
        assert "schema: same on both sides" in str(inspector.query_one("#schema-note").render())


async def test_inspector_redraws_when_the_comparison_arrives_after_it_opened(tui_config, dbs):
    with dbs.server_admin() as server:
        server.execute("ALTER TABLE users ALTER COLUMN email DROP NOT NULL")
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        await wait_for(pilot, lambda: app.browser.schema_compared, "the schema comparison")
        app.browser.set_filter("public.users")
        await pilot.pause()
        app.browser.schema_compared = False  # as if the comparison were still under way
        app.action_inspect()
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "the inspector")
        await pilot.pause()
        assert "not compared yet" in str(inspector.query_one("#schema-note").render())
        app.browser.compare_schemas()  # what ctrl+r does
        await wait_for(pilot, lambda: "nullable email" in str(inspector.query_one("#schema-note").render()),
                       "the inspector to show the new comparison")


async def test_profiles_pane_shows_migrations_and_which_side_is_behind(tui_config, dbs):
    plant_rails_migrations(dbs)
    seen = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await wait_for(pilot, lambda: app.pair_migrations is not None, "the migrations")
        await pilot.pause()
        status = app.statuses
        assert status["local"].migrations.tool == "rails" and status["local"].migrations.current == "20240101000000"
        assert status["server"].migrations.current == "20240301000000"
        line = str(app.profiles_pane.query_one("#pair-migrations").render())
        assert "local is 2 migrations behind server" in line
        text = screen_text(app)
        assert "rails 20240101000000" in text and "rails 20240301000000" in text
        assert "local is 2 migrations" in text  # the pane is narrow: "behind server" wraps to the next line
        await pilot.resize_terminal(80, 24)  # the pane folds into one line, which still says it
        await wait_for(pilot, lambda: "local 2 migrations behind" in screen_text(app), "the folded line")
        # refreshes of the counts do not read them again; ctrl+r (asked) does, once
        app.browser.refresh_counts("live")
        await wait_counts(pilot, app)
        assert len([m for m in unique(seen) if isinstance(m, MigrationsRead)]) == 1
        app.browser.refresh_counts("asked")
        await wait_counts(pilot, app)
        await wait_for(pilot, lambda: len([m for m in unique(seen) if isinstance(m, MigrationsRead)]) == 2,
                       "the migrations read again on ctrl+r")
    assert len([m for m in unique(seen) if isinstance(m, SchemaCompared)]) >= 2


async def test_testing_a_profile_reads_its_migrations(tui_config, dbs):
    """A profile outside the compared pair gets its version from ``t`` (here: local, read anew)."""
    plant_rails_migrations(dbs)
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        await wait_counts(pilot, app)
        await wait_for(pilot, lambda: app.pair_migrations is not None, "the pair's migrations")
        app.statuses["local"].migrations = None
        app.statuses["local"].migrations_read = False
        app.show_profiles()
        app.profiles_pane.query_one("#profile-list").highlighted = 0
        app.action_test_profile()
        await wait_for(pilot, lambda: app.statuses["local"].migrations is not None, "local's migrations")
        assert app.statuses["local"].migrations.current == "20240101000000"
        assert "rails 20240101000000" in screen_text(app)


def test_behind_line_wording_for_each_comparison() -> None:
    from dbconsole.schema.migrations import MigrationComparison

    assert behind_line(None, "local", "server").plain == ""
    ahead = MigrationComparison("right", (), ("a",), "server is 1 migration behind: a")
    assert behind_line(ahead, "local", "server").plain == "server is 1 migration behind local"
    head_only = MigrationComparison(None, (), (), "local at x, server at y; alembic records only the head")
    assert behind_line(head_only, "local", "server").plain.startswith("migrations: local at x")


def test_schema_note_for_a_table_on_one_side() -> None:
    from types import SimpleNamespace

    from dbconsole.tui.screens.inspector_schema import schema_note

    only_server = SimpleNamespace(name="public.alerts", left=None, right=object())
    note = schema_note(only_server, None, True, "local", "server", read_only=frozenset({"server"})).plain
    assert note.startswith("schema: only on server") and "creates it on local (create-missing)" in note
    only_local = SimpleNamespace(name="public.local_notes", left=object(), right=None)
    note = schema_note(only_local, None, True, "local", "server", read_only=frozenset({"server"})).plain
    assert "server is read-only: dbconsole creates nothing there" in note
