"""Fixtures for the console's tests: a config in tmp_path pointing at the shared test databases.

The databases come from the shared ``dbs`` fixture (tests/conftest.py: fresh seeded local +
server databases per test); the config is written the way a user would, with the passwords in
``.env`` and ``${VAR}`` references in the TOML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from dbconsole.config import load_config


def write_config(tmp_path: Path, local_url: str, server_url: str, *, server_read_only: bool = True,
                 local_read_only: bool = False, server_ssh: str = "", extra: str = "") -> Path:
    """A config as a user would write it: passwords in .env, ${VAR} references in the TOML."""
    from urllib.parse import urlsplit

    env_lines = []
    urls = {}
    for name, url in (("local", local_url), ("server", server_url)):
        password = urlsplit(url).password
        if password:
            var = f"TUI_{name.upper()}_PASSWORD"
            url = url.replace(f":{password}@", f":${{{var}}}@", 1)
            env_lines.append(f"{var}={password}")
        urls[name] = url
    path = tmp_path / "dbconsole.toml"
    path.write_text(
        'default_profile = "local"\n\n'
        f'[profiles.local]\nurl = "{urls["local"]}"\nread_only = {str(local_read_only).lower()}\ncolor = "green"\n\n'
        f'[profiles.server]\nurl = "{urls["server"]}"\nread_only = {str(server_read_only).lower()}\ncolor = "red"\n'
        + (f"ssh = {server_ssh}\n" if server_ssh else "") + "\n"
        "[tui]\nrefresh_interval = 0\n" + extra, encoding="utf-8")
    (tmp_path / ".env").write_text("\n".join(env_lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tui_config_path(tmp_path: Path, dbs: Any) -> Path:
    return write_config(tmp_path, dbs.local_url, dbs.server_url)


@pytest.fixture
def tui_config(tui_config_path: Path) -> Any:
    return load_config(tui_config_path, environ={}, cwd=tui_config_path.parent)


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - test helper
