"""Which columns the compare grid shows at a given width, and how wide each one is.

Why a rule rather than two fixed layouts: on an 80-column terminal the table name is what a
person reads, so the optional columns go first (size, then synced, then key) until the name has
room; names still too long are cut in the middle (:func:`rows.elide_middle`). The content
column (what a content diff found) always stays beside the counts, narrower on a narrow screen.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbconsole.tui.widgets.browser.content import CONTENT_WIDTH, CONTENT_WIDTH_MEDIUM, CONTENT_WIDTH_NARROW

# Always shown, in order; "table" takes the room that is left.
REQUIRED = {"mark": 3, "left": 12, "right": 12, "diff": 11, "content": CONTENT_WIDTH}
# Shown while they fit, dropped in this order when the screen is narrow.
OPTIONAL = (("size", 9), ("synced", 8), ("key", 3))
ORDER = ("mark", "table", "left", "right", "diff", "content", "size", "key", "synced")
NAME_MIN = 12
NAME_WANTED = 26
NAME_MAX = 48
# Two cells of padding per column, plus the pane's border and the scrollbar.
PADDING = 2
CHROME = 4


@dataclass(frozen=True)
class GridLayout:
    widths: dict[str, int]  # every shown column but "table"
    name_width: int

    @property
    def columns(self) -> list[str]:
        return [c for c in ORDER if c == "table" or c in self.widths]


def layout(width: int, longest_name: int) -> GridLayout:
    """Columns for a pane ``width`` cells wide whose longest table name is ``longest_name``."""
    if width <= 0:
        return GridLayout({**REQUIRED, **dict(OPTIONAL)}, max(NAME_MIN, min(longest_name, 40)))
    narrow = width < 100
    widths = {k: (v - 2 if narrow and k in ("left", "right") else v) for k, v in REQUIRED.items()}
    if narrow:
        widths["content"] = CONTENT_WIDTH_NARROW
    optional = list(OPTIONAL)
    wanted = min(max(longest_name, NAME_MIN), NAME_WANTED)

    def room(cols: dict[str, int]) -> int:
        return width - sum(cols.values()) - PADDING * (len(cols) + 1) - CHROME

    def fill(base: dict[str, int]) -> dict[str, int]:
        chosen = dict(base)
        for key, size in reversed(optional):  # key first, size last: size is dropped first
            candidate = {**chosen, key: size}
            if room(candidate) >= wanted:
                chosen = candidate
        return chosen

    chosen = fill(widths)
    if not narrow and len(chosen) < len(widths) + len(optional):
        # rather "≠ 1,234" than no size or synced column: a medium content column keeps them
        medium = fill({**widths, "content": CONTENT_WIDTH_MEDIUM})
        if len(medium) > len(chosen):
            chosen = medium
    name = max(NAME_MIN, min(longest_name, NAME_MAX, room(chosen)))
    return GridLayout(chosen, name)
