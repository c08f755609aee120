"""Issue 10 item 12: the inspector lines both sides up by key, marks what differs or is missing,
moves both cursors together and copies a row's key."""

from __future__ import annotations

from textual.widgets import DataTable

from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.screens.row_compare import Preview, compare_previews, where_clause

from .helpers import cell_text, wait_for
from .test_inspector import open_inspector


async def test_inspector_marks_rows_that_differ_or_are_missing(tui_config, dbs):
    with dbs.server_admin() as server, dbs.local_admin() as local:
        ids = [r[0] for r in local.execute("SELECT id FROM public.users ORDER BY id LIMIT 5").fetchall()]
        shared = [i for i in ids if server.execute("SELECT 1 FROM public.users WHERE id = %s", (i,)).fetchone()]
        changed, removed = shared[0], shared[1]
        local.execute("UPDATE public.users SET display_name = 'changed locally' WHERE id = %s", (changed,))
        local.execute("UPDATE public.users SET referred_by = NULL WHERE referred_by = %s", (removed,))
        local.execute("DELETE FROM public.users WHERE id = %s", (removed,))
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45)) as pilot:
        inspector = await open_inspector(pilot, app, "public.users")
        await wait_for(pilot, lambda: len(inspector.states) == 2, "both previews compared")
        left, right = inspector.query_one("#rows-left", DataTable), inspector.query_one("#rows-right", DataTable)

        def state_of(side: str, key: int) -> str:
            preview = inspector.previews[side]
            index = [row[0] for row in preview.rows].index(str(key))
            return inspector.states[side][index]

        assert state_of("left", changed) == "differs" and state_of("right", changed) == "differs"
        assert state_of("right", removed) == "only_here"
        assert "same" in inspector.states["right"] or "differs" in inspector.states["right"]
        index = [row[0] for row in inspector.previews["right"].rows].index(str(removed))
        assert cell_text(right, str(index), "state") == "+"  # readable without colour
        note = str(inspector.query_one("#compare-note").render())
        assert "differ" in note and "one side only" in note

        # moving one side moves the other to the same key
        right.focus()
        target = [row[0] for row in inspector.previews["right"].rows].index(str(changed))
        right.move_cursor(row=target)
        await pilot.pause(0.1)
        assert inspector.previews["left"].rows[left.cursor_row][0] == str(changed)
        await pilot.press("ctrl+down")
        await pilot.pause(0.1)
        right_key = inspector.previews["right"].rows[right.cursor_row][0]
        if right_key in [row[0] for row in inspector.previews["left"].rows]:
            assert inspector.previews["left"].rows[left.cursor_row][0] == right_key

        await pilot.press("ctrl+l")  # copy the highlighted row's key
        assert inspector.copied == f"id = {right_key}"


def test_compare_previews_by_key():
    mine = Preview(["id", "v"], [("1", "a"), ("2", "b"), ("3", "c"), ("9", "z")])
    other = Preview(["id", "v"], [("1", "a"), ("2", "B"), ("4", "d")])
    assert compare_previews(mine, other, ("id",), other_complete=True) == ["same", "differs", "only_here", "only_here"]
    # the other side's preview was cut: a key past its last row is not known to be missing
    assert compare_previews(mine, other, ("id",), other_complete=False) == ["same", "differs", "only_here", "unknown"]
    assert compare_previews(mine, other, None, other_complete=True) == ["unknown"] * 4
    assert where_clause(["id", "Day", "name"], ("id", "Day", "name"), ("42", "2024-01-02", "O'Neil")) == \
        "id = 42 AND \"Day\" = '2024-01-02' AND name = 'O''Neil'"
