"""Distinctive secrets and ways to look for them (as written, URL-encoded, in fragments)."""

from __future__ import annotations

import re
import secrets as random_secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.profiles import isolate_from_machine
from psycopg import sql

from dbconsole import redact as redact_module
from dbconsole.connect import tunnels

SECRET = "Zq7s3crEtA9/pAssW0rdB7@Kv3xYq2:w%rdC4Lm&k=vD8nPq€z"
WRONG = "Wr0ngPa55Qx8/zNotIt@yJk4Lm"
SSH_SECRET = "SshPa55Kv4Tq:w@eRt7Yu/Io9"
LITERAL_SSH = "LiteralSshPw7Hj3Kl9"


def marks(secret: str) -> set[str]:
    """The forms a leak could take: as is, URL-encoded, and every long run of letters/digits."""
    found = {secret, quote(secret, safe=""), quote(secret)}
    found |= {run for run in re.split(r"[^A-Za-z0-9]+", secret) if len(run) >= 6}
    found.add(secret[:8])
    return found


def leaks(text: str, secret_list: Iterable[str]) -> list[str]:
    return sorted({m for s in secret_list for m in marks(s) if m in text})


@pytest.fixture(autouse=True)
def fresh_process_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each check starts as a new process would: no secret known to redact() yet, no tunnel open,
    nothing from this machine's HOME or PG* variables."""
    isolate_from_machine(tmp_path, monkeypatch)
    saved = set(redact_module._secrets)
    redact_module._secrets.clear()
    yield
    tunnels.close_all()
    redact_module._secrets.clear()
    redact_module._secrets.update(saved)


@pytest.fixture
def leaky_role(dbs) -> Iterator[str]:
    """A login role whose password is SECRET, allowed to read the server test database."""
    name = f"leaky_{random_secrets.token_hex(3)}"
    role = sql.Identifier(name)
    with dbs.server.admin_connect() as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(SECRET)))
    with dbs.server_admin() as admin:
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA public, analytics TO {0};"
                              " GRANT SELECT ON ALL TABLES IN SCHEMA public, analytics TO {0}").format(role))
    try:
        yield name
    finally:
        with dbs.server_admin() as admin:
            admin.execute(sql.SQL("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {}").format(
                sql.Literal(name)))
            admin.execute(sql.SQL("DROP OWNED BY {}").format(role))
        with dbs.server.admin_connect() as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
