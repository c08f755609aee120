"""The compare browser's status line: tables, marks, each side's state, what the numbers are.

Kept apart from the widget because it is all wording: one place says "connecting…",
"counting 3/9 (esc stops)", "content 1/4 (esc stops)", "unusable (needs NOPE_PASS)" and that ``~`` means an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text

from dbconsole.tui.widgets.browser.side import BrowserSide


def browser_status(sides: Mapping[str, BrowserSide], *, tables: int, shown: int, marked: int, filter_text: str,
                   paused: bool, refresh_interval: float, content: tuple[int, int] | None = None) -> Text:
    parts = [f"{tables:,} tables"]
    if filter_text:
        parts.append(f"{shown:,} shown for '{filter_text}'")
    parts.append(f"{marked:,} marked")
    estimated = False
    for state in sides.values():
        if state.profile is None:
            continue
        if state.stage == "unusable":
            parts.append(f"{state.label}: unusable ({state.error})")
        elif state.stage == "error":
            parts.append(f"{state.label}: error")
        elif state.stage == "connecting":
            parts.append(f"{state.label}: connecting…")
        elif state.counting:
            parts.append(f"{state.label}: counting {state.counted:,}"
                         + (f"/{state.to_count:,}" if state.to_count else "") + " (esc stops)")
        if state.loaded and any(not c.exact for c in state.counts.values()):
            estimated = True
    if content is not None:
        parts.append(f"content {content[0]:,}/{content[1]:,} (esc stops)")
    if estimated:
        parts.append("~ estimates (^r: exact)")
    if paused:
        parts.append("live refresh paused (sync running)")
    elif refresh_interval:
        parts.append(f"refresh every {refresh_interval:g}s")
    status = Text("  ·  ".join(parts), style="dim", no_wrap=True, overflow="ellipsis")
    if sides["right"].profile is None and sides["left"].profile is not None:
        status.append("\nadd a second profile (n) to compare", style="yellow")
    for state in sides.values():
        if state.stage == "error" and state.profile is not None:
            status.append(f"\n{state.label}: {state.error}", style="red")
    return status
