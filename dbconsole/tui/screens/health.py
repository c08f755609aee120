"""``h``: how the highlighted profile's server is doing, refreshed every few seconds.

The panels are :mod:`dbconsole.health`'s (the same as ``dbconsole health``), drawn by
:mod:`dbconsole.health_text`. Reading them runs in a thread worker on one health session kept
open between refreshes (a tunnel makes every new session cost a handshake), and a refresh is
only started when the previous one is done, so a slow server never piles up queries nor
freezes the screen: the worker posts :class:`HealthRead` or :class:`HealthFailed` and the
screen redraws from the message.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from dbconsole.config import Profile
from dbconsole.connect import close_quietly
from dbconsole.format import format_duration
from dbconsole.health import HealthReport, PanelName, open_health_session, read_health
from dbconsole.health_text import render_header, render_panel
from dbconsole.tui.actions import bindings
from dbconsole.reading.sides import error_line
from dbconsole.tui.messages import HealthFailed, HealthRead
from dbconsole.tui.widgets.footer import KeysFooter

REFRESH_SECONDS = 3.0
# What ``t`` steps through: how long a query must run to count as long.
THRESHOLDS = (30.0, 60.0, 300.0, 1.0, 5.0, 10.0)
# What needs a person now comes first; sizes, which change slowly, last.
VIEW_ORDER: tuple[PanelName, ...] = ("long_queries", "locks", "own_sessions", "connections", "replication",
                                     "wraparound", "vacuum", "size")


class HealthScreen(Screen[None]):
    """The health panels of one profile; ``escape`` goes back."""

    ACTION_SCOPE = "health"
    BINDINGS = bindings("health")

    def __init__(self, profile: Profile, *, threshold_seconds: float = THRESHOLDS[0],
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        super().__init__()
        self.profile = profile
        self.threshold_seconds = threshold_seconds
        self.refresh_seconds = refresh_seconds
        self.report: HealthReport | None = None
        self.error: str | None = None
        self.reads = 0  # finished refreshes, for tests and the status line
        self._read_under_way = threading.Event()
        self._gone = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None  # touched only by the worker (one at a time)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="health-status")
        with VerticalScroll(id="health-panels"):
            for name in VIEW_ORDER:
                yield Static("", id=f"health-{name}", classes="health-panel")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"Health of {self.profile.name}"
        self._show_status()
        self.refresh_now()
        self.set_interval(self.refresh_seconds, self.refresh_now)

    def on_unmount(self) -> None:
        self._gone.set()
        if not self._read_under_way.is_set():
            self._close_session()

    # ------------------------------------------------------------------ actions

    def action_refresh(self) -> None:
        self.refresh_now()

    def action_threshold(self) -> None:
        index = THRESHOLDS.index(self.threshold_seconds) if self.threshold_seconds in THRESHOLDS else -1
        self.threshold_seconds = THRESHOLDS[(index + 1) % len(THRESHOLDS)]
        self._show_status()
        self.refresh_now()

    def action_close(self) -> None:
        self.dismiss(None)

    def refresh_now(self) -> None:
        """Start a read unless one is under way (it will show the newest state soon enough)."""
        if self._read_under_way.is_set() or self._gone.is_set():
            return
        self._read_under_way.set()
        self._show_status()
        self._read(self.threshold_seconds)

    # ------------------------------------------------------------------ the worker

    @work(thread=True, group="health", exit_on_error=False)
    def _read(self, threshold_seconds: float) -> None:
        message: HealthRead | HealthFailed
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = open_health_session(self.profile)
            message = HealthRead(read_health(self._conn, self.profile.name, threshold_seconds=threshold_seconds))
        except Exception as exc:  # every failure is one line on screen; the next refresh reconnects
            self._close_session()
            message = HealthFailed(self.profile.name, error_line(exc))
        finally:
            self._read_under_way.clear()
            if self._gone.is_set():
                self._close_session()
        self.post_message(message)

    def _close_session(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)

    # ------------------------------------------------------------------ messages from the worker

    def on_health_read(self, message: HealthRead) -> None:
        self.report, self.error = message.report, None
        self.reads += 1
        for name in VIEW_ORDER:
            self.query_one(f"#health-{name}", Static).update(render_panel(message.report, name))
        self._show_status()

    def on_health_failed(self, message: HealthFailed) -> None:
        self.error = message.error
        self.reads += 1
        self._show_status()

    def _show_status(self) -> None:
        if not self.is_mounted:
            return
        line = Text()
        if self.report is not None:
            line.append_text(render_header(self.report))
        else:
            line.append(f"{self.profile.name}: connecting…", style="dim")
        line.append(f"  ·  long query: over {format_duration(self.threshold_seconds)}"
                    f"  ·  every {format_duration(self.refresh_seconds)}", style="dim")
        if self._read_under_way.is_set():
            line.append("  ·  reading…", style="dim")
        if self.error:
            line.append(f"\n{self.error}", style="red")
        self.query_one("#health-status", Static).update(line)
