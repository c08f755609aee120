"""What the browser knows about a table's *content* (not its count), and how the column says it.

Equal counts can hide changed rows, so beside the counts the browser shows what a content diff
found: ``same``, ``≠ 12 rows``, ``checking… 40%``, ``no key``, ``error``. Nothing is checked
unless asked (``c`` / ``C``) or configured (``[tui] auto_diff_rows``), and a result stays until
the pair changes or a sync writes into it: a live refresh never starts a diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from rich.text import Text

# queued: waiting for the diff worker · checking: its diff runs · done: ``result`` holds the TableDiff
ContentStage = Literal["queued", "checking", "done"]
CONTENT_WIDTH = 13  # "checking… 40%", "≠ 12,345 rows"
CONTENT_WIDTH_MEDIUM = 9  # "≠ 12 rows", "≠ 1,234", "… 40%": when the full width would cost a column
CONTENT_WIDTH_NARROW = 5  # an 80-column terminal: "same", "≠ 12", "≠12k", "…40%"


@dataclass
class TableContent:
    stage: ContentStage
    fraction: float = 0.0
    result: Any = None  # dbconsole.diff.TableDiff once done
    before: TableContent | None = None  # shown again when a re-check is cancelled

    @property
    def done(self) -> bool:
        return self.stage == "done" and self.result is not None

    @property
    def running(self) -> bool:
        return self.stage != "done"

    @property
    def differences(self) -> int:
        return self.result.differences if self.done else 0


def content_cell(content: TableContent | None, width: int = CONTENT_WIDTH) -> Text:
    """The content column's cell: the longest wording that fits ``width``."""
    if content is None:
        return Text("", justify="right")
    if content.stage == "queued":
        return Text(_fit(("queued", "…"), width), style="dim", justify="right")
    if content.stage == "checking":
        percent = f"{int(content.fraction * 100)}%"
        return Text(_fit((f"checking… {percent}", f"… {percent}", f"…{percent}", percent), width), style="yellow",
                    justify="right")
    result = content.result
    status = result.status
    if status == "same":
        return Text("same", style="green", justify="right")
    if status == "no_key":
        return Text(_fit(("no key", "nokey"), width), style="dim", justify="right")
    if status == "error":
        return Text("error", style="bold red", justify="right")
    if status in ("only_left", "only_right") and not result.differences:
        return Text("-", style="dim", justify="right")
    count = result.differences
    noun = "row" if count == 1 else "rows"
    return Text(_fit((f"≠ {count:,} {noun}", f"≠ {count:,}", f"≠{count:,}", f"≠ {_short(count)}", f"≠{_short(count)}"),
                     width), style="bold yellow", justify="right")


def content_summary(result: Any) -> str:
    """``≠ 12 rows: 10 changed, 1 only left, 1 only right`` (or what else the diff said), one line."""
    status = result.status
    if status == "same":
        return f"same: {result.rows_compared:,} rows compared, none differ"
    if status == "no_key":
        return "no key: " + (result.notes[0] if result.notes else "no usable key, so rows cannot be matched")
    if status == "error":
        return f"error: {result.error}"
    if status in ("only_left", "only_right") and not result.differences:
        return "the table is on one side only"
    parts = [f"{getattr(result, kind):,} {label}" for kind, label in
             (("changed", "changed"), ("only_left", "only left"), ("only_right", "only right")) if getattr(result, kind)]
    noun = "row" if result.differences == 1 else "rows"
    return f"≠ {result.differences:,} {noun}: {', '.join(parts)}"


def _fit(choices: tuple[str, ...], width: int) -> str:
    return next((text for text in choices if len(text) <= width), choices[-1])


def _short(count: int) -> str:
    if count < 1_000:
        return f"{count}"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count // 1_000_000}M"
