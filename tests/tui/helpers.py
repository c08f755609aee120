"""Small waits for Pilot tests: poll a condition while the app's workers do their job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

WAIT_SECONDS = 30.0


async def wait_for(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = WAIT_SECONDS) -> Any:
    """Pause the pilot until ``condition()`` is truthy; fail naming ``what`` if it never is."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def wait_counts(pilot: Any, app: Any) -> None:
    """Until both sides' catalogs and exact counts are in."""
    browser = app.browser
    await wait_for(pilot, lambda: browser.loaded["left"] and browser.loaded["right"] and not browser.busy,
                   "both sides to be counted")


async def count_exactly(pilot: Any, app: Any) -> None:
    """``ctrl+r`` on the grid (exact counts of what is shown, or marked), until they are all in."""
    await wait_counts(pilot, app)
    app.action_focus_browser()
    await pilot.press("ctrl+r")
    await wait_counts(pilot, app)


def cell_text(grid: Any, row_key: str, column: str) -> str:
    value = grid.get_cell(row_key, column)
    return getattr(value, "plain", str(value))


def unique(messages: list[Any]) -> list[Any]:
    """Each message once: the hook sees a bubbling message at every node it reaches."""
    seen: set[int] = set()
    result = []
    for message in messages:
        if id(message) not in seen:
            seen.add(id(message))
            result.append(message)
    return result


def screen_text(app: Any) -> str:
    """What the screen shows right now, as plain characters (from the app's own SVG screenshot)."""
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", app.export_screenshot())).replace("\xa0", " ")
