"""The shared test harness: two real PostgreSQL clusters, seeded, and a real SSH server.

Why: dbconsole's job is moving rows between two PostgreSQL servers, one of them behind SSH, so
its tests run against the real thing (no mocks). The clusters and the SSH server are started
once per session; every test gets its own databases, cloned in a fraction of a second from
seeded template databases (``seed_tpl``), and dropped afterwards.

- ``pg_local``  : the developer's PostgreSQL (the system's binaries), template = drifted copy.
- ``pg_server`` : the "server" PostgreSQL, template = full data. ``DBCONSOLE_TEST_SERVER_BIN``
  runs it on other binaries: a bin directory, or ``pgserver`` for the pgserver wheel's PG16.
- ``sshd``      : an SSH server on loopback that forwards only to ``pg_server``, once per
  SSH transport (OpenSSH, paramiko): ``sshd.transport`` goes into the test's profiles.
- ``dbs`` / ``empty_dbs`` : per-test databases on both clusters.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from dbconsole.sandbox.cluster import PgCluster
from dbconsole.sandbox.pgbin import find_pg_bindir
from dbconsole.sandbox.seed import SeedScale, seed_local, seed_server
from dbconsole.sandbox.sshd import LoopbackSSHServer
from dbconsole.tunnel import TransportName

TEMPLATE_DB = "seed_tpl"
SEED_SCALE = SeedScale.TEST
SERVER_BIN_ENV = "DBCONSOLE_TEST_SERVER_BIN"


def _start_seeded(cluster: PgCluster, seed) -> PgCluster:
    """Start ``cluster`` and build its template database with ``seed``."""
    cluster.start()
    cluster.create_database(TEMPLATE_DB)
    with cluster.connect(TEMPLATE_DB) as conn:
        seed(conn, SEED_SCALE)
    with cluster.admin_connect() as conn:
        # No sessions (not even autovacuum) may sit in a template while it is being copied.
        conn.execute(f"ALTER DATABASE {TEMPLATE_DB} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
    return cluster


@pytest.fixture(scope="session")
def _clusters() -> Iterator[tuple[PgCluster, PgCluster]]:
    """Both clusters, started and seeded in parallel (one per core)."""
    local = PgCluster("local", find_pg_bindir())
    server = PgCluster("server", find_pg_bindir(os.environ.get(SERVER_BIN_ENV) or None))
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            started = [pool.submit(_start_seeded, local, seed_local), pool.submit(_start_seeded, server, seed_server)]
            for future in started:
                future.result()
        yield local, server
    finally:
        for cluster in (local, server):
            cluster.cleanup()


@pytest.fixture(scope="session")
def pg_local(_clusters: tuple[PgCluster, PgCluster]) -> PgCluster:
    return _clusters[0]


@pytest.fixture(scope="session")
def pg_server(_clusters: tuple[PgCluster, PgCluster]) -> PgCluster:
    return _clusters[1]


@dataclass
class TestDatabases:
    """One database on each cluster for one test; URLs log in as ``app`` over TCP."""

    local: PgCluster
    server: PgCluster
    local_db: str
    server_db: str

    __test__ = False  # not a test class, despite the name

    @property
    def local_url(self) -> str:
        return self.local.url(self.local_db)

    @property
    def server_url(self) -> str:
        return self.server.url(self.server_db)

    @contextlib.contextmanager
    def local_admin(self) -> Iterator[psycopg.Connection]:
        """A superuser, autocommit connection to the local test database."""
        with self.local.admin_connect(self.local_db) as conn:
            yield conn

    @contextlib.contextmanager
    def server_admin(self) -> Iterator[psycopg.Connection]:
        """A superuser, autocommit connection to the server test database."""
        with self.server.admin_connect(self.server_db) as conn:
            yield conn


@contextlib.contextmanager
def _test_databases(local: PgCluster, server: PgCluster, prefix: str, template: str | None) -> Iterator[TestDatabases]:
    """Create one database named ``<prefix>_<random>`` on each cluster (in parallel); drop both after."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    clusters = (local, server)

    def create(cluster: PgCluster) -> None:
        cluster.start()  # a no-op, unless an earlier test left this cluster stopped or crashed
        cluster.create_database(name, template=template)

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(create, cluster) for cluster in clusters]:
                future.result()
        yield TestDatabases(local, server, name, name)
    finally:
        for cluster in clusters:
            if cluster.is_running():
                cluster.drop_database(name)  # IF EXISTS: also fine when its creation failed


@pytest.fixture
def dbs(pg_local: PgCluster, pg_server: PgCluster) -> Iterator[TestDatabases]:
    """Fresh seeded databases: the drifted copy on ``pg_local``, the full data on ``pg_server``."""
    with _test_databases(pg_local, pg_server, "t", TEMPLATE_DB) as databases:
        yield databases


@pytest.fixture
def empty_dbs(pg_local: PgCluster, pg_server: PgCluster) -> Iterator[TestDatabases]:
    """Fresh databases without any schema on both clusters."""
    with _test_databases(pg_local, pg_server, "e", None) as databases:
        yield databases


@pytest.fixture(scope="session")
def _sshd_server(pg_server: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSSHServer]:
    server = LoopbackSSHServer(tmp_path_factory.mktemp("sshd"), [(pg_server.host, pg_server.port)])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class SshEndpoint:
    """The session's SSH server, and the transport (``ssh.transport``) a test's profiles use.

    Every test that tunnels runs once per transport: both must pass the same suite.
    """

    server: LoopbackSSHServer
    transport: TransportName

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)


@pytest.fixture(params=["openssh", "paramiko"])
def sshd(_sshd_server: LoopbackSSHServer, request: pytest.FixtureRequest) -> SshEndpoint:
    """An SSH server on loopback that forwards only to ``pg_server`` (user ``tunnel``), per transport."""
    return SshEndpoint(_sshd_server, request.param)


# Modules whose tests start servers of their own (not through the fixtures above).
_STARTS_OWN_SERVERS = {"test_sandbox", "test_demo"}
_SERVER_FIXTURES = {"_clusters", "sshd", "_sshd_server"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs no server ``unit``, so ``pytest -m unit`` runs the fast ones alone."""
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if getattr(item, "module", None) else ""
        if not (_SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))) and module not in _STARTS_OWN_SERVERS:
            item.add_marker(pytest.mark.unit)
