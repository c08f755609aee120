"""Check boxes, radio buttons and a tick list whose state reads without colour.

Textual draws every toggle as the same ``▐X▌`` in two colours; on a monochrome terminal, in a
screen reader's text or in ``tmux capture-pane`` ticked and unticked look the same. These draw
``[x]`` / ``[ ]`` and ``(•)`` / ``( )`` instead. ``enter`` on them means "next step" (the wizard's
convention); ``space`` toggles.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.binding import Binding
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Checkbox, OptionList, RadioButton, RadioSet, Select, SelectionList

from dbconsole.tui.actions import bindings

NEXT_ON_ENTER = bindings("wizard_fields")


class TickBox(Checkbox):
    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False), *NEXT_ON_ENTER]

    @property
    def _button(self) -> Content:
        return Content.styled("[x]" if self.value else "[ ]", self.get_visual_style("toggle--button"))


class RadioChoice(RadioButton):
    @property
    def _button(self) -> Content:
        return Content.styled("(•)" if self.value else "( )", self.get_visual_style("toggle--button"))


class ChoiceSet(RadioSet):
    """A RadioSet whose enter moves on instead of toggling (space still picks)."""

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False), *NEXT_ON_ENTER]


class ModeSelect(Select[str]):
    """A compact select opened with space / up / down; enter moves on."""

    BINDINGS = [Binding("down,space,up", "show_overlay", "Show menu", show=False), *NEXT_ON_ENTER]


class TickList(SelectionList[str]):
    """A selection list drawn as ``[x] name`` / ``[ ] name``; enter moves on, space ticks."""

    BINDINGS = [Binding("space", "select", "Toggle", show=False), *NEXT_ON_ENTER]

    def _get_left_gutter_width(self) -> int:
        return 4

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)
        _, scroll_y = self.scroll_offset
        index = scroll_y + y
        try:
            selection = self.get_option_at_index(index)
        except Exception:  # noqa: BLE001 - past the last option: an empty line
            return line
        style = next(iter(line)).style or self.rich_style
        mark = "[x] " if selection.value in self._selected else "[ ] "
        return Strip([Segment(mark, style=style), *line])
