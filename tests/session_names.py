"""Every session opened on a test database, with the application_name it logged in with.

Why the server log: sessions dbconsole opens can live for milliseconds, so polling
``pg_stat_activity`` would miss some and prove nothing. With ``log_connections`` on, the server
writes one ``connection authorized: ... database=D application_name=NAME`` line per login (no
``application_name=`` at all when the client sent none), so not one session can slip by.
The test databases are unique per test, which keeps other tests' sessions out of the list.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from dbconsole.sandbox.cluster import PgCluster

_AUTHORIZED = re.compile(r"connection authorized: user=\S+ database=(?P<db>\S+)(?: application_name=(?P<app>.*?))?"
                         r"(?: SSL enabled.*| GSS.*)?$")


@dataclass
class SessionLog:
    clusters: list[PgCluster]
    database: str
    _marks: dict[str, int] = field(default_factory=dict)
    names: list[str | None] = field(default_factory=list)

    def read(self) -> list[str | None]:
        """The application_name of every login to ``database`` since the log was opened (None: no name)."""
        names: list[str | None] = []
        for cluster in self.clusters:
            with open(cluster.log_path, encoding="utf-8", errors="replace") as log:
                log.seek(self._marks[cluster.name])
                for line in log:
                    match = _AUTHORIZED.search(line.rstrip("\n"))
                    if match and match.group("db") == self.database:
                        names.append(match.group("app"))
        self.names = names
        return names


def _set_log_connections(cluster: PgCluster, on: bool) -> None:
    with cluster.admin_connect() as admin:
        admin.execute("ALTER SYSTEM SET log_connections = on" if on else "ALTER SYSTEM RESET log_connections")
        admin.execute("SELECT pg_reload_conf()")
    wanted = "on" if on else "off"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the reload reaches new backends a moment later
        with cluster.admin_connect() as probe:
            if probe.execute("SHOW log_connections").fetchone()[0] == wanted:
                return
        time.sleep(0.05)
    raise AssertionError(f"{cluster.name}: log_connections did not turn {wanted}")


@contextlib.contextmanager
def logged_sessions(database: str, *clusters: PgCluster) -> Iterator[SessionLog]:
    """Log every login to ``database`` on ``clusters`` while the block runs; ``read()`` lists them."""
    for cluster in clusters:
        _set_log_connections(cluster, True)
    try:
        log = SessionLog(list(clusters), database,
                         {c.name: c.log_path.stat().st_size for c in clusters})
        yield log
    finally:
        for cluster in clusters:
            _set_log_connections(cluster, False)
