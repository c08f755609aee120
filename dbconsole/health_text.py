"""A :class:`~dbconsole.health.HealthReport` as people read it: one titled rich table per panel.

The CLI prints these renderables and the console's health view shows the same ones, so the two
never disagree on what a panel says. Rich only, no Textual: this module is part of the core.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from dbconsole.format import format_bytes, format_duration
from dbconsole.health import PANELS, HealthReport, PanelName, Session
from dbconsole.names import TableName, quote_if_needed

TITLES: dict[PanelName, str] = {
    "size": "Size",
    "connections": "Connections",
    "long_queries": "Long queries",
    "locks": "Blocking locks",
    "replication": "Replication",
    "wraparound": "Transactions and wraparound",
    "vacuum": "Vacuum",
    "own_sessions": "dbconsole's own sessions",
}
QUERY_WIDTH = 60  # characters of a query shown (the JSON has 300)
WRAPPING_COLUMNS = {"QUERY", "NAME", "LARGEST", "TABLE"}


def render_header(report: HealthReport) -> Text:
    role = "standby (in recovery)" if report.in_recovery else "primary"
    return Text(f"{report.profile}: PostgreSQL {report.server_version}, {role}, at {report.collected_at}",
                style="bold")


def render_panel(report: HealthReport, name: PanelName) -> Any:
    """One panel as a renderable: its table, or the one line saying why it could not be read."""
    title = TITLES[name]
    if name in report.errors:
        return Text(f"{title}: not available ({report.errors[name]})", style="yellow")
    return _RENDERERS[name](report, title)


def render_report(report: HealthReport) -> Group:
    return Group(render_header(report), *(_spaced(render_panel(report, name)) for name in PANELS))


def _spaced(renderable: Any) -> Group:
    return Group(Text(""), renderable)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=None, header_style="dim",
                  pad_edge=False)
    for column in columns:  # short figures stay on one line; on a narrow screen the long texts wrap
        table.add_column(column, no_wrap=column not in WRAPPING_COLUMNS)
    return table


def _empty(title: str, what: str) -> Text:
    return Text.assemble((f"{title}: ", "bold"), (what, "green"))


def _query_text(session: Session) -> str:
    text = " ".join((session.query or "").split())
    return escape(text if len(text) <= QUERY_WIDTH else text[:QUERY_WIDTH - 1] + "…")


def _who(session: Session) -> str:
    mark = " (dbconsole)" if session.dbconsole else ""
    return escape(f"{session.application or '-'}{mark}")


def _qualified(schema: str, name: str) -> str:
    """``public."WatchList"``: the name as psql shows it, so it can be pasted into a query."""
    return str(TableName(schema, name))


def _wait(session: Session) -> str:
    return f"{session.wait_event_type}:{session.wait_event}" if session.wait_event_type else "-"


def _size(report: HealthReport, title: str) -> Any:
    panel = report.size
    assert panel is not None
    table = _table(f"{title}: database {format_bytes(panel.database_bytes)}", "LARGEST", "KIND", "SIZE")
    for relation in panel.largest_tables:
        table.add_row(escape(_qualified(relation.schema, relation.name)), "table", format_bytes(relation.bytes))
    for relation in panel.largest_indexes:
        table.add_row(escape(_qualified(relation.schema, relation.name)), escape(f"index on {quote_if_needed(relation.table or '')}"), format_bytes(relation.bytes))
    return table


def _connections(report: HealthReport, title: str) -> Any:
    panel = report.connections
    assert panel is not None
    table = _table(f"{title}: {panel.total} of {panel.max_connections}", "BY", "NAME", "SESSIONS")
    for state, count in panel.by_state.items():
        table.add_row("state", escape(state), str(count))
    for application, count in panel.by_application.items():
        table.add_row("application", escape(application), str(count))
    return table


def _long_queries(report: HealthReport, title: str) -> Any:
    sessions = report.long_queries or []
    title = f"{title} (over {format_duration(report.threshold_seconds)})"
    if not sessions:
        return _empty(title, "none")
    table = _table(title, "PID", "RUNNING", "USER", "APPLICATION", "WAIT", "QUERY")
    for s in sessions:
        table.add_row(str(s.pid), format_duration(s.query_seconds), escape(s.user or "-"), _who(s), _wait(s), _query_text(s))
    return table


def _locks(report: HealthReport, title: str) -> Any:
    panel = report.locks
    assert panel is not None
    if not panel.blocked:
        return _empty(title, "no session waits on another")
    table = _table(title, "PID", "ROLE", "WAITING", "BLOCKED BY", "APPLICATION", "STATE", "QUERY")
    for s in panel.blocking:
        table.add_row(str(s.pid), "[red]blocking[/]", "-", ", ".join(map(str, s.blocked_by)) or "-", _who(s),
                      s.state or "-", _query_text(s))
    for s in panel.blocked:
        if s.blocking:
            continue  # already listed as a blocker
        table.add_row(str(s.pid), "blocked", format_duration(s.query_seconds), ", ".join(map(str, s.blocked_by)),
                      _who(s), s.state or "-", _query_text(s))
    return table


def _replication(report: HealthReport, title: str) -> Any:
    panel = report.replication
    assert panel is not None
    if panel.role == "standby":
        gap = "-" if panel.receive_replay_gap_bytes is None else format_bytes(int(panel.receive_replay_gap_bytes))
        rows: list[Any] = [Text.assemble(
            (f"{title}: ", "bold"), f"standby; last replayed transaction {format_duration(panel.replay_delay_seconds)}"
            f" ago, received but not replayed {gap}, WAL receiver {panel.wal_receiver_status or 'not running'}")]
    elif not panel.standbys:
        rows = [Text.assemble((f"{title}: ", "bold"), "primary, no standby streaming")]
    else:
        table = _table(f"{title}: primary", "STANDBY", "STATE", "SYNC", "REPLAY LAG", "BEHIND")
        for s in panel.standbys:
            behind = "-" if s.replay_lag_bytes is None else format_bytes(int(s.replay_lag_bytes))
            table.add_row(escape(f"{s.application or '-'} {s.client_addr or ''}".strip()), s.state or "-", s.sync_state or "-",
                          format_duration(s.replay_lag_seconds) if s.replay_lag_seconds is not None else "0s", behind)
        rows = [table]
    if panel.slots:
        slots = _table("Replication slots", "SLOT", "TYPE", "ACTIVE", "XMIN AGE", "RETAINED WAL")
        for slot in panel.slots:
            retained = "-" if slot.retained_bytes is None else format_bytes(int(slot.retained_bytes))
            slots.add_row(escape(slot.name), slot.type, "yes" if slot.active else "[yellow]no[/]",
                          f"{slot.xmin_age:,}" if slot.xmin_age is not None else "-", retained)
        rows.append(slots)
    return Group(*rows)


def _wraparound(report: HealthReport, title: str) -> Any:
    panel = report.wraparound
    assert panel is not None
    table = _table(title, "WHAT", "NAME", "AGE", "XID AGE")
    table.caption, table.caption_justify = f"autovacuum_freeze_max_age {panel.freeze_max_age:,}", "left"
    for db in panel.databases[:5]:
        share = db.xid_age / panel.freeze_max_age if panel.freeze_max_age else 0
        style = "red" if share >= 1 else "yellow" if share >= 0.75 else ""
        table.add_row("database", escape(db.database), "-", f"[{style}]{db.xid_age:,}[/]" if style else f"{db.xid_age:,}")
    for s in panel.oldest_transactions[:5]:
        table.add_row("transaction", f"pid {s.pid} {_who(s)} {s.state or ''}".rstrip(),
                      format_duration(s.transaction_seconds), f"{s.xmin_age:,}" if s.xmin_age is not None else "-")
    for p in panel.prepared:
        table.add_row("prepared", escape(f"{p.gid} ({p.database})"), format_duration(p.seconds), f"{p.xid_age:,}")
    return table


def _vacuum(report: HealthReport, title: str) -> Any:
    panel = report.vacuum
    assert panel is not None
    state = "on" if panel.autovacuum_on else "[red]off[/]"
    heading = f"{title}: autovacuum {state}, {panel.workers_running} of {panel.max_workers} workers busy"
    if not panel.running:
        return Text.from_markup(f"[bold]{heading}[/]; no vacuum running")
    table = _table(heading, "PID", "TABLE", "KIND", "PHASE", "SCANNED", "FOR")
    for v in panel.running:
        scanned = f"{v.heap_blocks_scanned * 100 // v.heap_blocks_total}%" if v.heap_blocks_total else "-"
        table.add_row(str(v.pid), escape(f"{v.table} ({v.database})"), "auto" if v.autovacuum else "manual", v.phase,
                      scanned, format_duration(v.seconds))
    return table


def _own_sessions(report: HealthReport, title: str) -> Any:
    sessions = report.own_sessions or []
    table = _table(title, "PID", "PURPOSE", "DATABASE", "STATE", "TRANSACTION", "XMIN AGE")
    for s in sessions:
        purpose = (s.application or "").partition("/")[2] or "-"
        table.add_row(str(s.pid), escape(purpose) + (" (this view)" if s.current else ""), escape(s.database or "-"), s.state or "-",
                      format_duration(s.transaction_seconds), f"{s.xmin_age:,}" if s.xmin_age is not None else "-")
    return table


_RENDERERS = {
    "size": _size,
    "connections": _connections,
    "long_queries": _long_queries,
    "locks": _locks,
    "replication": _replication,
    "wraparound": _wraparound,
    "vacuum": _vacuum,
    "own_sessions": _own_sessions,
}
