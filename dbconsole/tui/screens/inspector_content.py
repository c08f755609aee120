"""The inspector's differing rows: what a content diff found, side by side, cells highlighted.

A part of :class:`~dbconsole.tui.screens.inspector.Inspector` (a mixin, so the screen's first
rows and SQL box read on their own). The browser's diff worker runs the diff (``c`` there,
``ctrl+d`` here) and tells the screens on top (``ContentUpdated``); this part then reads the
reported keys' rows, one query per side (:func:`~dbconsole.reading.content.rows_by_key`, masks
applied as the diff applied them), lines them up (:mod:`.differing_rows`) and shows them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from rich.text import Text
from textual import work
from textual.widgets import DataTable, Static

from dbconsole.config import Profile
from dbconsole.format import format_count
from dbconsole.reading.content import rows_by_key
from dbconsole.reading import error_line
from dbconsole.tui.messages import ContentUpdated, DifferingRowsFetched
from dbconsole.tui.screens.differing_rows import FetchedSide, align, changed_columns, changed_first
from dbconsole.tui.screens.row_compare import ROW_MARKS, ROW_STYLES, Preview, RowState
from dbconsole.tui.widgets.browser.content import content_summary

SIDES = ("left", "right")

CHANGED_CELL = "bold black on yellow"
View = Literal["first", "differing"]


def fill_table(table: DataTable, columns: Sequence[str], rows: Sequence[Sequence[Any]],
               states: Sequence[RowState] | None = None, changed: Sequence[set[int]] | None = None) -> None:
    """Columns and rows; with ``states``, a first column of marks and each row styled by its state;
    with ``changed``, those cells of each row highlighted (the values that differ)."""
    table.clear(columns=True)
    if states is not None:
        table.add_column(" ", key="state")
    for index, column in enumerate(columns):
        table.add_column(column, key=f"c{index}")
    for number, row in enumerate(rows):
        if states is None:
            table.add_row(*row, key=str(number))
            continue
        state = states[number]
        style = ROW_STYLES[state]
        hot = changed[number] if changed is not None else set()
        if changed is not None and state == "differs":
            style = ""  # the highlighted cells say what differs
        table.add_row(Text(ROW_MARKS[state], style=ROW_STYLES[state]),
                      *(Text(str(c), style=CHANGED_CELL if i in hot else style) for i, c in enumerate(row)),
                      key=str(number))


class DifferingRowsView:
    """The differing-rows view and its workers; mixed into the inspector (``row``, ``profiles``,
    ``previews``, ``states``, ``captions``, ``content``, ``masks`` and the two row tables are its)."""

    def shown_preview(self, side: str) -> Preview | None:
        if self.view == "differing" and side in self.differing:
            return self.differing[side].preview
        return self.previews.get(side)

    # ------------------------------------------------------------------ content diff: the differing rows

    def _show_content(self) -> None:
        """The summary line of the content diff, and the differing rows once it found some."""
        content = self.content
        note = self.query_one("#content-note", Static)
        if content is None:
            note.update(Text("content: not checked · ^d runs a content diff (which rows differ)", style="dim",
                             no_wrap=True, overflow="ellipsis"))
            return
        if content.running:
            label = "queued" if content.stage == "queued" else f"checking… {int(content.fraction * 100)}%"
            note.update(Text(f"content: {label}", style="yellow", no_wrap=True, overflow="ellipsis"))
            return
        result = content.result
        style = {"same": "green", "differ": "bold yellow", "error": "red"}.get(result.status, "dim")
        text = Text(content_summary(result), style=style, no_wrap=True, overflow="ellipsis")
        if result.rows:
            shown = len(result.rows)
            text.append(f" · {'all' if shown == result.differences else f'first {shown}'} side by side · "
                        "^d first rows / differing rows", style="dim")
        else:
            text.append(" · ^d checks again", style="dim")
        note.update(text)
        if result.rows and not self._fetched and not self._fetch_token:
            self._fetch_differing(result)

    def on_content_updated(self, message: ContentUpdated) -> None:
        if message.table != self.row.name:
            return
        self.content = message.content
        if self.content is None or self.content.running:
            self._fetched, self._fetch_token, self.differing = {}, 0, {}
            if self.view == "differing":
                self._switch_view("first")
        elif self.content.done and self._fetch_token:
            self._fetched, self._fetch_token = {}, 0  # a new result: read its rows again
        self._show_content()

    def action_differing_rows(self) -> None:
        """``ctrl+d``: run the content diff when none ran (or it found nothing); else switch views."""
        content = self.content
        if content is not None and content.running:
            self.notify("the content diff is under way", timeout=2)
            return
        if content is not None and content.done and content.result.rows:
            self._switch_view("first" if self.view == "differing" else "differing")
            return
        if self.check_content is None or not self.check_content():
            self.notify("no content diff possible here (the table must be on both sides)", severity="warning",
                        timeout=3)

    def _fetch_differing(self, result: Any) -> None:
        """Read the rows of the reported keys on each side (one query per side), in workers."""
        self._fetch_token += 1
        keys = [dict(r.key) for r in result.rows]
        key = list(result.key) or list(keys[0])
        for side in SIDES:
            profile, table = self.profiles[side], getattr(self.row, side)
            if profile is None or table is None or profile.unusable:
                self._fetched[side] = None
                continue
            self._read_rows(self._fetch_token, side, profile, table, key, keys)
        self._maybe_show_differing(key, keys)

    @work(thread=True, group="query", exit_on_error=False)
    def _read_rows(self, token: int, side: str, profile: Profile, table: Any, key: list[str],
                   keys: list[dict[str, Any]]) -> None:
        try:
            columns, rows = rows_by_key(profile, table, key, keys, masks=self.masks.get(side))
        except Exception as exc:
            self.post_message(DifferingRowsFetched(token, side, [], [], error_line(exc)))
            return
        self.post_message(DifferingRowsFetched(token, side, columns, list(rows.items()), None))

    def on_differing_rows_fetched(self, message: DifferingRowsFetched) -> None:
        if message.token != self._fetch_token or self.content is None or not self.content.done:
            return
        if message.error:
            self._side_error(message.side, message.error)
            self._fetched[message.side] = None
        else:
            self._fetched[message.side] = FetchedSide(message.columns, dict(message.rows))
        result = self.content.result
        keys = [dict(r.key) for r in result.rows]
        self._maybe_show_differing(list(result.key) or list(keys[0]), keys)

    def _maybe_show_differing(self, key: list[str], keys: list[dict[str, Any]]) -> None:
        if not all(side in self._fetched for side in SIDES):
            return
        self.differing = changed_first(align(key, keys, self._fetched), key)
        self._switch_view("differing")

    def _switch_view(self, view: View) -> None:
        self.view = view
        for side in SIDES:
            table = self.query_one(f"#rows-{side}", DataTable)
            box = self.query_one(f"#side-{side}")
            if view == "differing" and side in self.differing:
                part = self.differing[side]
                fill_table(table, part.preview.columns, part.preview.rows, part.states, part.changed)
                present = sum(1 for state in part.states if state != "absent")
                box.border_subtitle = f"{format_count(present)} differing rows"
            elif side in self.previews:
                preview = self.previews[side]
                fill_table(table, preview.columns, preview.rows, self.states.get(side))
                box.border_subtitle = self.captions.get(side, "")
        note = self.query_one("#compare-note", Static)
        if view == "differing":
            columns = changed_columns(self.differing)
            text = Text("differing rows by key · ", style="dim", no_wrap=True, overflow="ellipsis")
            if columns:
                text.append("changed: " + ", ".join(columns), style="bold yellow")
                text.append(" · ")
            text.append("– : no such row on that side", style="dim")
            for side, masks in self.masks.items():
                profile = self.profiles.get(side)
                if masks and profile is not None:
                    text.append(f" · masked on {profile.name} as a sync reads it: {', '.join(sorted(masks))}",
                                style="dim")
            note.update(text)
        else:
            note.update("")
            self._show_previews()

