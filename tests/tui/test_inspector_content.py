"""Issue 12 item 4: the inspector shows the rows a content diff found, side by side, with the
differing cells highlighted, and runs the diff itself (``ctrl+d``) when none ran."""

from __future__ import annotations

from textual.widgets import DataTable

from dbconsole.config import load_config
from dbconsole.diff import RowDifference, TableDiff
from dbconsole.sandbox.seed import LOCAL_ONLY_ID_BASE, SECTOR_CHANGES
from dbconsole.tui.app import DbconsoleApp
from dbconsole.tui.screens.differing_rows import FetchedSide, align, changed_columns, changed_first
from dbconsole.tui.screens.inspector import Inspector
from dbconsole.tui.screens.inspector_content import CHANGED_CELL
from dbconsole.tui.widgets.browser.content import TableContent, content_cell, content_summary

from .conftest import write_config
from .helpers import cell_text, wait_counts, wait_for
from .test_content_column import SECTORS, checked, goto
from .test_inspector import open_inspector


def highlighted(table: DataTable, line: int, columns: list[str]) -> set[str]:
    """Names of the cells of ``line`` drawn as changed (the first column is the mark)."""
    row = table.get_row(str(line))
    return {columns[i - 1] for i, cell in enumerate(row) if i and str(getattr(cell, "style", "")) == CHANGED_CELL}


async def test_inspector_shows_the_differing_rows_with_the_changed_cells_highlighted(tui_config):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await goto(pilot, app, SECTORS)
        await pilot.press("c")
        await wait_for(pilot, lambda: checked(seen) and not app.browser.diffing, "the content diff")
        await pilot.press("enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "inspector")
        await wait_for(pilot, lambda: inspector.view == "differing", "the differing rows")
        note = str(inspector.query_one("#content-note").render())
        assert note.startswith(f"≠ {len(SECTOR_CHANGES)} rows: {len(SECTOR_CHANGES)} changed")
        left, right = (inspector.query_one(f"#rows-{side}", DataTable) for side in ("left", "right"))
        assert left.row_count == right.row_count == len(SECTOR_CHANGES)
        columns = inspector.differing["left"].preview.columns
        for line in range(left.row_count):
            code = cell_text(left, str(line), "c0")
            assert cell_text(right, str(line), "c0") == code  # line n is the same key on both sides
            assert cell_text(left, str(line), "state") == "≠"
            wanted = {SECTOR_CHANGES[code], "updated_at"}  # the local copy is older, so its updated_at too
            assert highlighted(left, line, columns) == highlighted(right, line, columns) == wanted
        assert "changed: name_en, fee_rate, updated_at" in str(inspector.query_one("#compare-note").render())
        assert columns[:4] == ["code", "name_en", "fee_rate", "updated_at"]  # what differs comes first
        await pilot.press("ctrl+d")  # back to the first rows
        assert inspector.view == "first" and left.row_count == 16
        await pilot.press("ctrl+d")
        assert inspector.view == "differing" and left.row_count == len(SECTOR_CHANGES)


async def test_ctrl_d_in_the_inspector_runs_the_diff_and_lines_up_rows_missing_on_one_side(tui_config):
    seen: list = []
    app = DbconsoleApp(config=tui_config)
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        inspector = await open_inspector(pilot, app, "public.users")
        assert "not checked" in str(inspector.query_one("#content-note").render())
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: inspector.view == "differing", "the differing rows", timeout=60)
        (message,) = checked(seen)
        result = message.result
        assert result.changed and result.only_left == 2 and result.only_right  # the seed's drift
        assert str(inspector.query_one("#content-note").render()).startswith(content_summary(result))
        assert "only left" in content_summary(result) and "only right" in content_summary(result)
        assert app.browser.content_of(message.table).result is result  # the browser shows it too
        left, right = (inspector.query_one(f"#rows-{side}", DataTable) for side in ("left", "right"))
        assert left.row_count == right.row_count == min(len(result.rows), 50)
        states = inspector.differing
        kinds = {r.key["id"]: r.kind for r in result.rows}
        for line, difference in enumerate(result.rows):
            ident = str(difference.key["id"])
            assert cell_text(left, str(line), "c0") == cell_text(right, str(line), "c0") == ident
            expected = {"changed": ("differs", "differs"), "only_left": ("only_here", "absent"),
                        "only_right": ("absent", "only_here")}[difference.kind]
            assert (states["left"].states[line], states["right"].states[line]) == expected
        local_only = next(line for line, d in enumerate(result.rows) if d.key["id"] > LOCAL_ONLY_ID_BASE)
        assert cell_text(right, str(local_only), "state") == "–" and cell_text(left, str(local_only), "state") == "+"
        changed = next(line for line, d in enumerate(result.rows) if kinds[d.key["id"]] == "changed")
        assert "display_name" in highlighted(left, changed, states["left"].preview.columns)


async def test_a_masked_column_shows_as_the_diff_compared_it(tmp_path, dbs):
    """``[sync.tables]`` masks apply on the side a sync reads (the read-only server): the diff
    compares the masked email, so every row differs in it, and the inspector shows why."""
    path = write_config(tmp_path, dbs.local_url, dbs.server_url,
                        extra='[sync.tables."public.users"]\nmask = { email = "mask_email" }\n')
    seen: list = []
    app = DbconsoleApp(config=load_config(path, environ={}, cwd=tmp_path))
    async with app.run_test(size=(160, 45), message_hook=seen.append) as pilot:
        await wait_counts(pilot, app)
        await goto(pilot, app, "public.users")
        await pilot.press("c")
        await wait_for(pilot, lambda: checked(seen) and not app.browser.diffing, "the content diff")
        await pilot.press("enter")
        inspector = await wait_for(pilot, lambda: app.screen if isinstance(app.screen, Inspector) else None,
                                   "inspector")
        await wait_for(pilot, lambda: inspector.view == "differing", "the differing rows")
        right, left = inspector.differing["right"], inspector.differing["left"]
        email = right.preview.columns.index("email")
        shown = [row[email] for row, state in zip(right.preview.rows, right.states) if state != "absent"]
        assert shown and all(value.endswith("@masked.invalid") for value in shown)  # never the raw address
        line = left.states.index("differs")
        assert "email" in highlighted(inspector.query_one("#rows-left", DataTable), line, left.preview.columns)
        assert "masked on server as a sync reads it: email" in str(inspector.query_one("#compare-note").render())


def test_content_cells_fit_their_column():
    def done(**fields) -> TableContent:
        return TableContent("done", 1.0, TableDiff(table="t", **fields))

    assert content_cell(None).plain == ""
    assert content_cell(TableContent("checking", 0.4)).plain == "checking… 40%"
    assert content_cell(TableContent("checking", 0.4), 5).plain == "… 40%"
    assert content_cell(TableContent("queued")).plain == "queued"
    assert content_cell(done(status="same")).plain == "same"
    assert content_cell(done(status="differ", changed=10, only_left=1, only_right=1)).plain == "≠ 12 rows"
    assert content_cell(done(status="differ", changed=12_345)).plain == "≠ 12,345 rows"
    assert content_cell(done(status="differ", changed=1)).plain == "≠ 1 row"
    assert content_cell(done(status="differ", changed=12_345), 5).plain == "≠ 12k"
    assert content_cell(done(status="differ", changed=123_456), 5).plain == "≠123k"
    assert content_cell(done(status="differ", changed=12), 5).plain == "≠ 12"
    assert content_cell(done(status="no_key")).plain == "no key"
    assert content_cell(done(status="error", error="statement timeout")).plain == "error"
    summary = content_summary(TableDiff(table="t", status="differ", changed=10, only_left=1, only_right=1))
    assert summary == "≠ 12 rows: 10 changed, 1 only left, 1 only right"
    assert content_summary(TableDiff(table="t", status="differ", only_right=1)) == "≠ 1 row: 1 only right"


def test_align_puts_one_line_per_key_on_both_sides():
    keys = [RowDifference({"id": 1}, "changed"), RowDifference({"id": 2}, "only_left"),
            RowDifference({"id": 3}, "only_right")]
    fetched = {"left": FetchedSide(["id", "v", "w"], {(1,): ("1", "a", "x"), (2,): ("2", "b", "y")}),
               "right": FetchedSide(["id", "w", "v"], {(1,): ("1", "x", "A"), (3,): ("3", "z", "c")})}
    aligned = align(["id"], [k.key for k in keys], fetched)
    assert aligned["left"].preview.rows == [("1", "a", "x"), ("2", "b", "y"), ("3", "", "")]
    assert aligned["right"].preview.rows == [("1", "x", "A"), ("2", "", ""), ("3", "z", "c")]
    assert aligned["left"].states == ["differs", "only_here", "absent"]
    assert aligned["right"].states == ["differs", "absent", "only_here"]
    assert aligned["left"].changed[0] == {1} and aligned["right"].changed[0] == {2}  # "v", by name
    assert changed_columns(aligned) == ["v"]
    front = changed_first(aligned, ["id"])  # key, then what changed, then the rest
    assert front["left"].preview.columns == ["id", "v", "w"] and front["right"].preview.columns == ["id", "v", "w"]
    assert front["right"].preview.rows[0] == ("1", "A", "x") and front["right"].changed[0] == {1}
    missing = align(["id"], [{"id": 1}], {"left": fetched["left"], "right": None})  # the table is not there
    assert missing["right"].states == ["absent"] and missing["left"].states == ["only_here"]
